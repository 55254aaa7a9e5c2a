"""Boxes, masks and label sets: one type per shape, converted to widget/YOLO/COCO form only
at the edges.

A :class:`LabelSet` holds boxes (``task="boxes"``), one class per frame
(``task="classes"``) or instance masks (``task="masks"``), plus the set of frames a person
*looked at*. A looked-at frame with no boxes (or masks) is a negative ("nothing here"),
not a gap. A :class:`Mask` is one object's polygons (why polygons: :mod:`.polygons`) with
the fields of a box; its box is derived from them, so a table of masks is a table of
boxes with a ``polygons`` column beside.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .data import frame_number
from .errors import FrameIndexError, LabelError, UnknownClassError
from .polygons import (
    Ring,
    as_rings,
    bounds,
    mask_iou,
    merge_rings,
    point_outside,
    rasterise,
    rasterise_window,
)

BOX_COLUMNS = ["frame", "x1", "y1", "x2", "y2", "label", "score", "source", "round"]
#: The optional column after :data:`BOX_COLUMNS`: the id of the track a box belongs to
#: (nullable: tables and files from before tracks, and boxes not linked yet, have none).
TRACK = "track"
CLASS_COLUMNS = ["frame", "label", "score", "source", "round"]
SOURCES = ("human", "model", "corrected", "carried")
#: The tasks the box labeller widget labels (``Labeller``; masks have ``MaskLabeller``).
TASKS = ("boxes", "classes")
#: What a LabelSet holds, and every task of the loop (``overfit()``, ``simulate()``, whose
#: per-task parts are :data:`mm_widgets.tasks.TASKS`; projects): :data:`TASKS` and masks.
LABEL_TASKS = (*TASKS, "masks")
#: The column of a masks table after the box columns and ``track``: each row's rings, a
#: list of flat ``[x1, y1, x2, y2, ...]`` lists in full-frame pixels.
POLYGONS = "polygons"
#: Unicode categories a name may not hold: control characters (a newline splits a name in
#: two in a one-name-a-line file; XML cannot hold a NUL), lone surrogate halves, line and
#: paragraph separators; and the two characters XML and YAML refuse, U+FFFE and U+FFFF.
_NOT_IN_NAMES = {"Cc": "a control character", "Cs": "half of a surrogate pair",
                 "Zl": "a line separator", "Zp": "a paragraph separator",
                 "\ufffe": "a noncharacter", "\uffff": "a noncharacter"}


def name_problem(name) -> str | None:
    """Why ``name`` cannot be a class or clip name that every export gives back (None: it
    can). Exports write names one a line (YOLO, MOT), in XML (CVAT, Label Studio), in JSON
    (COCO) and in YAML (YOLO's data.yaml)."""
    if not isinstance(name, str) or not name:
        return "a name is non-empty text"
    for ch in name:
        kind = ch if ch in "\ufffe\uffff" else unicodedata.category(ch)
        if kind in _NOT_IN_NAMES:
            return f"it holds {_NOT_IN_NAMES[kind]} (U+{ord(ch):04X}), which exports cannot keep"
    if name != name.strip():
        return "it starts or ends with a space, which other tools drop"
    return None


def check_name(name, what: str) -> str:
    """``name`` if :func:`name_problem` finds nothing, else a :class:`LabelError` saying why."""
    problem = name_problem(name)
    if problem:
        raise LabelError(f"{what} {name!r:.60} is refused: {problem}")
    return name


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in full-frame pixels: ``x1 < x2``, ``y1 < y2``."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    score: float | None = None
    source: str = "human"
    #: Which object this is across frames: boxes of one object share an id (None: not linked).
    track: int | None = None

    def __post_init__(self):
        coords = (self.x1, self.y1, self.x2, self.y2)
        if not all(isinstance(c, (int, float, np.number)) and math.isfinite(c) for c in coords):
            raise LabelError(f"box coordinates must be finite numbers, got {coords}")
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise LabelError(
                f"box ({self.x1:g}, {self.y1:g}, {self.x2:g}, {self.y2:g}) has no area: "
                "need x1 < x2 and y1 < y2"
            )
        _check_fields(self, "box")
        for name in ("x1", "y1", "x2", "y2"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @classmethod
    def _trusted(cls, x1: float, y1: float, x2: float, y2: float, label: str,
                 score: float | None, source: str, track: int | None = None) -> Box:
        """Build without per-box checks, for data already validated in bulk (snapshots)."""
        box = object.__new__(cls)
        box.__dict__.update(x1=x1, y1=y1, x2=x2, y2=y2, label=label, score=score, source=source,
                            track=track)
        return box

    # -- geometry -------------------------------------------------------------------------
    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: Box) -> float:
        return float(box_iou([self.xyxy], [other.xyxy])[0, 0])

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def check_inside(self, size: tuple[int, int], tolerance: float = 0.5) -> Box:
        """Raise :class:`LabelError` unless the box lies inside a ``(width, height)`` frame."""
        w, h = size
        if (self.x1 < -tolerance or self.y1 < -tolerance
                or self.x2 > w + tolerance or self.y2 > h + tolerance):
            raise LabelError(
                f"box ({self.x1:g}, {self.y1:g}, {self.x2:g}, {self.y2:g}) lies outside the "
                f"{w}x{h} frame"
            )
        return self

    def clipped(self, size: tuple[int, int]) -> Box | None:
        """The part of the box inside the frame, or None if nothing is left."""
        w, h = size
        x1, y1 = min(max(self.x1, 0.0), w), min(max(self.y1, 0.0), h)
        x2, y2 = min(max(self.x2, 0.0), w), min(max(self.y2, 0.0), h)
        if x2 - x1 < 1e-6 or y2 - y1 < 1e-6:
            return None
        return replace(self, x1=x1, y1=y1, x2=x2, y2=y2)

    # -- jupyter-bbox-widget edge ----------------------------------------------------------
    @classmethod
    def from_widget(cls, d: dict, scale: float = 1.0, source: str = "human") -> Box:
        """From a bbox-widget dict ``{x, y, width, height, label}`` shown at ``scale``."""
        try:
            x, y, w, h = (float(d[k]) for k in ("x", "y", "width", "height"))
        except (KeyError, TypeError, ValueError) as e:
            raise LabelError(f"not a bounding-box dict: {d!r}") from e
        if w < 0:
            x, w = x + w, -w
        if h < 0:
            y, h = y + h, -h
        return cls(x / scale, y / scale, (x + w) / scale, (y + h) / scale,
                   str(d.get("label", "")), d.get("score"), source)

    def to_widget(self, scale: float = 1.0) -> dict:
        """To a bbox-widget dict for an image shown at ``scale`` times full size."""
        return {"x": self.x1 * scale, "y": self.y1 * scale, "width": self.width * scale,
                "height": self.height * scale, "label": self.label}

    # -- YOLO edge ---------------------------------------------------------------------------
    @classmethod
    def from_yolo(cls, line: str, classes: Sequence[str], size: tuple[int, int],
                  source: str = "human") -> Box:
        """From one YOLO line ``cls cx cy w h [score]`` (normalised to the frame)."""
        parts = line.split()
        if len(parts) not in (5, 6):
            raise LabelError(f"YOLO line must have 5 or 6 fields: {line!r}")
        try:
            k = int(parts[0])
            cx, cy, bw, bh = (float(p) for p in parts[1:5])
            score = float(parts[5]) if len(parts) == 6 else None
        except ValueError as e:
            raise LabelError(f"bad YOLO line {line!r}: {e}") from e
        if not 0 <= k < len(classes):
            raise UnknownClassError(f"YOLO class id {k} is not in classes {list(classes)}")
        w, h = size
        return cls((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h,
                   classes[k], score, source)

    def to_yolo(self, classes: Sequence[str], size: tuple[int, int], with_score: bool = False) -> str:
        if self.label not in classes:
            raise UnknownClassError(f"class {self.label!r} is not in classes {list(classes)}")
        w, h = size
        fields = [str(list(classes).index(self.label))] + [
            repr(v) for v in ((self.x1 + self.x2) / 2 / w, (self.y1 + self.y2) / 2 / h,
                              self.width / w, self.height / h)
        ]
        if with_score and self.score is not None:
            fields.append(repr(self.score))
        return " ".join(fields)

    # -- COCO edge ----------------------------------------------------------------------------
    @classmethod
    def from_coco(cls, ann: dict, categories: dict[int, str]) -> Box:
        if not isinstance(ann, dict):
            raise LabelError(f"a COCO annotation must be an object, got {ann!r:.60}")
        name = f"COCO annotation {ann.get('id', '?')!r:.40}"
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise LabelError(f"{name}: bbox must be [x, y, width, height], got {bbox!r:.60}")
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise LabelError(f"{name}: bbox values must be numbers, got {bbox!r:.60}") from None
        try:
            label = categories[ann.get("category_id")]
        except (KeyError, TypeError):
            raise UnknownClassError(f"{name}: unknown category_id {ann.get('category_id')!r:.40}") from None
        x2, y2 = x + w, y + h
        exact = ann.get("xyxy")  # our own exact corners: x + (x2 - x1) can differ from x2 in floats
        if (isinstance(exact, list) and len(exact) == 4
                and all(isinstance(v, (int, float)) for v in exact)
                and all(abs(a - b) < 1e-6 * max(1.0, abs(b)) for a, b in zip(exact, (x, y, x2, y2)))):
            x, y, x2, y2 = (float(v) for v in exact)
        score, source, track = ann.get("score"), ann.get("source", "human"), ann.get("track_id")
        try:
            return cls(x, y, x2, y2, label, score, source, track)
        except LabelError as e:
            raise type(e)(f"{name}: {e}") from None

    def to_coco(self, categories: dict[str, int]) -> dict:
        if self.label not in categories:
            raise UnknownClassError(f"class {self.label!r} is not in categories {list(categories)}")
        d = {"bbox": [self.x1, self.y1, self.width, self.height], "area": self.area,
             "category_id": categories[self.label], "iscrowd": 0, "source": self.source,
             "xyxy": list(self.xyxy)}
        if self.score is not None:
            d["score"] = self.score
        if self.track is not None:
            d["track_id"] = self.track  # the video-COCO field (TAO, YouTube-VIS)
        return d


def _check_fields(shape, what: str) -> None:
    """Check and normalise the fields a box and a mask share: label, source, score, track."""
    if not isinstance(shape.label, str) or not shape.label:
        raise LabelError(f"{what} label must be a non-empty string, got {shape.label!r}")
    if shape.source not in SOURCES:
        raise LabelError(f"{what} source must be one of {SOURCES}, got {shape.source!r}")
    if shape.score is not None and not (isinstance(shape.score, (int, float, np.number))
                                        and math.isfinite(shape.score)):
        raise LabelError(f"{what} score must be a finite number or None, got {shape.score!r}")
    if shape.score is not None:
        object.__setattr__(shape, "score", float(shape.score))
    if shape.track is not None:
        if isinstance(shape.track, bool) or not isinstance(shape.track, (int, np.integer)) \
                or shape.track < 0:
            raise LabelError(f"{what} track must be a non-negative integer or None, got {shape.track!r}")
        object.__setattr__(shape, "track", int(shape.track))


@dataclass(frozen=True)
class Mask:
    """One object's instance mask: one or more polygons (rings) in full-frame pixels, with
    the fields of a :class:`Box`. It covers the union of its rings (rules in
    :mod:`mm_widgets.polygons`); its box is the box around its points.

    ``polygons`` is a list of rings, each flat ``[x1, y1, x2, y2, ...]`` (COCO's layout) or
    a list of ``(x, y)`` points; it is kept as a tuple of flat tuples of floats.
    """

    polygons: tuple[Ring, ...]
    label: str
    score: float | None = None
    source: str = "human"
    #: Which object this is across frames (None: not linked).
    track: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "polygons", as_rings(self.polygons))
        _check_fields(self, "mask")

    # -- geometry -------------------------------------------------------------------------
    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        """The box around every point, ``(x1, y1, x2, y2)``."""
        return bounds(self.polygons)

    @property
    def box(self) -> Box:
        """The mask's box, with its label, score, source and track."""
        return Box(*self.xyxy, self.label, self.score, self.source, self.track)

    @property
    def area(self) -> int:
        """Pixels the mask covers (pixel centres inside it)."""
        return int(rasterise_window(self.polygons)[0].sum())

    def pixels(self, size: tuple[int, int]) -> np.ndarray:
        """The ``height x width`` boolean mask in a ``(width, height)`` frame."""
        return rasterise(self.polygons, size)

    def iou(self, other: Mask) -> float:
        """Mask IoU: pixels both cover over pixels either covers."""
        return float(mask_iou([self.polygons], [other.polygons])[0, 0])

    def check_inside(self, size: tuple[int, int], tolerance: float = 0.5) -> Mask:
        """Raise :class:`LabelError` unless every point lies inside a ``(width, height)`` frame."""
        point = point_outside(self.polygons, size, tolerance)
        if point is not None:
            raise LabelError(f"mask point ({point[0]:g}, {point[1]:g}) lies outside the "
                             f"{size[0]}x{size[1]} frame")
        return self

    # -- YOLO edge (ultralytics' segmentation lines) -----------------------------------------
    @classmethod
    def from_yolo(cls, line: str, classes: Sequence[str], size: tuple[int, int],
                  source: str = "human") -> Mask:
        """From one YOLO segmentation line ``cls x1 y1 x2 y2 ...`` (normalised to the frame)."""
        parts = line.split()
        if len(parts) < 7 or len(parts) % 2 == 0:
            raise LabelError(f"a YOLO polygon line is a class and 3 or more x y points: {line!r:.80}")
        try:
            k = int(parts[0])
            values = [float(v) for v in parts[1:]]
        except ValueError as e:
            raise LabelError(f"bad YOLO line {line!r:.80}: {e}") from e
        if not 0 <= k < len(classes):
            raise UnknownClassError(f"YOLO class id {k} is not in classes {list(classes)}")
        w, h = size
        ring = [v * (w if i % 2 == 0 else h) for i, v in enumerate(values)]
        return cls([ring], classes[k], None, source)

    def to_yolo(self, classes: Sequence[str], size: tuple[int, int]) -> str:
        """One YOLO segmentation line: the rings joined into one (YOLO has one an object)."""
        if self.label not in classes:
            raise UnknownClassError(f"class {self.label!r} is not in classes {list(classes)}")
        w, h = size
        ring = merge_rings(self.polygons)
        return " ".join([str(list(classes).index(self.label))]
                        + [repr(v / (w if i % 2 == 0 else h)) for i, v in enumerate(ring)])

    # -- COCO edge ----------------------------------------------------------------------------
    @classmethod
    def from_coco(cls, ann: dict, categories: dict[int, str], polygons=None) -> Mask:
        """From a COCO annotation with polygon ``segmentation`` (or the rings given as
        ``polygons``, e.g. traced from its RLE)."""
        if not isinstance(ann, dict):
            raise LabelError(f"a COCO annotation must be an object, got {ann!r:.60}")
        name = f"COCO annotation {ann.get('id', '?')!r:.40}"
        try:
            label = categories[ann.get("category_id")]
        except (KeyError, TypeError):
            raise UnknownClassError(f"{name}: unknown category_id {ann.get('category_id')!r:.40}") from None
        if polygons is None:
            polygons = ann.get("segmentation")
        try:
            return cls(polygons, label, ann.get("score"), ann.get("source", "human"),
                       ann.get("track_id"))
        except LabelError as e:
            raise type(e)(f"{name}: {e}") from None

    def to_coco(self, categories: dict[str, int]) -> dict:
        """A COCO annotation: polygon ``segmentation``, its ``bbox`` and pixel ``area``."""
        if self.label not in categories:
            raise UnknownClassError(f"class {self.label!r} is not in categories {list(categories)}")
        x1, y1, x2, y2 = self.xyxy
        d = {"segmentation": [list(r) for r in self.polygons], "bbox": [x1, y1, x2 - x1, y2 - y1],
             "area": self.area, "category_id": categories[self.label], "iscrowd": 0,
             "source": self.source}
        if self.score is not None:
            d["score"] = self.score
        if self.track is not None:
            d["track_id"] = self.track
        return d


def box_iou(a, b) -> np.ndarray:
    """Pairwise IoU of two lists of ``(x1, y1, x2, y2)`` boxes: an ``len(a) x len(b)`` array."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def near(a: np.ndarray, b: np.ndarray, move: float = 0.75, size: float = 1.5) -> np.ndarray:
    """``(len(a), len(b))``: boxes of about the same size (each side within ``size`` x)
    whose centres are less than ``move`` x their mean size apart."""
    wa, ha = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    wb, hb = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    ca = np.stack([(a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2], 1)
    cb = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    scale = (np.sqrt(wa * ha)[:, None] + np.sqrt(wb * hb)[None, :]) / 2
    rw = np.maximum(wa[:, None], wb[None, :]) / np.maximum(np.minimum(wa[:, None], wb[None, :]), 1e-9)
    rh = np.maximum(ha[:, None], hb[None, :]) / np.maximum(np.minimum(ha[:, None], hb[None, :]), 1e-9)
    return (dist < move * scale) & (rw <= size) & (rh <= size)


def link_tracks(df: pd.DataFrame, link_iou: float = 0.3, max_gap: int = 1) -> np.ndarray:
    """A track id per row of ``df``: rows on frames up to ``max_gap + 1`` apart that overlap
    by ``link_iou`` or more (same class) share an id. Greedy, highest IoU first."""
    track = np.full(len(df), -1, dtype=np.int64)
    if not len(df):
        return track
    frames = df["frame"].to_numpy()
    xyxy = df[["x1", "y1", "x2", "y2"]].to_numpy(float)
    labels = df["label"].to_numpy()
    rows_of = {f: np.flatnonzero(frames == f) for f in np.unique(frames)}
    last_seen: dict[int, int] = {}  # track id -> its newest row
    next_id = 0
    for f in sorted(rows_of):
        rows = rows_of[f]
        # candidate tracks: those whose newest box is 1..max_gap+1 frames back
        open_tracks = [(t, r) for t, r in last_seen.items() if 0 < f - frames[r] <= max_gap + 1]
        if open_tracks:
            prev = np.array([r for _, r in open_tracks])
            iou = box_iou(xyxy[rows], xyxy[prev])
            # A small object moving fast overlaps its last box little: a box of about the
            # same size whose centre moved less than 3/4 of its size still links, after
            # every overlap-based link (it counts as the weakest overlap that links).
            iou = np.where((iou < link_iou) & near(xyxy[rows], xyxy[prev]), link_iou, iou)
            iou = np.where(labels[rows][:, None] == labels[prev][None, :], iou, 0.0)
            # prefer the nearest frame back, then the best overlap
            gap = f - frames[prev]
            score = iou - 1e-3 * gap[None, :]
            for flat in np.argsort(-score, axis=None, kind="stable"):
                i, j = np.unravel_index(flat, score.shape)
                if iou[i, j] < link_iou:
                    break
                if track[rows[i]] >= 0 or open_tracks[j][0] in {track[r] for r in rows}:
                    continue
                track[rows[i]] = open_tracks[j][0]
        for r in rows:
            if track[r] < 0:
                track[r] = next_id
                next_id += 1
            last_seen[int(track[r])] = int(r)
    return track


def _nan_to_none(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _rings_from_cell(v):
    """The rings in one ``polygons`` cell: a list, or JSON text (a CSV's way of keeping it)."""
    if isinstance(v, str):
        import json

        try:
            return json.loads(v)
        except (json.JSONDecodeError, RecursionError):
            raise LabelError(f"a polygons cell must be a list of rings, got {v!r:.60}") from None
    return v


def _track_or_none(v) -> int | None:
    """A track id read from a table cell: NaN, ``pd.NA`` and None are "no track"."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    return v


class LabelSet:
    """Labels of one clip: boxes per frame (or a class per frame), and the looked-at frames.

    Parameters
    ----------
    classes
        The class names, in order (order gives YOLO class ids).
    task
        ``"boxes"``, ``"classes"`` or ``"masks"`` (one of :data:`LABEL_TASKS`).
    size
        ``(width, height)`` of the frames; when given, boxes (and mask points) outside the
        frame are refused.
    n_frames
        Number of frames in the clip; when given, frame indices outside it are refused.
    """

    def __init__(self, classes: Sequence[str], task: str = "boxes", *,
                 size: tuple[int, int] | None = None, n_frames: int | None = None):
        classes = list(classes)
        if not classes:
            raise LabelError("a LabelSet needs at least one class name")
        bad = [c for c in classes if not isinstance(c, str) or not c]
        if bad:
            raise LabelError(f"class names must be non-empty strings, got {bad!r}")
        for c in classes:
            check_name(c, "class name")
        if len(set(classes)) != len(classes):
            raise LabelError(f"class names repeat: {classes}")
        if task not in LABEL_TASKS:
            raise LabelError(f"task must be one of {LABEL_TASKS}, got {task!r}")
        self.classes = classes
        self.task = task
        self.size = tuple(size) if size is not None else None
        self.n_frames = n_frames
        self._boxes: dict[int, list[tuple[Box, int]]] = {}  # frame -> [(box or mask, round)]
        self._frame_class: dict[int, tuple[str, float | None, str, int]] = {}
        self._looked_at: set[int] = set()
        self._listeners: list[Callable[[int], None]] = []
        #: The project folder these labels are saved in (set by ``Project``; copies have none):
        #: ``overfit(frames, labels)`` keeps the model it trains there.
        self.project = None

    # -- change notification (a Project journals every change through this) -------------
    def on_change(self, fn: Callable[[int], None]) -> Callable[[int], None]:
        """Call ``fn(frame)`` after every change to a frame's labels; returns ``fn``."""
        self._listeners.append(fn)
        return fn

    def _changed(self, frame: int) -> None:
        for fn in list(self._listeners):
            fn(frame)

    # -- validation ----------------------------------------------------------------------
    def check_frame(self, frame) -> int:
        f = frame_number(frame)
        if f < 0 or (self.n_frames is not None and f >= self.n_frames):
            limit = f" (the clip has {self.n_frames} frames)" if self.n_frames is not None else ""
            raise FrameIndexError(f"frame {f} is out of range{limit}")
        return f

    def check_class(self, label: str) -> str:
        if label not in self.classes:
            raise UnknownClassError(f"unknown class {label!r}; known classes: {self.classes}")
        return label

    def _check_box(self, box: Box | Mask, frame: int) -> Box | Mask:
        self.check_class(box.label)
        if self.size is not None:
            try:
                box.check_inside(self.size)
            except LabelError as e:
                raise type(e)(f"frame {frame}: {e}") from None
        return box

    def require(self, task: str) -> None:
        """Raise :class:`LabelError` unless this set holds ``task`` (boxes, classes or masks)."""
        if self.task != task:
            raise LabelError(f"this LabelSet holds {self.task}, not {task}")

    # -- boxes ---------------------------------------------------------------------------
    def set_boxes(self, frame: int, boxes: Iterable[Box], *, round: int = 0) -> None:
        """Replace all boxes of ``frame`` (an empty list marks it a looked-at negative)."""
        self.require("boxes")
        self._set(frame, boxes, round, Box)

    def add_box(self, frame: int, box: Box, *, round: int = 0, looked_at: bool = True) -> None:
        """Add one box to ``frame`` (which becomes looked at unless ``looked_at=False``)."""
        self.require("boxes")
        self._add(frame, box, round, looked_at)

    def remove_box(self, frame: int, index: int) -> Box:
        self.require("boxes")
        return self._remove(frame, index, "box", "boxes")

    def _set(self, frame: int, objects: Iterable, round: int, kind: type) -> None:
        """Replace every box or mask of ``frame`` (``kind``: Box or Mask; dicts are made
        into one) and mark it looked at: what set_boxes and set_masks share."""
        frame = self.check_frame(frame)
        objects = [self._check_box(o if isinstance(o, kind) else kind(**o), frame) for o in objects]
        self._boxes[frame] = [(o, int(round)) for o in objects]
        self._looked_at.add(frame)
        self._changed(frame)

    def _add(self, frame: int, obj, round: int, looked_at: bool) -> None:
        """Add one box or mask to ``frame``: what add_box and add_mask share."""
        frame = self.check_frame(frame)
        self._check_box(obj, frame)
        self._boxes[frame] = [*self._boxes.get(frame, []), (obj, int(round))]
        if looked_at:
            self._looked_at.add(frame)
        self._changed(frame)

    def _remove(self, frame: int, index: int, what: str, plural: str):
        frame = self.check_frame(frame)
        current = self._boxes.get(frame, [])
        if not 0 <= index < len(current):
            raise LabelError(f"frame {frame} has no {what} number {index} ({len(current)} {plural})")
        removed = current[index][0]
        self._boxes[frame] = current[:index] + current[index + 1:]
        self._changed(frame)
        return removed

    def boxes(self, frame: int) -> list[Box]:
        """The boxes of ``frame`` (of a masks set: each mask's box)."""
        return [b.box if isinstance(b, Mask) else b
                for b, _ in self._boxes.get(self.check_frame(frame), [])]

    def boxes_with_rounds(self, frame: int) -> list[tuple[Box, int]]:
        """The boxes of ``frame``, each with the round it was labelled in."""
        return [(b.box if isinstance(b, Mask) else b, r)
                for b, r in self._boxes.get(self.check_frame(frame), [])]

    # -- masks ---------------------------------------------------------------------------
    def set_masks(self, frame: int, masks: Iterable[Mask], *, round: int = 0) -> None:
        """Replace all masks of ``frame`` (an empty list marks it a looked-at negative)."""
        self.require("masks")
        self._set(frame, masks, round, Mask)

    def add_mask(self, frame: int, mask: Mask, *, round: int = 0, looked_at: bool = True) -> None:
        """Add one mask to ``frame`` (which becomes looked at unless ``looked_at=False``)."""
        self.require("masks")
        self._add(frame, mask, round, looked_at)

    def remove_mask(self, frame: int, index: int) -> Mask:
        self.require("masks")
        return self._remove(frame, index, "mask", "masks")

    def masks(self, frame: int) -> list[Mask]:
        self.require("masks")
        return [m for m, _ in self._boxes.get(self.check_frame(frame), [])]

    def masks_with_rounds(self, frame: int) -> list[tuple[Mask, int]]:
        """The masks of ``frame``, each with the round it was labelled in."""
        self.require("masks")
        return list(self._boxes.get(self.check_frame(frame), []))

    # -- frame classes ------------------------------------------------------------------
    def set_class(self, frame: int, label: str, *, score: float | None = None,
                  source: str = "human", round: int = 0) -> None:
        self.require("classes")
        frame = self.check_frame(frame)
        self.check_class(label)
        if source not in SOURCES:
            raise LabelError(f"source must be one of {SOURCES}, got {source!r}")
        self._frame_class[frame] = (label, score, source, int(round))
        self._looked_at.add(frame)
        self._changed(frame)

    def frame_class(self, frame: int) -> str | None:
        entry = self._frame_class.get(self.check_frame(frame))
        return entry[0] if entry else None

    def clear_frame(self, frame: int) -> None:
        """Forget everything about ``frame``, including that it was looked at."""
        frame = self.check_frame(frame)
        self._boxes.pop(frame, None)
        self._frame_class.pop(frame, None)
        self._looked_at.discard(frame)
        self._changed(frame)

    def mark_looked_at(self, frame: int) -> None:
        frame = self.check_frame(frame)
        if frame not in self._looked_at:
            self._looked_at.add(frame)
            self._changed(frame)

    # -- views ---------------------------------------------------------------------------
    @property
    def looked_at(self) -> list[int]:
        """Frames a person labelled or reviewed (including confirmed-empty ones), sorted."""
        return sorted(self._looked_at)

    @property
    def frames(self) -> list[int]:
        """Frames that hold at least one label."""
        if self.task != "classes":
            return sorted(f for f, bs in self._boxes.items() if bs)
        return sorted(self._frame_class)

    def __len__(self) -> int:
        """Number of labels: boxes, masks, or frame classes."""
        if self.task != "classes":
            return sum(len(v) for v in self._boxes.values())
        return len(self._frame_class)

    def __contains__(self, frame) -> bool:
        return int(frame) in self._looked_at

    def __repr__(self) -> str:
        return (f"LabelSet({self.task}, {len(self)} labels on {len(self._looked_at)} looked-at "
                f"frames, classes={self.classes})")

    @property
    def df(self) -> pd.DataFrame:
        """The labels as a new DataFrame (columns as in DESIGN.md; boxes also have ``track``,
        a nullable integer; masks are boxes with a ``polygons`` column: lists of rings)."""
        if self.task == "masks":
            rows = [(f, *m.xyxy, m.label, m.score, m.source, r, m.track,
                     [list(ring) for ring in m.polygons])
                    for f in sorted(self._boxes) for m, r in self._boxes[f]]
            df = pd.DataFrame(rows, columns=[*BOX_COLUMNS, TRACK, POLYGONS])
            for c in ("x1", "y1", "x2", "y2", "score"):
                df[c] = df[c].astype(float)
            df[TRACK] = df[TRACK].astype("Int64")
        elif self.task == "boxes":
            rows = [(f, b.x1, b.y1, b.x2, b.y2, b.label, b.score, b.source, r, b.track)
                    for f in sorted(self._boxes) for b, r in self._boxes[f]]
            df = pd.DataFrame(rows, columns=[*BOX_COLUMNS, TRACK])
            for c in ("x1", "y1", "x2", "y2", "score"):
                df[c] = df[c].astype(float)
            df[TRACK] = df[TRACK].astype("Int64")
        else:
            rows = [(f, *v) for f, v in sorted(self._frame_class.items())]
            df = pd.DataFrame(rows, columns=CLASS_COLUMNS)
            df["score"] = df["score"].astype(float)
        df["frame"] = df["frame"].astype(np.int64)
        df["round"] = df["round"].astype(np.int64)
        return df

    def frame_state(self, frame: int) -> dict:
        """Everything known about one frame, as plain JSON-able data (used by the journal)."""
        frame = int(frame)
        state: dict = {"frame": frame, "looked_at": frame in self._looked_at}
        if self.task == "masks":
            state["masks"] = [[[list(ring) for ring in m.polygons], m.label, m.score, m.source, r,
                               m.track] for m, r in self._boxes.get(frame, [])]
        elif self.task == "boxes":
            state["boxes"] = [[b.x1, b.y1, b.x2, b.y2, b.label, b.score, b.source, r, b.track]
                              for b, r in self._boxes.get(frame, [])]
        else:
            entry = self._frame_class.get(frame)
            state["class"] = list(entry) if entry else None
        return state

    def apply_frame_state(self, state: dict, notify: bool = True) -> None:
        """Set one frame from :meth:`frame_state` output (replaces what was there)."""
        frame = int(state["frame"])
        if self.task == "masks":
            masks = [(Mask(polygons, label, score, source, track), int(r))
                     for polygons, label, score, source, r, track in state.get("masks", [])]
            if masks:
                self._boxes[frame] = masks
            else:
                self._boxes.pop(frame, None)
        elif self.task == "boxes":
            # journal lines written before tracks have 8 fields
            boxes = [(Box(x1, y1, x2, y2, label, score, source, *track), int(r))
                     for x1, y1, x2, y2, label, score, source, r, *track in state.get("boxes", [])]
            if boxes:
                self._boxes[frame] = boxes
            else:
                self._boxes.pop(frame, None)
        else:
            entry = state.get("class")
            if entry:
                self._frame_class[frame] = (entry[0], entry[1], entry[2], int(entry[3]))
            else:
                self._frame_class.pop(frame, None)
        if state.get("looked_at"):
            self._looked_at.add(frame)
        else:
            self._looked_at.discard(frame)
        if notify:
            self._changed(frame)

    def copy(self) -> LabelSet:
        new = LabelSet(self.classes, self.task, size=self.size, n_frames=self.n_frames)
        new._boxes = {f: list(v) for f, v in self._boxes.items()}
        new._frame_class = dict(self._frame_class)
        new._looked_at = set(self._looked_at)
        return new

    def subset(self, frames: Iterable[int]) -> LabelSet:
        """A new LabelSet with only the given frames."""
        keep = {int(f) for f in frames}
        new = LabelSet(self.classes, self.task, size=self.size, n_frames=self.n_frames)
        new._boxes = {f: list(v) for f, v in self._boxes.items() if f in keep}
        new._frame_class = {f: v for f, v in self._frame_class.items() if f in keep}
        new._looked_at = self._looked_at & keep
        return new

    # -- tracks --------------------------------------------------------------------------
    @property
    def next_track(self) -> int:
        """A track id no box here has yet (one past the largest)."""
        ids = [b.track for v in self._boxes.values() for b, _ in v if b.track is not None]
        return max(ids) + 1 if ids else 0

    def fresh_tracks(self, table: pd.DataFrame) -> pd.DataFrame:
        """A copy of a predictions ``table`` whose track ids start at :attr:`next_track`, so
        that a box taken from it never shares an id with a box already here (each
        ``predict`` call numbers its tracks from 0)."""
        table = table.copy()
        if TRACK in table.columns and len(table):
            ids = table[TRACK].astype("Int64")
            table[TRACK] = ids - ids.min() + self.next_track
        return table

    def tracked(self, link_iou: float = 0.3, max_gap: int = 1) -> LabelSet:
        """A copy in which every box has a track id: boxes that have one keep it; the others
        are linked across frames among themselves (:func:`link_tracks`) and numbered from
        :attr:`next_track`. Exports that need tracks (CVAT video, MOT) write this. Masks
        link by their boxes."""
        if self.task == "classes":
            self.require("boxes")
        new = self.copy()
        rows = [(f, k, b) for f in sorted(new._boxes) for k, (b, _) in enumerate(new._boxes[f])
                if b.track is None]
        if not rows:
            return new
        table = pd.DataFrame([(f, *b.xyxy, b.label) for f, _, b in rows],
                             columns=["frame", "x1", "y1", "x2", "y2", "label"])
        start = self.next_track
        for (f, k, b), t in zip(rows, link_tracks(table, link_iou, max_gap).tolist(), strict=True):
            entries = new._boxes[f]
            entries[k] = (replace(b, track=start + t), entries[k][1])
        return new

    # -- tables in and out ---------------------------------------------------------------
    @classmethod
    def from_df(cls, df: pd.DataFrame, classes: Sequence[str] | None = None, *,
                looked_at: Iterable[int] | None = None, size: tuple[int, int] | None = None,
                n_frames: int | None = None, source: str = "human") -> LabelSet:
        """Build from a table with ``frame, x1, y1, x2, y2[, label, ...]`` or ``frame, label``.

        An optional ``track`` column (integers; empty cells for "none") gives boxes their
        track ids; tables without it load with no tracks.

        A ``polygons`` column makes masks (each cell a list of rings, or that list as JSON
        text, as a CSV keeps it); their boxes are derived, so box columns are not needed
        and are not read.

        Missing ``label`` means a single class (the first of ``classes``, default
        ``"object"``). ``looked_at`` defaults to the frames that appear in the table.
        """
        if not isinstance(df, pd.DataFrame):
            raise LabelError(f"expected a pandas DataFrame, got {type(df).__name__}")
        if "frame" not in df.columns:
            raise LabelError(f"label table needs a 'frame' column; it has {list(df.columns)}")
        is_masks = POLYGONS in df.columns
        is_boxes = all(c in df.columns for c in ("x1", "y1", "x2", "y2")) and not is_masks
        if not is_boxes and not is_masks and "label" not in df.columns:
            raise LabelError("label table needs x1, y1, x2, y2 columns (boxes), a polygons column "
                             "(masks) or a label column (classes)")
        df = df.copy()
        if "label" not in df.columns:
            df["label"] = (list(classes) if classes else ["object"])[0]
        df["label"] = df["label"].astype(str)
        if classes is None:
            classes = list(dict.fromkeys(df["label"].tolist())) or ["object"]
        task = "masks" if is_masks else "boxes" if is_boxes else "classes"
        labels = cls(classes, task, size=size, n_frames=n_frames)
        for c in ("score", "source", "round"):
            if c not in df.columns:
                df[c] = {"score": None, "source": source, "round": 0}[c]
        for frame, group in df.groupby("frame", sort=True):
            frame = labels.check_frame(frame)
            if is_masks:
                tracks = (group[TRACK].tolist() if TRACK in group.columns
                          else [None] * len(group))
                labels._boxes[frame] = [
                    (labels._check_box(Mask(_rings_from_cell(p), r.label, _nan_to_none(r.score),
                                            r.source, _track_or_none(t)), frame), int(r.round))
                    for r, p, t in zip(group.itertuples(index=False), group[POLYGONS], tracks,
                                       strict=True)
                ]
            elif is_boxes:
                tracks = (group[TRACK].tolist() if TRACK in group.columns
                          else [None] * len(group))
                boxes = [
                    (labels._check_box(Box(r.x1, r.y1, r.x2, r.y2, r.label,
                                           _nan_to_none(r.score), r.source, _track_or_none(t)),
                                       frame), int(r.round))
                    for r, t in zip(group.itertuples(index=False), tracks, strict=True)
                ]
                labels._boxes[frame] = boxes
            else:
                r = group.iloc[-1]
                labels.check_class(r["label"])
                labels._frame_class[frame] = (r["label"], _nan_to_none(r["score"]), r["source"],
                                              int(r["round"]))
            labels._looked_at.add(frame)
        if looked_at is not None:
            labels._looked_at |= {labels.check_frame(f) for f in looked_at}
        return labels

    @classmethod
    def from_csv(cls, path: str | Path, classes: Sequence[str] | None = None, **kw) -> LabelSet:
        """Read a CSV like ``frame,x1,y1,x2,y2[,label]`` (e.g. the bunny ground truth)."""
        path = Path(path)
        if not path.exists():
            raise LabelError(f"label file not found: {path}")
        try:
            df = pd.read_csv(path, comment="#")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise LabelError(f"cannot read {path} as CSV: {e}") from e
        return cls.from_df(df, classes, **kw)

    def equals(self, other: LabelSet) -> bool:
        """Same classes, task, looked-at frames and labels (rounds included)."""
        return (self.classes == other.classes and self.task == other.task
                and self._looked_at == other._looked_at
                and {f: v for f, v in self._boxes.items() if v}
                == {f: v for f, v in other._boxes.items() if v}
                and self._frame_class == other._frame_class)

