"""Boxes, LabelSet, and lossless COCO / YOLO / widget round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mm_widgets as mm
from mm_widgets import formats
from mm_widgets.labels import Box, LabelSet, box_iou

SIZE = (1280, 720)


def test_box_validation_names_the_problem():
    with pytest.raises(mm.LabelError, match="x1 < x2"):
        Box(10, 10, 5, 20, "a")
    with pytest.raises(mm.LabelError, match="finite"):
        Box(float("nan"), 0, 5, 5, "a")
    with pytest.raises(mm.LabelError, match="label"):
        Box(0, 0, 5, 5, "")
    with pytest.raises(mm.LabelError, match="outside the 1280x720 frame"):
        Box(1200, 10, 1300, 50, "a").check_inside(SIZE)


def test_iou_known_values():
    a, b = Box(0, 0, 10, 10, "a"), Box(5, 0, 15, 10, "a")
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(a) == 1.0
    assert box_iou([], [a.xyxy]).shape == (0, 1)


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.3125, 640 / 1280, 800 / 1280, 2.0])
def test_widget_round_trip_at_display_scales(scale):
    box = Box(232, 253, 527, 550, "bunny")
    d = box.to_widget(scale)
    back = Box.from_widget(d, scale)
    assert back.xyxy == pytest.approx(box.xyxy, abs=1e-9)
    assert back.label == "bunny"


def test_widget_negative_drag_normalised():
    b = Box.from_widget({"x": 100, "y": 50, "width": -40, "height": -10, "label": "a"})
    assert b.xyxy == (60, 40, 100, 50)


coord = st.floats(0, 1000, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw, classes=("bunny", "bird", "<b>x</b>", "ünïcode")):
    x1, x2 = sorted([draw(coord), draw(coord)])
    y1, y2 = sorted([draw(st.floats(0, 700)), draw(st.floats(0, 700))])
    if x2 - x1 < 0.5 or y2 - y1 < 0.5:
        x2, y2 = x1 + 1, y1 + 1
    score = draw(st.one_of(st.none(), st.floats(0, 1)))
    return Box(x1, y1, x2, y2, draw(st.sampled_from(classes)), score,
               draw(st.sampled_from(["human", "model", "corrected"])),
               draw(st.one_of(st.none(), st.integers(0, 50))))


@st.composite
def label_sets(draw):
    ls = LabelSet(["bunny", "bird", "<b>x</b>", "ünïcode"], size=SIZE, n_frames=500)
    for frame in draw(st.sets(st.integers(0, 499), max_size=8)):
        ls.set_boxes(frame, draw(st.lists(boxes(), max_size=4)), round=draw(st.integers(0, 3)))
    return ls


@settings(max_examples=40, deadline=None)
@given(label_sets())
def test_coco_round_trip_is_lossless(tmp_path_factory, ls):
    path = tmp_path_factory.mktemp("coco") / "labels.json"
    formats.to_coco(ls, path)
    back = formats.from_coco(path, n_frames=500)
    assert back.equals(ls)
    assert json.loads(path.read_text())["categories"][2]["name"] == "<b>x</b>"


@settings(max_examples=40, deadline=None)
@given(label_sets())
def test_yolo_round_trip_keeps_boxes_and_negatives(tmp_path_factory, ls):
    folder = tmp_path_factory.mktemp("yolo")
    formats.to_yolo(ls, folder)
    back = formats.from_yolo(folder, SIZE, n_frames=500)
    assert back.looked_at == ls.looked_at
    assert back.classes == ls.classes
    for f in ls.looked_at:
        a, b = ls.boxes(f), back.boxes(f)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert x.label == y.label
            assert np.allclose(x.xyxy, y.xyxy, atol=1e-6)


def test_negatives_survive_exports(tmp_path):
    ls = LabelSet(["bunny"], size=SIZE)
    ls.set_boxes(3, [Box(1, 2, 30, 40, "bunny")])
    ls.set_boxes(7, [])  # looked at, nothing there
    coco = formats.to_coco(ls)
    assert {im["id"] for im in coco["images"]} == {3, 7}
    formats.to_yolo(ls, tmp_path)
    assert (tmp_path / "000007.txt").read_text() == ""
    assert formats.from_yolo(tmp_path, SIZE).looked_at == [3, 7]
    assert len(ls) == 1 and ls.frames == [3] and ls.looked_at == [3, 7]


def test_unknown_class_and_outside_box_and_bad_frame():
    ls = LabelSet(["bunny"], size=SIZE, n_frames=132)
    with pytest.raises(mm.UnknownClassError, match="'cat'"):
        ls.set_boxes(0, [Box(0, 0, 5, 5, "cat")])
    with pytest.raises(mm.LabelError, match="frame 4.*outside"):
        ls.set_boxes(4, [Box(0, 0, 1281, 5, "bunny")])
    with pytest.raises(mm.FrameIndexError, match="132 frames"):
        ls.set_boxes(132, [])
    with pytest.raises(mm.LabelError, match="repeat"):
        LabelSet(["a", "a"])
    with pytest.raises(mm.LabelError, match="at least one"):
        LabelSet([])
    assert len(ls) == 0 and ls.looked_at == []  # nothing half-applied


def test_edit_operations_and_df_columns():
    ls = LabelSet(["bunny", "bird"], size=SIZE)
    seen = []
    ls.on_change(seen.append)
    ls.add_box(2, Box(0, 0, 10, 10, "bunny"), round=1)
    ls.add_box(2, Box(5, 5, 20, 20, "bird", 0.8, "model"), round=1)
    removed = ls.remove_box(2, 0)
    assert removed.label == "bunny" and seen == [2, 2, 2]
    df = ls.df
    assert list(df.columns) == ["frame", "x1", "y1", "x2", "y2", "label", "score", "source", "round",
                                  "track"]
    assert df["track"].isna().all()  # boxes added by hand are not linked yet
    assert df.iloc[0].drop("track").to_dict() == {"frame": 2, "x1": 5.0, "y1": 5.0, "x2": 20.0, "y2": 20.0,
                                    "label": "bird", "score": 0.8, "source": "model", "round": 1}
    with pytest.raises(mm.LabelError, match="no box number 3"):
        ls.remove_box(2, 3)


def test_classes_task():
    ls = LabelSet(["day", "night"], task="classes", n_frames=10)
    ls.set_class(3, "night")
    ls.set_class(3, "day")
    assert ls.frame_class(3) == "day" and len(ls) == 1
    assert list(ls.df.columns) == ["frame", "label", "score", "source", "round"]
    with pytest.raises(mm.UnknownClassError):
        ls.set_class(4, "dusk")
    with pytest.raises(mm.LabelError, match="holds classes"):
        ls.set_boxes(1, [])


def test_from_csv_like_shared_truth(bunny_truth):
    assert len(bunny_truth) == 132 and bunny_truth.classes == ["bunny"]
    assert bunny_truth.boxes(0)[0].xyxy == (232, 253, 527, 550)


def test_bad_coco_and_yolo_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(mm.LabelError, match="bad.json"):
        formats.from_coco(bad)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "classes.txt").write_text("a\n")
    (tmp_path / "y" / "000001.txt").write_text("3 0.5 0.5 0.1 0.1\n")
    with pytest.raises(mm.UnknownClassError, match="000001.txt line 1"):
        formats.from_yolo(tmp_path / "y", (100, 100))
