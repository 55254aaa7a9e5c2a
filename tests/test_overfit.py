"""overfit(): dispatch by task, errors, progress, warm start (tiny detection runs)."""

from __future__ import annotations

import numpy as np
import pytest

from mm_widgets import Frames, LabelSet, NoLabelsError, UnknownClassError, overfit
from mm_widgets.errors import MMError
from mm_widgets.labels import Box
from mm_widgets.models import base
from mm_widgets.models.detector import YoloMicroModel

from .conftest import moving_square_frames

TINY = dict(epochs=1, imgsz=64, weights=None, progress=False)


@pytest.fixture(scope="module")
def clip():
    arrays, boxes = moving_square_frames(n=12)
    frames = Frames.from_arrays(arrays)
    labels = LabelSet(["square"], size=frames.size, n_frames=len(frames))
    for i, x1, y1, x2, y2 in boxes[::4]:
        labels.set_boxes(i, [Box(x1, y1, x2, y2, "square")])
    return frames, labels


@pytest.fixture(scope="module")
def model(clip):
    frames, labels = clip
    return overfit(frames, labels, **TINY)


def test_boxes_make_a_yolo_model(model, clip):
    frames, labels = clip
    assert isinstance(model, YoloMicroModel) and model.is_fitted
    assert model.domain_ == labels.looked_at
    assert model.imgsz_ == 64 and len(model.history_) == 1
    assert list(model.predict(frames, indices=[0]).columns)[:5] == ["frame", "x1", "y1", "x2", "y2"]


def test_dataframe_labels_are_accepted(clip):
    frames, labels = clip
    m = overfit(frames, labels.df, **TINY)
    assert m.classes_ == ["square"] and m.domain_ == labels.looked_at


def test_zero_labels(clip):
    frames, _ = clip
    empty = LabelSet(["square"], size=frames.size, n_frames=len(frames))
    with pytest.raises(NoLabelsError):
        overfit(frames, empty, **TINY)
    empty.set_boxes(0, [])  # a negative alone teaches nothing either
    with pytest.raises(NoLabelsError):
        overfit(frames, empty, **TINY)


def test_unknown_class(clip):
    frames, labels = clip
    bad = labels.copy()
    bad.apply_frame_state({"frame": 1, "looked_at": True,
                           "boxes": [[1, 1, 9, 9, "dog", None, "human", 0]]}, notify=False)
    with pytest.raises(UnknownClassError, match="dog"):
        overfit(frames, bad, **TINY)


def test_task_and_model_mismatch(clip):
    frames, labels = clip
    with pytest.raises(MMError, match="labels hold boxes"):
        overfit(frames, labels, task="classes", **TINY)
    with pytest.raises(MMError, match="task='masks' but the labels hold boxes"):
        overfit(frames, labels, task="masks", **TINY)
    with pytest.raises(MMError, match="task must be"):
        overfit(frames, labels, task="polygons", **TINY)
    with pytest.raises(MMError, match="unknown model kind"):
        overfit(frames, labels, kind="nope", **TINY)
    with pytest.raises(MMError, match="warm_start must be"):
        overfit(frames, labels, warm_start="previous", **TINY)


def test_classes_go_to_the_timm_kind(clip, monkeypatch):
    frames, _ = clip
    seen = {}

    class FakeClassifier(base.MicroModel):
        kind, task = "timm", "classes"

        def __init__(self, epochs="auto", imgsz="auto", device="auto", weights="auto", seed=0,
                     progress=True, warm_start=None):
            seen["settings"] = dict(epochs=epochs, seed=seed, progress=progress,
                                    warm_start=warm_start)

        def fit(self, frames, labels):
            seen["labels"] = labels
            self.classes_ = labels.classes
            return self

    monkeypatch.setitem(base.MODEL_KINDS, "timm", FakeClassifier)
    labels = LabelSet(["day", "night"], task="classes", n_frames=len(frames))
    labels.set_class(0, "day")
    labels.set_class(5, "night")
    m = overfit(frames, labels, epochs=3, seed=7, progress=False)
    assert isinstance(m, FakeClassifier) and seen["labels"] is labels
    assert seen["settings"] == {"epochs": 3, "seed": 7, "progress": False, "warm_start": None}


def test_setting_a_model_ignores_is_refused(clip, monkeypatch):
    frames, _ = clip

    class Minimal(base.MicroModel):
        kind, task = "timm", "classes"

        def __init__(self, seed=0):
            pass

        def fit(self, frames, labels):
            self.classes_ = labels.classes
            return self

    monkeypatch.setitem(base.MODEL_KINDS, "timm", Minimal)
    labels = LabelSet(["a"], task="classes", n_frames=len(frames))
    labels.set_class(0, "a")
    assert overfit(frames, labels).is_fitted  # progress it cannot show is simply not shown
    with pytest.raises(MMError, match="epochs"):
        overfit(frames, labels, epochs=5)


def test_a_model_object_is_refused_as_kind_and_extra_settings_reach_the_model(clip):
    frames, labels = clip
    learner = YoloMicroModel(epochs=1, imgsz=64, batch_size=4, steps_per_epoch=1,
                             weights=None, progress=False)
    with pytest.raises(MMError, match="fit"):
        overfit(frames, labels, kind=learner)
    m = overfit(frames, labels, epochs=1, imgsz=64, batch_size=4, steps_per_epoch=1,
                weights=None, progress=False, conf=0.4)
    assert m.conf == 0.4 and m.batch_size == 4
    with pytest.raises(MMError, match="no_such_setting"):
        overfit(frames, labels, epochs=1, no_such_setting=3)


def test_swapped_arguments_are_named(clip):
    frames, labels = clip
    with pytest.raises(MMError, match="frames come first"):
        overfit(labels, frames)


def test_warm_start(model, clip):
    frames, labels = clip
    more = labels.copy()
    more.set_boxes(2, [])  # a reviewed negative joins the training set
    warm = overfit(frames, more, warm_start=model, epochs=1, weights=None, progress=False)
    assert isinstance(warm, YoloMicroModel)
    assert warm.started_from_ == "warm_start" and warm.round_ == 1 and 2 in warm.domain_
    assert warm.input_size_ == model.input_size_


def test_progress_reporter_receives_every_epoch(clip):
    frames, labels = clip
    calls = []

    class Recorder:
        def start(self, total, desc=""):
            calls.append(("start", total))

        def update(self, epoch, loss, elapsed):
            calls.append(("update", epoch))

        def close(self, message=None):
            calls.append(("close", message))

    overfit(frames, labels, **{**TINY, "epochs": 2, "progress": Recorder()})
    assert calls[0] == ("start", 2) and calls[1:3] == [("update", 1), ("update", 2)]
    assert calls[-1][0] == "close"


def test_the_display_hears_the_plan_and_the_time_it_will_take(clip):
    frames, labels = clip
    notes = []

    class Recorder:
        def start(self, total, desc=""):
            pass

        def update(self, epoch, loss, elapsed):
            pass

        def close(self, message=None):
            pass

        def note(self, text):
            notes.append(text)

    model = overfit(frames, labels, **{**TINY, "epochs": 3, "progress": Recorder()})
    assert len(notes) == 2
    assert notes[0] == model.plan_
    # the square's short side (from the labels) and the input size chosen for it
    df = labels.df
    side = float(np.percentile(np.minimum(df.x2 - df.x1, df.y2 - df.y1), 10))
    assert f"~{side:.0f} px" in notes[0] and "x".join(map(str, model.input_size_)) in notes[0]
    assert "whole frames" in notes[0] and "3 epochs" in notes[1]
    # an estimate said as one ("about"), never as a bound: a busy machine takes longer
    assert "about" in notes[1] and "at most" not in notes[1] and "busier" in notes[1]


def test_estimate_leaves_out_the_first_steps_one_time_cost():
    from mm_widgets.models.training import estimate_seconds

    # first epoch 4 steps: 2.0 s (warm-up) then 0.5 s each; 10 epochs
    assert estimate_seconds(3.5, [2.0, 0.5, 0.5, 0.5], 10) == pytest.approx(3.5 + 9 * 4 * 0.5)
    assert estimate_seconds(1.0, [1.0], 5) == pytest.approx(5.0)


def test_progress_false_is_silent(clip, capsys):
    frames, labels = clip
    overfit(frames, labels, **TINY)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_notebook_progress_state():
    pytest.importorskip("ipywidgets")
    from mm_widgets.widgets.progress import NotebookProgress

    p = NotebookProgress(show=False)
    p.start(10, "overfit <YOLO>")
    p.update(1, 5.0, 2.0)
    p.update(2, 3.0, 4.0)
    assert p.bar.value == 2 and p.bar.max == 10
    assert "epoch 2/10" in p.text.value and "&lt;YOLO&gt;" in p.text.value  # escaped
    assert "about 16 s left" in p.text.value
    if p.figure is not None:
        assert list(p.figure.data[0].y) == [5.0, 3.0]
    p.close("loss plateaued after 2 epochs")
    assert p.bar.value == p.bar.max and p.bar.bar_style == "success"
    assert "plateaued" in p.text.value


def test_script_progress_is_not_the_notebook_one():
    from mm_widgets.models.progress import ConsoleProgress, SilentProgress, as_progress

    # The package root registers the notebook display; outside a kernel it declines.
    assert isinstance(as_progress(True), ConsoleProgress)
    assert isinstance(as_progress(False), SilentProgress)


def test_a_registered_display_serves_progress_true(monkeypatch):
    from mm_widgets.models import progress

    made = []
    monkeypatch.setattr(progress, "DISPLAYS", [*progress.DISPLAYS, lambda: made.append(1) or "mine"])
    assert progress.as_progress(True) == "mine" and made == [1]


def test_the_interrupt_warning_names_the_callers_line(clip):
    # Ctrl-C keeps the model trained so far and warns; the warning names the line that
    # called overfit() (this file: a user's cell), not overfit.py or training.py inside it.
    frames, labels = clip

    def interrupt(epoch, loss):
        raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted after 1 epoch") as said:
        overfit(frames, labels, **{**TINY, "epochs": 2, "on_epoch": interrupt})
    assert [w.filename for w in said if "interrupted" in str(w.message)] == [__file__]
