"""Several objects and classes per frame: the synthetic crowd, and a micro-model on it
judged on frames it never saw against the generator's exact truth."""

from __future__ import annotations

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets.metrics import evaluate_by_class
from mm_widgets.samples import synthetic_crowd

# 192x144 frames at a 192 px input: objects as large in the frame as at 256x192 (their
# sizes scale with the frame height), learned in ~60% of the time (~23 s instead of ~39 s
# a model, measured alone). Seed 1: at this size seed 3's eight objects all stay in view.
SIZE = (192, 144)
CROWD = dict(objects=8, sizes=(40, 90))
SEED = 1
# Batches of 8, not 16: 27 s instead of 41 s for the test (two processes on two cores), the
# same figures: seeds 0 / 1 / 2 give car recall 0.46 / 0.61 / 0.76 (0.62 / 0.41 / 0.86 at 16)
# and person recall before -> after 0.99 -> 0.97, 0.92 -> 0.92, 0.93 -> 0.97.
TRAIN = dict(imgsz=192, batch_size=8, weights=None, progress=False, seed=0)


@pytest.fixture(scope="module")
def crowd():
    return synthetic_crowd(36, SIZE, **CROWD, seed=SEED)


def test_the_crowd_is_crowded_moving_and_exact(crowd):
    clip, truth = crowd
    per_frame = np.array([len(truth.boxes(f)) for f in range(len(clip))])
    assert per_frame.min() >= 3 and set(truth.df["label"]) == {"person", "car"}
    assert len(set(per_frame)) > 1  # objects enter and leave
    assert truth.looked_at == list(range(len(clip)))  # empty frames would be true negatives
    # every box lies in the frame and on pixels that differ from the bare background
    df = truth.df
    assert (df.x1 >= 0).all() and (df.x2 <= SIZE[0]).all() and (df.y2 <= SIZE[1]).all()
    again, truth2 = synthetic_crowd(36, SIZE, **CROWD, seed=SEED)
    assert truth2.equals(truth) and np.array_equal(again[7], clip[7])  # seeded
    other = synthetic_crowd(36, SIZE, **CROWD, seed=SEED + 1)[1]
    assert not other.equals(truth)


def held_out(model, clip, truth, seen):
    rest = [f for f in range(len(clip)) if f not in set(seen)]
    return evaluate_by_class(model.predict(clip, indices=rest), truth, rest)


@pytest.mark.slow
def test_a_class_added_in_round_two_keeps_the_old_one(crowd):
    clip, truth = crowd
    picks = mm.select_frames(clip, 5)
    people = mm.LabelSet(["person"], size=clip.size, n_frames=len(clip))
    for f in picks:
        people.set_boxes(f, [b for b in truth.boxes(f) if b.label == "person"])
    first = mm.overfit(clip, people, epochs=20, **TRAIN)  # person recall 0.99 held out
    before = held_out(first, clip, truth, picks).loc["person"]
    both = truth.subset(picks)
    # 12 epochs: person recall 0.97, car 0.46 (batches of 16: 0.99 and 0.62; at 30 + 16
    # epochs: 0.99 and 0.67)
    second = mm.overfit(clip, both, warm_start=first, epochs=12, **TRAIN)
    assert second.classes_ == ["person", "car"]
    after = held_out(second, clip, truth, picks)
    assert after.loc["person", "recall"] >= before["recall"] - 0.1, (before, after)
    assert after.loc["car", "recall"] > 0.3, after


@pytest.mark.slow
def test_small_objects_are_learned_from_windows_around_them():
    """Five labelled frames of a crowd, objects a tenth of the frame tall: training cuts
    windows around them (a third of the frame's pixels per image) and finds both classes,
    with tight boxes, on frames it never saw. (The same claim on whole 192x144 frames was a
    test of its own, 33 s; whole frames are trained in test_detector, test_propagate and
    test_simulate_figures.)"""
    clip, truth = synthetic_crowd(30, (512, 384), objects=10, sizes=(24, 56), seed=5)
    picks = mm.select_frames(clip, 5)
    # Batches of 8 windows, not 16: half the training (41 s instead of 85-100 s on one
    # thread) for the same claim; measured with seeds 0 / 1: person recall 0.99 / 0.95,
    # precision 0.98 / 0.98, tight rate 0.82 / 0.84; car 1.00, >= 0.98, >= 0.98.
    model = mm.overfit(clip, truth.subset(picks), imgsz=512, epochs=30, batch_size=8,
                       weights=None, progress=False, seed=0)
    assert model.crop_ == (256, 256) and model.input_size_ == (512, 384)
    assert "256x256 windows" in model.plan_
    q = held_out(model, clip, truth, picks)
    assert (q["truth"] >= 30).all()
    assert (q["recall"] >= 0.9).all(), q
    assert (q["precision"] >= 0.9).all(), q
    assert (q["tight_rate"] >= 0.6).all(), q
