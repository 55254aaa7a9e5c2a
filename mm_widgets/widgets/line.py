"""One labeller or review per domain of an assembly line: ``line.label(d)``, ``line.review(d)``.

The widget shows only the domain's frames, numbered from 0 (a shot of 40 frames is a
40-frame clip). Every edit is copied at once into the domain's labels and action log, in
the clip's own frame numbers, so ``line.fit()`` learns from it; an undo takes the copied
action back as well. Registered with the line by the package root
(:func:`mm_widgets.assembly.register_domain_widget`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..actions import Action, ActionLog
from ..data import Frames
from ..errors import MMError
from ..labels import LabelSet
from .labeller import Labeller
from .review import Review, review


def domain_frames(d) -> Frames:
    """The frames of domain ``d``, numbered from 0, read from the clip's own source."""
    frames = d.frames
    positions = [frames._position(i) for i in d.indices]
    return Frames(frames._source, positions, name=f"{frames.name or 'frames'} · {d.name}",
                  origin=None if frames.origin is None else {**frames.origin, "positions": positions})


class DomainModel:
    """A domain's model seen from its own frames: frame ``k`` is the clip's ``indices[k]``
    (a model such as keyframe interpolation knows frames by their number in the clip)."""

    def __init__(self, model, d):
        self.model, self.domain = model, d
        self.classes_ = list(model.classes_)
        self.task = getattr(model, "task", "boxes")
        self.kind = getattr(model, "kind", "model")

    def check_fitted(self) -> None:
        if hasattr(self.model, "check_fitted"):
            self.model.check_fitted()

    def predict(self, frames, indices=None, **settings) -> pd.DataFrame:
        local = range(len(self.domain.indices)) if indices is None else [int(k) for k in indices]
        wanted = [self.domain.indices[k] for k in local]
        table = self.model.predict(self.domain.frames, indices=wanted, **settings)
        back = {g: k for k, g in zip(local, wanted, strict=True)}
        table = table.copy()
        table["frame"] = np.asarray([back[int(f)] for f in table["frame"]], dtype=np.int64)
        return table


def _mirror(w: Labeller, d) -> None:
    """Copy every edit of ``w`` (domain-local frames) into ``d``'s labels and actions."""
    indices = list(d.indices)
    copies: dict[int, Action] = {}

    def record(a: Action) -> None:
        # the same event in clip numbers, with its times (a redo brings back the original)
        copy = copies[id(a)] = replace(a, frame=indices[a.frame])
        d.actions.extend([copy])

    def retract(a: Action) -> None:
        copy = copies.pop(id(a), None)
        if copy is not None:
            d.actions.retract([copy])

    # The domain's earlier actions count in the widget's figures; only new ones are copied.
    inside = {g: k for k, g in enumerate(indices)}
    earlier = [replace(a, frame=inside[a.frame]) for a in d.actions.events if a.frame in inside]
    w.actions = ActionLog(earlier, sink=record, retract_sink=retract)
    w.actions.look()  # the widget shows its frame now: the training before it was waiting

    def copy_frame(k: int) -> None:
        d.labels.apply_frame_state({**w.labels.frame_state(k), "frame": indices[k]})

    w.on_change(copy_frame)
    w._refresh_text()


def _local_labels(d, classes) -> LabelSet:
    if d.labels is None:
        if classes is None:
            raise MMError(f"domain {d.name!r} has no labels yet: pass classes=[...]")
        d.labels = LabelSet(classes, "boxes", size=d.frames.size, n_frames=len(d.frames))
    elif classes is not None and list(classes) != list(d.labels.classes):
        raise MMError(f"domain {d.name!r} labels the classes {d.labels.classes}, not {list(classes)}")
    if d.actions is None:
        d.actions = ActionLog()
    local = LabelSet(d.labels.classes, d.labels.task, size=d.frames.size, n_frames=len(d.indices))
    for k, g in enumerate(d.indices):
        if g in d.labels:
            local.apply_frame_state({**d.labels.frame_state(g), "frame": k}, notify=False)
    return local


def label_domain(line, d, *, classes=None, first_labels=5, **settings) -> Labeller:
    """What ``line.label(domain)`` opens (see :meth:`mm_widgets.AssemblyLine.label`)."""
    local = _local_labels(d, classes)
    clip = domain_frames(d)
    w = Labeller(clip, local.classes, first_labels=first_labels, task=local.task, **settings)
    # Continue the domain's labels: the widget's own set is replaced before anything is shown.
    w.labels = local
    _mirror(w, d)
    if d.label_class is not None:
        w.select_class(d.label_class)
    w._rendered = False
    w.go_to(w._resume_frame())
    return w


def review_domain(line, d, **settings) -> Review:
    """What ``line.review(domain)`` opens (see :meth:`mm_widgets.AssemblyLine.review`)."""
    if d.model is None:
        raise MMError(f"domain {d.name!r} has no model yet: call line.fit() first")
    local = _local_labels(d, None)
    w = review(domain_frames(d), DomainModel(d.model, d), labels=local, **settings)
    _mirror(w, d)
    return w
