"""Instance masks as polygons: checking rings, filling them into pixels, tracing pixels back.

Why polygons are the stored truth, not pixel masks or RLE: a person labels a mask by
clicking vertices and corrects one by dragging a vertex, so what they made and what they
change is a short list of points; a polygon holds it at full-frame precision at any frame
size, is small in a journal and a table, and every hand-off format takes it (COCO, YOLO
segmentation, CVAT). Run-length encoding is a packing of one rasterisation at one frame
size: it is written at export (COCO's ``{"size", "counts"}``), never kept.

The rules, in full-frame pixel coordinates (those of boxes):

- A *ring* is a flat ``(x1, y1, x2, y2, ...)`` of at least three points; a mask instance
  is one or more rings and covers the union of what its rings cover (COCO's rule).
- Pixel ``(column c, row r)`` is the square ``[c, c + 1) x [r, r + 1)``; a ring covers it
  when the pixel's centre ``(c + 0.5, r + 0.5)`` is inside the ring. pycocotools fills
  COCO polygons on the same grid (a square from 2 to 6 covers pixels 2 to 5), and fills
  traced polygons pixel for pixel as :func:`rasterise` does (tested).
- Inside a ring is non-zero winding. A ring may therefore walk into a hole and back along
  a zero-width cut (a "keyhole"): the cut covers nothing and the hole stays empty. That is
  how formats without holes (COCO polygons, YOLO, CVAT) keep the visible part of an object
  with another in front of it. :func:`polygons_from_mask` traces pixel edges, so a mask
  made of pixels comes back from its polygons exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import LabelError

Ring = tuple[float, ...]


def as_rings(polygons, what: str = "mask") -> tuple[Ring, ...]:
    """``polygons`` as a tuple of flat rings of floats, or a :class:`LabelError` naming the
    problem. Each ring may be flat ``[x1, y1, x2, y2, ...]`` or a list of ``(x, y)`` points."""
    if isinstance(polygons, (str, bytes, dict)) or not isinstance(polygons, (Sequence, np.ndarray)):
        raise LabelError(f"{what} polygons must be a list of rings [x1, y1, x2, y2, ...], "
                         f"got {polygons!r:.60}")
    if len(polygons) == 0:
        raise LabelError(f"{what} has no polygon: it needs at least one ring of 3 points")
    rings = []
    for k, ring in enumerate(polygons):
        try:
            values = np.asarray(ring, dtype=float)
        except (TypeError, ValueError):
            raise LabelError(f"{what} ring {k} must hold numbers, got {ring!r:.60}") from None
        if values.ndim == 2 and values.shape[1:] == (2,):
            values = values.ravel()
        if values.ndim != 1 or len(values) % 2:
            raise LabelError(f"{what} ring {k} must be flat [x1, y1, x2, y2, ...] (an even count "
                             f"of numbers) or (x, y) points, got {ring!r:.60}")
        if len(values) < 6:
            raise LabelError(f"{what} ring {k} has {len(values) // 2} points; a polygon needs at "
                             "least 3")
        if not np.isfinite(values).all():
            raise LabelError(f"{what} ring {k} holds a coordinate that is not a finite number")
        if ring_area(values) == 0:
            raise LabelError(f"{what} ring {k} has no area: its points lie on one line")
        rings.append(tuple(float(v) for v in values))
    return tuple(rings)


def ring_area(ring) -> float:
    """Signed area of one ring (shoelace): positive when it runs clockwise on the screen."""
    p = np.asarray(ring, dtype=float).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2


def bounds(rings: Sequence[Ring]) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)``: the box around every point of ``rings``."""
    xs = [v for r in rings for v in r[0::2]]
    ys = [v for r in rings for v in r[1::2]]
    return min(xs), min(ys), max(xs), max(ys)


def point_outside(rings: Sequence[Ring], size: tuple[int, int],
                  tolerance: float = 0.5) -> tuple[float, float] | None:
    """The first point of ``rings`` outside a ``(width, height)`` frame, or None."""
    w, h = size
    for ring in rings:
        for x, y in zip(ring[0::2], ring[1::2]):
            if not (-tolerance <= x <= w + tolerance and -tolerance <= y <= h + tolerance):
                return x, y
    return None


def _window(rings, size) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = bounds(rings)
    c0, r0, c1, r1 = math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)
    if size is not None:
        c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, size[0]), min(r1, size[1])
    return c0, r0, max(c1, c0), max(r1, r0)


def _fill(ring: Ring, c0: int, r0: int, w: int, h: int) -> np.ndarray:
    """Pixels of a ``w x h`` window at ``(c0, r0)`` whose centres one ring winds around."""
    p = np.asarray(ring, dtype=float).reshape(-1, 2) - (c0, r0)
    a, b = p, np.roll(p, -1, axis=0)
    lo, hi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    # rows whose centre y = r + 0.5 lies in [lo, hi): r from ceil(lo - 0.5) to ceil(hi - 0.5) - 1
    first = np.clip(np.ceil(lo - 0.5), 0, h).astype(np.int64)
    stop = np.clip(np.ceil(hi - 0.5), 0, h).astype(np.int64)
    n = np.maximum(stop - first, 0)
    acc = np.zeros((h, w + 1), dtype=np.int32)
    if n.sum():
        edge = np.repeat(np.arange(len(p)), n)
        row = first[edge] + np.arange(len(edge)) - np.repeat(np.cumsum(n) - n, n)
        ya, yb, xa, xb = a[edge, 1], b[edge, 1], a[edge, 0], b[edge, 0]
        x = xa + (row + 0.5 - ya) / (yb - ya) * (xb - xa)
        # a crossing at x winds every pixel whose centre lies right of it
        col = np.clip(np.floor(x - 0.5).astype(np.int64) + 1, 0, w)
        np.add.at(acc, (row, col), np.where(yb > ya, 1, -1).astype(np.int32))
    return np.cumsum(acc, axis=1)[:, :w] != 0


def rasterise_window(rings: Sequence[Ring], size: tuple[int, int] | None = None
                     ) -> tuple[np.ndarray, int, int]:
    """``(pixels, column, row)``: the mask over the smallest window holding it (cut to a
    ``(width, height)`` frame when given) and the window's top-left pixel."""
    c0, r0, c1, r1 = _window(rings, size)
    out = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    for ring in rings:
        out |= _fill(ring, c0, r0, c1 - c0, r1 - r0)
    return out, c0, r0


def rasterise(rings: Sequence[Ring], size: tuple[int, int]) -> np.ndarray:
    """The ``height x width`` boolean mask that ``rings`` cover in a ``(width, height)`` frame."""
    w, h = size
    window, c0, r0 = rasterise_window(rings, size)
    out = np.zeros((h, w), dtype=bool)
    out[r0:r0 + window.shape[0], c0:c0 + window.shape[1]] = window
    return out


def mask_iou(a: Sequence[Sequence[Ring]], b: Sequence[Sequence[Ring]]) -> np.ndarray:
    """Pairwise mask IoU of two lists of masks (each a list of rings): ``len(a) x len(b)``."""
    wa = [rasterise_window(m) for m in a]
    wb = [rasterise_window(m) for m in b]
    out = np.zeros((len(a), len(b)))
    for i, (pa, ca, ra) in enumerate(wa):
        area_a = int(pa.sum())
        for j, (pb, cb, rb) in enumerate(wb):
            c0, r0 = max(ca, cb), max(ra, rb)
            c1 = min(ca + pa.shape[1], cb + pb.shape[1])
            r1 = min(ra + pa.shape[0], rb + pb.shape[0])
            inter = 0
            if c1 > c0 and r1 > r0:
                inter = int((pa[r0 - ra:r1 - ra, c0 - ca:c1 - ca]
                             & pb[r0 - rb:r1 - rb, c0 - cb:c1 - cb]).sum())
            union = area_a + int(pb.sum()) - inter
            out[i, j] = inter / union if union else 0.0
    return out


def edge_count(mask: np.ndarray) -> int:
    """How many pixel edges separate ``mask`` from the rest: the most points its traced
    polygons can have (readers check it before tracing a mask read from a file)."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    return int((m[1:, :] != m[:-1, :]).sum() + (m[:, 1:] != m[:, :-1]).sum())


def polygons_from_mask(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> tuple[Ring, ...]:
    """The rings of a boolean ``height x width`` mask, traced along pixel edges: one ring
    per 4-connected region, its holes joined to it by zero-width cuts, so that
    :func:`rasterise` gives the mask back exactly. ``offset`` ``(column, row)`` is added
    to every point (the mask's place in the frame). Empty mask: no rings."""
    import cv2

    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise LabelError(f"a mask is a 2-D array of pixels, got shape {mask.shape}")
    if not mask.any():
        return ()
    n, regions, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    rings = []
    for k in range(1, n):
        x, y, w, h = (int(v) for v in stats[k, :4])
        loops = _loops(regions[y:y + h, x:x + w] == k)
        ring = _join(loops) + (x + offset[0], y + offset[1])
        rings.append(tuple(float(v) for v in ring.ravel()))
    return tuple(rings)


def _loops(mask: np.ndarray) -> list[np.ndarray]:
    """The closed loops of pixel edges around a region, corners only, ``(n, 2)`` ints each;
    each pixel's square runs top-left, top-right, bottom-right, bottom-left, so an outer
    loop has positive :func:`ring_area` and a hole's is negative."""
    h, w = mask.shape
    m = np.pad(mask, 1)
    inside = m[1:-1, 1:-1]
    starts, ends = [], []
    # (neighbour that must be outside, edge start corner, edge end corner) per side
    for dr, dc, (sx, sy), (ex, ey) in ((-1, 0, (0, 0), (1, 0)), (0, 1, (1, 0), (1, 1)),
                                       (1, 0, (1, 1), (0, 1)), (0, -1, (0, 1), (0, 0))):
        edge = inside & ~m[1 + dr:h + 1 + dr, 1 + dc:w + 1 + dc]
        r, c = np.nonzero(edge)
        starts.append(np.stack([c + sx, r + sy], 1))
        ends.append(np.stack([c + ex, r + ey], 1))
    start, end = np.concatenate(starts), np.concatenate(ends)
    key = start[:, 1] * (w + 1) + start[:, 0]
    out_of: dict[int, list[int]] = {}
    for e in np.argsort(key, kind="stable").tolist():
        out_of.setdefault(int(key[e]), []).append(e)
    used = np.zeros(len(start), dtype=bool)
    loops = []
    for first in range(len(start)):
        if used[first]:
            continue
        points, e = [], first
        while not used[e]:
            used[e] = True
            points.append(start[e])
            x, y = end[e]
            nxt = [k for k in out_of[int(y * (w + 1) + x)] if not used[k]]
            if not nxt:
                break
            e = nxt[0]
        p = np.array(points)
        turn = np.any(np.roll(p, -1, 0) - p != p - np.roll(p, 1, 0), axis=1)  # keep corners
        loops.append(p[turn])
    return loops


def _join(loops: list[np.ndarray]) -> np.ndarray:
    """One ring from several loops: each further loop is entered from the nearest point of
    the ring so far and left the same way (a zero-width cut, covering no pixel)."""
    outer = max(range(len(loops)), key=lambda k: ring_area(loops[k].ravel()))
    ring = loops[outer]
    for loop in loops[:outer] + loops[outer + 1:]:
        ring = _cut_into(ring, loop)
    return ring


def _cut_into(ring: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """``ring`` walking to ``loop`` at their nearest points, around it, and back."""
    d = ((ring[:, None, :] - loop[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return np.concatenate([ring[:i + 1], loop[j:], loop[:j + 1], ring[i:]])


def merge_rings(rings: Sequence[Ring]) -> Ring:
    """One ring covering what ``rings`` cover, for formats with one polygon an object
    (YOLO, CVAT): each further ring joined by a zero-width cut from the nearest point.
    Exact when the rings do not overlap (traced rings never do)."""
    if len(rings) == 1:
        return tuple(rings[0])
    loops = [np.asarray(r, dtype=float).reshape(-1, 2) for r in rings]
    # a loop running the other way would cancel what it overlaps: all run like the first
    sign = math.copysign(1, ring_area(loops[0].ravel()))
    loops = [p if math.copysign(1, ring_area(p.ravel())) == sign else p[::-1] for p in loops]
    ring = loops[0]
    for loop in loops[1:]:
        ring = _cut_into(ring, loop)
    return tuple(float(v) for v in ring.ravel())
