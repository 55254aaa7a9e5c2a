"""show(): widget state and handler tests (no browser; the browser test is in tests/browser/)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mm_widgets as mm
from mm_widgets.errors import FrameIndexError, MMError
from mm_widgets.labels import BOX_COLUMNS
from mm_widgets.widgets.display import DisplayScale, bins, draw_boxes
from mm_widgets.widgets.viewer import STATUS_COLOURS, Viewer, show

EVIL = "<img src=x onerror=alert(1)>"


def clip(n=10, size=(320, 180)):
    w, h = size
    return mm.Frames.from_arrays([np.full((h, w, 3), 30 + 10 * i, np.uint8) for i in range(n)],
                                 name="clip")


def predictions(rows):
    """rows: (frame, x1, y1, x2, y2, label, score)."""
    df = pd.DataFrame([(*r, "model", 1) for r in rows], columns=BOX_COLUMNS)
    return df.astype({"score": float})


@pytest.fixture
def viewer():
    preds = predictions([
        (0, 10, 10, 60, 60, "cat", 0.9),
        (1, 10, 10, 60, 60, "cat", 0.9), (1, 100, 50, 150, 120, "dog", 0.3),
        (2, 12, 10, 62, 60, "cat", 0.4),      # only a low-confidence box
        # frame 3: nothing at all
        (4, 20, 20, 80, 90, "dog", 0.2),      # below the default threshold
    ] + [(f, 10, 10, 60, 60, "cat", 0.8) for f in range(5, 10)])
    return show(clip(), preds, conf=0.25)


def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_initial_state(viewer):
    v = viewer
    assert isinstance(v, Viewer)
    assert v.frame == 0 and v.conf == 0.25
    data = bytes(v._image.value)
    assert data[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(data)).size == v.scale.shown
    assert v.classes == ["cat", "dog"]
    assert "10 frames" in v._header.value and "clip" in v._header.value


def test_conf_filter_changes_the_boxes_shown(viewer):
    v = viewer
    assert [b.label for b in v.boxes(1)] == ["cat", "dog"]
    before = bytes(v.frame_jpeg(1))
    v._conf_slider.value = 0.5            # as the browser's slider sets it
    assert v.conf == 0.5
    assert [b.label for b in v.boxes(1)] == ["cat"]
    assert bytes(v.frame_jpeg(1)) != before  # the dog box is no longer drawn
    v.set_conf(0.95)
    assert v.boxes(0) == [] and v.boxes(5) == []
    v.set_conf(0.0)
    assert len(v.boxes(4)) == 1
    with pytest.raises(MMError):
        v.set_conf(1.5)


def test_boxes_are_drawn_where_they_are(viewer):
    v = viewer
    v.set_conf(0.0)
    v.go_to(3)                                # no box: the plain frame
    plain = decoded(v._image.value).astype(int)
    v.go_to(4)
    drawn = decoded(v._image.value).astype(int)
    sx = v.scale.shown[0] / 320
    # the box edge (dog, tab10 orange) is there; the middle of the box is not painted over
    edge = drawn[int(50 * sx), int(20 * sx)]
    assert abs(edge - np.array([255, 127, 14])).max() < 60
    inside = drawn[int(70 * sx), int(50 * sx)]
    assert abs(inside - plain[int(70 * sx), int(50 * sx)]).max() < 60


def test_frames_with_no_prediction_or_low_confidence_are_marked(viewer):
    v = viewer
    assert v.statuses()[:5] == ["ok", "ok", "low", "none", "none"]
    assert v.empty_frames == [3, 4]
    assert v.low_frames == [2]
    strip = v._strip.value
    assert strip.count("<div title=") == 10
    assert strip.count(STATUS_COLOURS["none"]) == 2 and strip.count(STATUS_COLOURS["low"]) == 1
    assert "frame 3: no prediction" in strip
    assert "2 with no prediction" in v._legend.value
    v.set_conf(0.1)                           # the strip follows the threshold
    assert v.empty_frames == [3]
    assert v.statuses()[4] == "low"
    assert v._strip.value.count(STATUS_COLOURS["none"]) == 1
    # Above `low`, the threshold itself is what "sure" means, and the legend says so.
    v.set_conf(0.85)
    assert v.sure == 0.85 and "sure (&ge; 0.85)" in v._legend.value
    assert v.statuses()[:6] == ["ok", "ok", "none", "none", "none", "none"]
    v.set_conf(0.25)
    assert "sure (&ge; 0.50)" in v._legend.value


def test_an_empty_frame_is_grey_as_the_notebook_says():
    import json
    from pathlib import Path

    assert STATUS_COLOURS["none"] == "#c8c8c8"
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "01_quickstart.ipynb"
    text = "".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"])
    assert "no prediction (grey)" in text


def test_go_to_slider_and_buttons(viewer):
    v = viewer
    seen = []
    v.observe(lambda ch: seen.append(ch["new"]), "frame")
    v._slider.value = 4                      # the browser's slider
    assert v.frame == 4 and v._play.value == 4
    assert "no prediction" in v._status.value and "1 below 0.25 hidden" in v._status.value
    v.go_to(1)
    assert v._slider.value == 1 and "2 boxes" in v._status.value
    v._next.click()
    assert v.frame == 2
    v._prev.click()
    v.prev()
    assert v.frame == 0
    v.prev()
    assert v.frame == 0
    assert seen == [4, 1, 2, 1, 0]
    with pytest.raises(FrameIndexError):
        v.go_to(10)
    with pytest.raises(FrameIndexError):
        v.go_to("x")


def test_play_and_stop(viewer):
    v = viewer
    v.play()
    assert v.playing and v._play.playing
    for i in range(1, 4):                    # what the Play widget sends, step by step
        v._play.value = i
        assert v.frame == i and v._slider.value == i
    v.stop()
    assert not v.playing and v.frame == 3
    v.go_to(9)
    v.play()                                 # at the end: starts over
    assert v.frame == 0 and v.playing


def test_the_play_widgets_stop_button_keeps_the_frame(viewer):
    v = viewer
    v.play()
    for i in range(1, 6):
        v._play.value = i
    # What the Play widget's stop button sends: playing off, then its first value.
    v._play.playing = False
    v._play.value = 0
    assert v.frame == 5 and v._play.value == 5 and v._slider.value == 5
    # Going to frame 0 on purpose still works.
    v.go_to(0)
    assert v.frame == 0 and v._play.value == 0


def test_strip_clicks_and_keys(viewer):
    v = viewer
    n = len(v.frames)
    v._on_key(v._keys, {"type": "strip", "fx": 0.72}, [])
    assert v.frame == int(0.72 * n)
    v._on_key(v._keys, {"type": "strip", "fx": 1.0}, [])      # the right edge: the last frame
    assert v.frame == n - 1
    v._on_key(v._keys, {"type": "strip", "fx": "x"}, [])      # garbage: the first frame
    assert v.frame == 0
    v._on_key(v._keys, {"type": "key", "key": "ArrowRight"}, [])
    v._on_key(v._keys, {"type": "key", "key": "ArrowRight"}, [])
    v._on_key(v._keys, {"type": "key", "key": "ArrowLeft"}, [])
    assert v.frame == 1
    v.play()
    assert v.playing
    v._play.value = 4
    v._on_key(v._keys, {"type": "strip", "fx": 0.05}, [])      # a click stops playing there
    assert not v.playing and v.frame == 0
    # Space is the play/pause button's own click, in the browser (no kernel round trip).
    assert set(v._keys.shortcuts) == {"ArrowLeft", "ArrowRight"}
    assert v._keys.clicks == {" ": ".widget-play > button"}
    assert v._keys.root == ".mm-viewer" and "Space" in v._key_legend.value


def test_a_small_clip_is_shown_enlarged_like_label_shows_it():
    frames = mm.Frames.from_arrays(np.zeros((3, 144, 176, 3), np.uint8))
    v = mm.show(frames, pd.DataFrame({"frame": [1], "x1": [10.0], "y1": [10.0], "x2": [50.0],
                                      "y2": [40.0], "label": ["a"]}))
    assert v.scale.shown == mm.label(frames, ["a"], first_labels=0).scale.shown == (660, 540)
    assert Image.open(io.BytesIO(v.frame_jpeg(1))).size == (660, 540)
    assert int(v._slider.layout.width.rstrip("px")) >= 400  # a slider a person can drag


def test_scrubbing_back_reuses_rendered_frames(viewer):
    v = viewer
    for i in (1, 2, 1, 2):
        v.go_to(i)
    assert len(v._jpegs) == 3                # frames 0, 1, 2 drawn once each


def test_model_show_and_labelset(bunny, bunny_truth):
    model = mm.interpolate(bunny, bunny_truth.subset([0, 60, 131]))
    v = mm.show(bunny, model)
    assert isinstance(v, Viewer) and v.classes == ["bunny"]
    assert v.empty_frames == []
    assert v.scale.shown == (800, 450)
    assert max(v.bytes_sent) <= 150_000
    w = mm.show(bunny, bunny_truth)          # truth has no scores: always shown
    assert len(w.boxes(10)) == 1


def test_long_clip_strip_stays_small():
    runs = bins(10_000)
    assert len(runs) == 400 and sum(len(r) for r in runs) == 10_000
    assert bins(7) == [range(i, i + 1) for i in range(7)]


def test_bad_input_is_named():
    with pytest.raises(MMError, match="columns"):
        show(clip(), pd.DataFrame({"frame": [0]}))
    with pytest.raises(MMError, match="DataFrame"):
        show(clip(), [1, 2])
    with pytest.raises(FrameIndexError):
        show(clip(), predictions([(20, 1, 1, 5, 5, "a", 0.9)]))


def test_names_are_escaped():
    frames = clip()
    frames.name = EVIL
    v = show(frames, predictions([(0, 10, 10, 60, 60, EVIL, 0.9)]))
    assert EVIL not in v._header.value and "&lt;img" in v._header.value
    for child in (v._strip, v._legend, v._status):
        assert "<img" not in child.value


def test_draw_boxes_keeps_labels_inside_the_image():
    scale = DisplayScale.fit((320, 180), 320)
    frame = np.zeros((180, 320, 3), np.uint8)
    box = mm.Box(300, 0, 320, 20, "a very long class name", 0.5, "model")
    data = draw_boxes(frame, [box], scale, {"a very long class name": "#ff0000"})
    assert Image.open(io.BytesIO(data)).size == (320, 180)
