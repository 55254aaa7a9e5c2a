"""Assembly line: shot splitting, routing, coverage, executor parity, zero-label domains."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.data import Frames
from mm_widgets.labels import Box, LabelSet

from .conftest import write_video


def three_shot_clip(n=12, size=(96, 64)):
    """Shot A (cool colours, a square moving), shot B (warm texture), shot C (a fast pan over
    big colour blobs, 10 px a frame: every frame changes a lot, and it is not a cut)."""
    w, h = size
    rng = np.random.default_rng(3)
    frames, boxes = [], []
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = (20, 40, 120)
        img += rng.integers(0, 20, img.shape, dtype=np.uint8)
        x = 5 + 5 * i
        img[20:36, x:x + 16] = (250, 250, 50)
        frames.append(img)
        boxes.append((i, x, 20, x + 16, 36))
    for i in range(n):
        img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
        img[..., 0] += 180
        x = 70 - 4 * i
        img[30:46, x:x + 16] = (250, 250, 50)
        frames.append(img)
        boxes.append((n + i, x, 30, x + 16, 46))
    wide = np.zeros((h, w * 3, 3), np.uint8)
    for k in range(12):
        colour = rng.integers(0, 255, 3)
        wide[:, k * w // 4:(k + 1) * w // 4] = colour
    for i in range(n):
        img = wide[:, 10 * i:10 * i + w].copy()
        frames.append(img)
    return frames, boxes


def test_split_shots_finds_cuts_not_the_pan():
    arrays, _ = three_shot_clip()
    shots = mm.split_shots(Frames.from_arrays(arrays))
    assert shots == [range(0, 12), range(12, 24), range(24, 36)]


def test_split_shots_on_real_clips():
    # bikes.mp4's cuts were checked by eye (frames 29/30, 75/76, 136/137, 186/187, 241/242);
    # frames 96-103 are a car passing close to the camera, which must not be a cut.
    assert [s.start for s in mm.split_shots(mm.load_sample("bikes"))] == [0, 30, 76, 137, 187, 242]
    assert mm.split_shots(mm.load_sample("carphone")) == [range(0, 120)]


def test_split_shots_finds_the_cuts_of_a_dialogue_in_one_room():
    # megamind.avi (shared clips): over-the-shoulder cuts between two views of one room
    # change less colour than cuts between places; the by-eye cuts are 98, 154 and 200
    # (frame 0 is black and joins the first shot).
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "megamind.avi"
    if not path.exists():
        pytest.skip(f"{path} not here (the shared clips live beside the project)")
    shots = mm.split_shots(Frames.from_video(path))
    assert [s.start for s in shots] == [0, 98, 154, 200]


def labelled_line(frames, boxes, keys, kind="interpolate"):
    labels = LabelSet(["obj"], size=frames.size, n_frames=len(frames))
    for f, x1, y1, x2, y2 in boxes:
        if f in keys:
            labels.set_boxes(f, [Box(x1, y1, x2, y2, "obj")])
    line = mm.AssemblyLine(kind=kind)
    for shot in mm.split_shots(frames)[:2]:
        line.add(shot, labels, frames=frames)
    return line, labels


def test_routing_each_frame_to_its_own_model():
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    line, _ = labelled_line(frames, boxes, keys={0, 11, 12, 23})
    pred = line.fit().predict()
    assert set(pred[pred.frame < 12].domain) == {"frames 0-11"}
    assert set(pred[(pred.frame >= 12) & (pred.frame < 24)].domain) == {"frames 12-23"}
    assert not (pred.frame >= 24).any()  # no domain owns shot C
    # Shot B's model moves leftwards, shot A's rightwards: no averaging across domains.
    f5 = pred[pred.frame == 5].iloc[0]
    assert f5.x1 == pytest.approx(30.0)
    assert line.owner(5) == ["frames 0-11"] and line.owner(30) == []


def test_coverage_table():
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    line, labels = labelled_line(frames, boxes, keys={0, 11, 12, 23})
    truth = LabelSet.from_df(pd.DataFrame(boxes, columns=["frame", "x1", "y1", "x2", "y2"]),
                             ["obj"], size=frames.size, n_frames=36)
    cov = line.fit().coverage(truth)
    assert cov["domain"].tolist() == ["frames 0-11", "frames 12-23"]
    assert cov["frames"].tolist() == [12, 12] and cov["human_labels"].tolist() == [2, 2]
    assert cov["recall"].tolist() == [1.0, 1.0]
    assert (cov["efficiency"] > 0.8).all()


def test_zero_label_domain_names_the_domain():
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    labels = LabelSet(["obj"], size=frames.size, n_frames=36)
    labels.set_boxes(0, [Box(*boxes[0][1:], "obj")])
    line = mm.AssemblyLine(kind="interpolate")
    line.add(range(0, 12), labels, frames=frames, name="shot A")
    line.add(range(12, 24), labels, frames=frames, name="shot B")
    with pytest.raises(mm.NoLabelsError, match="'shot B'"):
        line.fit()


def run_line(frames, boxes, executor=None):
    line, _ = labelled_line(frames, boxes, keys={0, 11, 12, 23})
    return line.fit(executor=executor).predict(executor=executor)


def test_process_pool_gives_the_same_results(tmp_path):
    arrays, boxes = three_shot_clip()
    frames = Frames.from_video(write_video(tmp_path / "three.mp4", arrays))
    serial = run_line(frames, boxes)
    # spawn, as the README says: a forked child of a process that already runs torch and
    # FFmpeg threads can crash (seen here once in a full test run)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel = run_line(frames, boxes, pool)
    pd.testing.assert_frame_equal(serial, parallel)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    arrays, boxes = three_shot_clip()
    frames = Frames.from_video(write_video(tmp_path / "three.mp4", arrays))
    serial = run_line(frames, boxes)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster, \
            distributed.Client(cluster) as client:
        parallel = run_line(frames, boxes, client.get_executor())
    pd.testing.assert_frame_equal(serial, parallel)


def test_simulate_per_shot_totals_add_up():
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    truth = pd.DataFrame(boxes, columns=["frame", "x1", "y1", "x2", "y2"])
    report = mm.simulate(frames, truth, domains="shots", first_labels=2, rounds=1,
                         kind="interpolate", strategy="random")
    per = report.domains
    assert sorted(per["domain"].unique()) == ["frames 0-11", "frames 12-23", "frames 24-35"]
    total = report.table.set_index("round")
    for r in (0, 1):
        assert total.loc[r, "human_actions"] == per[per["round"] == r]["human_actions"].sum()
    assert total.loc[1, "labels"] == 24 and total.loc[1, "cumulative_actions"] == len(report.actions)
    # shot C has no object: after its two looked-at negatives nothing is predicted or drawn
    shot_c = per[per["domain"] == "frames 24-35"]
    assert shot_c["cumulative_actions"].max() == 0 and shot_c["fp"].sum() == 0
    assert report.labels.looked_at == list(range(36))
    # Recomputed here from the truth and the frames drawn first (the log's round 0), without
    # the package: in shots A and B one square moves in a straight line at constant speed, so
    # interpolating between two keyframes puts it exactly, and past the last keyframe (or
    # before the first) it is held where that keyframe had it.
    true = {f: (x1, y1, x2, y2) for f, x1, y1, x2, y2 in boxes}
    first = sorted(a.frame for a in report.actions.events if a.round == 0)
    found = shown = 0
    interp_actions = 0
    for shot in (range(0, 12), range(12, 24)):
        keys = {f: true[f] for f in first if f in shot}
        assert len(keys) == 2  # two first frames per shot, each with its square drawn
        # round 1's model is interpolation from the first frames: recall and precision
        for f in shot:
            if f not in keys:
                shown += 1
                found += iou(square_between(keys, f), true[f]) >= 0.5
        # interpolation's own loop: the first boxes drawn, then every frame of the shot
        # confirmed, the farthest from a keyframe first (the earliest of the farthest): free
        # when the interpolated square is tight (IoU >= 0.75), else one adjust
        interp_actions += len(keys)
        while len(keys) < len(shot):
            f = max(shot, key=lambda g: (min(abs(g - k) for k in keys), -g))
            guess = square_between(keys, f)
            tight = iou(guess, true[f]) >= 0.75
            interp_actions += not tight
            keys[f] = guess if tight else true[f]
    # shot C holds no object: its first frames are confirmed empty, nothing is predicted
    assert total.loc[1, "recall"] == pytest.approx(found / 20)  # 20 squares not drawn first
    assert total.loc[1, "precision"] == pytest.approx(found / shown)
    assert total.loc[1, "interp_efficiency"] == pytest.approx(1 - interp_actions / 24)


def iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def square_between(keys: dict, f: int) -> tuple:
    """The box on frame ``f`` moved in a straight line between the nearest keyframes around
    it, or held from the nearest one where there is a keyframe on one side only."""
    below = max((k for k in keys if k < f), default=None)
    above = min((k for k in keys if k > f), default=None)
    if below is None or above is None:
        return keys[above if below is None else below]
    a = (f - below) / (above - below)
    return tuple((1 - a) * p + a * q for p, q in zip(keys[below], keys[above], strict=True))


def test_all_negative_domain_predicts_nothing():
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    labels = LabelSet(["obj"], size=frames.size, n_frames=36)
    for f in (24, 30, 35):
        labels.set_boxes(f, [])  # looked at: no object in shot C
    line = mm.AssemblyLine(kind="auto")
    line.add(range(24, 36), labels, frames=frames, name="shot C")
    assert len(line.fit().predict()) == 0


# -- one widget per domain ----------------------------------------------------------------------
def test_line_label_edits_go_into_the_domain_in_clip_numbers():
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    line, labels = labelled_line(frames, boxes, keys={0, 11})
    second = line.domain(1)
    assert line.domain("frames 12-23") is second and line.domain(-1) is second
    with pytest.raises(mm.MMError, match="no domain 'nope'"):
        line.domain("nope")
    w = line.label(1, first_labels=2)
    assert len(w.frames) == 12 and w.frames.size == frames.size
    assert np.array_equal(w.frames[0], frames[12])  # the shot's own frames, numbered from 0
    assert all(0 <= f < 12 for f in w.suggested)
    # Draw on the shot's frame 3 = the clip's frame 15, then undo and redo.
    box = Box(*boxes[15][1:], "obj")
    w.set_boxes(3, [box])
    assert labels.boxes(15) == [Box(*box.xyxy, "obj", None, "human")]
    assert [(a.kind, a.frame) for a in second.actions] == [("draw", 15)]
    w.undo()
    assert 15 not in labels and len(second.actions) == 0
    w.redo()
    assert len(labels.boxes(15)) == 1 and [a.frame for a in second.actions] == [15]
    # The first shot's labels show in its own widget; fit() learns from what was drawn.
    first = line.label("frames 0-11")
    assert first.labels.looked_at == [0, 11] and first.labels.boxes(11) == labels.boxes(11)
    line.fit(progress=False)
    predicted = line.predict()
    mine = predicted[predicted["domain"] == second.name]
    assert set(mine["frame"]) == set(range(12, 24))
    at15 = mine[mine["frame"] == 15][["x1", "y1", "x2", "y2"]].to_numpy()
    assert at15.tolist() == [pytest.approx(list(box.xyxy))]  # learned from the box drawn


def test_line_review_shows_the_domains_model_and_counts_into_the_domain():
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    line, labels = labelled_line(frames, boxes, keys={0, 11, 12, 23})
    with pytest.raises(mm.MMError, match="line.fit"):
        line.review(1)
    line.fit(progress=False)
    rev = line.review(1, strategy="random")
    assert len(rev.frames) == 12 and set(rev.labels.looked_at) == {0, 11}  # the shot's 12 and 23
    k = rev.frame
    shown = rev.shown_boxes(k)
    # The interpolation model knows frames by their clip number: the box is that frame's.
    assert len(shown) == 1 and shown[0].xyxy == pytest.approx(boxes[12 + k][1:], abs=1.0)
    rev.accept()
    assert labels.boxes(12 + k)[0].source == "model" and len(line.domain(1).actions) == 0
    j = rev.frame
    rev.set_boxes(j, [])
    assert 12 + j in labels and labels.boxes(12 + j) == []
    assert [(a.kind, a.frame) for a in line.domain(1).actions] == [("delete", 12 + j)]
    assert "1</b> human action" in rev._counter.value


def three_domain_line(**settings):
    """Shots A and B of the three-shot clip as three domains (A cut in two), each with
    its first and last frame labelled."""
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    labels = LabelSet(["obj"], size=frames.size, n_frames=len(frames))
    for f, x1, y1, x2, y2 in boxes:
        if f in {0, 5, 6, 11, 12, 23}:
            labels.set_boxes(f, [Box(x1, y1, x2, y2, "obj")])
    line = mm.AssemblyLine(**settings)
    for name, part in (("A1", range(0, 6)), ("A2", range(6, 12)), ("B", range(12, 24))):
        line.add(part, labels, frames=frames, name=name)
    return line


def fit_catching_interrupts(line):
    """line.fit(), with a KeyboardInterrupt that escapes it turned into a test failure (it
    would end the whole pytest session)."""
    try:
        with pytest.warns(UserWarning, match="line.fit.. interrupted") as said:
            line.fit(progress=False)
    except KeyboardInterrupt:
        pytest.fail("line.fit() let the KeyboardInterrupt through: the domains trained are lost")
    return [str(w.message) for w in said]


def test_one_interrupt_stops_the_line_and_keeps_the_domains_trained():
    # Ctrl-C during the second domain's second epoch: the training keeps its first epoch
    # (as overfit() does), and the line stops there: the third domain is never trained.
    epochs_run = []

    def ctrl_c(epoch, loss):
        epochs_run.append(epoch)
        if len(epochs_run) == 3:       # domain A1: epochs 1, 2; domain A2: epoch 1
            raise KeyboardInterrupt

    line = three_domain_line(kind="yolo", epochs=2, on_epoch=ctrl_c, imgsz=64, batch_size=8,
                             steps_per_epoch=2, weights=None)
    said = fit_catching_interrupts(line)
    assert epochs_run == [1, 2, 1]     # before: [1, 2, 1, 1, 2], B trained after the Ctrl-C
    a1, a2, b = line.domains
    assert a1.model is not None and a1.model.stop_reason_ == "reached the epoch maximum"
    assert a2.model is not None and a2.model.stop_reason_.startswith("interrupted after 1 epoch")
    assert b.model is None and b.model_bytes is None
    assert any("'A1', 'A2' trained; 'B' not" in s for s in said)


def test_an_interrupt_between_trainings_keeps_the_domains_trained(monkeypatch):
    # Ctrl-C before the second domain's first epoch ends (nothing of it to keep): the
    # interrupt leaves its training, and the line keeps the first domain's model.
    import mm_widgets.assembly

    calls = []

    def train_model(frames, labels, kind, **settings):
        calls.append(kind)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return mm.interpolate(frames, labels)

    monkeypatch.setattr(mm_widgets.assembly, "train_model", train_model)
    line = three_domain_line(kind="interpolate")
    said = fit_catching_interrupts(line)
    assert len(calls) == 2
    a1, a2, b = line.domains
    assert a1.model is not None and a2.model is None and b.model is None
    assert any("'A1' trained; 'A2', 'B' not" in s for s in said)
    # The line goes on from there: a second fit trains every domain.
    monkeypatch.undo()
    line.fit(progress=False)
    assert all(d.model is not None for d in line.domains)
