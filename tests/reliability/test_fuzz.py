"""Fuzzed bad input: every public entry point works or raises the package's own error."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mm_widgets as mm
from mm_widgets import formats
from mm_widgets.labels import Box, LabelSet

anything = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=12), st.booleans())
names = st.text(max_size=20)  # unicode, empty, HTML, control characters
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def works_or_mm_error(fn, *args, **kw):
    """Any exception other than the package's own escapes and fails the test."""
    with contextlib.suppress(mm.MMError):
        fn(*args, **kw)


@FUZZ
@given(anything, anything, anything, anything, anything, anything)
def test_box_constructor(x1, y1, x2, y2, label, score):
    works_or_mm_error(Box, x1, y1, x2, y2, label, score)


@FUZZ
@given(st.lists(names, max_size=4), st.sampled_from(["boxes", "classes", "x"]))
def test_labelset_classes(classes, task):
    works_or_mm_error(LabelSet, classes, task)


@FUZZ
@given(anything, st.lists(st.tuples(anything, anything, anything, anything, names), max_size=3))
def test_set_boxes(frame, raw):
    ls = LabelSet(["a", "<b>"], size=(100, 80), n_frames=10)

    def go():
        ls.set_boxes(frame, [Box(*r) for r in raw])

    works_or_mm_error(go)


@FUZZ
@given(anything)
def test_frame_index(i):
    frames = mm.Frames.from_arrays([np.zeros((4, 4, 3), np.uint8)] * 3)
    works_or_mm_error(frames.__getitem__, i)


table = st.dictionaries(st.sampled_from(["frame", "x1", "y1", "x2", "y2", "label", "score", "track",
                                         "zz"]),
                        st.lists(anything, min_size=2, max_size=2), max_size=7)


@FUZZ
@given(table)
def test_label_tables(cols):
    works_or_mm_error(LabelSet.from_df, pd.DataFrame(cols), size=(100, 80), n_frames=20)


@FUZZ
@given(st.recursive(anything, lambda c: st.one_of(st.lists(c, max_size=3),
                                                   st.dictionaries(names, c, max_size=3)),
                    max_leaves=12))
def test_coco_documents(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("coco") / "c.json"
    path.write_text(json.dumps(doc))
    works_or_mm_error(formats.from_coco, path)
    base = {"images": [{"id": 0}], "annotations": [doc], "categories": [{"id": 1, "name": "a"}]}
    works_or_mm_error(formats.from_coco, base)


@FUZZ
@given(st.lists(st.text(alphabet="0123456789 .-e\n", max_size=30), max_size=4))
def test_yolo_files(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("yolo")
    (folder / "classes.txt").write_text("a\nb\n")
    (folder / "000003.txt").write_text("\n".join(lines))
    works_or_mm_error(formats.from_yolo, folder, (64, 48))


@FUZZ
@given(st.lists(st.text(alphabet="0123456789 ,.-e\n", max_size=30), max_size=4))
def test_mot_files(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("mot")
    (folder / "gt").mkdir()
    (folder / "gt" / "labels.txt").write_text("a\nb\n")
    (folder / "gt" / "gt.txt").write_text("\n".join(lines))
    works_or_mm_error(formats.from_mot, folder, size=(64, 48))


@FUZZ
@given(st.dictionaries(st.sampled_from(["frame", "outside", "xtl", "ytl", "xbr", "ybr"]),
                       st.text(alphabet="0123456789.-e", max_size=6), max_size=6),
       st.text(alphabet="0123456789-a", max_size=4), names)
def test_cvat_files(tmp_path_factory, attrs, track_id, label):
    from xml.sax.saxutils import quoteattr

    box = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    xml = ("<annotations><meta><task><stop_frame>9</stop_frame><labels><label><name>a</name>"
           "</label></labels><original_size><width>64</width><height>48</height></original_size>"
           f"</task></meta><track id={quoteattr(track_id)} label={quoteattr(label)}>"
           f"<box {box}/></track></annotations>")
    path = tmp_path_factory.mktemp("cvat") / "a.xml"
    path.write_text(xml)
    works_or_mm_error(formats.from_cvat, path)


@FUZZ
@given(names)
def test_class_names_in_projects(tmp_path_factory, name):
    works_or_mm_error(mm.Project, tmp_path_factory.mktemp("p") / "p", [name])
