"""Ctrl-C (KeyboardInterrupt) during overfit(), predict() and a project round: state stays
consistent and the labels are untouched."""

from __future__ import annotations

import warnings

import pytest

import mm_widgets as mm
from mm_widgets.labels import Box
from mm_widgets.models import make_model

from ..conftest import moving_square_frames

SMALL = dict(epochs=3, imgsz=64, progress=False)


class InterruptingFrames:
    """Frames that raise KeyboardInterrupt (as Ctrl-C does) on the n-th frame read."""

    def __init__(self, frames, after: int):
        self.frames, self.after, self.reads = frames, after, 0

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        self.reads += 1
        if self.reads > self.after:
            raise KeyboardInterrupt
        return self.frames[i]

    @property
    def size(self):
        return self.frames.size


@pytest.fixture
def project(tmp_path):
    arrays, boxes = moving_square_frames(24, size=(96, 64))
    frames = mm.Frames.from_arrays(arrays)
    p = mm.Project(tmp_path / "p", ["sq"], frames=frames)
    for f, x1, y1, x2, y2 in boxes[::5]:
        p.labels.set_boxes(f, [Box(x1, y1, x2, y2, "sq")])
        p.actions.record("draw", f, label="sq")
    return p, frames


def test_interrupted_training_returns_a_usable_model(project):
    p, frames = project
    before = p.labels.df.copy()

    def ctrl_c(epoch, loss):
        if epoch == 2:
            raise KeyboardInterrupt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make_model("yolo", epochs=5, imgsz=64, progress=False,
                           on_epoch=ctrl_c).fit(frames, p.labels)
    assert any("interrupted" in str(w.message) for w in caught)
    assert len(model.history_) == 2
    assert set(model.predict(frames).columns) >= {"frame", "x1", "score"}
    assert p.labels.df.equals(before) and mm.Project(p.path).labels.df.equals(before)


def test_interrupted_predict_leaves_model_and_labels_alone(project):
    p, frames = project
    model = mm.overfit(frames, p.labels, **SMALL)
    full = model.predict(frames, temporal=False)
    with pytest.raises(KeyboardInterrupt):
        model.predict(InterruptingFrames(frames, after=5), temporal=False, batch=4)
    assert model.predict(frames, temporal=False).equals(full)  # nothing half-changed
    assert len(mm.Project(p.path).labels) == 5


def test_interrupted_round_records_nothing_half_done(project, monkeypatch):
    p, frames = project
    with pytest.raises(KeyboardInterrupt):
        # training reads the 5 labelled frames; Ctrl-C comes while predicting the rest
        mm.next_round(p, InterruptingFrames(frames, after=8), **SMALL)
    again = mm.Project(p.path, frames=frames)
    assert again.round == 0 and len(again.labels) == 5  # the round was not recorded
    model = mm.next_round(again, frames, **SMALL)  # and it can simply be run again
    assert again.round == 1 and (again.path / "models" / "round_0.pt").exists()
    assert model.predictions_ is not None
