"""show() and review() for a frame classifier: widget state and handlers (no browser; the
browser test is tests/browser/test_classes_browser.py)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.actions import ActionLog
from mm_widgets.errors import FrameIndexError, LabelError, MMError
from mm_widgets.labels import CLASS_COLUMNS, LabelSet
from mm_widgets.models.base import MicroModel
from mm_widgets.simulate import ClassOracle
from mm_widgets.widgets.display import CLASS_COLOURS, pale
from mm_widgets.widgets.review import ClassReview, Review, review
from mm_widgets.widgets.viewer import ClassViewer, Viewer, show

EVIL = "<img src=x onerror=alert(1)>"
SIZE = (320, 180)
CLASSES = ["sky", "grass", "road"]
#: frame -> (class the model says, its score); frame 3 below conf 0.25, frame 4 below low 0.5
SAYS = {0: ("sky", 0.9), 1: ("sky", 0.8), 2: ("grass", 0.95), 3: ("road", 0.2),
        4: ("grass", 0.45), 5: ("road", 0.99), 6: ("road", 0.7), 7: ("sky", 0.6)}
#: what is true
TRUTH = {0: "sky", 1: "grass", 2: "grass", 3: "road", 4: "grass", 5: "road", 6: "sky", 7: "sky"}


def clip(n=8):
    w, h = SIZE
    rng = np.random.default_rng(1)
    return mm.Frames.from_arrays([rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)],
                                 name="clip")


class FixedClasses(MicroModel):
    """A 'classifier' that says given classes: ``{frame: (class, score)}``."""

    kind = "fixed"
    task = "classes"

    def __init__(self, says=SAYS, classes=CLASSES):
        self.says = dict(says)
        self.classes_ = list(classes)
        self.asked: list = []

    def predict(self, frames, indices=None):
        wanted = list(range(len(frames)) if indices is None else indices)
        self.asked.append(wanted)
        rows = [(int(f), *self.says[int(f)], "model", 0) for f in wanted if int(f) in self.says]
        return pd.DataFrame(rows, columns=CLASS_COLUMNS).astype({"score": float})


def jpeg_pixel(data: bytes, x: int, y: int):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[y, x].astype(int)


def hex_rgb(colour: str):
    return np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)])


def truth_set() -> LabelSet:
    t = LabelSet(CLASSES, "classes", n_frames=8)
    for f, c in TRUTH.items():
        t.set_class(f, c)
    return t


# -- show() ----------------------------------------------------------------------------------
@pytest.fixture
def viewer():
    return show(clip(), FixedClasses(), background=False)


def test_show_picks_the_class_viewer(viewer):
    assert isinstance(viewer, ClassViewer) and viewer.classes == CLASSES
    assert viewer.frame_class(2) == ("grass", pytest.approx(0.95))
    assert viewer.shown_class(3) is None            # 0.2 < conf 0.25: hidden
    assert viewer.statuses() == ["ok", "ok", "ok", "none", "low", "ok", "ok", "ok"]
    assert "sky 3, grass 2, road 3" in viewer._header.value   # counted from the predictions


def test_class_timeline_colours_and_tooltips(viewer):
    cells = viewer._timeline.strip.value
    colours, titles = viewer._strip_cells([range(f, f + 1) for f in range(8)])
    sky, grass = CLASS_COLOURS[0], CLASS_COLOURS[1]
    assert colours[0] == sky and colours[2] == grass
    assert colours[4] == pale(grass)                 # 0.45 < low 0.5: paler
    assert colours[3] not in (CLASS_COLOURS[2], pale(CLASS_COLOURS[2]))   # below conf: grey
    assert titles[0] == "frame 0: sky, score 0.90" and "below the threshold" in titles[3]
    assert cells.count("<div title=") == 8
    # a cell over several frames: the most frequent class, the lowest score, the worst state
    colours, titles = viewer._strip_cells([range(0, 3)])
    assert colours == [sky] and titles == ["frames 0-2: sky (+1 other class), score 0.80"]
    assert "grass 2" in viewer._legend.value and "1 below 0.25" in viewer._legend.value


def test_class_tag_on_the_frame_and_the_threshold(viewer):
    viewer.go_to(2)
    assert "class <b>grass</b>, score 0.95" in viewer._status.value
    tag = jpeg_pixel(viewer._image.value, 2, 2)
    assert np.abs(tag - hex_rgb(CLASS_COLOURS[1])).max() < 40       # grass's colour, top left
    viewer.go_to(3)
    assert "road scores 0.20, below 0.25: hidden" in viewer._status.value
    assert np.abs(jpeg_pixel(viewer._image.value, 2, 2) - hex_rgb("#757575")).max() < 40
    viewer.set_conf(0.1)
    assert viewer.shown_class(3) == "road" and viewer.status(3) == "low"
    assert "class <b>road</b>, score 0.20 (low confidence)" in viewer._status.value


def test_class_viewer_scrubs_and_plays(viewer):
    viewer.next()
    assert viewer.frame == 1
    viewer._on_key(None, {"type": "key", "key": "ArrowRight"}, None)
    assert viewer.frame == 2
    viewer._on_key(None, {"type": "strip", "fx": 0.99}, None)
    assert viewer.frame == 7
    viewer.play()
    assert viewer.playing and viewer.frame == 0      # from the start when at the end
    viewer.stop()
    assert not viewer.playing


def test_class_viewer_from_a_table_or_labels_and_lazily():
    frames = clip()
    model = FixedClasses()
    table = model.predict(frames)
    v = show(frames, table)
    assert isinstance(v, ClassViewer) and v.frame_class(5) == ("road", pytest.approx(0.99))
    assert v.classes == ["sky", "grass", "road"]
    w = show(frames, truth_set())
    assert w.shown_class(1) == "grass" and w.status(1) == "ok"    # no score: certain
    lazy = show(frames, model, background=False)
    assert lazy.predicted.task == "classes" and lazy.predicted.complete   # one block holds 8


def test_class_viewer_bad_input_is_named():
    frames = clip()
    with pytest.raises(FrameIndexError):
        show(frames, pd.DataFrame({"frame": [20], "label": ["sky"], "score": [0.9]}))
    with pytest.raises(MMError, match="Viewer shows boxes, but these predictions are classes"):
        Viewer(frames, FixedClasses())


def test_class_viewer_names_are_escaped():
    frames = clip()
    frames.name = EVIL
    v = show(frames, FixedClasses({0: (EVIL, 0.9)}, classes=[EVIL]), background=False)
    for child in (v._header, v._strip, v._legend, v._status):
        assert "<img" not in child.value


# -- review() ---------------------------------------------------------------------------------
def test_review_picks_the_class_review_with_the_models_class_prefilled():
    w = review(clip(), FixedClasses(), strategy=lambda frames, k, **kw: [2, 3, 1], background=False)
    assert isinstance(w, ClassReview) and w.frame == 2
    assert w.shown_class(2) == "grass" and w.shown_class(3) is None     # below conf: none
    assert "the model says <b>grass</b> (0.95)" in w._status.value
    styles = {b.description.split()[-1]: b.button_style for b in w._class_buttons}
    assert styles == {"sky": "", "grass": "info", "road": ""}
    assert w._confirm.description == "Accept frame"
    assert any(w._confirm in getattr(c, "children", ()) for c in w.children)   # on show


def test_accept_is_free_and_a_change_is_one_set_class(tmp_path):
    w = review(clip(), FixedClasses(), project=tmp_path / "p",
               strategy=lambda frames, k, **kw: [2, 1, 3], background=False)
    assert w.accept() == []                                        # frame 2: grass, right
    state = w.labels.frame_state(2)["class"]
    assert state[:3] == ["grass", pytest.approx(0.95), "model"] and w.frame == 1
    # frame 1: the model says sky, the truth is grass: key "2" picks grass
    w._on_key(None, {"type": "key", "key": "2"}, None)
    assert [(a.kind, a.frame, a.label) for a in w.actions] == [("class", 1, "grass")]
    assert w.labels.frame_state(1)["class"][:3] == ["grass", None, "corrected"]
    assert w.frame == 3                                            # moved on in review order
    # frame 3: nothing pre-filled (0.2 < 0.25): Enter accepts nothing, says so
    w._on_key(None, {"type": "key", "key": "Enter"}, None)
    assert 3 not in w.labels and "pick a class" in w._message.value
    w.set_class(3, "road")                                         # set by hand: one action
    assert w.labels.frame_state(3)["class"][2] == "human"
    assert len(w.actions) == 2
    assert w.efficiency == pytest.approx(1 - 2 / 3)
    assert "2 classes set" in w._status.value
    # on disk, as it happened
    again = mm.Project(tmp_path / "p")
    assert [(a.kind, a.frame) for a in again.actions] == [("class", 1), ("class", 3)]
    assert again.labels.frame_class(2) == "grass" and again.task == "classes"
    again.close()


def test_keeping_a_reviewed_class_is_free_and_undo_takes_a_change_back():
    w = review(clip(), FixedClasses(), strategy=lambda frames, k, **kw: [0, 1], background=False)
    w.accept(0)
    w.set_class(0, "sky")                                          # the same class again: free
    assert len(w.actions) == 0 and w.labels.frame_state(0)["class"][2] == "model"
    w.set_class(0, "road")                                         # changed after review: counted
    assert [a.kind for a in w.actions] == ["class"]
    assert w.labels.frame_state(0)["class"][2] == "corrected"
    w.undo()
    assert len(w.actions) == 0 and w.labels.frame_class(0) == "sky"


def test_the_oracle_through_the_widget_counts_as_simulate_counts():
    frames = clip()
    truth = truth_set()
    w = review(frames, FixedClasses(), background=False)
    ClassOracle(truth).answer(w)
    assert sorted(w.labels.looked_at) == list(range(8))
    assert all(w.labels.frame_class(f) == TRUTH[f] for f in range(8))
    # simulate()'s oracle on the same proposals
    labels, log = LabelSet(CLASSES, "classes", n_frames=8), ActionLog()
    model = FixedClasses()
    for f in range(8):
        label, score = SAYS[f]
        ClassOracle(truth).review(f, (label, score) if score >= 0.25 else None, labels, log, round=1)
    assert [(a.frame, a.label) for a in sorted(w.actions, key=lambda a: a.frame)] == \
        [(a.frame, a.label) for a in sorted(log, key=lambda a: a.frame)]
    # wrong: 1 (sky->grass), 3 (nothing shown), 6 (road->sky)
    assert sorted(a.frame for a in log) == [1, 3, 6]
    assert model.classes_ == CLASSES


def test_class_review_timeline_and_strip_clicks():
    w = review(clip(), FixedClasses(), strategy=lambda frames, k, **kw: [2, 0], background=False)
    w.accept()                                       # frame 2 reviewed: full colour
    colours, titles = w._strip_cells([range(f, f + 1) for f in range(8)])
    assert colours[2] == CLASS_COLOURS[1] and titles[2] == "frame 2: grass (reviewed)"
    assert colours[0] == pale(CLASS_COLOURS[0])      # to review: the model's class, pale
    assert titles[3] == "frame 3: to review: the model is unsure"
    w._on_key(None, {"type": "strip", "fx": 0.7}, None)
    assert w.frame == 5


def test_class_efficiency_table_recomputes_from_labels_and_actions(tmp_path):
    w = review(clip(), FixedClasses(), project=tmp_path / "p", background=False)
    ClassOracle(truth_set()).answer(w)
    table = w.efficiency_table().set_index("round")
    assert table.loc[1, "class"] == len(w.actions) == 3
    assert table.loc[1, "labels"] == len(w.labels) == 8
    assert table.loc[1, "efficiency"] == pytest.approx(1 - 3 / 8)
    names = [t.name for t in w.efficiency_curve().data]
    assert "efficiency" in names and not any("recall" in n for n in names)   # no box marks


def test_class_review_refuses_what_does_not_fit():
    frames = clip()
    boxes = LabelSet(CLASSES, "boxes", size=SIZE)
    with pytest.raises(LabelError, match="this model labels classes, but these labels hold boxes"):
        review(frames, FixedClasses(), labels=boxes)
    with pytest.raises(MMError, match="Review corrects boxes, but this model labels frame classes"):
        Review(frames, FixedClasses())


def test_class_review_names_are_escaped():
    frames = clip()
    frames.name = EVIL
    w = review(frames, FixedClasses({f: (EVIL, 0.9) for f in range(8)}, classes=[EVIL]),
               background=False)
    for child in (w._header, w._counter, w._status, w._message, w._review_strip, w._legend):
        assert "<img" not in child.value


def test_line_review_of_a_class_domain():
    frames = clip()
    labels = LabelSet(CLASSES, "classes", n_frames=8)
    labels.set_class(0, "sky")
    line = mm.AssemblyLine()
    d = line.add(range(4, 8), labels, frames=frames, name="second half")
    d.model = FixedClasses()
    w = line.review("second half", background=False)
    assert isinstance(w, ClassReview) and len(w.frames) == 4
    # domain frame 2 is the clip's frame 6: the model says road, the truth is sky
    assert w.shown_class(2) == "road"
    w.set_class(2, "sky")
    assert labels.frame_class(6) == "sky"
    assert [(a.kind, a.frame) for a in d.actions] == [("class", 6)]
