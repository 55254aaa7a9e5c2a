"""simulate() with a detector that learns: every figure of its report recomputed here.

A tiny synthetic crowd (two classes, objects that curve and stop), the real YOLO micro-model
trained for a few short epochs, two rounds, both baselines (interpolation, the tracker walk). The test records the raw boxes the loop worked
from (each model's and interpolation's predictions, the proposals shown to the oracle) and
recomputes every figure of ``report.table`` and ``report.per_class`` from those boxes, the
truth and the action log, with its own IoU, its own greedy matching and its own count of a
person's edit, written from the rules the README and ``mm_widgets.actions`` state. Nothing
of ``mm_widgets.metrics``, ``mm_widgets.actions`` or ``mm_widgets.oracle`` is used to compute
an expected value.
"""

from __future__ import annotations

import importlib
import math
import warnings

import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.samples import synthetic_crowd

simulate_module = importlib.import_module("mm_widgets.simulate")  # mm.simulate is the function

MATCH, TIGHT = 0.5, 0.75
#: Seconds per event, as the README's human-time paragraph and ActionTimes' docstring say.
PRICE = {"draw": 7.0, "adjust": 7.0, "delete": 1.6, "class": 1.6, "accept": 1.6}
#: Small enough to train in a few seconds, big enough to find some objects and miss others.
TRAIN = dict(epochs=25, imgsz=128, batch_size=8, steps_per_epoch=2, weights=None)


def iou(a, b) -> float:
    """IoU of two ``(x1, y1, x2, y2)`` tuples."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def greedy(pred, true, threshold):
    """Same-class pairs, highest IoU first (ties: earlier prediction, then earlier truth),
    each box used once, IoU >= threshold. ``pred``/``true``: lists of (xyxy, label)."""
    candidates = sorted(((iou(p[0], t[0]), i, j) for i, p in enumerate(pred)
                         for j, t in enumerate(true) if p[1] == t[1]),
                        key=lambda c: (-c[0], c[1], c[2]))
    used_p, used_t, pairs = set(), set(), []
    for v, i, j in candidates:
        if v < threshold:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            pairs.append(v)
    return pairs


def figures(pred_by_frame, truth_by_frame, frames, label=None):
    """recall, precision, tight rate, mean IoU, tp/fp/fn/tight on ``frames``; with
    ``label``, that class's boxes only. No truth: recall 1; nothing predicted: precision 1;
    no match: tight rate and mean IoU 0."""
    tp = fp = fn = tight = 0
    ious = []
    for f in frames:
        pred = [b for b in pred_by_frame.get(f, []) if label in (None, b[1])]
        true = [b for b in truth_by_frame.get(f, []) if label in (None, b[1])]
        pairs = greedy(pred, true, MATCH)
        tp += len(pairs)
        fp += len(pred) - len(pairs)
        fn += len(true) - len(pairs)
        tight += sum(v >= TIGHT for v in pairs)
        ious += pairs
    return {"recall": tp / (tp + fn) if tp + fn else 1.0,
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "tight_rate": tight / tp if tp else 0.0,
            "mean_iou": sum(ious) / len(ious) if ious else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "accepted": tight, "truth": tp + fn}


def edit_kinds(shown, true) -> list[str]:
    """What a person does to turn ``shown`` into ``true`` on one frame, by the README's rule:
    a box of the right class lying tight (IoU >= 0.75) on a true box is kept, free; every
    other box shown is dragged (any class, anywhere) onto a true box not yet covered, one
    adjust each; boxes left over are deleted, true boxes left over drawn; nothing to do is
    one free accept."""
    kept = len(greedy(shown, true, TIGHT))
    changed_shown, changed_true = len(shown) - kept, len(true) - kept
    adjusts = min(changed_shown, changed_true)
    kinds = (["adjust"] * adjusts + ["delete"] * (changed_shown - adjusts)
             + ["draw"] * (changed_true - adjusts))
    return kinds or ["accept"]


def by_frame(df: pd.DataFrame) -> dict[int, list]:
    out: dict[int, list] = {}
    for r in df.itertuples():
        out.setdefault(int(r.frame), []).append(((r.x1, r.y1, r.x2, r.y2), r.label))
    return out


def close(want, got) -> bool:
    """Equal to 1e-9, NaN where NaN is expected."""
    want, got = float(want), float(got)
    return math.isnan(got) if math.isnan(want) else got == pytest.approx(want, abs=1e-9)


@pytest.mark.slow
def test_every_figure_of_a_learning_loop_recomputed_from_raw_boxes_and_log(monkeypatch):
    clip, truth = synthetic_crowd(20, (160, 120), objects=3, sizes=(50, 90), seed=0,
                                  motion="curved")
    truth_by_frame = by_frame(truth.df)
    n = len(clip)
    # record the raw boxes the loop works from: every prediction of every model it trains,
    # and of the interpolation it measures beside it, with the frames asked for
    detector, interpolated = [], []

    def recording(model, into):
        predict = model.predict

        def predict_and_record(frames, indices=None, **settings):
            out = predict(frames, indices=indices, **settings)
            into.append((list(indices), out.copy()))
            return out
        model.predict = predict_and_record
        return model

    train = simulate_module.train_model
    interpolate = simulate_module.interpolate
    monkeypatch.setattr(simulate_module, "train_model",
                        lambda *a, **k: recording(train(*a, **k), detector))
    monkeypatch.setattr(simulate_module, "interpolate",
                        lambda *a, **k: recording(interpolate(*a, **k), interpolated))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "training from scratch"
        report = mm.simulate(clip, truth, first_labels=3, rounds=2, kind="yolo",
                             progress=False, **TRAIN)
    t, log = report.table, report.actions
    # the tracker walk over the whole clip (OpenCV's CSRT; without it the columns stay empty):
    # its log's actions over every true box of the clip, the same in every round
    if report.walk is None:
        walk = {"tracker_actions": float("nan"), "tracker_efficiency": float("nan"),
                "tracker_human_seconds": float("nan")}
    else:
        walked = report.walk.log.events
        assert {a.frame for a in walked} == set(range(len(clip)))  # every frame, once or more
        counted = sum(a.kind != "accept" for a in walked)
        walk = {"tracker_actions": counted, "tracker_efficiency": 1 - counted / len(truth.df),
                "tracker_human_seconds": sum(PRICE[a.kind] for a in walked)}
    assert t["round"].tolist() == [0, 1, 2] and len(detector) == len(interpolated) == 2

    events = log.events
    looked_by = {r: {a.frame for a in events if a.round <= r} for r in (0, 1, 2)}
    assert looked_by[2] == set(range(n))  # the last round reviews what is left
    cumulative = 0
    seconds = 0.0
    for r in (0, 1, 2):
        row = t.iloc[r]
        reviewed = sorted({a.frame for a in events if a.round == r})
        # the actions of the round: recomputed from what the oracle was shown and the truth
        kinds = []
        for f in reviewed:
            shown = [(b.xyxy, b.label) for b in report.shown.get(f, [])]
            assert r > 0 or not shown  # the first frames are drawn on an empty frame
            mine = edit_kinds(shown, truth_by_frame.get(f, []))
            logged = sorted(a.kind for a in events if a.frame == f)
            assert sorted(mine) == logged, f"frame {f}: shown {shown}"
            kinds += mine
        actions = sum(k != "accept" for k in kinds)
        cumulative += actions
        seconds += sum(PRICE[k] for k in kinds)
        labels = sum(len(truth_by_frame.get(f, [])) for f in looked_by[r])
        empty_looked = sum(1 for f in looked_by[r] if not truth_by_frame.get(f))
        expected = {
            "frames_reviewed": len(reviewed), "human_actions": actions,
            "cumulative_actions": cumulative, "labels": labels,
            "efficiency": 1 - cumulative / labels, "labels_per_action": labels / max(cumulative, 1),
            "human_seconds": seconds, "by_hand_seconds": 7.0 * labels + 1.6 * empty_looked,
            **walk,
        }
        if r == 0:
            expected.update({c: float("nan") for c in (
                "recall", "precision", "tight_rate", "mean_iou", "interp_recall",
                "interp_precision", "interp_tight_rate", "interp_efficiency",
                "interp_human_seconds", "interp_actions", "interp_labels", "tracker_actions",
                "tracker_efficiency", "tracker_human_seconds")})
            expected.update(tp=0, fp=0, fn=0, accepted=0)
        else:
            remaining = sorted(set(range(n)) - looked_by[r - 1])
            (asked, pred), (asked_interp, interp) = detector[r - 1], interpolated[r - 1]
            assert sorted(asked) == sorted(asked_interp) == remaining
            model = figures(by_frame(pred), truth_by_frame, remaining)
            theirs = figures(by_frame(interp), truth_by_frame, remaining)
            expected.update({k: model[k] for k in ("recall", "precision", "tight_rate",
                                                   "mean_iou", "tp", "fp", "fn", "accepted")})
            expected.update({f"interp_{k}": theirs[k] for k in ("recall", "precision", "tight_rate")})
            # keyframe interpolation's own loop: its log's actions over the true boxes of
            # the frames it confirmed
            own = [a for a in report.interp_actions.events if a.round <= r]
            own_actions = sum(a.kind != "accept" for a in own)
            own_labels = sum(len(truth_by_frame.get(f, [])) for f in {a.frame for a in own})
            assert len({a.frame for a in own}) == len(looked_by[r])  # as many frames a round
            expected.update(interp_actions=own_actions, interp_labels=own_labels,
                            interp_efficiency=1 - own_actions / own_labels,
                            interp_human_seconds=sum(PRICE[a.kind] for a in own))
            # per class: the model's and interpolation's figures on the same frames
            per = report.per_class[report.per_class["round"] == r].set_index("label")
            assert sorted(per.index) == sorted(truth.classes)
            for c in truth.classes:
                mine_c = figures(by_frame(pred), truth_by_frame, remaining, label=c)
                theirs_c = figures(by_frame(interp), truth_by_frame, remaining, label=c)
                want = {"truth": mine_c["truth"], "recall": mine_c["recall"],
                        "precision": mine_c["precision"], "tight_rate": mine_c["tight_rate"],
                        "interp_recall": theirs_c["recall"],
                        "interp_precision": theirs_c["precision"],
                        "interp_tight_rate": theirs_c["tight_rate"]}
                got = per.loc[c, list(want)].to_dict()
                wrong = {k: (got[k], want[k]) for k in want if not close(want[k], got[k])}
                assert not wrong, f"round {r}, {c}: (reported, recomputed) {wrong}"
        got = row[list(expected)].to_dict()
        wrong = {k: (got[k], expected[k]) for k in expected if not close(expected[k], got[k])}
        assert not wrong, f"round {r}: (reported, recomputed) {wrong}"
        assert row["train_seconds"] >= 0 and row["predict_seconds"] >= 0
    # the run learned something and still left work: the figures above are not trivial
    assert t.loc[1:, "tp"].sum() > 0 and t.loc[1:, "fn"].sum() > 0
    assert t.loc[1:, "human_actions"].sum() > 0
    # the labels left are right on every frame: one box of the right class lying tight on
    # each true box, and no other
    for f in range(n):
        left = [(b.xyxy, b.label) for b in report.labels.boxes(f)]
        true = truth_by_frame.get(f, [])
        assert len(left) == len(true) == len(greedy(left, true, TIGHT)), f
    assert report.first_boxes == sum(len(truth_by_frame.get(f, [])) for f in looked_by[0])
    assert report.corrections_after_first == cumulative - report.first_boxes
