"""One progress display per long call; the from-scratch notice once per session, plainly."""

from __future__ import annotations

import warnings

import pytest

import mm_widgets as mm
from mm_widgets.data import Frames
from mm_widgets.labels import Box, LabelSet
from mm_widgets.models import progress
from mm_widgets.widgets.progress import NotebookProgress

from .conftest import moving_square_frames
from .test_assembly import labelled_line, three_shot_clip

TINY = dict(epochs=1, imgsz=64, weights="auto")


class Recorder:
    """A reporter that writes down every call."""

    def __init__(self):
        self.calls = []

    def start(self, total, desc=""):
        self.calls.append(("start", total))

    def update(self, epoch, loss, elapsed):
        self.calls.append(("update", epoch))

    def close(self, message=None):
        self.calls.append(("close", message))

    def note(self, text):
        self.calls.append(("note", text))

    def stage(self, done, total, text):
        self.calls.append(("stage", done, total, text))

    def kinds(self, kind):
        return [c for c in self.calls if c[0] == kind]


@pytest.fixture
def fresh_session(monkeypatch, tmp_path):
    monkeypatch.setattr(progress, "_SAID", set())
    monkeypatch.setattr(progress, "_PENDING", [])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached pretrained weights


@pytest.fixture(scope="module")
def square():
    arrays, boxes = moving_square_frames(n=30)
    frames = Frames.from_arrays(arrays)
    truth = LabelSet(["square"], size=frames.size, n_frames=len(frames))
    for i, x1, y1, x2, y2 in boxes:
        truth.set_boxes(i, [Box(x1, y1, x2, y2, "square")])
    return frames, truth


def test_simulate_reports_rounds_and_every_training_to_one_reporter(square, fresh_session):
    frames, truth = square
    rec = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the notice is a line, not a warning
        report = mm.simulate(frames, truth, first_labels=3, rounds=2, progress=rec, **TINY)
    assert len(report.table) == 3
    stages = rec.kinds("stage")
    assert stages[0][1:3] == (0, 2) and stages[-1][1:3] == (2, 2)
    assert stages[0][3].startswith("round 1 of 2") and "done in" in stages[-1][3]
    assert any("round 2 of 2 · training" in s[3] for s in stages)
    assert len(rec.kinds("start")) == 2 and len(rec.kinds("close")) == 2  # one per round
    scratch = [c for c in rec.kinds("note") if "from scratch" in c[1]]
    assert len(scratch) == 1
    # Said once per session: a second run says nothing more.
    again = Recorder()
    mm.simulate(frames, truth, first_labels=3, rounds=1, progress=again, **TINY)
    assert not [c for c in again.kinds("note") if "from scratch" in c[1]]
    assert len(again.kinds("start")) == 1


def test_simulate_in_a_notebook_makes_one_display(square, fresh_session, monkeypatch):
    frames, truth = square
    made = []

    def display():
        made.append(NotebookProgress(show=False))
        return made[-1]

    monkeypatch.setattr(progress, "DISPLAYS", [display])
    mm.simulate(frames, truth, first_labels=3, rounds=2, **TINY)
    assert len(made) == 1 and made[0].shown == 1
    shown = made[0]
    assert shown.steps.value == shown.steps.max == 2 and "done in" in shown.steps_text.value
    assert "done in" in shown.text.value and ", 1 epochs" in shown.text.value  # the last training's
    assert len(shown.said) == 1 and "from scratch" in shown.said[0]
    assert "from scratch" in shown.notes.value


def test_simulate_by_shot_nests_its_rounds_in_the_shot_display(fresh_session):
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    truth = LabelSet(["obj"], size=frames.size, n_frames=len(frames))
    for i, *xyxy in boxes:
        truth.set_boxes(i, [Box(*xyxy, "obj")])
    rec = Recorder()
    mm.simulate(frames, truth, first_labels=2, rounds=1, kind="interpolate",
                domains=[range(0, 12), range(12, 24)], progress=rec)
    stages = [s[3] for s in rec.kinds("stage")]
    assert stages[0].startswith("shot 1 of 2")
    assert any(s.startswith("shot 2 of 2 · frames 12-23 · round 1 of 1") for s in stages)
    assert all(s[2] == 2 for s in rec.kinds("stage"))  # the bar counts shots


def test_assembly_line_fit_reports_its_domains(fresh_session):
    arrays, boxes = three_shot_clip()
    frames = Frames.from_arrays(arrays)
    line, _ = labelled_line(frames, boxes, keys={0, 11, 12, 23})
    rec = Recorder()
    line.fit(progress=rec)
    stages = rec.kinds("stage")
    assert [s[1] for s in stages] == [0, 0, 1, 2]
    assert "training" in stages[1][3] and "done in" in stages[-1][3]
    silent = Recorder()
    line.fit(progress=False)
    assert silent.calls == []


def test_notebook_progress_reuses_its_display_for_each_training():
    p = NotebookProgress(show=False)
    p.stage(0, 3, "round 1 of 3 · training")
    p.start(5, "first")
    p.update(1, 2.0, 1.0)
    p.close()
    p.start(4, "second")
    assert p.shown == 1 and p.bar.value == 0 and p.bar.max == 4
    if p.figure is not None:
        assert list(p.figure.data[0].y) == []
    p.notice("said <once>")
    p.note("this training: 4 epochs")
    assert "said &lt;once&gt;" in p.notes.value and "4 epochs" in p.notes.value
    p.start(3, "third")  # a new training: its own notes, the notice stays
    assert "said &lt;once&gt;" in p.notes.value and "4 epochs" not in p.notes.value


class Clock:
    """Stands in for the ``time`` module of the progress display: seconds set by hand."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        return self.now


def test_time_left_is_an_estimate_and_the_finished_bar_says_how_long_it_took(monkeypatch):
    import mm_widgets.widgets.progress as display

    clock = Clock()
    monkeypatch.setattr(display, "time", clock)
    p = NotebookProgress(show=False)
    p.start(10, "overfit YOLO")
    clock.now += 2.0
    p.update(1, 5.0, 2.0)                  # 2 s an epoch: 9 more epochs, about 18 s
    assert "about 18 s left" in p.text.value and "≤" not in p.text.value
    clock.now += 10.0
    p.update(2, 4.0, 12.0)                 # the machine got busy: 6 s an epoch, 8 more
    assert "about 48 s left" in p.text.value
    clock.now += 533.0                     # far more than either said: an estimate, not a bound
    p.close("loss plateaued after 2 epochs")
    assert "done in 9.1 minutes" in p.text.value      # 545 s, start to close
    assert "2 epochs" in p.text.value and "plateaued" in p.text.value
