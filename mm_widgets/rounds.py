"""Rounds of the loop on a project folder: retrain, predict the rest, record the round.

``mm.next_round(project)`` is the one place a round is run; a project folder stores, it
does not train.

A round trains on every accepted label in the project (predictions a person accepted count:
they are labels now), warm-starts from the previous round's model file, saves the new
model beside it, predicts the frames nobody has looked at yet, and records what it cost.
"""

from __future__ import annotations

import time

import pandas as pd

from .errors import MMError, NoLabelsError
from .interpolate import interpolate
from .models.base import MicroModel
from .overfit import overfit


def train_model(frames, labels, kind="auto", warm_start=None, *, seed: int = 0,
                progress: bool = True, **settings):
    """A fitted micro-model of kind ``kind`` (``"auto"``, a registered kind, or
    ``"interpolate"`` for the no-training baseline), warm-started from ``warm_start``.

    Labels that are all confirmed negatives (frames looked at, no boxes or masks: a shot
    without the object) leave nothing to learn; they get the interpolation model, which
    predicts nothing there, instead of a model trained on no objects at all.
    """
    nothing_to_learn = labels.task != "classes" and labels.looked_at and len(labels) == 0
    if kind == "interpolate" and settings:
        raise MMError(f"keyframe interpolation trains nothing: it takes no {sorted(settings)}")
    if kind == "interpolate" or nothing_to_learn:
        return interpolate(frames, labels)
    # project=False: the round records itself (with its predictions) in next_round.
    return overfit(frames, labels, kind=kind, warm_start=warm_start, seed=seed,
                   progress=progress, project=False, **settings)


def previous_model(project):
    """The model the last finished round saved, or None."""
    if project.round == 0:
        return None
    path = project.model_path(project.round - 1)
    return MicroModel.load(path) if path.exists() else None


def next_round(project, frames=None, *, kind="auto", warm_start: bool = True, seed: int = 0,
               progress: bool = True, **settings):
    """Close the project's current round with a new micro-model; returns it.

    Trains on every accepted label in the project, starting from the previous round's
    model when ``warm_start`` (and there is one), saves the model in the project folder,
    predicts the frames nobody has looked at yet and records the round. The predictions
    are in ``model.predictions_`` (ready for :func:`mm_widgets.review`).
    """
    frames = project.frames if frames is None else frames
    labels = project.labels
    if not labels.looked_at or len(labels) == 0:
        raise NoLabelsError(f"{project.path} has no labels yet: label a few frames first")
    start_from = previous_model(project) if warm_start else None
    start = time.perf_counter()
    fitted = train_model(frames, labels, kind, start_from, seed=seed, progress=progress,
                         **settings)
    train_seconds = time.perf_counter() - start
    path = fitted.save(project.model_path())
    rest = [f for f in range(len(frames)) if f not in labels]
    start = time.perf_counter()
    predictions = fitted.predict(frames, indices=rest) if rest else pd.DataFrame()
    predict_seconds = time.perf_counter() - start
    fitted.predictions_ = predictions
    project.record_round(model_file=path.name, train_seconds=round(train_seconds, 3),
                         predict_seconds=round(predict_seconds, 3), predicted_frames=len(rest),
                         predicted_boxes=len(predictions), warm_start=start_from is not None)
    return fitted
