"""label(): widget state (traits set the way the browser sets them) and handler tests.

No browser here: the real-browser tests are in tests/browser/.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

import mm_widgets as mm
from mm_widgets.actions import diff_boxes
from mm_widgets.errors import FrameIndexError, LabelError, ProjectError
from mm_widgets.labels import Box
from mm_widgets.widgets.display import MAX_FRAME_BYTES, DisplayScale, encode_jpeg
from mm_widgets.widgets.labeller import Labeller

EVIL = "<img src=x onerror=alert(1)>"


def clip(n=12, size=(320, 180), seed=0):
    rng = np.random.default_rng(seed)
    w, h = size
    return mm.Frames.from_arrays([rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)],
                                 name="clip")


def front_end_draw(w, d):
    """What the bbox widget sends for one drag: a 0 x 0 box on mouse-down, the box on mouse-up."""
    old = [dict(b) for b in w._bbox.bboxes]
    w._bbox.bboxes = old + [{**d, "width": 0, "height": 0}]
    w._bbox.bboxes = old + [d]


def box_of(w, x, y, width, height, label):
    return w.scale.from_widget({"x": x, "y": y, "width": width, "height": height, "label": label})


# -- the widget edge ------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "limit", "shown"), [
    ((1280, 720), (800, 540), (800, 450)),    # 16:9, one scale for both axes
    ((640, 272), (800, 540), (640, 272)),     # never enlarged
    ((176, 144), (800, 540), (176, 144)),
    ((720, 1280), (800, 540), (297, 528)),    # portrait: the height limits, 9:16 kept exactly
    ((1920, 1080), (640, 540), (640, 360)),
])
def test_display_scale_fits_and_keeps_aspect(size, limit, shown):
    s = DisplayScale.fit(size, *limit)
    assert s.shown == shown
    assert s.uniform


def test_display_scale_enlarges_small_frames_only_when_asked():
    assert DisplayScale.fit((176, 144), 800, 540, enlarge=True).shown == (660, 540)
    assert DisplayScale.fit((1280, 720), 800, 540, enlarge=True).shown == (800, 450)
    assert DisplayScale.fit((176, 144), 400, 1000, enlarge=True).shown == (396, 324)  # 11:9 exactly


@pytest.mark.parametrize("size", [(1280, 720), (176, 144), (1279, 719)])
@pytest.mark.parametrize("zoom", [1.0, 1.25, 3.7, 16.0])
def test_zoomed_round_trip_is_exact_and_the_region_stays_in_the_frame(size, zoom):
    w, h = size
    rng = np.random.default_rng(int(zoom * 10) + w)
    s = DisplayScale.fit(size, 800, 540, enlarge=True)
    for _ in range(20):
        at = (rng.uniform(-50, w + 50), rng.uniform(-50, h + 50))
        where = tuple(rng.uniform(0, 1, 2))
        z = s.zoomed(zoom, at, where)
        x1, y1, x2, y2 = z.region
        assert 0 <= x1 < x2 <= w + 1e-9 and 0 <= y1 < y2 <= h + 1e-9
        assert (x2 - x1) == pytest.approx(w / zoom) and (y2 - y1) == pytest.approx(h / zoom)
        assert z.zoom == pytest.approx(zoom) and z.shown == s.shown
        if 0 <= at[0] - where[0] * w / zoom <= w - w / zoom:  # not pushed back by the border
            assert z.to_shown(*at)[0] == pytest.approx(where[0] * s.shown[0])
        bx1, bx2 = sorted(rng.uniform(0, w, 2))
        by1, by2 = sorted(rng.uniform(0, h, 2))
        box = Box(bx1, by1, bx2 + 1e-2, by2 + 1e-2, "a")
        back = z.from_widget(z.to_widget(box))
        assert np.allclose(back.xyxy, box.xyxy, rtol=0, atol=1e-9), (box, back)
        # one shown pixel is 1/zoom of what it is at the fit: a drag is that much finer
        d = z.from_widget({"x": 10, "y": 20, "width": 30, "height": 40, "label": "a"}, clip=False)
        sw, sh = s.shown
        assert d.xyxy == pytest.approx((x1 + 10 * (x2 - x1) / sw, y1 + 20 * (y2 - y1) / sh,
                                        x1 + 40 * (x2 - x1) / sw, y1 + 60 * (y2 - y1) / sh), abs=1e-9)
    assert s.zoomed(1.0).view is None and s.zoomed(0.5).zoom == 1.0


def test_display_scale_odd_size_is_not_uniform_but_close():
    s = DisplayScale.fit((1279, 719), 800, 540)
    assert s.shown == (800, 450)
    assert not s.uniform


@pytest.mark.parametrize("size", [(1280, 720), (176, 144), (640, 272), (720, 1280), (1279, 719),
                                  (4000, 3000), (97, 61)])
@pytest.mark.parametrize("width", [800, 333, 64])
def test_box_round_trip_through_the_widget_is_exact(size, width):
    s = DisplayScale.fit(size, width, 540)
    rng = np.random.default_rng(sum(size) + width)
    w, h = size
    for _ in range(50):
        x1, x2 = sorted(rng.uniform(0, w, 2))
        y1, y2 = sorted(rng.uniform(0, h, 2))
        if x2 - x1 < 1e-3 or y2 - y1 < 1e-3:
            continue
        box = Box(x1, y1, x2, y2, "a")
        back = s.from_widget(s.to_widget(box))
        assert np.allclose(back.xyxy, box.xyxy, rtol=0, atol=1e-9), (box, back)
    # a whole shown pixel maps to full-frame pixels by the exact ratio of the sizes
    back = s.from_widget({"x": 10, "y": 20, "width": 30, "height": 40, "label": "a"}, clip=False)
    sw, sh = s.shown
    assert back.xyxy == pytest.approx((10 * w / sw, 20 * h / sh, 40 * w / sw, 60 * h / sh), abs=1e-9)


def test_from_widget_clips_and_refuses_empty_boxes():
    s = DisplayScale.fit((1280, 720), 800, 540)
    b = s.from_widget({"x": -20, "y": 400, "width": 100, "height": 100, "label": "a"})
    assert b.xyxy == pytest.approx((0, 640, 128, 720))
    # a box drawn right-to-left has a negative width
    b = s.from_widget({"x": 100, "y": 100, "width": -50, "height": -50, "label": "a"})
    assert b.xyxy == pytest.approx((80, 80, 160, 160))
    with pytest.raises(LabelError):
        s.from_widget({"x": 5, "y": 5, "width": 0, "height": 0, "label": "a"})
    with pytest.raises(LabelError):
        s.from_widget({"x": 900, "y": 5, "width": 10, "height": 10, "label": "a"})
    with pytest.raises(LabelError):
        s.from_widget({"y": 5})


def test_encode_jpeg_stays_within_budget_even_for_noise():
    noise = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    data = encode_jpeg(noise, (800, 450))
    assert len(data) <= MAX_FRAME_BYTES
    assert Image.open(io.BytesIO(data)).size == (800, 450)


# -- counting edits ---------------------------------------------------------------------------------
A = Box(10, 10, 50, 50, "a")
B = Box(100, 100, 150, 160, "b")


def kinds(actions):
    return sorted(k for k, _ in actions)


def test_diff_boxes_counts_each_kind_of_edit():
    assert diff_boxes([], []) == ([], [])
    assert kinds(diff_boxes([], [A])[1]) == ["draw"]
    assert kinds(diff_boxes([A, B], [B])[1]) == ["delete"]
    assert kinds(diff_boxes([A], [Box(12, 10, 52, 50, "a")])[1]) == ["adjust"]
    assert kinds(diff_boxes([A], [Box(500, 500, 540, 540, "a")])[1]) == ["adjust"]  # dragged far
    assert kinds(diff_boxes([A], [Box(10, 10, 50, 50, "b")])[1]) == ["adjust"]      # relabelled
    assert kinds(diff_boxes([A, B], [B, A])[1]) == []                                # reordered
    assert kinds(diff_boxes([A], [A, B])[1]) == ["draw"]
    assert kinds(diff_boxes([A, B], [Box(11, 11, 50, 50, "a")])[1]) == ["adjust", "delete"]


def test_diff_boxes_keeps_untouched_predictions_and_marks_corrections():
    pred = Box(10, 10, 50, 50, "a", score=0.9, source="model")
    other = Box(100, 100, 150, 160, "a", score=0.8, source="model")
    boxes, actions = diff_boxes([pred, other], [pred, Box(104, 100, 150, 160, "a"), A])
    assert boxes[0] == pred                       # accepting costs nothing and keeps the score
    assert boxes[1].source == "corrected" and boxes[1].score is None
    assert boxes[2].source == "human"
    assert kinds(actions) == ["adjust", "draw"]


# -- widget state: the bbox widget's traits set as the front end sets them ------------------------
@pytest.fixture
def boxes_widget(tmp_path):
    return mm.label(clip(), ["cat", "dog"], project=tmp_path / "p", first_labels=[2, 5, 9])


def test_initial_payload(boxes_widget):
    w = boxes_widget
    assert isinstance(w, Labeller)
    assert w.frame == 2                               # the first suggested frame
    data = bytes(w._bbox.image_bytes)
    assert data[:2] == b"\xff\xd8" and len(data) <= MAX_FRAME_BYTES
    assert Image.open(io.BytesIO(data)).size == w.scale.shown
    assert w._bbox.classes == ["cat", "dog"]
    assert w._bbox.bboxes == []
    assert "0 of 3" in w._counter.value


def test_drawn_box_is_saved_and_counted_once(boxes_widget, tmp_path):
    w = boxes_widget
    seen = []
    w.on_change(seen.append)
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    assert w.labels.boxes(2) == [box_of(w, 40, 30, 100, 60, "dog")]
    assert [a.kind for a in w.actions] == ["draw"]
    assert seen == [2]
    assert "1 of 3" in w._counter.value
    # on disk at once: a second Project on the same folder sees it
    again = mm.Project(tmp_path / "p")
    assert again.labels.boxes(2) == w.labels.boxes(2)
    assert [a.kind for a in again.actions] == ["draw"]


def test_move_resize_relabel_delete_from_the_front_end(boxes_widget):
    w = boxes_widget
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    box = dict(w._bbox.bboxes[0])
    w._bbox.bboxes = [{**box, "x": 50}]                       # moved
    w._bbox.bboxes = [{**box, "x": 50, "width": 120}]         # resized
    w._bbox.bboxes = [{**box, "x": 50, "width": 120, "label": "cat"}]  # relabelled
    assert w.labels.boxes(2) == [box_of(w, 50, 30, 120, 60, "cat")]
    w._bbox.bboxes = []                                      # deleted
    assert w.labels.boxes(2) == [] and 2 in w.labels.looked_at
    # Moving, resizing and relabelling a box drawn in this visit is still its drawing.
    assert [a.kind for a in w.actions] == ["draw", "delete"]


def test_unchanged_resend_costs_nothing(boxes_widget):
    w = boxes_widget
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    w._bbox.bboxes = [dict(b) for b in w._bbox.bboxes]        # the widget re-syncs after a select
    w._bbox.bboxes = [dict(b) for b in w._bbox.bboxes] + [{"x": 1, "y": 1, "width": 0, "height": 0,
                                                          "label": "cat"}]  # a click, no drag
    assert len(w.actions) == 1 and len(w.labels.boxes(2)) == 1


def test_box_dragged_off_the_image_is_clipped_and_shown_clipped(boxes_widget):
    w = boxes_widget
    sw, sh = w.scale.shown
    front_end_draw(w, {"x": sw - 20, "y": -10, "width": 60, "height": 40, "label": "cat"})
    (saved,) = w.labels.boxes(2)
    assert saved.x2 == pytest.approx(320) and saved.y1 == 0
    shown = w._bbox.bboxes[0]
    assert shown["x"] + shown["width"] == pytest.approx(sw) and shown["y"] == 0


def test_late_message_about_another_frame_is_ignored(boxes_widget):
    w = boxes_widget
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    stale = [dict(b) for b in w._bbox.bboxes]
    w.go_to(3)
    w._bbox.bboxes = stale
    assert w.labels.boxes(3) == [] and len(w.actions) == 1


def test_refused_box_is_reported_and_nothing_is_lost(boxes_widget):
    w = boxes_widget
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    front_end_draw(w, {"x": 10, "y": 10, "width": 20, "height": 20, "label": EVIL})
    assert len(w.labels.boxes(2)) == 1 and len(w.actions) == 1
    assert "not saved" in w._message.value
    assert EVIL not in w._message.value and "&lt;img" in w._message.value
    assert len(w._bbox.bboxes) == 1                              # the widget shows what is saved


def test_frame_switch_sends_the_frames_boxes(boxes_widget):
    w = boxes_widget
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    w.next()
    assert w.frame == 3 and w._bbox.bboxes == []
    w.prev()
    (d,) = w._bbox.bboxes
    assert (d["x"], d["y"], d["width"], d["height"], d["label"]) == pytest.approx(
        (40, 30, 100, 60, "dog"))


# -- handlers: the Python path of every UI event ----------------------------------------------------
def test_navigation(boxes_widget):
    w = boxes_widget
    frames_seen = []
    w.observe(lambda ch: frames_seen.append(ch["new"]), "frame")
    w.go_to(0)
    w.prev()
    assert w.frame == 0 and w._prev.disabled
    w.go_to(11)
    w.next()
    assert w.frame == 11 and w._next.disabled
    w._slider.value = 4                                          # the slider moved in the browser
    assert w.frame == 4
    w.next_suggested()
    assert w.frame == 5
    w._strip_buttons[9].click()
    assert w.frame == 9 and w._strip_buttons[9].button_style == "info"
    w.next_suggested()                                          # wraps around
    assert w.frame == 2
    w._next.click()
    assert w.frame == 3
    with pytest.raises(FrameIndexError):
        w.go_to(12)
    assert frames_seen == [0, 11, 4, 5, 9, 2, 3]


def test_set_boxes_counts_like_the_mouse_and_updates_the_view(boxes_widget):
    w = boxes_widget
    acts = w.set_boxes(5, [Box(10, 10, 100, 80, "cat"), {"x1": 1, "y1": 2, "x2": 3, "y2": 4,
                                                         "label": "dog"}])
    assert [a.kind for a in acts] == ["draw", "draw"]
    assert w._bbox.bboxes == []                                  # not the frame shown
    w.go_to(5)
    assert len(w._bbox.bboxes) == 2
    w.set_boxes(5, [Box(12, 10, 100, 80, "cat")])
    assert [a.kind for a in w.actions] == ["draw", "draw", "adjust", "delete"]
    assert w._bbox.bboxes[0]["x"] == pytest.approx(12 * w.scale.shown[0] / 320)
    with pytest.raises(LabelError):
        w.set_boxes(5, [Box(10, 10, 400, 80, "cat")])           # outside the 320x180 frame
    with pytest.raises(LabelError):
        w.set_class(5, "cat")


def test_confirm_marks_a_negative_for_free_and_moves_on(boxes_widget):
    w = boxes_widget
    w._confirm.click()
    assert 2 in w.labels.looked_at and len(w.actions) == 0
    assert w.frame == 5 and "1 of 3" in w._counter.value


def test_keys_choose_class_and_navigate(boxes_widget):
    w = boxes_widget
    w._on_key(w._keys, {"type": "key", "key": "2"}, [])
    assert w._bbox.label == "dog"
    w._on_key(w._keys, {"type": "key", "key": "ArrowRight"}, [])
    assert w.frame == 3
    w._on_key(w._keys, {"type": "key", "key": "n"}, [])
    assert w.frame == 5
    w._on_key(w._keys, {"type": "key", "key": "9"}, [])            # no ninth class: ignored
    w._on_key(w._keys, {"type": "other"}, [])
    assert w.frame == 5


def key(w, name):
    w._on_key(w._keys, {"type": "key", "key": name}, [])


def gradient_clip(n=4, size=(320, 180)):
    w, h = size
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    frame = np.stack([xs * 255 // (w - 1), ys * 255 // (h - 1), np.full_like(xs, 128)], -1).astype(np.uint8)
    return mm.Frames.from_arrays([frame] * n, name="gradient")


def test_small_frames_fill_the_cell_and_height_is_honoured(tmp_path):
    w = mm.label(clip(size=(176, 144)), ["a"], first_labels=[0])
    assert w.scale.shown == (660, 540)
    assert Image.open(io.BytesIO(bytes(w._bbox.image_bytes))).size == (660, 540)
    assert mm.label(clip(size=(176, 144)), ["a"], first_labels=[0], height=288).scale.shown == (352, 288)
    assert mm.label(clip(), ["a"], first_labels=[0], width=400, height=100).scale.shown == (176, 99)


def test_wheel_zooms_where_the_mouse_is_and_boxes_map_back_exactly(tmp_path):
    w = mm.label(gradient_clip(), ["a"], project=tmp_path / "p", first_labels=[0])
    sw, sh = w.scale.shown
    assert w.zoom == 1.0
    # Three wheel notches up over the point at 3/4 width, 1/4 height of the image.
    for _ in range(3):
        w._on_key(w._keys, {"type": "wheel", "dy": -1, "fx": 0.75, "fy": 0.25}, [])
    assert w.zoom == pytest.approx(1.25 ** 3)
    x1, y1, x2, y2 = w.scale.region
    assert x1 + 0.75 * (x2 - x1) == pytest.approx(240) and y1 + 0.25 * (y2 - y1) == pytest.approx(45)
    assert "zoom <b>2&times;</b>" in w._zoom_label.value
    # What is sent is the region, at the same shown size: its corners hold the region's colours.
    image = np.asarray(Image.open(io.BytesIO(bytes(w._bbox.image_bytes))))
    assert image.shape[:2] == (sh, sw)
    assert image[2, 2, 0] == pytest.approx(x1 * 255 / 319, abs=6)
    assert image[-3, -3, 1] == pytest.approx(y2 * 255 / 179, abs=6)
    # A box drawn at the zoom comes back in full-frame pixels through the region.
    front_end_draw(w, {"x": 100, "y": 50, "width": 200, "height": 120, "label": "a"})
    (b,) = w.labels.boxes(0)
    k = (x2 - x1) / sw
    assert b.xyxy == pytest.approx((x1 + 100 * k, y1 + 50 * k, x1 + 300 * k, y1 + 170 * k), abs=1e-9)
    # Zooming out again re-sends the box where it now is on screen, unchanged and uncounted.
    key(w, "0")
    assert w.zoom == 1.0 and w.scale.view is None
    (d,) = w._bbox.bboxes
    assert d["x"] == pytest.approx(b.x1 * sw / 320) and d["width"] == pytest.approx(b.width * sw / 320)
    assert [a.kind for a in w.actions] == ["draw"]
    # An edit made before the zoom changed, arriving late, is mapped through its own zoom.
    key(w, "+")
    stale = {**d, "view": d["view"], "x": d["x"] + 8}
    w._bbox.bboxes = [stale]
    (moved,) = w.labels.boxes(0)
    assert moved.x1 == pytest.approx(b.x1 + 8 * 320 / sw) and moved.y1 == pytest.approx(b.y1)
    assert [a.kind for a in w.actions] == ["draw"]  # still the box drawn in this visit


def test_pan_keys_move_the_region_and_stay_in_the_frame():
    w = mm.label(gradient_clip(), ["a"], first_labels=[0])
    w.set_zoom(4)
    assert w.scale.region == pytest.approx((120, 67.5, 200, 112.5))
    key(w, "Shift+ArrowLeft")
    assert w.scale.region[0] == pytest.approx(100)
    assert w.frame == 0  # Shift+arrow pans; it does not change the frame
    for _ in range(10):
        key(w, "Shift+ArrowUp")
    assert w.scale.region[1] == 0
    key(w, "-")
    assert w.zoom == pytest.approx(4 / 1.25)
    w.set_zoom(100)
    assert w.zoom == 16
    with pytest.raises(LabelError):
        mm.label(clip(), ["a", "b"], task="classes", first_labels=[0]).set_zoom(2)


def test_undo_redo_restore_labels_and_counts_on_disk_too(tmp_path):
    w = mm.label(clip(), ["cat", "dog"], project=tmp_path / "p", first_labels=[2, 5, 9])
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    drawn = w.labels.boxes(2)
    w.go_to(3)
    w.go_to(2)
    (d,) = w._bbox.bboxes
    w._bbox.bboxes = [{**d, "x": d["x"] + 30}]                 # adjust (a new visit)
    adjusted = w.labels.boxes(2)
    w.go_to(5)
    w.set_boxes(5, [Box(10, 10, 50, 50, "cat")])
    w.go_to(2)
    w._bbox.bboxes = []                                       # delete
    assert [a.kind for a in w.actions] == ["draw", "adjust", "draw", "delete"]
    assert w.labels.boxes(2) == []

    key(w, "Ctrl+z")                                          # undo the delete
    assert w.labels.boxes(2) == adjusted and [a.kind for a in w.actions] == ["draw", "adjust", "draw"]
    assert len(w._bbox.bboxes) == 1                           # shown again
    w.undo()                                                  # the draw on frame 5: shows it
    assert w.frame == 5 and w.labels.boxes(5) == [] and 5 not in w.labels.looked_at
    w.undo()                                                  # the adjust
    assert w.frame == 2 and w.labels.boxes(2) == drawn
    assert [a.kind for a in w.actions] == ["draw"]
    assert "1 human action" in w._status.value
    key(w, "Ctrl+Shift+z")                                    # redo the adjust
    assert w.labels.boxes(2) == adjusted and [a.kind for a in w.actions] == ["draw", "adjust"]
    assert not w._redo_button.disabled
    # A new edit forgets what could be redone.
    w.set_boxes(9, [Box(1, 1, 20, 20, "cat")])
    assert w.redo() is None and "nothing to redo" in w._message.value
    assert [a.kind for a in w.actions] == ["draw", "adjust", "draw"]
    # The project folder says the same after a restart: labels and (retracted) actions.
    again = mm.Project(tmp_path / "p")
    assert [a.kind for a in again.actions] == ["draw", "adjust", "draw"]
    assert again.labels.boxes(2) == adjusted and again.labels.boxes(5) == [] and 5 not in again.labels
    assert [a.frame for a in again.actions] == [2, 2, 9]
    again.close()
    # Undo of everything, then nothing left.
    for _ in range(3):
        assert w.undo() is not None
    assert w.undo() is None and "nothing to undo" in w._message.value
    assert len(w.actions) == 0 and len(w.labels) == 0 and w.labels.looked_at == []


def test_a_run_of_nudges_on_one_box_is_one_adjust(tmp_path):
    w = mm.label(clip(), ["cat"], project=tmp_path / "p", first_labels=[2])
    w.set_boxes(2, [Box(40, 30, 100, 90, "cat")])
    w.go_to(3)
    w.go_to(2)
    (d,) = w._bbox.bboxes
    for step in range(1, 5):                                  # "d" pressed four times, then "r"
        w._bbox.bboxes = [{**d, "x": d["x"] + step}]
    w._bbox.bboxes = [{**d, "x": d["x"] + 4, "height": d["height"] + 2}]
    assert [a.kind for a in w.actions] == ["draw", "adjust"]
    assert w.labels.boxes(2)[0].x1 == pytest.approx(40 + 4 * 320 / w.scale.shown[0])
    # One undo takes the whole run back.
    w.undo()
    assert w.labels.boxes(2) == [Box(40, 30, 100, 90, "cat", None, "human")]
    assert [a.kind for a in w.actions] == ["draw"]


def test_key_legend_names_every_forwarded_key(boxes_widget, classes_widget):
    for w in (boxes_widget, classes_widget):
        legend = w._key_legend.value
        shown = {"ArrowLeft": "←", "ArrowRight": "→", "Ctrl+z": "Ctrl+Z", "Ctrl+Shift+z": "Ctrl+Shift+Z",
                 "Ctrl+y": "Ctrl+Shift+Z", "+": "+", "=": "+", "-": "-", "0": "0",
                 "Shift+ArrowLeft": "Shift+arrows", "Shift+ArrowRight": "Shift+arrows",
                 "Shift+ArrowUp": "Shift+arrows", "Shift+ArrowDown": "Shift+arrows"}
        kbds = set(re.findall(r"<kbd[^>]*>([^<]*)</kbd>", legend))
        for k in w._keys.shortcuts:
            name = shown.get(k, k)
            assert name in kbds or (k.isdigit() and any(x.startswith("1") for x in kbds)), (k, kbds)
    assert "Tab" in boxes_widget._key_legend.value and "Delete" in boxes_widget._key_legend.value
    assert "W</kbd> <kbd" in boxes_widget._key_legend.value and "zoom" in boxes_widget._key_legend.value
    assert "zoom" not in classes_widget._key_legend.value


def test_reopening_the_project_resumes(tmp_path):
    frames = clip()
    w = mm.label(frames, ["cat", "dog"], project=tmp_path / "p", first_labels=[2, 5, 9])
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    w.next_suggested()
    w.set_boxes(5, [])
    del w
    w2 = mm.label(frames, None, project=tmp_path / "p", first_labels=[2, 5, 9])
    assert w2.frame == 9                                         # first suggested frame not done
    assert len(w2.labels.boxes(2)) == 1 and w2.labels.looked_at == [2, 5]
    assert [a.kind for a in w2.actions] == ["draw"]
    assert "2 of 3" in w2._counter.value
    with pytest.raises(ProjectError):
        mm.label(frames, ["other"], project=tmp_path / "p")
    with pytest.raises(LabelError):
        mm.label(frames, None, project=tmp_path / "p", task="classes")


def test_bad_arguments():
    with pytest.raises(LabelError):
        mm.label(clip(), ["a"], task="polygons")
    with pytest.raises(LabelError):
        mm.label(clip(), None)
    with pytest.raises(FrameIndexError):
        mm.label(clip(), ["a"], first_labels=[0, 99])
    with pytest.raises(LabelError):
        mm.label(clip(), ["a"], first_labels=-1)


def test_suggestions_come_from_select_frames(bunny):
    w = mm.label(bunny, ["bunny"], first_labels=5)
    assert len(w.suggested) == 5 and len(w._strip_buttons) == 5
    assert all(0 <= i < len(bunny) for i in w.suggested)
    assert w.scale.shown == (800, 450)
    assert max(len(w.frame_jpeg(i)) for i in w.suggested) <= MAX_FRAME_BYTES
    w0 = mm.label(bunny, ["bunny"], first_labels=0)
    assert w0.suggested == [] and "frames labelled" in w0._counter.value


# -- classes mode -----------------------------------------------------------------------------------
@pytest.fixture
def classes_widget(tmp_path):
    return mm.label(clip(), ["day", EVIL], project=tmp_path / "c", first_labels=[1, 4], task="classes")


def test_class_button_labels_the_frame_and_moves_on(classes_widget, tmp_path):
    w = classes_widget
    assert w.frame == 1 and w._bbox is None
    assert bytes(w._image.value)[:2] == b"\xff\xd8"
    w._class_buttons[0].click()
    assert w.labels.frame_class(1) == "day" and w.frame == 4
    w._on_key(w._keys, {"type": "key", "key": "2"}, [])
    assert w.labels.frame_class(4) == EVIL
    assert w.frame == 5                                          # all suggested done: next frame
    w.go_to(4)
    assert w._class_buttons[1].button_style == "success"
    w.set_class(4, EVIL)                                         # unchanged: free
    w.set_class(4, "day")                                        # changed: counted
    assert [a.kind for a in w.actions] == ["class"] * 3
    again = mm.Project(tmp_path / "c")
    assert again.labels.frame_class(1) == "day" and again.labels.frame_class(4) == "day"
    assert len(again.actions) == 3
    with pytest.raises(LabelError):
        w.set_boxes(4, [])
    with pytest.raises(LabelError):
        w.set_class(4, "night")


def test_names_are_escaped_in_every_html_piece(tmp_path):
    frames = clip()
    frames.name = "<b>clip</b>"
    w = mm.label(frames, ["day", EVIL], project=tmp_path / EVIL.replace("/", ""), first_labels=[1],
                 task="classes")
    w.set_class(1, EVIL)
    w.go_to(1)
    html_bits = [c.value for c in (w._header, w._counter, w._status, w._message)]
    assert not any(EVIL in v or "<b>clip" in v for v in html_bits)
    assert "&lt;img src=x onerror=alert(1)&gt;" in w._status.value
    assert "&lt;b&gt;clip" in w._header.value
    # Button descriptions are plain text in the browser (text nodes), so they carry the name as is
    assert w._class_buttons[1].description.endswith(EVIL)


def test_counter_and_filmstrip_follow_edits_on_other_frames(bunny, bunny_truth):
    from mm_widgets.widgets.labeller import label

    lab = label(bunny, ["bunny"], first_labels=[3, 40, 90])
    lab.go_to(3)
    lab.set_boxes(40, bunny_truth.boxes(40))  # not the frame on screen
    lab.set_boxes(90, bunny_truth.boxes(90))
    assert "2 of 3" in lab._counter.value
    assert [lab._strip_buttons[s].icon for s in (3, 40, 90)] == ["", "check", "check"]


def test_project_false_keeps_the_labels_in_memory_only(tmp_path, monkeypatch):
    # As in overfit(): project=False means no project folder (it was a raw TypeError).
    monkeypatch.chdir(tmp_path)
    w = mm.label(clip(), ["cat", "dog"], project=False, first_labels=[2])
    assert w.project is None
    front_end_draw(w, {"x": 40, "y": 30, "width": 100, "height": 60, "label": "dog"})
    assert [a.kind for a in w.actions] == ["draw"] and len(w.labels) == 1
    assert list(tmp_path.iterdir()) == []                 # nothing written anywhere
    # review() takes it the same way
    model = mm.interpolate(w.frames, w.labels)
    rev = mm.review(w.frames, model, labels=w.labels, project=False, background=False)
    assert rev.project is None and list(tmp_path.iterdir()) == []
    # anything else is refused with the package's own error, naming what it takes
    with pytest.raises(mm.LabelError, match="project must be a Project, a folder, None or False"):
        mm.label(clip(), ["cat"], project=3)
