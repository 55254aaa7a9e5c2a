"""overfit(): one line from a few labels to a trained micro-model.

The labels decide the kind of model: boxes -> a YOLO detector, frame classes -> a timm
classifier (both registered in :data:`mm_widgets.models.base.MODEL_KINDS`).
"""

from __future__ import annotations

import inspect

import pandas as pd

from .errors import MMError, NoLabelsError, UnknownClassError
from .labels import TASKS, LabelSet
from .models.base import MicroModel, make_model, model_class

#: Which registered model kind learns which task when ``model="auto"``.
DEFAULT_MODEL = {"boxes": "yolo", "classes": "timm"}


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where widgets can be shown), False in scripts/terminals."""
    import sys

    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def progress_reporter(progress):
    """The display for ``progress=True``: the notebook bar + loss curve in a kernel with
    ipywidgets, else a tqdm line. Other values pass through unchanged."""
    if progress is not True or not in_notebook():
        return progress
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None:  # no notebook display possible
        return True
    # Imported here, not at module level: the core must run where ipywidgets is absent.
    from .widgets.progress import NotebookProgress

    return NotebookProgress()


def _as_labelset(labels, frames) -> LabelSet:
    if isinstance(labels, LabelSet):
        return labels
    if isinstance(labels, pd.DataFrame):
        size = tuple(frames.size) if hasattr(frames, "size") else None
        return LabelSet.from_df(labels, size=size, n_frames=len(frames))
    raise MMError(f"labels must be a LabelSet or a DataFrame, got {type(labels).__name__}")


def overfit(labels, frames, *, task="auto", model="auto", epochs="auto", imgsz="auto",
            device="auto", weights="auto", seed=0, progress=True, init=None) -> MicroModel:
    """Train a micro-model on a few labelled frames of one scene.

    Parameters
    ----------
    labels
        A :class:`~mm_widgets.labels.LabelSet` (or a DataFrame with its columns). Its
        looked-at frames are the training set; looked-at frames without boxes are
        negatives, which keep the model from firing on look-alikes.
    frames
        The :class:`~mm_widgets.data.Frames` the labels refer to.
    task
        ``"boxes"`` or ``"classes"``; ``"auto"`` takes it from the labels.
    model
        A registered model kind (``"yolo"``, ``"timm"``) or an unfitted
        :class:`~mm_widgets.models.base.MicroModel`; ``"auto"`` picks by task (or the
        kind of ``init``).
    epochs, imgsz, device, weights, seed
        Passed to the model; ``"auto"`` lets it choose (see the model's docs). Without
        weights on disk the model trains from scratch and says so once.
    progress
        ``True``: a progress bar and live loss curve in a notebook, one tqdm line in a
        script; ``False``: silent; or a reporter object (see
        :mod:`mm_widgets.models.progress`).
    init
        A previous micro-model to warm-start from (later retraining rounds).

    Returns
    -------
    MicroModel
        The fitted model. Ctrl-C during training returns the best model so far.

    Raises
    ------
    NoLabelsError
        When the labels hold nothing to learn from.
    UnknownClassError
        When a label names a class the label set does not declare.
    """
    labels = _as_labelset(labels, frames)
    if task == "auto":
        task = labels.task
    if task not in TASKS:
        raise MMError(f"task must be one of {TASKS} or 'auto', got {task!r}")
    if task != labels.task:
        raise MMError(f"task={task!r} but the labels hold {labels.task}")
    if len(labels) == 0:
        what = "boxes" if task == "boxes" else "frame classes"
        raise NoLabelsError(f"no {what} to learn from: label a few frames first")
    table = labels.df
    unknown = sorted(set(table["label"]) - set(labels.classes))
    if unknown:
        raise UnknownClassError(f"labels use unknown class(es) {unknown}; known: {labels.classes}")

    settings = {"epochs": epochs, "imgsz": imgsz, "device": device, "weights": weights,
                "seed": seed, "progress": progress_reporter(progress)}
    if init is not None:
        if not isinstance(init, MicroModel):
            raise MMError(f"init must be a fitted MicroModel, got {type(init).__name__}")
        init.check_fitted()
        settings["init"] = init

    if isinstance(model, MicroModel):
        learner = model
        if getattr(learner, "task", task) != task:
            raise MMError(f"a {type(learner).__name__} learns {learner.task}, not {task}")
    else:
        if model == "auto":
            model = getattr(init, "kind", None) or DEFAULT_MODEL[task]
        cls = model_class(model)
        if getattr(cls, "task", task) != task:
            raise MMError(f"model kind {model!r} learns {cls.task}, not {task}")
        learner = make_model(model, **_accepted(cls, settings))
    return learner.fit(frames, labels)


def _accepted(cls: type, settings: dict) -> dict:
    """The settings ``cls`` takes; refuse a non-default one it would silently ignore."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return settings
    defaults = {"epochs": "auto", "imgsz": "auto", "device": "auto", "weights": "auto",
                "seed": 0}
    # A model without a progress setting simply shows none; anything else must not vanish.
    dropped = [k for k in settings
               if k not in params and k != "progress" and settings[k] != defaults.get(k)]
    if dropped:
        raise MMError(f"{cls.__name__} does not take the setting(s) {dropped}")
    return {k: v for k, v in settings.items() if k in params}
