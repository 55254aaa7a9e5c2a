"""The head start (issue 25 item 2): weights the package pretrains on synthetic scenes, shipped
inside it, loaded offline, every class starting from the one "object" class."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pytest
import tomllib

import mm_widgets
from mm_widgets import LabelSet
from mm_widgets.checkpoints import read_checkpoint
from mm_widgets.errors import MMError
from mm_widgets.metrics import evaluate
from mm_widgets.models.detector import YoloMicroModel, is_class_row
from mm_widgets.models.headstart import HEADSTART_FILE, OBJECT, scene
from mm_widgets.samples import synthetic_crowd

ROOT = Path(__file__).resolve().parents[1]


def test_the_weights_ship_inside_the_package_and_load_without_the_network():
    package = Path(mm_widgets.__file__).resolve().parent
    assert HEADSTART_FILE.is_file() and package in HEADSTART_FILE.parents
    # an installed (non-editable) copy carries the file too: package-data names it
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["mm_widgets"]
    inside = HEADSTART_FILE.relative_to(package).as_posix()
    assert any(fnmatch.fnmatch(inside, p) for p in patterns)
    # sockets are blocked in every test (pyproject addopts): this reads the file only
    payload = read_checkpoint(HEADSTART_FILE, "numpy")
    assert payload["kind"] == "yolo" and payload["classes"] == [OBJECT]
    assert payload["made"]["steps"] > 0 and "check" in payload["made"]

    cfg, state, start = YoloMicroModel(weights="headstart")._headstart(3)
    assert start == "headstart" and cfg["nc"] == 3
    rows = [k for k in state if is_class_row(k)]
    assert rows
    for k in rows:  # every class row is the pretrained "object" row
        one = payload["state_dict"][k]
        assert state[k].shape[0] == 3 and one.shape[0] == 1
        for i in range(3):
            np.testing.assert_array_equal(state[k][i].float().numpy(), one[0].astype(np.float32))
    others = [k for k in state if not is_class_row(k)]
    assert all(state[k].shape == payload["state_dict"][k].shape for k in others)


def test_a_head_start_finds_objects_that_random_weights_do_not_yet():
    # Five labelled frames of a small crowd (one class), 2 epochs (8 steps) each way: from
    # random weights a YOLO finds next to nothing this early (measured: recall 0.01; 0.15
    # after 3 epochs); from the head start it already finds most objects on the frames
    # nobody labelled (measured: 0.87).
    frames, truth = synthetic_crowd(24, (192, 144), objects=4, seed=2)
    table = truth.df.assign(label="thing")
    truth = LabelSet.from_df(table, ["thing"], size=(192, 144), n_frames=24,
                             looked_at=range(24))
    labelled = [0, 6, 12, 18, 23]
    rest = [f for f in range(len(frames)) if f not in labelled]
    found = {}
    for weights in ("scratch", "headstart"):
        model = YoloMicroModel(weights=weights, epochs=2, imgsz=192, seed=0, progress=False)
        model.fit(frames, truth.subset(labelled))
        assert model.started_from_ == weights
        found[weights] = evaluate(model.predict(frames, rest), truth, rest)["recall"]
    assert found["scratch"] < 0.2
    assert found["headstart"] >= 0.6


def test_scenes_box_each_object_they_draw_inside_the_frame():
    rng = np.random.default_rng(7)
    counts = []
    for size in [(160, 96), (256, 192)]:
        for _ in range(20):
            img, boxes = scene(rng, size)
            w, h = size
            assert img.shape == (h, w, 3) and img.dtype == np.uint8
            assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
            assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
            assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
            counts.append(len(boxes))
    assert max(counts) >= 4 and min(counts) <= 1  # crowded scenes and near-empty ones


def test_masks_and_a_missing_file_are_refused_in_words(monkeypatch, tmp_path):
    from mm_widgets.models.segmenter import YoloMaskMicroModel

    with pytest.raises(MMError, match="made for boxes"):
        YoloMaskMicroModel(weights="headstart")._headstart(2)
    import mm_widgets.models.headstart as hs

    monkeypatch.setattr(hs, "HEADSTART_FILE", tmp_path / "gone.pt")
    with pytest.raises(MMError, match="missing from this installation"):
        YoloMicroModel(weights="headstart")._headstart(1)
