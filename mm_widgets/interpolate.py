"""Keyframe interpolation: the zero-training baseline every micro-model figure is shown beside.

What video annotation tools do with no model at all: boxes drawn on a few keyframes are
linked into tracks (same class, nearest centre) and moved in a straight line between
them. Where two neighbouring keyframes disagree about an object (it is on one and not the
other) no box is made between them. Before the first and after the last keyframe, the
nearest keyframe's boxes are held, as a track in such a tool stays until it is closed.

Masks move the same way, outline by outline (:func:`blend_rings`): two linked masks'
rings are walked by arc length from matching start points and blended point by point,
so a mask moved, turned or reshaped between two keyframes is moved, turned or reshaped
in a straight line. Where the two disagree (a mask on one keyframe and not the other) it
is carried as it is over the half of the gap nearer its keyframe: an object entering or
leaving meanwhile is shown where it was last seen, up to half-way (boxes make nothing
there). A mask of several rings (an object cut in pieces by another in front) is first
joined into one ring by zero-width cuts, and blended as one: on the synthetic clip
(``samples.synthetic_shapes``, 40 frames, seeds 0-2, every 2nd or 4th frame a keyframe)
that found 0.81 of the masks between keyframes on average, against 0.75 blending ring by
ring and 0.80 moving the nearer keyframe's pieces along.

Frame classes have nothing to move: a frame gets the class of the nearest labelled frame
(the earlier one on a tie), as a frame attribute in such a tool holds until the next
keyframe changes it.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .checkpoints import write_checkpoint
from .errors import NoLabelsError
from .labels import BOX_COLUMNS, CLASS_COLUMNS, POLYGONS, TRACK, Box, LabelSet, Mask
from .models.base import MicroModel, register_model
from .polygons import merge_rings, ring_area


def link_boxes(a: list[Box] | list[Mask], b: list[Box] | list[Mask]) -> list[tuple[int, int]]:
    """Pair boxes (or masks, by their boxes) of two keyframes into tracks: same class,
    smallest centre distance."""
    from scipy.optimize import linear_sum_assignment

    if not a or not b:
        return []
    ca = np.array([((x.xyxy[0] + x.xyxy[2]) / 2, (x.xyxy[1] + x.xyxy[3]) / 2) for x in a])
    cb = np.array([((x.xyxy[0] + x.xyxy[2]) / 2, (x.xyxy[1] + x.xyxy[3]) / 2) for x in b])
    cost = np.linalg.norm(ca[:, None] - cb[None], axis=2)
    big = cost.max() * 10 + 1e6
    same = np.array([[x.label == y.label for y in b] for x in a])
    cost = np.where(same, cost, big)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if same[i, j]]


#: Points per ring at which two rings' start points are matched (:func:`blend_rings`).
ALIGN_POINTS = 64


def _fractions(p: np.ndarray) -> np.ndarray:
    """Where each vertex of the closed ring ``p`` (``n x 2``) lies along it: arc length
    from the first vertex over the perimeter, from 0 (the first) to below 1."""
    steps = np.linalg.norm(np.roll(p, -1, axis=0) - p, axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)[:-1]]) / steps.sum()


def _points_at(p: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The points of the closed ring ``p`` at arc-length fractions ``at`` (in ``[0, 1)``)."""
    closed = np.vstack([p, p[:1]])
    where = np.append(_fractions(p), 1.0)
    return np.stack([np.interp(at, where, closed[:, 0]), np.interp(at, where, closed[:, 1])], 1)


def _started_at(p: np.ndarray, at: float) -> np.ndarray:
    """The same closed ring, starting at arc-length fraction ``at`` (a vertex added there)."""
    f = _fractions(p)
    k = int(np.searchsorted(f, at, side="right"))
    start = _points_at(p, np.array([at]))
    return np.vstack([start, p[k:], p[:k]]) if at not in f else np.vstack([p[k - 1:], p[:k - 1]])


def blend_rings(a, b, t: float) -> tuple[float, ...]:
    """The ring ``(1 - t)`` of the way from ring ``a`` to ring ``b`` (flat
    ``[x1, y1, x2, y2, ...]`` each), both walked by arc length.

    ``b`` is turned to run the way ``a`` runs and started at its point that best matches
    ``a``'s start (the cyclic shift, over :data:`ALIGN_POINTS` points evenly spaced along
    both, of least squared distance once both are centred). Both rings are then read at
    the same arc-length fractions: every vertex of either, so each ring read there is
    itself, point for point, and corresponding points are blended in a straight line.
    Returns ``a`` at ``t = 0`` and ``b``, from its matched start, at ``t = 1``.
    """
    pa = np.asarray(a, dtype=float).reshape(-1, 2)
    pb = np.asarray(b, dtype=float).reshape(-1, 2)
    if ring_area(pa.ravel()) * ring_area(pb.ravel()) < 0:
        pb = pb[::-1]
    even = np.arange(ALIGN_POINTS) / ALIGN_POINTS
    sa, sb = _points_at(pa, even), _points_at(pb, even)
    sa, sb = sa - sa.mean(0), sb - sb.mean(0)
    cost = [float(((sa - np.roll(sb, -k, axis=0)) ** 2).sum()) for k in range(ALIGN_POINTS)]
    pb = _started_at(pb, even[int(np.argmin(cost))])
    at = np.union1d(_fractions(pa), _fractions(pb))
    mixed = (1 - t) * _points_at(pa, at) + t * _points_at(pb, at)
    return tuple(float(v) for v in mixed.ravel())


def blend_masks(a: Mask, b: Mask, t: float) -> tuple[tuple[float, ...]] | None:
    """The outline ``(1 - t)`` of the way from mask ``a`` to mask ``b``: each mask's rings
    joined into one (:func:`~mm_widgets.polygons.merge_rings`, zero-width cuts), the two
    blended (:func:`blend_rings`); None when the blend has no area."""
    ring = blend_rings(merge_rings(a.polygons), merge_rings(b.polygons), t)
    return (ring,) if ring_area(ring) != 0 else None


@register_model("interpolate")
class InterpolationModel(MicroModel):
    """Keyframe interpolation with the MicroModel API (``fit`` stores keyframes; no training).

    Fitted on frame classes (``task="classes"``) it predicts the nearest labelled frame's
    class (:meth:`class_at`); fitted on masks, masks blended between keyframes
    (:meth:`masks_at`).

    Parameters
    ----------
    hold_ends
        Keep the first/last keyframe's boxes (masks) before/after them (as annotation tools
        do); a frame class is always held.
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
        elif self.task == "masks":
            self.keyframes_ = {f: labels.masks(f) for f in labels.looked_at}
        else:
            self.keyframes_ = {f: labels.boxes(f) for f in labels.looked_at}
        self._keys = sorted(self.keyframes_)
        self.history_ = []
        self.domain_ = list(self._keys)
        self.train_seconds_ = time.perf_counter() - start
        return self

    def add_keyframe(self, frame: int, boxes: list[Box] | list[Mask]) -> InterpolationModel:
        """Take frame ``frame``'s confirmed ``boxes`` (masks, fitted on masks) as one more
        keyframe (a person's walk through a video tool: every frame confirmed moves the
        boxes around it at once)."""
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

    def masks_at(self, frame: int) -> list[Mask]:
        """Masks at ``frame`` (source "model", score as :meth:`boxes_at`'s): a keyframe's own;
        between two, linked masks blended (:func:`blend_masks`; where that has no area,
        the nearer keyframe's carried) and a mask on one keyframe
        only carried over the half of the gap nearer it; before the first and after the last
        keyframe, the nearest one's held (``hold_ends``). See the module docstring."""
        keys = self._keys
        if frame in self.keyframes_:
            return [replace(m, score=1.0, source="model", track=None) for m in self.keyframes_[frame]]
        i = bisect_left(keys, frame)
        if i == 0 or i == len(keys):
            if not self.hold_ends:
                return []
            near = keys[0] if i == 0 else keys[-1]
            return [replace(m, score=0.5, source="model", track=None) for m in self.keyframes_[near]]
        k0, k1 = keys[i - 1], keys[i]
        a, b = self.keyframes_[k0], self.keyframes_[k1]
        t = (frame - k0) / (k1 - k0)
        score = 1.0 - min(t, 1.0 - t)
        links = link_boxes(a, b)
        out = []
        for p, q in links:
            rings = blend_masks(a[p], b[q], t)
            near = a[p] if t <= 0.5 else b[q]
            out.append(Mask(near.polygons if rings is None else rings, a[p].label, score, "model"))
        lone = ([m for k, m in enumerate(a) if k not in {p for p, _ in links}] if t <= 0.5 else
                [m for k, m in enumerate(b) if k not in {q for _, q in links}])
        return out + [replace(m, score=score, source="model", track=None) for m in lone]

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
        if self.task == "masks":
            rows = [(int(f), *m.xyxy, m.label, m.score, m.source, 0, None,
                     [list(r) for r in m.polygons])
                    for f in indices for m in self.masks_at(int(f))]
            df = pd.DataFrame(rows, columns=[*BOX_COLUMNS, TRACK, POLYGONS])
            return df.astype({"frame": np.int64, "x1": float, "y1": float, "x2": float,
                              "y2": float, "score": float, "round": np.int64, TRACK: "Int64"})
        rows = [(int(f), *b.xyxy, b.label, b.score, b.source, 0)
                for f in indices for b in self.boxes_at(int(f))]
        df = pd.DataFrame(rows, columns=BOX_COLUMNS)
        return df.astype({"frame": np.int64, "x1": float, "y1": float, "x2": float, "y2": float,
                          "score": float, "round": np.int64})

    def save(self, path: str | Path) -> Path:
        self.check_fitted()
        if self.task == "classes":
            keyframes = {str(f): c for f, c in self.keyframes_.items()}
        elif self.task == "masks":
            keyframes = {str(f): [[[list(r) for r in m.polygons], m.label] for m in ms]
                         for f, ms in self.keyframes_.items()}
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
            elif task == "masks":
                labels.set_masks(int(f), [Mask(m[0], m[1]) for m in v])
            else:
                labels.set_boxes(int(f), [Box(*b[:4], b[4]) for b in v])
        return model.fit(None, labels)


def interpolate(frames, labels: LabelSet, *, hold_ends: bool = True) -> InterpolationModel:
    """A fitted keyframe-interpolation labeller: ``interpolate(frames, labels).predict(frames)``.

    ``labels`` hold boxes, masks or frame classes. ``frames`` may be None: interpolation
    needs only the labelled frames' labels.
    """
    return InterpolationModel(hold_ends=hold_ends).fit(frames, labels)
