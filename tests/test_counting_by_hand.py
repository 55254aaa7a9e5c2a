"""The counting rule driven the way a browser drives it, edit by edit, against counts
written down by hand.

Every step below is what the bbox widget sends to the kernel after one thing a person
does (its ``bboxes`` trait replaced with the whole list, in shown pixels, coordinates
rounded to whole pixels where a mouse or a key moved them), or a key message from the
page (Enter, Ctrl+Z, arrows). No step calls :func:`~mm_widgets.actions.diff_boxes`,
``corrections()`` or ``set_boxes()``: the expected counts are the table's, not the code's.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.labels import BOX_COLUMNS, Box, LabelSet
from mm_widgets.models.base import MicroModel
from mm_widgets.widgets.review import review

W, H = 320, 180


def clip(n=6):
    rng = np.random.default_rng(7)
    return mm.Frames.from_arrays([rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(n)],
                                 name="clip")


class Proposals(MicroModel):
    """Proposes the given boxes on every frame (a model whose output the test knows)."""

    kind = "fixed"

    def __init__(self, boxes):
        self.boxes = boxes
        self.classes_ = ["cat", "dog"]

    def predict(self, frames, indices=None):
        wanted = range(len(frames)) if indices is None else indices
        rows = [(f, *b, label, 0.9, "model", 1) for f in wanted for (*b, label) in self.boxes]
        return pd.DataFrame(rows, columns=BOX_COLUMNS).astype({"score": float})


# -- what a person does, as the browser reports it -------------------------------------------
def boxes_now(w):
    return [dict(d) for d in w._bbox.bboxes]


def draw(w, x, y, width, height, label="cat"):
    """A drag on the image: a 0 x 0 box at mouse-down, the whole box at mouse-up."""
    old = boxes_now(w)
    start = {"x": x, "y": y, "width": 0, "height": 0, "label": label}
    w._bbox.bboxes = [*old, start]
    w._bbox.bboxes = [*old, {**start, "width": width, "height": height}]


def change(w, k, **new):
    """Box ``k`` moved, resized or relabelled (the widget rounds moved sides to whole pixels)."""
    now = boxes_now(w)
    d = now[k]
    for key, value in new.items():
        d[key] = round(d[key] + value) if key != "label" else value
    w._bbox.bboxes = now


def move(w, k, dx, dy=0):
    change(w, k, x=dx, y=dy)


def resize(w, k, dw, dh=0):
    change(w, k, width=dw, height=dh)


def relabel(w, k, label):
    change(w, k, label=label)


def delete(w, k):
    now = boxes_now(w)
    del now[k]
    w._bbox.bboxes = now


def key(w, name):
    w._on_key(w._keys, {"type": "key", "key": name}, [])


def away_and_back(w):
    key(w, "ArrowRight")
    key(w, "ArrowLeft")


def counted(w):
    return dict(Counter(a.kind for a in w.actions))


# -- the table: what a person did, and what it must count ------------------------------------
LABEL_CASES = {
    "one box drawn": ([lambda w: draw(w, 20, 20, 60, 40)], {"draw": 1}),
    "drawn, then nudged three times and resized": (
        [lambda w: draw(w, 20, 20, 60, 40), lambda w: move(w, 0, 1), lambda w: move(w, 0, 1),
         lambda w: move(w, 0, 0, 1), lambda w: resize(w, 0, 4)], {"draw": 1}),
    "two drawn, then the first nudged (other edits in between)": (
        [lambda w: draw(w, 20, 20, 60, 40), lambda w: draw(w, 150, 60, 50, 50),
         lambda w: move(w, 0, 2)], {"draw": 2}),
    "two drawn, each nudged after the other was drawn": (
        [lambda w: draw(w, 20, 20, 60, 40), lambda w: draw(w, 150, 60, 50, 50),
         lambda w: move(w, 0, 2), lambda w: resize(w, 1, 3), lambda w: move(w, 0, 0, 2)],
        {"draw": 2}),
    "a box drawn inside another box": (
        [lambda w: draw(w, 20, 20, 200, 120), lambda w: draw(w, 60, 50, 30, 30, "dog")], {"draw": 2}),
    "drawn, then moved in a later visit": (
        [lambda w: draw(w, 20, 20, 60, 40), away_and_back, lambda w: move(w, 0, 10)],
        {"draw": 1, "adjust": 1}),
    "drawn, relabelled in a later visit": (
        [lambda w: draw(w, 20, 20, 60, 40), away_and_back, lambda w: relabel(w, 0, "dog")],
        {"draw": 1, "adjust": 1}),
    "drawn, deleted in a later visit": (
        [lambda w: draw(w, 20, 20, 60, 40), away_and_back, lambda w: delete(w, 0)],
        {"draw": 1, "delete": 1}),
    "drawn and undone": ([lambda w: draw(w, 20, 20, 60, 40), lambda w: key(w, "Ctrl+z")], {}),
    "drawn, undone, redone": (
        [lambda w: draw(w, 20, 20, 60, 40), lambda w: key(w, "Ctrl+z"), lambda w: key(w, "Ctrl+Shift+z")],
        {"draw": 1}),
    "two drawn, the first nudged, one undo": (  # the undo takes the nudge back, not the draw of B
        [lambda w: draw(w, 20, 20, 60, 40), lambda w: draw(w, 150, 60, 50, 50),
         lambda w: move(w, 0, 2), lambda w: key(w, "Ctrl+z")], {"draw": 2}),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_label_widget_counts_as_the_table_says(case):
    steps, expected = LABEL_CASES[case]
    w = mm.label(clip(), ["cat", "dog"], first_labels=[2])
    w.go_to(2)
    for step in steps:
        step(w)
    assert counted(w) == expected


def test_the_undo_after_interleaved_edits_takes_back_the_nudge_only():
    w = mm.label(clip(), ["cat", "dog"], first_labels=[2])
    w.go_to(2)
    draw(w, 20, 20, 60, 40)
    draw(w, 150, 60, 50, 50)
    first, second = (b.xyxy for b in w.labels.boxes(2))
    move(w, 0, 8)
    assert w.labels.boxes(2)[0].x1 == pytest.approx(first[0] + 8 * W / w.scale.shown[0])
    key(w, "Ctrl+z")
    assert [b.xyxy for b in w.labels.boxes(2)] == [first, second]
    key(w, "Ctrl+z")                                      # then B's draw
    assert [b.xyxy for b in w.labels.boxes(2)] == [first] and counted(w) == {"draw": 1}


# Review: the model proposes these boxes (full-frame pixels) on every frame.
A = (40, 40, 120, 100, "cat")
B = (180, 60, 260, 140, "dog")
REVIEW_CASES = {
    "accepted as shown (Enter)": ([lambda w: key(w, "Enter")], {}, 1),
    "one box dragged, then accepted": ([lambda w: move(w, 0, 15), lambda w: key(w, "Enter")],
                                       {"adjust": 1}, 0),
    "one box dragged, then resized, then nudged": (
        [lambda w: move(w, 0, 15), lambda w: resize(w, 0, 10), lambda w: move(w, 0, 1)], {"adjust": 1}, 0),
    "one box given the other class": ([lambda w: relabel(w, 0, "dog")], {"adjust": 1}, 0),
    "one box deleted": ([lambda w: delete(w, 1)], {"delete": 1}, 0),
    "one dragged, the other deleted": ([lambda w: move(w, 0, 15), lambda w: delete(w, 1)],
                                       {"adjust": 1, "delete": 1}, 0),
    "A dragged, B resized, A dragged again": (
        [lambda w: move(w, 0, 15), lambda w: resize(w, 1, 10), lambda w: move(w, 0, 5)],
        {"adjust": 2}, 0),
    "a missed object drawn inside a shown box": (
        [lambda w: draw(w, 60, 60, 20, 20, "dog"), lambda w: key(w, "Enter")], {"draw": 1}, 0),
    "dragged, then undone, then accepted": (
        [lambda w: move(w, 0, 15), lambda w: key(w, "Ctrl+z"), lambda w: key(w, "Enter")], {}, 1),
    "dragged in one visit, dragged again in the next": (
        [lambda w: move(w, 0, 15), away_and_back, lambda w: move(w, 0, 5)], {"adjust": 2}, 0),
}


@pytest.mark.parametrize("case", list(REVIEW_CASES))
def test_review_widget_counts_as_the_table_says(case):
    steps, expected, accepts = REVIEW_CASES[case]
    frames = clip()
    w = review(frames, Proposals([A, B]), labels=LabelSet(["cat", "dog"], size=(W, H), n_frames=len(frames)))
    w.go_to(2)
    assert [(*b.xyxy, b.label) for b in w.shown_boxes(2)] == [A, B]
    for step in steps:
        step(w)
    assert counted(w) == expected
    assert sum(1 for a in w.actions.events if a.kind == "accept") == accepts


def test_a_model_box_left_alone_keeps_its_source_when_another_is_edited():
    frames = clip()
    w = review(frames, Proposals([A, B]), labels=LabelSet(["cat", "dog"], size=(W, H), n_frames=len(frames)))
    w.go_to(2)
    move(w, 0, 15)
    key(w, "Enter")
    kept = {b.label: (b.source, b.xyxy) for b in w.labels.boxes(2)}
    assert kept["dog"] == ("model", B[:4])
    assert kept["cat"][0] == "corrected" and kept["cat"][1][0] > A[0]


def test_a_box_dragged_to_the_edge_of_an_enlarged_small_frame_ends_on_the_edge():
    frames = mm.Frames.from_arrays(np.zeros((3, 144, 176, 3), np.uint8))
    w = mm.label(frames, ["a"], first_labels=[1])
    w.go_to(1)
    sw, sh = w.scale.shown
    assert (sw, sh) == (660, 540)
    # The bbox widget rounds to whole shown pixels: a drag to the last pixel is 659 wide.
    draw(w, 330, 270, sw - 1 - 330, sh - 1 - 270, "a")
    (box,) = w.labels.boxes(1)
    assert box.xyxy == pytest.approx((88.0, 72.0, 176.0, 144.0))
    # A box only shown, left as it was, keeps its coordinates even near the edge.
    w.set_boxes(2, [Box(10, 10, 175.8, 100, "a")])
    w.go_to(2)
    draw(w, 20, 20, 40, 40, "a")
    assert w.labels.boxes(2)[0].x2 == pytest.approx(175.8)
