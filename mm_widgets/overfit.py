"""overfit(): one line from a few labels to a trained micro-model.

The labels decide the kind of model: boxes -> a YOLO detector, masks -> a YOLO
segmentation model, frame classes -> a timm classifier (all registered in
:data:`mm_widgets.models.base.MODEL_KINDS`).
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pandas as pd

from .errors import MMError, NoLabelsError, UnknownClassError
from .labels import LABEL_TASKS, LabelSet
from .models.base import MicroModel, make_model, model_class
from .project import Project

#: Which registered model kind learns which task when ``kind="auto"``.
DEFAULT_KIND = {"boxes": "yolo", "classes": "timm", "masks": "yolo-seg"}
#: What a task's labels are called when there are none to learn from.
LABEL_WORDS = {"boxes": "boxes", "classes": "frame classes", "masks": "masks"}


def _as_labelset(labels, frames) -> LabelSet:
    if isinstance(labels, LabelSet):
        return labels
    if isinstance(labels, pd.DataFrame):
        size = tuple(frames.size) if hasattr(frames, "size") else None
        return LabelSet.from_df(labels, size=size, n_frames=len(frames))
    raise MMError(f"labels must be a LabelSet or a DataFrame, got {type(labels).__name__}")


def overfit(frames, labels, *, task="auto", kind="auto", epochs="auto", imgsz="auto",
            device="auto", weights="auto", seed=0, progress=True, warm_start=None,
            project=None, **settings) -> MicroModel:
    """Train a micro-model on a few labelled frames of one scene.

    Parameters
    ----------
    frames
        The :class:`~mm_widgets.data.Frames` the labels refer to.
    labels
        A :class:`~mm_widgets.labels.LabelSet` (or a DataFrame with its columns). Its
        looked-at frames are the training set; looked-at frames without boxes are
        negatives, which keep the model from firing on look-alikes.
    task
        ``"boxes"``, ``"masks"`` or ``"classes"``; ``"auto"`` takes it from the labels.
    kind
        A registered model kind (``"yolo"``, ``"yolo-seg"``, ``"timm"``, see
        :data:`mm_widgets.models.MODEL_KINDS`); ``"auto"`` picks by task (or the kind of
        ``warm_start``).
    epochs, imgsz, device, weights, seed
        Passed to the model; ``"auto"`` lets it choose (see the model's docs). Without
        weights on disk the model trains from scratch and says so once.
    progress
        ``True``: a progress bar and live loss curve in a notebook, one tqdm line in a
        script; ``False``: silent; or a reporter object (see
        :mod:`mm_widgets.models.progress`). The display first says what will be trained
        and why (for boxes: how small the objects are, the input size chosen for them,
        whole frames or windows around the objects; also ``model.plan_``), and after
        the first epoch about how long training will take at that epoch's pace (an
        estimate: a machine that gets busier takes longer); the finished bar says how long
        it took.
    warm_start
        A fitted micro-model of the same kind to start from (later retraining rounds).
    project
        Where to keep the trained model: a :class:`~mm_widgets.project.Project` or its
        folder. By default the labels' own project (the labels of ``mm.label(...,
        project=...)``), if they have one; ``False`` keeps it nowhere. The model is saved
        as the project's current round, which closes (``project.rounds``); reopening the
        project gives it back as ``project.model``, ready for ``mm.review``.
    **settings
        Any other setting of the model kind (``conf=``, ``batch_size=``, ``crop=``, ...). A setting
        the kind does not take is refused, never dropped.

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
    if isinstance(frames, (LabelSet, pd.DataFrame)) and not isinstance(labels, (LabelSet, pd.DataFrame)):
        raise MMError("overfit(frames, labels): frames come first, then the labels")
    labels = _as_labelset(labels, frames)
    if task == "auto":
        task = labels.task
    if task not in LABEL_TASKS:
        raise MMError(f"task must be one of {LABEL_TASKS} or 'auto', got {task!r}")
    if task != labels.task:
        raise MMError(f"task={task!r} but the labels hold {labels.task}")
    if len(labels) == 0:
        raise NoLabelsError(f"no {LABEL_WORDS[task]} to learn from: label a few frames first")
    table = labels.df
    unknown = sorted(set(table["label"]) - set(labels.classes))
    if unknown:
        raise UnknownClassError(f"labels use unknown class(es) {unknown}; known: {labels.classes}")
    if isinstance(kind, MicroModel):
        raise MMError("kind= names a registered model kind; to train a model object you made, "
                      "call its fit(frames, labels)")

    chosen = {"epochs": epochs, "imgsz": imgsz, "device": device, "weights": weights,
              "seed": seed, "progress": progress, **settings}
    if warm_start is not None:
        if not isinstance(warm_start, MicroModel):
            raise MMError(f"warm_start must be a fitted MicroModel, got {type(warm_start).__name__}")
        warm_start.check_fitted()
        chosen["warm_start"] = warm_start
    if kind == "auto":
        kind = getattr(warm_start, "kind", None) or DEFAULT_KIND[task]
    cls = model_class(kind)
    if getattr(cls, "task", task) != task:
        raise MMError(f"model kind {kind!r} learns {cls.task}, not {task}")
    keep = _project(project, labels)
    start = time.perf_counter()
    model = make_model(kind, **_accepted(cls, chosen, explicit=set(settings))).fit(frames, labels)
    if keep is not None:
        keep.keep_model(model, train_seconds=round(time.perf_counter() - start, 3), kind=kind,
                        trained_on=len(labels.looked_at), warm_start=warm_start is not None)
    return model


def _project(project, labels: LabelSet) -> Project | None:
    """The project to keep the model in: as given, else the labels' own; False: none."""
    if project is False:
        return None
    if project is None or project is True:
        return labels.project
    if isinstance(project, Project):
        return project
    if isinstance(project, (str, Path)):
        return Project(project)
    raise MMError(f"project must be a Project, a folder, None or False, got {type(project).__name__}")


def _accepted(cls: type, settings: dict, explicit: set[str]) -> dict:
    """The settings ``cls`` takes; refuse one it would silently ignore (a setting passed by
    name, or a common one given a value other than its default)."""
    params = inspect.signature(cls).parameters
    defaults = {"epochs": "auto", "imgsz": "auto", "device": "auto", "weights": "auto",
                "seed": 0, "progress": True}
    # A kind that takes no progress setting simply shows none; nothing else may vanish.
    dropped = [k for k in settings if k not in params and k != "progress"
               and (k in explicit or settings[k] != defaults.get(k))]
    if dropped:
        raise MMError(f"model kind {getattr(cls, 'kind', cls.__name__)!r} does not take the "
                      f"setting(s) {dropped}")
    return {k: v for k, v in settings.items() if k in params}
