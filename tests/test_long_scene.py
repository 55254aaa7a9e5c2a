"""Long scenes: review() and show() open after predicting one block of frames, never the
whole clip; the rest comes on demand or from a background thread; the timeline stays usable
(aggregated cells, zoomable) at 5,000 frames."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.data import Frames
from mm_widgets.labels import BOX_COLUMNS
from mm_widgets.models.base import MicroModel
from mm_widgets.predictions import BLOCK, Predictions
from mm_widgets.select import frame_uncertainty
from mm_widgets.widgets.display import MAX_STRIP_CELLS, MIN_SPAN
from mm_widgets.widgets.review import REVIEW_COLOURS, review
from mm_widgets.widgets.viewer import STATUS_COLOURS, show

from .conftest import moving_square_frames, write_video

N = 5000


@pytest.fixture(scope="module")
def long_clip():
    """5,000 small frames (a long scene's length, not its pixels)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    return Frames.from_arrays([np.roll(base, i, axis=1) for i in range(N)], name="long")


class CountingModel(MicroModel):
    """Proposes one box per frame (its score varies with the frame) and counts every frame it
    is asked to predict; ``gate`` (an Event) holds every call after the first until set."""

    kind = "counting"

    def __init__(self, gate: threading.Event | None = None, fail_after: int | None = None):
        self.classes_ = ["thing"]
        self.asked: list[int] = []
        self.calls = 0
        self.gate = gate
        self.fail_after = fail_after

    def predict(self, frames, indices=None):
        self.calls += 1
        if self.gate is not None and self.calls > 1:
            assert self.gate.wait(30), "the test never opened the gate"
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("the model broke on a later block")
        indices = list(range(len(frames)) if indices is None else indices)
        self.asked += indices
        rows = [(i, 2.0, 2.0, 12.0, 12.0, "thing", 0.3 + 0.6 * ((i * 7) % 10) / 10, "model", 1)
                for i in indices]
        return pd.DataFrame(rows, columns=BOX_COLUMNS)


def test_review_opens_on_a_long_clip_after_one_block(long_clip):
    model = CountingModel()
    rev = review(long_clip, model, background=False)
    # Counted before anything else is asked of the widget: one block, not 5,000 frames.
    assert len(model.asked) == BLOCK == rev.predicted.frames_predicted
    assert sorted(model.asked) == list(range(BLOCK))
    assert rev.frame in range(BLOCK) and rev.frame == rev.order[0]
    # The order ranks what is predicted, then the rest in clip order.
    assert sorted(rev.order[:BLOCK]) == list(range(BLOCK)) and rev.order[BLOCK:BLOCK + 3] == [64, 65, 66]
    assert len(rev.predictions) == BLOCK
    assert rev.predictions.attrs["not_predicted"][:2] == [BLOCK, BLOCK + 1]
    # The strip aggregates 5,000 frames into at most MAX_STRIP_CELLS cells; most are grey.
    strip = rev._review_strip.value
    assert strip.count("<div title=") == MAX_STRIP_CELLS
    assert strip.count(REVIEW_COLOURS["pending"]) > MAX_STRIP_CELLS * 0.9
    assert "not predicted yet" in strip and "not predicted yet" in rev._legend.value

    for _ in range(BLOCK):                             # review the whole first block...
        rev.accept()
    assert rev.reviewed == BLOCK
    assert rev.frame in range(BLOCK, 2 * BLOCK)        # ...then the next one is predicted
    assert rev.predicted.frames_predicted == 2 * BLOCK

    rev.go_to(3000)                                   # a frame far away: its block, on demand
    assert rev.predicted.frames_predicted == 3 * BLOCK
    assert rev.predicted.is_predicted(3000) and not rev.predicted.is_predicted(2000)
    assert len(rev._bbox.bboxes) == 1                 # the model's box, pre-filled


def test_background_thread_predicts_the_rest_after_opening(long_clip):
    gate = threading.Event()
    model = CountingModel(gate=gate)
    # background=True: the default; an order ranked from the predictions, brought up to
    # date as blocks arrive (the default, clip order, needs no predictions to rank)
    rev = review(long_clip, model, strategy="uncertain")
    assert rev.predicted.frames_predicted == BLOCK    # returned while the thread is held
    gate.set()
    assert rev.predicted.wait(timeout=60)
    assert rev.predicted.frames_predicted == N and sorted(model.asked) == list(range(N))
    assert rev.predictions.attrs["not_predicted"] == [] and len(rev.predictions) == N
    rev.accept()                                       # moving on ranks every frame now
    assert sorted(rev.order) == sorted(set(range(N)) - set(rev.labels.looked_at))
    rev._render_strip(set(rev.labels.looked_at))
    assert REVIEW_COLOURS["pending"] not in rev._review_strip.value
    assert "not predicted yet" not in rev._legend.value     # the legend drops what is gone


def test_a_request_goes_before_the_background_thread(long_clip):
    """A frame a person goes to is predicted at once, not after the thread's other blocks."""
    gate = threading.Event()
    model = CountingModel(gate=gate)
    preds = Predictions(model, long_clip)
    preds.ensure([0])
    preds.start(near=64)
    asked_for = threading.Thread(target=lambda: preds.ensure([4500]))
    asked_for.start()
    deadline = time.monotonic() + 30
    while not preds._asking and time.monotonic() < deadline:  # the request is waiting
        time.sleep(0.001)
    gate.set()
    asked_for.join(30)
    # The thread was predicting block 1 when the request came: the request is served next,
    # not after the 68 blocks the thread would predict before frame 4,500.
    assert preds.is_predicted(4500)
    assert model.asked.index(4480) == 2 * BLOCK
    assert preds.wait(60) and preds.frames_predicted == N


def test_background_errors_are_kept_and_raised_by_wait(long_clip):
    model = CountingModel(fail_after=2)
    rev = show(long_clip, model)
    with pytest.raises(RuntimeError, match="broke on a later block"):
        rev.predicted.wait(timeout=60)
    assert rev.predicted.frames_predicted == 2 * BLOCK


def test_blocks_skip_labelled_frames_and_say_what_is_unknown():
    frames = Frames.from_arrays([np.zeros((8, 8, 3), np.uint8)] * 150)
    model = CountingModel()
    preds = Predictions(model, frames, skip=[3, 70], block=64)
    preds.ensure([100])                       # block 64-127
    assert model.asked == [f for f in range(64, 128) if f != 70]
    assert preds.known_boxes(5) is None and preds.known_boxes(70) is None
    assert len(preds.known_boxes(100)) == 1
    table = preds.table()
    assert set(table["frame"]) == set(range(64, 128)) - {70}
    assert table.attrs["not_predicted"] == [f for f in [*range(64), *range(128, 150)] if f != 3]
    assert preds.predict_all() is preds.table() and preds.complete
    assert preds.frames_predicted == 148


def test_unknown_frames_are_no_change_in_uncertainty():
    """The edge of a predicted block next to frames not predicted yet is not a 'change in the
    number of boxes' (that would put every block edge first in the review)."""
    table = pd.DataFrame([(f, 0, 0, 5, 5, "a", 0.95, "model", 1) for f in range(10)],
                         columns=BOX_COLUMNS)
    as_if_empty = frame_uncertainty(table, 20)
    table.attrs["not_predicted"] = list(range(10, 20))
    unknown = frame_uncertainty(table, 20)
    assert as_if_empty[9] > as_if_empty[5] and unknown[9] == pytest.approx(unknown[5])


def test_show_with_a_model_opens_after_one_block_and_predicts_frames_shown(long_clip):
    model = CountingModel()
    v = show(long_clip, model, background=False)
    assert v.predicted.frames_predicted == BLOCK
    statuses = v.statuses()
    assert statuses.count("pending") == N - BLOCK and "pending" not in statuses[:BLOCK]
    assert "not predicted yet" in v._legend.value
    assert f"on the {BLOCK} frames predicted so far" in v._header.value
    v.go_to(4000)
    assert v.predicted.frames_predicted == 2 * BLOCK and v.status(4000) in ("ok", "low")
    assert len(v.boxes(4000)) == 1
    assert v.empty_frames == []                 # frames not predicted are not called empty


def test_timeline_zooms_in_around_the_frame_and_follows_it(long_clip):
    v = show(long_clip, CountingModel(), background=False)
    t = v._timeline
    v.go_to(2500)
    assert t.span == range(N)
    t._in.click()
    assert t.zoom == 2 and len(t.span) == N // 2 and 2500 in t.span
    assert "frames 1250&ndash;3749 of 5000" in t._where.value
    while not t._in.disabled:
        t.zoom_in()
    # Deepest zoom: one cell per frame, at least MIN_SPAN frames, centred on the frame.
    assert MIN_SPAN <= len(t.span) < 2 * MIN_SPAN and 2500 in t.span
    strip = v._strip.value
    assert strip.count("<div title=") == len(t.span)
    assert f"frame {t.span.start}: " in strip and f"frame {t.span.stop - 1}: " in strip
    v.go_to(4990)                                # leaves the span: the span follows
    assert 4990 in t.span and t.span.stop == N
    assert f"frame {N - 1}: " in v._strip.value
    while not t._out.disabled:
        t._out.click()
    assert t.span == range(N) and v._strip.value.count("<div title=") == MAX_STRIP_CELLS
    assert STATUS_COLOURS["pending"] in v._strip.value


def test_a_click_on_a_zoomed_timeline_goes_to_the_frame_under_it(long_clip):
    # Viewer and review: the strip shows a span of the clip once zoomed in; a click's
    # fraction of the strip's width is a fraction of that span, not of the whole clip.
    for w in (show(long_clip, CountingModel(), background=False),
              review(long_clip, CountingModel(), background=False)):
        w.go_to(3000)
        t = w._timeline
        t.zoom_in()
        t.zoom_in()
        span = t.span
        assert len(span) < N and 3000 in span
        cell = (len(span) - 1) // 2
        w._on_key(w._keys, {"type": "strip", "fx": (cell + 0.5) / len(span)}, [])
        assert w.frame == span.start + cell
        w._on_key(w._keys, {"type": "strip", "fx": 1.0}, [])    # the right edge: the span's last
        assert w.frame == span.stop - 1
        w._on_key(w._keys, {"type": "strip", "fx": "x"}, [])    # garbage: the span's first
        assert w.frame == span.start
        w.close()


def test_a_short_clip_has_no_zoom_buttons():
    frames = Frames.from_arrays([np.zeros((8, 8, 3), np.uint8)] * 20)
    v = show(frames, CountingModel(), background=False)
    assert len(v._timeline.children) == 2 and v._strip.value.count("<div title=") == 20


def test_reopened_frames_read_the_same_video_without_moving_its_reader(tmp_path):
    arrays, _ = moving_square_frames(40, size=(64, 48))
    frames = Frames.from_video(write_video(tmp_path / "clip.mp4", arrays))
    frames[20]
    position = frames._source._next_pos
    twin = frames.reopened()
    got = {i: twin[i].copy() for i in (0, 39, 5)}
    assert frames._source._next_pos == position == 21   # the twin never moved it
    assert frames._source.cache.get(39) is None           # nor filled its cache
    assert all(np.array_equal(a, frames[i]) for i, a in got.items())
    arrays_frames = Frames.from_arrays(arrays)
    assert arrays_frames.reopened() is arrays_frames


def test_review_with_a_real_model_on_a_long_video(tmp_path):
    """The whole path on a real (small) video: a fitted interpolation model, lazily."""
    arrays, boxes = moving_square_frames(300, size=(64, 48))
    frames = Frames.from_video(write_video(tmp_path / "long.mp4", arrays))
    labels = mm.LabelSet(["square"], "boxes", size=frames.size, n_frames=len(frames))
    for f in (0, 150, 299):
        labels.set_boxes(f, [mm.Box(*boxes[f][1:], "square")])
    model = mm.interpolate(frames, labels)
    rev = review(frames, model, labels=labels, background=False)
    assert rev.predicted.frames_predicted == BLOCK - 1   # frame 0 is labelled: skipped
    rev.predict_all()
    assert rev.predicted.frames_predicted == len(frames) - 3
    assert len(rev.predictions) == len(frames) - 3
