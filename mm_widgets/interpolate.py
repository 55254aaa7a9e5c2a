"""Keyframe interpolation: the zero-training baseline every micro-model figure is shown beside.

What video annotation tools do with no model at all: boxes drawn on a few keyframes are
linked into tracks (same class, nearest centre) and moved in a straight line between
them. Where two neighbouring keyframes disagree about an object (it is on one and not the
other) no box is made between them. Before the first and after the last keyframe, the
nearest keyframe's boxes are held, as a track in such a tool stays until it is closed.

Frame classes have nothing to move: a frame gets the class of the nearest labelled frame
(the earlier one on a tie), as a frame attribute in such a tool holds until the next
keyframe changes it.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .checkpoints import write_checkpoint
from .errors import NoLabelsError
from .labels import BOX_COLUMNS, CLASS_COLUMNS, Box, LabelSet
from .models.base import MicroModel, register_model


def link_boxes(a: list[Box], b: list[Box]) -> list[tuple[int, int]]:
    """Pair boxes of two keyframes into tracks: same class, smallest centre distance."""
    from scipy.optimize import linear_sum_assignment

    if not a or not b:
        return []
    ca = np.array([((x.x1 + x.x2) / 2, (x.y1 + x.y2) / 2) for x in a])
    cb = np.array([((x.x1 + x.x2) / 2, (x.y1 + x.y2) / 2) for x in b])
    cost = np.linalg.norm(ca[:, None] - cb[None], axis=2)
    big = cost.max() * 10 + 1e6
    same = np.array([[x.label == y.label for y in b] for x in a])
    cost = np.where(same, cost, big)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if same[i, j]]


@register_model("interpolate")
class InterpolationModel(MicroModel):
    """Keyframe interpolation with the MicroModel API (``fit`` stores keyframes; no training).

    Fitted on frame classes (``task="classes"``) it predicts the nearest labelled frame's
    class (:meth:`class_at`).

    Parameters
    ----------
    hold_ends
        Keep the first/last keyframe's boxes before/after them (as annotation tools do);
        a frame class is always held.
    """

    task = "boxes"

    def __init__(self, *, hold_ends: bool = True):
        self.hold_ends = hold_ends

    def fit(self, frames, labels: LabelSet) -> InterpolationModel:
        start = time.perf_counter()
        if not labels.looked_at:
            raise NoLabelsError("interpolation needs at least one labelled frame; got none")
        self.task = labels.task
        self.classes_ = list(labels.classes)
        if self.task == "classes":
            self.keyframes_ = {f: labels.frame_class(f) for f in labels.frames}
            if not self.keyframes_:
                raise NoLabelsError("interpolation needs at least one frame with a class; got none")
        else:
            self.keyframes_ = {f: labels.boxes(f) for f in labels.looked_at}
        self._keys = sorted(self.keyframes_)
        self.history_ = []
        self.domain_ = list(self._keys)
        self.train_seconds_ = time.perf_counter() - start
        return self

    def add_keyframe(self, frame: int, boxes: list[Box]) -> InterpolationModel:
        """Take frame ``frame``'s confirmed ``boxes`` as one more keyframe (a person's
        walk through a video tool: every frame confirmed moves the boxes around it at once)."""
        self.check_fitted()
        frame = int(frame)
        if frame not in self.keyframes_:
            self._keys.insert(bisect_left(self._keys, frame), frame)
        self.keyframes_[frame] = list(boxes)
        return self

    def boxes_at(self, frame: int) -> list[Box]:
        """Interpolated boxes (source "model", score = closeness to a keyframe) at ``frame``."""
        keys = self._keys
        if frame in self.keyframes_:
            return [Box(*b.xyxy, b.label, 1.0, "model") for b in self.keyframes_[frame]]
        i = bisect_left(keys, frame)
        if i == 0 or i == len(keys):
            if not self.hold_ends:
                return []
            near = keys[0] if i == 0 else keys[-1]
            return [Box(*b.xyxy, b.label, 0.5, "model") for b in self.keyframes_[near]]
        k0, k1 = keys[i - 1], keys[i]
        a, b = self.keyframes_[k0], self.keyframes_[k1]
        t = (frame - k0) / (k1 - k0)
        score = 1.0 - min(t, 1.0 - t)
        out = []
        for p, q in link_boxes(a, b):
            xyxy = (1 - t) * np.array(a[p].xyxy) + t * np.array(b[q].xyxy)
            out.append(Box(*xyxy.tolist(), a[p].label, score, "model"))
        return out

    def class_at(self, frame: int) -> tuple[str, float]:
        """The class of the nearest labelled frame, and a score: 1 on a keyframe or between
        two that agree, else from 0.5 (half-way) to 1 (next to a keyframe); 0.5 outside them."""
        keys = self._keys
        if frame in self.keyframes_:
            return self.keyframes_[frame], 1.0
        i = bisect_left(keys, frame)
        if i == 0 or i == len(keys):
            return self.keyframes_[keys[0] if i == 0 else keys[-1]], 0.5
        k0, k1 = keys[i - 1], keys[i]
        a, b = self.keyframes_[k0], self.keyframes_[k1]
        if a == b:
            return a, 1.0
        t = (frame - k0) / (k1 - k0)
        return (a if t <= 0.5 else b), 1.0 - min(t, 1.0 - t)

    def predict(self, frames, indices: Sequence[int] | None = None) -> pd.DataFrame:
        self.check_fitted()
        indices = range(len(frames)) if indices is None else indices
        if self.task == "classes":
            rows = [(int(f), *self.class_at(int(f)), "model", 0) for f in indices]
            df = pd.DataFrame(rows, columns=CLASS_COLUMNS)
            return df.astype({"frame": np.int64, "score": float, "round": np.int64})
        rows = [(int(f), *b.xyxy, b.label, b.score, b.source, 0)
                for f in indices for b in self.boxes_at(int(f))]
        df = pd.DataFrame(rows, columns=BOX_COLUMNS)
        return df.astype({"frame": np.int64, "x1": float, "y1": float, "x2": float, "y2": float,
                          "score": float, "round": np.int64})

    def save(self, path: str | Path) -> Path:
        self.check_fitted()
        if self.task == "classes":
            keyframes = {str(f): c for f, c in self.keyframes_.items()}
        else:
            keyframes = {str(f): [[*b.xyxy, b.label] for b in bs] for f, bs in self.keyframes_.items()}
        return write_checkpoint(path, {
            "kind": "interpolate", "settings": {"hold_ends": self.hold_ends},
            "classes": self.classes_, "task": self.task, "keyframes": keyframes,
        })

    @classmethod
    def _from_checkpoint(cls, payload: dict) -> InterpolationModel:
        model = cls(**payload.get("settings", {}))
        task = payload.get("task", "boxes")
        labels = LabelSet(payload["classes"], task)
        for f, v in payload["keyframes"].items():
            if task == "classes":
                labels.set_class(int(f), v)
            else:
                labels.set_boxes(int(f), [Box(*b[:4], b[4]) for b in v])
        return model.fit(None, labels)


def interpolate(frames, labels: LabelSet, *, hold_ends: bool = True) -> InterpolationModel:
    """A fitted keyframe-interpolation labeller: ``interpolate(frames, labels).predict(frames)``.

    ``frames`` may be None: interpolation needs only the labelled frames' boxes.
    """
    return InterpolationModel(hold_ends=hold_ends).fit(frames, labels)
