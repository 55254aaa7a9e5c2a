"""Tracks as video annotation tools store them: keyframes, with the frames between them
interpolated, and an "outside" mark where an object leaves.

CVAT and Label Studio both interpolate a box linearly between two keyframes. A box of a
track is written as a keyframe unless it lies on the straight line between its neighbours
on the frames just before and after it: then the tool's own interpolation reproduces it,
and it stays an interpolated frame there.
"""

from __future__ import annotations

from ..errors import LabelError
from ..labels import Box, LabelSet

#: A box within this many pixels of the straight line between its neighbours is interpolated.
ON_LINE = 1e-6


def tracks_of(labels: LabelSet) -> dict[int, list[tuple[int, Box]]]:
    """``{track id: [(frame, box), ...]}`` in frame order, every box in one track
    (:meth:`LabelSet.tracked` links the boxes that have none); masks for a set of masks."""
    tracked = labels.tracked()
    out: dict[int, list[tuple[int, Box]]] = {}
    for f in tracked.frames:
        for b in tracked.masks(f) if tracked.task == "masks" else tracked.boxes(f):
            out.setdefault(b.track, []).append((f, b))
    for t, boxes in out.items():
        frames = [f for f, _ in boxes]
        if len(set(frames)) != len(frames):
            twice = sorted({f for f in frames if frames.count(f) > 1})
            raise LabelError(f"track {t} has two boxes on frame {twice[0]}: a track is one object")
        if len({b.label for _, b in boxes}) > 1:
            raise LabelError(f"track {t} holds boxes of classes {sorted({b.label for _, b in boxes})}: "
                             "a track is one object of one class")
    return dict(sorted(out.items()))


def runs(boxes: list[tuple[int, Box]]) -> list[list[tuple[int, Box]]]:
    """A track's boxes cut where frames are missing: each run is on consecutive frames."""
    out: list[list[tuple[int, Box]]] = []
    for f, b in boxes:
        if out and out[-1][-1][0] == f - 1:
            out[-1].append((f, b))
        else:
            out.append([(f, b)])
    return out


def keyframes(run: list[tuple[int, Box]]) -> list[bool]:
    """For each box of a run: must it be a keyframe? The ends always are; a box between
    two others is not when it lies on the line between them (zero second difference, so a
    stretch of such boxes is linear in time and interpolation gives every one back)."""
    flags = [True] * len(run)
    for k in range(1, len(run) - 1):
        a, b, c = (run[k + d][1].xyxy for d in (-1, 0, 1))
        flags[k] = any(abs(p + r - 2 * q) > 2 * ON_LINE for p, q, r in zip(a, b, c))
    return flags


def interpolate_box(a: Box, b: Box, t: float) -> Box:
    """The box a fraction ``t`` of the way from ``a`` to ``b`` (``a``'s class and track)."""
    return Box(*(p + (q - p) * t for p, q in zip(a.xyxy, b.xyxy)), a.label, None, a.source, a.track)


def fill(labels: LabelSet, boxes: dict[int, list[Box]], looked: set[int]) -> LabelSet:
    """Put the boxes (or masks) read from a file (``{frame: [Box]}``) into ``labels``, frame
    by frame, and mark the frames ``looked`` at (frames with boxes and empty frames a
    person checked)."""
    add = labels.add_mask if labels.task == "masks" else labels.add_box
    for f in sorted(boxes):
        for b in boxes[f]:
            add(f, b, looked_at=f in looked)
    for f in sorted(looked):
        labels.mark_looked_at(f)
    return labels
