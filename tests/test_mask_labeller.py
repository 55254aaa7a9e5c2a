"""label(task="masks"): polygons from the browser land in full-frame pixels exactly, are
stored and journaled as masks, and are counted by the box rule (issue 27 item 2).

The browser is played by the messages its widget sends (``static/masks.js``): every mask of
the frame as ``{id, rings, label, edited}`` (``id`` None for one drawn), in shown pixels of
the view sent, with the version of the masks it started from.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets.actions import diff_masks
from mm_widgets.data import Frames
from mm_widgets.errors import LabelError
from mm_widgets.labels import Mask


def _frames(n=6, size=(176, 144)):
    w, h = size
    return Frames.from_arrays([np.full((h, w, 3), 40 * k, np.uint8) for k in range(n)])


def _send(w, masks, version=None):
    w._on_canvas(None, {"type": "edit", "frame": w.frame, "view": w._view_id,
                        "version": w._canvas.version if version is None else version,
                        "masks": masks}, [])


def _shown(w):
    """What the browser holds now: the masks last sent, as rings of shown pixels."""
    return [{"id": k, "rings": [list(r) for r in m["rings"]], "label": m["label"], "edited": False}
            for k, m in enumerate(w._canvas.masks)]


def _drawn(rings, label):
    return {"id": None, "rings": rings, "label": label, "edited": True}


def test_polygon_in_shown_pixels_lands_in_full_frame_pixels_exactly():
    w = mm.label(_frames(), ["disc", "star"], task="masks", first_labels=[2])
    assert w.scale.shown == (660, 540)  # 176x144 enlarged 3.75 times into 800x540
    shown = [375, 187, 601, 187, 599, 403]  # whole shown pixels, as the browser sends them
    _send(w, [_drawn([shown], "star")])
    (mask,) = w.labels.masks(2)
    # Each coordinate is the shown one times 176/660 (x) or 144/540 (y), the nearest float.
    expected = [float(Fraction(v * (176 if k % 2 == 0 else 144), 660 if k % 2 == 0 else 540))
                for k, v in enumerate(shown)]
    assert list(mask.polygons[0]) == expected
    assert expected[:2] == [100.0, float(Fraction(187 * 144, 540))]
    assert (mask.label, mask.source) == ("star", "human")

    # Zoomed 2x around the frame's centre: the region (44, 36)-(132, 108) fills the view,
    # and the untouched mask comes back by its id, the very mask stored.
    w.set_zoom(2.0, at=(88.0, 72.0))
    assert w.scale.region == (44.0, 36.0, 132.0, 108.0)
    _send(w, [*_shown(w), _drawn([[330, 270, 660, 270, 330, 540]], "disc")])
    first, second = w.labels.masks(2)
    assert first is mask
    assert list(second.polygons[0]) == [88.0, 72.0, 132.0, 72.0, 88.0, 108.0]
    # and the browser is sent them back in shown pixels of the zoomed view
    assert w._canvas.masks[1]["rings"] == [[330.0, 270.0, 660.0, 270.0, 330.0, 540.0]]


def test_drawn_adjusted_twice_deleted_count_one_each(tmp_path):
    w = mm.label(_frames(), ["disc", "star"], task="masks", first_labels=[1, 3],
                 project=tmp_path / "masks_project")
    assert w.frame == 1
    assert "close the polygon" in w._key_legend.value and "Enter" in w._key_legend.value
    w.select_class("disc")  # key 1
    _send(w, [_drawn([[60, 60, 300, 60, 300, 300, 60, 300]], "disc")])
    assert [a.kind for a in w.actions] == ["draw"]
    # A point of the mask just drawn dragged in the same visit: part of its draw.
    browser = _shown(w)
    browser[0]["rings"][0][2:4] = [330, 45]
    browser[0]["edited"] = True
    _send(w, browser)
    assert [a.kind for a in w.actions] == ["draw"]

    w.next()
    w.prev()  # a new visit of frame 1: two drags of the mask's points are one adjust
    for k, point in ((0, [75, 75]), (4, [315, 315])):
        browser = _shown(w)
        browser[0]["rings"][0][k:k + 2] = point
        browser[0]["edited"] = True
        _send(w, browser)
    assert [a.kind for a in w.actions] == ["draw", "adjust"]
    (mask,) = w.labels.masks(1)
    assert mask.polygons[0][:2] == (20.0, 20.0)  # 75 shown pixels / 3.75
    assert mask.polygons[0][2:4] == (88.0, 12.0)  # the drag of the first visit
    assert mask.polygons[0][4:6] == (84.0, 84.0)  # the second drag of this visit

    _send(w, [])  # Delete
    assert [a.kind for a in w.actions] == ["draw", "adjust", "delete"]
    assert w.labels.masks(1) == [] and 1 in w.labels.looked_at
    w.undo()  # the delete taken back: the mask is back, the count is what it was
    assert w.labels.masks(1) == [mask] and [a.kind for a in w.actions] == ["draw", "adjust"]
    assert len(w._canvas.masks) == 1

    # Journaled as the box labeller journals: what a second opener reads from disk.
    on_disk = mm.Project(tmp_path / "masks_project", read_only=True)
    assert on_disk.task == "masks" and on_disk.labels.masks(1) == [mask]
    assert [a.kind for a in on_disk.actions] == ["draw", "adjust"]
    on_disk.close()
    w.project.save()  # a snapshot keeps the polygons too
    on_disk = mm.Project(tmp_path / "masks_project", read_only=True)
    assert on_disk.labels.equals(w.labels)
    on_disk.close()


def test_an_edit_sent_before_the_echo_of_the_last_one_counts_once():
    # The browser sends a second edit before Python's answer to the first arrived: its ids
    # are of the masks before the first edit, so Python reads those masks by their points.
    w = mm.label(_frames(), ["disc"], task="masks", first_labels=[0])
    a, b = [[30, 30, 90, 30, 90, 90]], [[300, 300, 390, 300, 390, 390]]
    _send(w, [_drawn(a, "disc"), _drawn(b, "disc")])
    w.next()
    w.prev()  # a later visit: a drag is an adjust, not part of the draw
    old = w._canvas.version
    browser = _shown(w)
    _send(w, [browser[1]], version=old)  # Delete the first mask
    browser[1]["rings"][0][0:2] = [285, 285]
    browser[1]["edited"] = True
    _send(w, [browser[1]], version=old)  # then drag a point of the other, the same version
    assert [a.kind for a in w.actions] == ["draw", "draw", "delete", "adjust"]
    (mask,) = w.labels.masks(0)
    assert mask.polygons[0][:2] == (76.0, 76.0)  # 285 / 3.75


def test_a_polygon_that_is_no_polygon_is_refused_in_words_and_not_counted():
    w = mm.label(_frames(), ["disc"], task="masks", first_labels=[0])
    _send(w, [_drawn([[10, 10, 20, 20, 30, 30]], "disc")])  # on one line
    assert w.labels.masks(0) == [] and len(w.actions) == 0
    assert "not saved" in w._message.value and "no area" in w._message.value
    with pytest.raises(LabelError, match="set_masks"):
        w.set_boxes(0, [])


def test_diff_masks_pairs_by_mask_iou_not_by_box():
    # Two triangles share one box (0..40 square): box IoU cannot tell them apart.
    lower = Mask([[0, 0, 0, 40, 40, 40]], "disc", source="model", track=1)
    upper = Mask([[0, 0, 40, 0, 40, 40]], "disc", source="model", track=2)
    upper2 = Mask([[1, 0, 40, 0, 40, 39]], "disc")  # each nudged, sent in the other order
    lower2 = Mask([[0, 1, 0, 40, 39, 40]], "disc")
    kept, actions = diff_masks([lower, upper], [upper2, lower2])
    assert actions == [("adjust", "disc"), ("adjust", "disc")]
    assert [m.track for m in kept] == [2, 1]  # each keeps its own object's track
    assert [m.source for m in kept] == ["corrected", "corrected"]
    assert diff_masks([lower, upper], [upper]) == ([upper], [("delete", "disc")])
    assert diff_masks([], [lower])[1] == [("draw", "disc")]
