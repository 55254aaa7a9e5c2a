"""Frame classes get the whole loop: the no-model baseline, class figures, simulate() on
class truth, and an assembly line of classifiers. Small synthetic scenes, tiny networks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.actions import ActionLog, diff_class
from mm_widgets.errors import MMError
from mm_widgets.interpolate import interpolate
from mm_widgets.labels import LabelSet
from mm_widgets.metrics import classes_by_frame, evaluate_classes, evaluate_classes_by_class
from mm_widgets.select import frame_uncertainty, rank_frames
from mm_widgets.simulate import CLASS_TABLE_COLUMNS, ClassOracle

CLASSES = ["sky", "grass"]
#: scenes: (first frame, class); 40 frames, the classes come back after a cut
SCENES = [(0, "sky"), (10, "grass"), (20, "sky"), (30, "grass")]
N = 40
SMALL = {"imgsz": 32, "epochs": 3, "weights": "scratch", "progress": False}


def scene_of(i: int) -> str:
    return [c for start, c in SCENES if start <= i][-1]


def scene_clip(n: int = N, seed: int = 0):
    """Bluish frames with horizontal stripes (sky) and greenish ones with vertical stripes
    (grass), in scenes that come back, plus the class of every frame."""
    rng = np.random.default_rng(seed)
    arrays, truth = [], []
    for i in range(n):
        img = rng.integers(0, 60, (48, 64, 3)).astype(np.uint8)
        c = scene_of(i)
        if c == "sky":
            img[::8] = (90, 140, 240)
            img[:, :, 2] = np.maximum(img[:, :, 2], 180)
        else:
            img[:, ::8] = (60, 200, 60)
            img[:, :, 1] = np.maximum(img[:, :, 1], 150)
        arrays.append(img)
        truth.append(c)
    return mm.Frames.from_arrays(arrays), pd.DataFrame({"frame": range(n), "label": truth})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these tiny networks gain nothing from two, and the CPU is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clip():
    return scene_clip()


@pytest.fixture(scope="module")
def report(clip):
    frames, truth = clip
    return mm.simulate(frames, truth, first_labels=3, rounds=2, seed=0, **SMALL)


def class_labels(pairs, n=N) -> LabelSet:
    labels = LabelSet(CLASSES, "classes", n_frames=n)
    for f, c in pairs:
        labels.set_class(f, c)
    return labels


# -- the counting rule and the figures ------------------------------------------------------
def test_a_class_kept_is_free_a_class_changed_is_one_action():
    assert diff_class("sky", "sky") == []
    assert diff_class("sky", "grass") == [("class", "grass")]
    assert diff_class(None, "grass") == [("class", "grass")]  # nothing shown: set by hand


def test_nearest_labelled_frame_baseline():
    labels = class_labels([(2, "sky"), (9, "grass"), (20, "grass")])
    model = interpolate(None, labels)
    got = classes_by_frame(model.predict(range(N)))
    # before the first and after the last keyframe: held
    assert [got[f][0] for f in (0, 1, 30, 39)] == ["sky", "sky", "grass", "grass"]
    # between two that disagree: the nearer one (the earlier on a tie, 5.5 -> 5 is nearer 2)
    assert [got[f][0] for f in (3, 5, 6, 8)] == ["sky", "sky", "grass", "grass"]
    # between two that agree: that class, sure
    assert got[15] == ("grass", 1.0)
    assert got[2] == ("sky", 1.0) and got[0][1] == 0.5
    # it keeps frame classes through save and load
    assert model.task == "classes" and model.predict(range(N), indices=[7])["label"].tolist() == ["grass"]


def test_baseline_round_trips_through_a_file(tmp_path):
    labels = class_labels([(2, "sky"), (9, "grass")])
    model = interpolate(None, labels)
    back = mm.MicroModel.load(model.save(tmp_path / "nearest.pt"))
    pd.testing.assert_frame_equal(back.predict(range(N)), model.predict(range(N)))


def test_evaluate_classes_counts_from_the_frames():
    truth = class_labels([(f, scene_of(f)) for f in range(N)])
    pred = pd.DataFrame({"frame": [0, 1, 10, 11], "label": ["sky", "grass", "grass", "sky"],
                         "score": [0.9, 0.6, 0.8, 0.7]})
    q = evaluate_classes(pred, truth, [0, 1, 10, 11, 12])  # 12: no prediction at all
    assert (q["correct"], q["wrong"], q["actions"]) == (2, 3, 3)
    assert q["accuracy"] == pytest.approx(2 / 5)
    by = evaluate_classes_by_class(pred, truth, [0, 1, 10, 11, 12])
    # sky: truly sky 0, 1 -> one right (recall 1/2); predicted sky 0, 11 -> one right
    assert by.at["sky", "recall"] == pytest.approx(0.5) and by.at["sky", "precision"] == pytest.approx(0.5)
    assert by.at["grass", "truth"] == 3 and by.at["grass", "recall"] == pytest.approx(1 / 3)


def test_uncertain_frames_first_for_classes():
    pred = pd.DataFrame({"frame": range(10), "label": ["sky"] * 5 + ["grass"] * 5,
                         "score": [0.99] * 3 + [0.55] + [0.99] * 6})
    u = frame_uncertainty(pred, 10)
    assert u[3] > u[0] and u[4] > u[0] and u[5] > u[0]  # low score; a class change
    order = rank_frames(range(10), "uncertain", predictions=pred)
    assert set(order[:3]) == {3, 4, 5}


# -- simulate() on class truth --------------------------------------------------------------
def test_simulate_on_class_truth_reports_accuracy_and_baseline(report, clip):
    t = report.table
    assert list(t.columns) == CLASS_TABLE_COLUMNS
    assert t["round"].tolist() == [0, 1, 2]
    assert t["labels"].iloc[-1] == N and len(report.labels) == N  # no more "0 labels"
    assert t.loc[0, "human_actions"] == 3 and t.loc[0, "labels"] == 3
    # the model learns the two looks; the nearest-frame baseline cannot know the scenes come back
    assert t.loc[1, "accuracy"] >= 0.9
    assert t.loc[1, "interp_accuracy"] < t.loc[1, "accuracy"]
    assert t.loc[1, "efficiency"] > t.loc[1, "interp_efficiency"]


def test_simulate_class_figures_recomputed_from_labels_and_actions(report, clip):
    frames, truth = clip
    t, df = report.table, report.labels.df
    assert t["cumulative_actions"].iloc[-1] == len(report.actions)
    for _, row in t.iterrows():
        r = int(row["round"])
        looked_before = set(df.loc[df["round"] < r, "frame"])
        assert row["labels"] == int((df["round"] <= r).sum())
        assert row["human_actions"] == report.actions.count(round=r)
        # every counted action is a frame whose class did not come from the model
        assert row["human_actions"] == int(((df["round"] == r) & (df["source"] != "model")).sum())
        assert row["efficiency"] == pytest.approx(1 - row["cumulative_actions"] / row["labels"])
        if r:
            assert row["correct"] + row["wrong"] == N - len(looked_before)
            assert row["accuracy"] == pytest.approx(row["correct"] / (row["correct"] + row["wrong"]))
    # the last round's accuracy, recomputed from the model it reports
    unseen = sorted(set(range(N)) - set(df.loc[df["round"] < 2, "frame"]))
    pred = report.model.predict(frames, indices=unseen)
    right = (pred["label"].to_numpy() == truth.set_index("frame").loc[unseen, "label"].to_numpy())
    assert t.loc[2, "accuracy"] == pytest.approx(right.mean())
    # labels end equal to the truth; accepted ones keep the model's score
    assert (df.set_index("frame")["label"] == truth.set_index("frame")["label"]).all()
    accepted = df[df["source"] == "model"]
    assert len(accepted) and accepted["score"].notna().all()
    assert report.ceiling() == pytest.approx(1 - 3 / N)
    # human time: every event priced, the accepts being the frames left as the model said
    last = t.iloc[-1]
    assert report.actions.count(kind="accept") == len(accepted)
    assert last["human_seconds"] == pytest.approx(report.times.of(report.actions))
    assert last["by_hand_seconds"] == pytest.approx(N * report.times["class"])
    assert "with the nearest labelled frame's class" in report.human_time
    assert set(report.per_class["label"]) == set(CLASSES)


def test_simulate_class_plot_shows_accuracy_beside_the_baseline(report):
    names = [tr.name for tr in report.plot().data]
    assert "accuracy" in names and "accuracy (nearest labelled frame)" in names
    assert "efficiency (nearest labelled frame)" in names
    assert not any("recall" in n for n in names)          # nor the published recall mark


def test_oracle_plays_the_class_review_through_the_counting_rule():
    truth = class_labels([(f, scene_of(f)) for f in range(N)])
    labels, log = LabelSet(CLASSES, "classes", n_frames=N), ActionLog()
    oracle = ClassOracle(truth)
    assert oracle.review(0, ("sky", 0.8), labels, log, round=1) == 0
    assert oracle.review(10, ("sky", 0.6), labels, log, round=1) == 1
    assert [(a.kind, a.frame, a.label) for a in log] == [("class", 10, "grass")]
    df = labels.df.set_index("frame")
    assert df.loc[0, "source"] == "model" and df.loc[0, "score"] == pytest.approx(0.8)
    assert df.loc[10, "source"] == "corrected" and df.loc[10, "label"] == "grass"


def test_class_truth_with_a_detector_is_a_clear_error(clip):
    frames, truth = clip
    with pytest.raises(MMError, match="truth holds frame classes.*'yolo' detects boxes"):
        mm.simulate(frames, truth, kind="yolo", progress=False)


def test_box_truth_with_a_classifier_is_a_clear_error(clip):
    frames, _ = clip
    boxes = pd.DataFrame({"frame": [0, 1], "x1": [1, 1], "y1": [1, 1], "x2": [9, 9], "y2": [9, 9]})
    with pytest.raises(MMError, match="truth holds boxes.*'timm' classifies whole frames"):
        mm.simulate(frames, boxes, kind="timm", progress=False)


def test_class_truth_must_cover_every_frame(clip):
    frames, truth = clip
    with pytest.raises(MMError, match=r"class for every frame: 2 of 40 frames have none \(first: \[5, 17\]\)"):
        mm.simulate(frames, truth.drop(index=[5, 17]), progress=False)


def test_simulate_interpolate_kind_on_class_truth(clip):
    frames, truth = clip
    report = mm.simulate(frames, truth, first_labels=[0, 15, 25], rounds=1, kind="interpolate",
                         progress=False)
    t = report.table
    # the baseline against itself: same accuracy, and every wrong frame costs one action
    assert t.loc[1, "accuracy"] == pytest.approx(t.loc[1, "interp_accuracy"])
    assert t.loc[1, "human_actions"] == t.loc[1, "wrong"]


def test_simulate_class_shots_pools_the_domains(clip):
    frames, truth = clip
    report = mm.simulate(frames, truth, domains=[range(0, 20), range(20, 40)], first_labels=2,
                         rounds=1, **SMALL)
    t, d = report.table, report.domains
    assert list(t.columns) == CLASS_TABLE_COLUMNS
    last = d[d["round"] == 1]
    assert t.loc[1, "correct"] == last["correct"].sum()
    assert t.loc[1, "cumulative_actions"] == len(report.actions) == last["cumulative_actions"].sum()
    assert t.loc[1, "labels"] == len(report.labels) == N
    # labels and actions come back in the clip's frame numbers
    assert report.labels.frame_class(25) == scene_of(25)
    assert {a.frame for a in report.actions} & set(range(20, 40))


# -- an assembly line of classifiers ----------------------------------------------------------
def test_assembly_line_of_classifiers(clip):
    frames, truth = clip
    truth_set = LabelSet.from_df(truth, CLASSES, n_frames=N)
    labels = class_labels([(0, "sky"), (12, "grass"), (22, "sky"), (33, "grass")])
    line = mm.AssemblyLine(**SMALL)
    line.add(range(0, 20), labels, frames=frames, name="first half")
    line.add(range(20, 40), labels, frames=frames, name="second half")
    line.fit(progress=False)
    pred = line.predict()
    assert sorted(pred["frame"]) == list(range(N)) and set(pred["label"]) <= set(CLASSES)
    assert set(pred[pred["frame"] < 20]["domain"]) == {"first half"}
    cov = line.coverage(truth_set, pred).set_index("domain")
    for name, rng in (("first half", range(0, 20)), ("second half", range(20, 40))):
        unseen = [f for f in rng if f not in labels]
        mine = pred[pred["domain"] == name]
        q = evaluate_classes(mine, truth_set, unseen)
        assert cov.at[name, "accuracy"] == pytest.approx(q["accuracy"])
        assert cov.at[name, "efficiency"] == pytest.approx(1 - (2 + q["wrong"]) / 20)
    assert cov["accuracy"].min() >= 0.8


def test_class_domain_on_frame_classes_is_refused(clip):
    frames, _ = clip
    with pytest.raises(MMError, match="frame classes are split by frames"):
        mm.AssemblyLine().add("sky", class_labels([(0, "sky")]), frames=frames)


def test_classifier_batchnorm_statistics_are_the_labelled_frames():
    """After training, BatchNorm's running statistics are those of the labelled frames as they
    are, not of the class-balanced, augmented batches (a one-frame class was a quarter of each
    batch there, and eval-mode predictions went wrong on the model's own training frames)."""
    import torch

    from mm_widgets.models import make_model
    from mm_widgets.models.classifier import MEAN, STD, _frames_to_tensor

    clip, _ = scene_clip(15)
    frames = mm.Frames.from_arrays([clip[f] for f in range(15)] + [np.zeros_like(clip[0])])
    labels = LabelSet([*CLASSES, "dark"], "classes", n_frames=16)
    for f in range(15):
        labels.set_class(f, scene_of(f))
    labels.set_class(15, "dark")  # one black frame: a quarter of every balanced batch
    model = make_model("timm", **{**SMALL, "epochs": 6}).fit(frames, labels)
    net = model.net_
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    hook = bn.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    x = _frames_to_tensor(frames, range(16), model.input_size_).float()
    mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD).view(1, 3, 1, 1) * 255
    with torch.no_grad():
        net.eval()
        net((x - mean) / std)
    hook.remove()
    features = seen[0]
    assert torch.allclose(bn.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-4, rtol=1e-4)
    # ... and the model names its own training frames right in eval mode
    pred = model.predict(frames)
    assert (pred["label"].tolist() == [scene_of(f) for f in range(15)] + ["dark"])
