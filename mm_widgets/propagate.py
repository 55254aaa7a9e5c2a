"""Proposals for a frame: the model's detections fused with boxes carried from confirmed frames.

A micro-model predicts every frame on its own; a person confirms frames one at a time. A
box the person fixed on frame t says a lot about frame t+1 before any retraining: the same
object is there, a few pixels away. :class:`Proposer` turns the three sources of what is
known into the boxes shown on a frame:

- the model's raw detections on that frame (one call of ``model.predict`` per frame,
  whatever the blocks: the same boxes however the calls were cut);
- the boxes of the nearest confirmed frames, carried to the frame: linearly between two
  confirmed frames when both hold the object (keyframe interpolation), else moved from
  the nearer one by the median optical flow of points inside the box (the "median flow"
  of Kalal et al., ICPR 2010: pyramidal Lucas-Kanade, forward-backward checked);
- a fusion step (:func:`fuse`): a detection that overlaps a carried box refines it, a
  carried box fills a detector miss, a detection with no carried box starts a new object
  unless the confirmed frames on both sides, close by, say nothing is there.

Nothing here trains: proposals change the moment a frame is confirmed. The review widget
and :func:`mm_widgets.simulate` both ask a :class:`Proposer`, so a person and the oracle
see the same boxes for the same labels. Track ids: a carried box keeps the id of the
confirmed box it came from; a new detection gets a fresh id, numbered from the labels'
:meth:`~mm_widgets.labels.LabelSet.next_track` by the raw detections' own linking (the
same ids whichever order frames are asked in).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .labels import Box, LabelSet, box_iou

#: A box moved by optical flow whose new content correlates less than this with the old
#: is dropped (median flow's own check: Kalal et al. use normalised cross-correlation).
MIN_SIMILARITY = 0.3

#: Confirmed frames further away than this carry nothing (a guess that far off is worse
#: than the detector's alone).
MAX_CARRY = 8

#: A detection and a carried box overlapping this much are the same object.
SAME_OBJECT_IOU = 0.3
#: A proposal this close to the box a person kept saved them an action (the counting
#: rule's ``tight_iou``).
TIGHT_IOU = 0.75
#: Proposals of a kind are shown while kept + this >= deleted on the frames confirmed so
#: far: a kind starts trusted and loses it after this many more deletes than keeps.
TRUST_PRIOR = 2


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def flow_boxes(a: np.ndarray, b: np.ndarray, boxes: Sequence[Box], *, grid: int = 10,
               max_fb: float = 1.5) -> list[Box | None]:
    """Move ``boxes`` of gray image ``a`` to gray image ``b`` by median optical flow.

    Points on a ``grid x grid`` lattice inside each box are tracked forward and back with
    pyramidal Lucas-Kanade; points that do not come back within ``max_fb`` pixels are
    dropped; the box moves by the median displacement of the rest and scales by the
    median ratio of their pairwise distances. A box where fewer than a quarter of the
    points (or 4) come back gives None: nothing trustworthy to say (the object changed,
    or the frames are not neighbours in one shot).
    """
    import cv2

    if not boxes:
        return []
    pts, owner = [], []
    for k, bx in enumerate(boxes):
        xs = np.linspace(bx.x1, bx.x2, grid + 2)[1:-1]
        ys = np.linspace(bx.y1, bx.y2, grid + 2)[1:-1]
        gx, gy = np.meshgrid(xs, ys)
        pts.append(np.stack([gx.ravel(), gy.ravel()], 1))
        owner.append(np.full(gx.size, k))
    p0 = np.concatenate(pts).astype(np.float32).reshape(-1, 1, 2)
    owner = np.concatenate(owner)
    lk = dict(winSize=(21, 21), maxLevel=4,
              criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **lk)
    p0r, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **lk)
    fb = np.linalg.norm((p0 - p0r).reshape(-1, 2), axis=1)
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < max_fb)
    p0, p1 = p0.reshape(-1, 2), p1.reshape(-1, 2)
    out: list[Box | None] = []
    for k, bx in enumerate(boxes):
        m = good & (owner == k)
        if m.sum() < max(4, (owner == k).sum() // 4):
            out.append(None)
            continue
        q0, q1 = p0[m], p1[m]
        dx, dy = np.median(q1 - q0, axis=0)
        i, j = np.triu_indices(len(q0), 1)
        d0 = np.linalg.norm(q0[i] - q0[j], axis=1)
        d1 = np.linalg.norm(q1[i] - q1[j], axis=1)
        keep = d0 > 1e-3
        s = float(np.median(d1[keep] / d0[keep])) if keep.any() else 1.0
        s = float(np.clip(s, 0.8, 1.25))
        cx, cy = (bx.x1 + bx.x2) / 2 + dx, (bx.y1 + bx.y2) / 2 + dy
        w, h = bx.width * s / 2, bx.height * s / 2
        moved = (float(cx - w), float(cy - h), float(cx + w), float(cy + h))
        if similarity(a, bx.xyxy, b, moved) < MIN_SIMILARITY:
            out.append(None)  # what is there now does not look like what was
            continue
        out.append(replace(bx, x1=moved[0], y1=moved[1], x2=moved[2], y2=moved[3]))
    return out


def similarity(a: np.ndarray, box_a, b: np.ndarray, box_b, side: int = 24) -> float:
    """Normalised cross-correlation of two boxes' contents (gray images ``a`` and ``b``),
    each resized to ``side x side``: 1 for the same look, about 0 for unrelated ones."""
    import cv2

    patches = []
    for img, (x1, y1, x2, y2) in ((a, box_a), (b, box_b)):
        h, w = img.shape[:2]
        x1, y1 = max(int(x1), 0), max(int(y1), 0)
        x2, y2 = min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return 0.0
        patches.append(cv2.resize(img[y1:y2, x1:x2], (side, side),
                                  interpolation=cv2.INTER_AREA).astype(float).ravel())
    p, q = (v - v.mean() for v in patches)
    denom = np.sqrt((p * p).sum() * (q * q).sum())
    return float((p * q).sum() / denom) if denom > 0 else 0.0


def pair_boxes(a: Sequence[Box], b: Sequence[Box]) -> list[tuple[int, int]]:
    """Pair the boxes of two confirmed frames that are one object: the same track id, else
    the same class and the nearest centres (keyframe interpolation's linking)."""
    from .interpolate import link_boxes

    pairs = [(i, j) for i, x in enumerate(a) for j, y in enumerate(b)
             if x.track is not None and x.track == y.track and x.label == y.label]
    used_a, used_b = {i for i, _ in pairs}, {j for _, j in pairs}
    rest_a = [i for i in range(len(a)) if i not in used_a]
    rest_b = [j for j in range(len(b)) if j not in used_b]
    for p, q in link_boxes([a[i] for i in rest_a], [b[j] for j in rest_b]):
        pairs.append((rest_a[p], rest_b[q]))
    return sorted(pairs)


@dataclass
class Proposal:
    """One box proposed on a frame, with where it came from.

    ``kind``: ``"fused"`` (a detection on a box carried from confirmed frames), ``"carried"``
    (a carried box no detection overlaps: the detector missed it) or ``"new"`` (a detection
    nothing carried overlaps: an object entering, or a false alarm). ``estimates``: each
    source's own guess of the box (``"detection"``, ``"flow"``, ``"velocity"``,
    ``"interpolated"``) and ``"combined"``, the box shown by default.
    """

    box: Box
    kind: str
    estimates: dict[str, tuple[float, ...]] = field(default_factory=dict)


def fuse(carried: Sequence[tuple[Box, dict]], detected: Sequence[Box], size: tuple[int, int], *,
         same_iou: float = SAME_OBJECT_IOU) -> list[Proposal]:
    """One frame's proposals from boxes carried from confirmed frames (each with its
    estimates by source) and the model's detections.

    A carried box and a detection of the same class overlapping by ``same_iou`` or more
    are one object (``"fused"``): the box is :func:`combine` of every estimate, the track
    id the carried box's. A carried box no detection overlaps stays (``"carried"``) unless
    less than 40% of it is still inside the frame (it is leaving). A detection nothing
    carried overlaps is ``"new"``.
    """
    w, h = size
    boxes = [c for c, _ in carried]
    if boxes and detected:
        iou = box_iou([c.xyxy for c in boxes], [d.xyxy for d in detected])
        same = np.array([[c.label == d.label for d in detected] for c in boxes])
        iou = np.where(same, iou, 0.0)
    else:
        iou = np.zeros((len(boxes), len(detected)))
    out: list[Proposal] = []
    used_c: set[int] = set()
    used_d: set[int] = set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = (int(v) for v in np.unravel_index(flat, iou.shape))
        if iou[i, j] < same_iou:
            break
        if i in used_c or j in used_d:
            continue
        used_c.add(i)
        used_d.add(j)
        d, (c, own) = detected[j], carried[i]
        est = {**own, "detection": d.xyxy}
        est["combined"] = combine(list(est.values()))
        out.append(Proposal(Box(*est["combined"], d.label, d.score, "model", c.track), "fused", est))
    for i, (c, own) in enumerate(carried):
        if i in used_c:
            continue
        clipped = c.clipped((w, h))
        if clipped is None or clipped.area < 0.4 * max(c.area, 1e-9):
            continue
        out.append(Proposal(replace(clipped, source="carried"), "carried",
                            {**own, "combined": c.xyxy}))
    out += [Proposal(d, "new", {"detection": d.xyxy, "combined": d.xyxy})
            for j, d in enumerate(detected) if j not in used_d]
    return out


def best_match(box: Box, kept: Sequence[Box]) -> tuple[float, Box | None]:
    """The box of ``kept`` of ``box``'s class that overlaps it most, and that IoU (0 and
    None when there is none)."""
    same = [k for k in kept if k.label == box.label]
    if not same:
        return 0.0, None
    ious = box_iou([box.xyxy], [k.xyxy for k in same])[0]
    return float(ious.max()), same[int(ious.argmax())]


def combine(estimates: Sequence) -> tuple[float, ...]:
    """One box from several estimates of it: the mean of two, the per-edge median of three
    or more (one estimate far off does not move it)."""
    a = np.asarray(estimates, dtype=float).reshape(-1, 4)
    return tuple(float(v) for v in (np.median(a, 0) if len(a) >= 3 else a.mean(0)))


class Proposer:
    """The boxes to show on any frame: raw detections fused with what people confirmed.

    Parameters
    ----------
    frames
        The clip (images for the optical flow).
    labels
        The confirmed labels (a LabelSet, read live: a frame confirmed a moment ago
        counts at once). Its looked-at frames are the confirmed ones.
    detections
        ``frame -> [Box]``: the model's raw boxes per frame (a mapping, or a callable that
        predicts on demand), or None for carried boxes only.
    max_carry
        Confirmed frames further than this from a frame carry nothing to it.
    """

    def __init__(self, frames, labels: LabelSet,
                 detections: Mapping[int, list[Box]] | Callable[[int], list[Box]] | None = None,
                 *, max_carry: int = MAX_CARRY, ghost_gap: int = 3, reject_carry: int = 1,
                 learn: bool = True):
        self.frames, self.labels = frames, labels
        self.detections = detections
        self.max_carry = int(max_carry)
        self.ghost_gap, self.reject_carry, self.learn = int(ghost_gap), int(reject_carry), learn
        self._gray: OrderedDict[int, np.ndarray] = OrderedDict()
        #: frame -> boxes shown there that the person deleted (see :meth:`confirmed`)
        self.rejected: dict[int, list[Box]] = {}
        #: what each kind of proposal did on the frames confirmed so far: kept, deleted
        self.trust: dict[tuple, tuple[int, int]] = {}
        #: per kind of proposal, how often each source's box was tight on the kept box
        self.tight: dict[str, dict[str, int]] = {}
        self._made: dict[int, list[Proposal]] = {}

    def confirmed(self, f: int, shown: Sequence[Box], kept: Sequence[Box]) -> None:
        """Frame ``f`` was confirmed: ``shown`` were the proposals, ``kept`` what the person
        left. A proposal nothing kept overlaps was deleted: the object the model saw
        there is not one the person wants, and the same detection on the frames around
        (where the deleted box is carried) is not proposed again."""
        gone = [b for b in shown if best_match(b, kept)[0] < SAME_OBJECT_IOU]
        if gone:
            self.rejected[int(f)] = gone
        else:
            self.rejected.pop(int(f), None)
        self._learn(int(f), kept)

    # -- sources ------------------------------------------------------------------------
    def detected(self, f: int) -> list[Box]:
        """The model's raw boxes on frame ``f`` (none without a model)."""
        if self.detections is None:
            return []
        if callable(self.detections):
            return list(self.detections(f))
        return list(self.detections.get(f, []))

    def gray(self, f: int) -> np.ndarray:
        if f in self._gray:
            self._gray.move_to_end(f)
            return self._gray[f]
        g = _gray(self.frames[f])
        self._gray[f] = g
        if len(self._gray) > 16:
            self._gray.popitem(last=False)
        return g

    def neighbours(self, f: int) -> tuple[int | None, int | None]:
        """The nearest confirmed frames before and after ``f`` within ``max_carry``."""
        looked = self.labels.looked_at  # sorted
        i = bisect_left(looked, f)
        before = looked[i - 1] if i > 0 and f - looked[i - 1] <= self.max_carry else None
        j = i + 1 if i < len(looked) and looked[i] == f else i
        after = looked[j] if j < len(looked) and looked[j] - f <= self.max_carry else None
        return before, after

    def carry(self, f: int) -> list[tuple[Box, dict]]:
        """Boxes of the nearest confirmed frames carried to frame ``f``, each with the
        estimates it was made from: interpolated between a confirmed frame before and one
        after where both hold the object; otherwise moved from the nearer one by optical
        flow and, where the confirmed frame beyond it holds the object too, by the
        object's own velocity between the two."""
        before, after = self.neighbours(f)
        a = self.labels.boxes(before) if before is not None else []
        b = self.labels.boxes(after) if after is not None else []
        out: list[tuple[Box, dict]] = []
        pairs = pair_boxes(a, b) if a and b else []
        t = (f - before) / (after - before) if pairs else 0.0
        for i, j in pairs:
            xyxy = (1 - t) * np.array(a[i].xyxy) + t * np.array(b[j].xyxy)
            near = a[i] if t <= 0.5 else b[j]
            out.append((Box(*xyxy.tolist(), near.label, None, "carried", near.track),
                        {"interpolated": tuple(xyxy.tolist())}))
        lone_a = [a[i] for i in range(len(a)) if i not in {p for p, _ in pairs}]
        lone_b = [b[j] for j in range(len(b)) if j not in {q for _, q in pairs}]
        # An object on one side only: it entered or left in between; carry it from its side
        # only when that side is the nearer one (or the only one).
        if before is not None and lone_a and (after is None or f - before <= after - f):
            out += self._moved(before, f, lone_a, -1)
        if after is not None and lone_b and (before is None or after - f < f - before):
            out += self._moved(after, f, lone_b, +1)
        return [(replace(bx, score=None, source="carried"), est) for bx, est in out]

    def _moved(self, g: int, f: int, boxes: list[Box], side: int) -> list[tuple[Box, dict]]:
        """``boxes`` of confirmed frame ``g`` moved to ``f``: by flow, and by velocity from
        the next confirmed frame further out on ``side`` (-1: before ``g``)."""
        flowed = flow_boxes(self.gray(g), self.gray(f), boxes)
        beyond = self._beyond(g, side)
        velocity: dict[int, np.ndarray] = {}
        if beyond is not None:
            far = self.labels.boxes(beyond)
            for i, j in pair_boxes(boxes, far):
                step = (np.array(boxes[i].xyxy) - np.array(far[j].xyxy)) / abs(g - beyond)
                guess = np.array(boxes[i].xyxy) + step * abs(f - g)
                if guess[2] - guess[0] >= 1 and guess[3] - guess[1] >= 1:
                    velocity[i] = guess
        out = []
        for i, bx in enumerate(boxes):
            if flowed[i] is None and (i not in velocity or similarity(
                    self.gray(g), bx.xyxy, self.gray(f), velocity[i]) < MIN_SIMILARITY):
                continue  # nothing in the images says the object is still there
            est = {}
            if flowed[i] is not None:
                est["flow"] = flowed[i].xyxy
            if i in velocity:
                est["velocity"] = tuple(velocity[i].tolist())
            if not est:
                continue
            out.append((Box(*combine(list(est.values())), bx.label, None, "carried", bx.track), est))
        return out

    def _beyond(self, g: int, side: int) -> int | None:
        """The confirmed frame next to confirmed frame ``g`` on ``side``, within reach."""
        looked = self.labels.looked_at
        k = bisect_left(looked, g) + side
        if 0 <= k < len(looked) and abs(looked[k] - g) <= self.max_carry:
            return looked[k]
        return None

    def unwanted(self, f: int, before: int | None, after: int | None) -> list[Box]:
        """Boxes people deleted on the nearest confirmed frame(s), carried to ``f``."""
        out = []
        for g in (before, after):
            if g is not None and self.rejected.get(g) and abs(f - g) <= self.reject_carry:
                moved = flow_boxes(self.gray(g), self.gray(f), self.rejected[g])
                out += [m if m is not None else b for m, b in zip(moved, self.rejected[g])]
        return out

    def proposals(self, f: int) -> list[Proposal]:
        """Frame ``f``'s proposals with where each came from (none on a confirmed frame)."""
        f = int(f)
        if f in self.labels:
            return []
        before, after = self.neighbours(f)
        made = fuse(self.carry(f), self.detected(f), self.frames.size)
        unwanted = self.unwanted(f, before, after)
        if unwanted:
            # a new detection where a person deleted one on the nearest confirmed frame
            made = [p for p in made if p.kind != "new"
                    or box_iou([p.box.xyxy], [u.xyxy for u in unwanted]).max() < SAME_OBJECT_IOU]
        if self.ghost_gap and before is not None and after is not None \
                and after - before <= self.ghost_gap:
            # a new detection where the confirmed frames on both sides, close by, hold
            # nothing there is a ghost of the model: trust the people
            near = self.labels.boxes(before) + self.labels.boxes(after)
            made = [p for p in made if p.kind != "new"
                    or (near and box_iou([p.box.xyxy], [n.xyxy for n in near]).max() > 0.1)]
        made = [p for p in made if self.trusted(p)]
        out = []
        for p in made:
            est = p.estimates.get(self.best_estimate(p.kind), p.estimates["combined"])
            box = replace(p.box, x1=est[0], y1=est[1], x2=est[2], y2=est[3]).clipped(self.frames.size)
            if box is not None:  # a model may reach a pixel past the border; a label may not
                p.box = box
                out.append(p)
        self._made[f] = out
        return out

    def propose(self, f: int) -> list[Box]:
        """The boxes to show on frame ``f`` (its confirmed boxes when it is confirmed)."""
        if int(f) in self.labels:
            return self.labels.boxes(int(f))
        return [p.box for p in self.proposals(f)]

    # -- learning from the person, at once ----------------------------------------------
    def trusted(self, p: Proposal) -> bool:
        """Whether proposals of ``p``'s kind have saved more actions than they cost on the
        frames confirmed so far (a proposal kept saves a draw; one deleted costs a delete):
        a detector that mostly raises false alarms stops proposing new objects."""
        key = self._trust_key(p)
        if key is None or not self.learn:
            return True
        good, bad = self.trust.get(key, (0, 0))
        return good + TRUST_PRIOR >= bad

    def best_estimate(self, kind: str) -> str:
        """The source whose boxes were tight on the kept box most often for proposals of
        ``kind`` so far (``"combined"`` until another has done better)."""
        tally = self.tight.get(kind)
        if not tally or not self.learn:
            return "combined"
        best = max(tally.values())
        return "combined" if tally.get("combined", 0) >= best else max(tally, key=tally.get)

    @staticmethod
    def _trust_key(p: Proposal) -> tuple | None:
        if p.kind == "new":
            return ("new", p.box.label, p.box.score is not None and p.box.score >= 0.5)
        if p.kind == "carried":
            return ("carried", p.box.label)
        return None

    def _learn(self, f: int, kept: Sequence[Box]) -> None:
        for p in self._made.pop(f, []):
            iou, match = best_match(p.box, kept)
            key = self._trust_key(p)
            if key is not None:
                good, bad = self.trust.get(key, (0, 0))
                self.trust[key] = (good + (iou >= TIGHT_IOU), bad + (iou < SAME_OBJECT_IOU))
            if iou >= SAME_OBJECT_IOU:
                target = match.xyxy
                tally = self.tight.setdefault(p.kind, {})
                for name, est in p.estimates.items():
                    tally[name] = tally.get(name, 0) + int(box_iou([est], [target])[0, 0] >= TIGHT_IOU)
