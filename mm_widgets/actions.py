"""The human-action log, THE counting rule, label efficiency and human time.

A *label* is one box (or one frame class) in the final, accepted label set. A *human
action* is one of: draw a box, adjust a box, delete a box, set or change a frame's class.
Accepting what is shown untouched costs nothing::

    efficiency        = 1 - human_actions / labels          (0 when no labels)
    labels_per_action = labels / max(human_actions, 1)

The counting rule (one place: :func:`diff_boxes`) counts what a person does in the bbox
widget, one box at a time. Given the boxes shown on a frame and the boxes the person left:

- a box left exactly as shown is free (it keeps its source and score);
- every other box shown is either *adjusted* into one of the boxes left (dragged, resized,
  given another class, or all of these: one box corrected is one ``adjust``) or deleted;
- every other box left is either that adjusted box or a new ``draw``.

The boxes are paired so that as many as possible are adjusts, because that is what the
widget lets a person do: a box can be dragged anywhere in the frame and its class changed
in place, so a wrong box and a missed object cost one adjust, not a delete and a draw.
Each pair is one action and so is each box left over: the count is ``max(changed shown,
changed left)``. The widget path (:meth:`mm_widgets.widgets.labeller.Labeller.set_boxes`, a
drag in the browser) and the simulated person (:func:`corrections`, which makes the edit a
person would make and counts it with :func:`diff_boxes`) therefore give the same number for
the same edit. Worked examples (``T`` a true box, ``P`` a proposed one):

=============================================================  =========================
shown -> left                                                  counted
=============================================================  =========================
P (IoU 0.9 with T) -> P                                        nothing (accepted)
P (IoU 0.6 with T) -> T                                        1 adjust
P (class "dog") over T (class "cat") -> P relabelled "cat"     1 adjust
P on nothing, T missed elsewhere -> P dragged onto T           1 adjust
P1 on nothing, P2 on nothing -> nothing                        2 deletes
nothing -> T1, T2                                              2 draws
=============================================================  =========================

Masks are counted by the same code (:func:`diff_masks`): a mask left as shown is free, the
others are paired by mask IoU instead of box IoU. A frame's class is one object in the
same way (:func:`diff_class`): setting or changing it is one ``class`` action, leaving it
as shown is free. ``accept`` events (a frame
accepted with no action) are logged with their time but never counted: they are what the
human-time model prices as a verification (:class:`ActionTimes`).

Human time counts only the person's own time (:meth:`ActionLog.seconds`): an event is
timed from the event before it, or from the moment the person could start on it when that
came later: a widget showing its first frame (the training and predicting before it are
waiting, not work), a frame that took the machine a while to make ready
(:meth:`ActionLog.waiting`), an undo or a redo (an action taken back, and the time spent
on it, are no work).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from .errors import MMError
from .labels import LABEL_TASKS, Box, Mask, box_iou
from .polygons import mask_iou

#: Counted human actions.
ACTION_KINDS = ("draw", "adjust", "delete", "class")
#: Logged with their time, never counted: a frame accepted as shown.
FREE_KINDS = ("accept",)
#: Older names of a kind, read from project journals written before the rename.
OLD_KIND_NAMES = {"set_class": "class"}
ACTION_COLUMNS = ["kind", "frame", "round", "label", "time"]
#: A longer gap between two events is a break, not work (see :meth:`ActionLog.seconds`).
IDLE_SECONDS = 120.0
#: Events closer than this came from one edit (no person acts twice in 0.2 s).
SAME_EDIT_SECONDS = 0.2
#: A frame the machine made ready (predicted, decoded) within this is shown at once: no
#: wait a person notices (see :meth:`ActionLog.waiting`).
WAIT_SECONDS = 0.5


def efficiency(human_actions: int, labels: int) -> float:
    """``1 - human_actions / labels``; 0 when there are no labels. Can be negative."""
    if labels <= 0:
        return 0.0
    return 1.0 - human_actions / labels


def labels_per_action(labels: int, human_actions: int) -> float:
    """``labels / max(human_actions, 1)``."""
    return labels / max(human_actions, 1)


@dataclass(frozen=True)
class Action:
    """One human action (or one free ``accept``), with the time it was recorded and,
    when the person could only start on it later than the event before it (a frame shown
    after a wait, an undo), ``since``: that moment (see :meth:`ActionLog.seconds`)."""

    kind: str
    frame: int
    round: int = 0
    label: str | None = None
    time: float = field(default_factory=lambda: time.time())  # looked up per call: a test may set the clock
    since: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "kind", OLD_KIND_NAMES.get(self.kind, self.kind))
        if self.kind not in ACTION_KINDS + FREE_KINDS:
            raise MMError(f"unknown action kind {self.kind!r}; known: {ACTION_KINDS + FREE_KINDS}")
        object.__setattr__(self, "frame", int(self.frame))
        object.__setattr__(self, "round", int(self.round))


class ActionLog:
    """Log of human actions; ``sink`` (e.g. a project journal) hears each one, and
    ``retract_sink`` each one taken back by :meth:`retract` (an undo).

    An undone action is taken back from the count: after an undo the labels and the
    counts are what they were before the action; a redo counts it again. The journal keeps
    both lines, so the record of what was done (and when) is never rewritten.

    ``len``, iteration and :meth:`count` cover the counted actions only; free ``accept``
    events are kept beside them (:attr:`events` has both, in time order) for
    :meth:`seconds`.

    A widget tells the log when the person can start looking (:meth:`look`,
    :meth:`waiting`); each event recorded after it carries that moment as its ``since``, so
    the time spent waiting for the model is no one's work, on disk too.
    """

    def __init__(self, actions: Iterable[Action] = (), sink: Callable[[Action], None] | None = None,
                 retract_sink: Callable[[Action], None] | None = None):
        self._actions: list[Action] = []
        self._free: list[Action] = []
        for a in actions:
            (self._free if a.kind in FREE_KINDS else self._actions).append(a)
        self._sink = sink
        self._retract_sink = retract_sink
        self._looked: float | None = None  # when the person could last start afresh

    def record(self, kind: str, frame: int, round: int = 0, label: str | None = None) -> Action:
        """Log one human action (or one free ``accept``) now and return it."""
        action = Action(kind, frame, round, label, since=self._looked)
        self.extend([action])
        return action

    def look(self) -> None:
        """The person starts looking now (a widget shows its first frame; an undo): the next
        event is timed from here if this is later than the event before it."""
        self._looked = time.time()

    @contextmanager
    def waiting(self, at_least: float = WAIT_SECONDS):
        """The machine works while the person waits (a frame's block predicted, a frame
        decoded): when that took ``at_least`` seconds or more, the person starts looking at
        its end (:meth:`look`); a quicker one is no wait anyone notices."""
        started = time.time()
        yield
        if time.time() - started >= at_least:
            self.look()

    def extend(self, actions: Iterable[Action]) -> None:
        for a in actions:
            if self._sink is not None:
                self._sink(a)  # persisted first: a failed save must not count in memory
            (self._free if a.kind in FREE_KINDS else self._actions).append(a)

    def retract(self, actions: Iterable[Action]) -> None:
        """Take ``actions`` (recorded here) back from the count: what an undo does. The
        next event is timed from now: the undone work, and the undo, are no work."""
        for a in actions:
            k = next((k for k in range(len(self._actions) - 1, -1, -1) if self._actions[k] is a), None)
            if k is None:
                raise MMError(f"cannot retract {a}: it is not in this log")
            if self._retract_sink is not None:
                self._retract_sink(a)  # persisted first, like a new action
            del self._actions[k]
        self.look()

    def restore(self, actions: Iterable[Action]) -> None:
        """Count ``actions`` (taken back by :meth:`retract`) again, with the times they were
        made: what a redo does. The next event is timed from now."""
        self.extend(actions)
        self.look()

    def __len__(self) -> int:
        return len(self._actions)

    def __iter__(self):
        return iter(self._actions)

    @property
    def events(self) -> list[Action]:
        """Counted actions and free ``accept`` events together, in time order."""
        return sorted(self._actions + self._free, key=lambda a: a.time)

    def count(self, round: int | None = None, kind: str | None = None) -> int:
        """Counted actions (of ``round``, of ``kind``); ``kind="accept"`` counts accepts."""
        pool = self._free if kind in FREE_KINDS else self._actions
        return sum(1 for a in pool
                   if (round is None or a.round == round) and (kind is None or a.kind == kind))

    @property
    def df(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(a) for a in self._actions], columns=ACTION_COLUMNS)

    def timed(self, idle: float = IDLE_SECONDS) -> list[tuple[Action, float | None]]:
        """Every event (:attr:`events`) with the person's own seconds for it, or None when
        it cannot be timed (see :meth:`seconds`)."""
        out: list[tuple[Action, float | None]] = []
        events = self.events
        k = 0
        while k < len(events):
            batch = [events[k]]
            while (k + len(batch) < len(events)
                   and events[k + len(batch)].time - batch[-1].time < SAME_EDIT_SECONDS):
                batch.append(events[k + len(batch)])
            starts = [t for t in (events[k - 1].time if k > 0 else None, batch[0].since)
                      if t is not None and t <= batch[0].time]
            gap = batch[0].time - max(starts) if starts else None
            share = gap / len(batch) if gap is not None and gap <= idle else None
            out += [(a, share) for a in batch]
            k += len(batch)
        return out

    def seconds(self, idle: float = IDLE_SECONDS, task: str = "boxes") -> pd.DataFrame:
        """The person's own seconds per kind of event, measured from the timestamps.

        Each event is given the time since the event before it (the person was looking,
        deciding and dragging meanwhile), or since its ``since`` when that is later: the
        moment the person could start (a widget's first frame shown after training, a frame
        that kept them waiting, an undo or a redo), so waiting for the model and undone work
        are left out. Events recorded within :data:`SAME_EDIT_SECONDS` of each other came
        from one edit, and share its time equally. A gap longer than ``idle`` seconds is a
        break (coffee, a restart, another task), not work: that event is left untimed, as
        is the first event with nothing before it. The figure per kind is the median over
        its timed events, so a few slow or half-idle gaps move it little.

        Returns one row per kind (:data:`ACTION_KINDS` and ``accept``) with ``events``,
        ``timed``, ``median_seconds`` (NaN when none was timed) and ``total_seconds``: the
        timed events' own seconds plus, for each untimed one, the published figure of
        :data:`DEFAULT_SECONDS` (``task="masks"``: :data:`MASK_SECONDS`, a polygon drawn or
        corrected costing more than a box). Their sum is the human time so far; an event added never
        lowers it (a median would: one quick adjust can lower the price of all the others).
        """
        published = MASK_SECONDS if task == "masks" else DEFAULT_SECONDS
        timed: dict[str, list[float]] = {k: [] for k in ACTION_KINDS + FREE_KINDS}
        total = dict.fromkeys(timed, 0.0)
        for a, share in self.timed(idle):
            if share is None:
                total[a.kind] += published[a.kind]
            else:
                timed[a.kind].append(share)
                total[a.kind] += share
        rows = []
        for kind, values in timed.items():
            n = self.count(kind=kind)
            rows.append({"kind": kind, "events": n, "timed": len(values),
                         "median_seconds": float(np.median(values)) if values else float("nan"),
                         "total_seconds": total[kind]})
        return pd.DataFrame(rows)

    def total_seconds(self, idle: float = IDLE_SECONDS, task: str = "boxes") -> float:
        """The human time so far: the sum of :meth:`seconds`' ``total_seconds``."""
        return float(self.seconds(idle, task)["total_seconds"].sum())

    def summary(self, labels_by_round: dict[int, int] | None = None) -> pd.DataFrame:
        """Per-round table: actions by kind, human actions, and (given the label count at the
        end of each round) labels, efficiency and labels per action, cumulative over rounds."""
        rounds = sorted({a.round for a in self._actions} | set(labels_by_round or {}))
        rows = []
        for r in rounds:
            row = {"round": r, **{k: self.count(r, k) for k in ACTION_KINDS}}
            row["human_actions"] = sum(row[k] for k in ACTION_KINDS)
            row["cumulative_actions"] = sum(1 for a in self._actions if a.round <= r)
            if labels_by_round is not None:
                labels = int(labels_by_round.get(r, 0))
                row["labels"] = labels
                row["efficiency"] = efficiency(row["cumulative_actions"], labels)
                row["labels_per_action"] = labels_per_action(labels, row["cumulative_actions"])
            rows.append(row)
        return pd.DataFrame(rows)


@dataclass
class Corrections:
    """How proposed boxes (or masks) compare with the right ones on one frame, and the edit a
    person makes to turn the first into the second (see :func:`corrections`)."""

    tight: list[tuple[int, int]]  # (proposed index, truth index), same class, IoU >= tight_iou
    loose: list[tuple[int, int]]  # same class, match_iou <= IoU < tight_iou
    unmatched_proposed: list[int]  # false positives
    unmatched_truth: list[int]  # misses
    ious: list[float] = field(default_factory=list)  # IoU of every matched pair
    #: the boxes the person leaves: the tight proposals untouched, the rest made right
    edited: list[Box] = field(default_factory=list)
    #: what :func:`diff_boxes` counts for that edit, one kind per action
    actions: list[str] = field(default_factory=list)

    @property
    def n_actions(self) -> int:
        return len(self.actions)


def overlaps(a: Sequence, b: Sequence) -> np.ndarray:
    """Pairwise IoU, ``len(a) x len(b)``: mask IoU when both hold :class:`~mm_widgets.labels.Mask` s,
    else box IoU of their ``xyxy`` (a mask against a box is refused: they are not compared)."""
    masks = [isinstance(o, Mask) for o in (*a, *b)]
    if any(masks) and not all(masks):
        raise MMError("cannot compare masks with boxes: both sides must be masks, or boxes")
    if masks and all(masks):
        return mask_iou([o.polygons for o in a], [o.polygons for o in b])
    return box_iou([o.xyxy for o in a], [o.xyxy for o in b])


def match_boxes(proposed: Sequence, truth: Sequence, match_iou: float = 0.5,
                by_label: bool = True) -> tuple[list[tuple[int, int, float]], list[int], list[int]]:
    """Greedy IoU matching: highest-IoU pairs first, each box used once.

    ``proposed`` and ``truth`` are sequences of :class:`~mm_widgets.labels.Box` (or of
    objects with ``xyxy`` and ``label``), or of :class:`~mm_widgets.labels.Mask` s, matched
    by mask IoU (:func:`overlaps`). With ``by_label`` a pair must share a class.
    Returns ``(pairs, unmatched_proposed, unmatched_truth)`` with ``pairs`` as
    ``(proposed_index, truth_index, iou)``.
    """

    if not len(proposed) or not len(truth):
        return [], list(range(len(proposed))), list(range(len(truth)))
    iou = overlaps(proposed, truth)
    if by_label:
        same = np.array([[p.label == t.label for t in truth] for p in proposed])
        iou = np.where(same, iou, 0.0)
    pairs = []
    used_p, used_t = set(), set()
    order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None, kind="stable"), iou.shape))[0]
    for i, j in order:
        if iou[i, j] < match_iou:
            break
        if i in used_p or j in used_t:
            continue
        used_p.add(int(i))
        used_t.add(int(j))
        pairs.append((int(i), int(j), float(iou[i, j])))
    return (pairs, [i for i in range(len(proposed)) if i not in used_p],
            [j for j in range(len(truth)) if j not in used_t])


def corrections(proposed: Sequence[Box] | Sequence[Mask], truth: Sequence[Box] | Sequence[Mask],
                match_iou: float = 0.5, tight_iou: float = 0.75) -> Corrections:
    """The edit a person makes to turn ``proposed`` boxes into ``truth`` on one frame, counted.

    The matching (per class, greedy by IoU) says how good the proposals are: a pair with
    IoU >= ``tight_iou`` is *tight*, one with ``match_iou`` <= IoU < ``tight_iou`` *loose*,
    the rest are false positives and misses. Recall and precision come from it.

    The edit is what a person does in the review widget: a tight proposal is accepted
    untouched (free); a proposal of the wrong class lying tight on a true object gets that
    object's class (its corners stay); every other true box is put there by adjusting a
    proposal that is not kept, or drawn when none is left; proposals still left over are
    deleted. :func:`diff_boxes` counts that edit, exactly as it counts a person's edit in
    the widget: ``max(proposals not kept, true boxes not covered)`` actions.

    Masks (lists of :class:`~mm_widgets.labels.Mask`) take the same steps by mask IoU, and
    :func:`diff_masks` counts the edit, as the mask widgets count a person's: a mask
    corrected (vertices dragged, or drawn again over it) is one adjust.
    """
    if not 0 < match_iou <= tight_iou <= 1:
        raise MMError(f"need 0 < match_iou <= tight_iou <= 1, got {match_iou}, {tight_iou}")
    proposed, truth = list(proposed), list(truth)
    pairs, lone_p, lone_t = match_boxes(proposed, truth, match_iou)
    tight = [(i, j) for i, j, v in pairs if v >= tight_iou]
    loose = [(i, j) for i, j, v in pairs if v < tight_iou]
    kept = {i for i, _ in tight}
    covered = {j for _, j in tight}
    edited = [proposed[i] for i in sorted(kept)]
    # A right box with the wrong class: the person changes its class, nothing else.
    relabel, _, _ = match_boxes([proposed[i] for i in range(len(proposed)) if i not in kept],
                                [truth[j] for j in range(len(truth)) if j not in covered],
                                tight_iou, by_label=False)
    free_p = [i for i in range(len(proposed)) if i not in kept]
    free_t = [j for j in range(len(truth)) if j not in covered]
    for a, b, _ in relabel:
        edited.append(replace(proposed[free_p[a]], label=truth[free_t[b]].label))
        covered.add(free_t[b])
    # a box a person puts there is a new object to them: no track id (the truth's is unknown)
    edited += [replace(truth[j], track=None) for j in range(len(truth)) if j not in covered]
    masks = any(isinstance(o, Mask) for o in (*proposed, *truth))
    _, counted = (diff_masks if masks else diff_boxes)(proposed, edited)
    return Corrections(tight, loose, lone_p, lone_t, [v for _, _, v in pairs], edited,
                       [kind for kind, _ in counted])


# -- a person's edit on one frame, counted -----------------------------------------------
#: Coordinates closer than this (full-frame pixels) are the same box.
SAME_COORD = 1e-6


def same_box(a: Box, b: Box) -> bool:
    return a.label == b.label and all(abs(p - q) < SAME_COORD for p, q in zip(a.xyxy, b.xyxy, strict=True))


def same_boxes(a: Sequence[Box], b: Sequence[Box]) -> bool:
    return len(a) == len(b) and all(same_box(p, q) for p, q in zip(a, b, strict=True))


def same_mask(a: Mask, b: Mask) -> bool:
    """The same mask: the same class and the same rings, point for point (within
    :data:`SAME_COORD`)."""
    return (a.label == b.label and len(a.polygons) == len(b.polygons)
            and all(len(p) == len(q) and all(abs(u - v) < SAME_COORD for u, v in zip(p, q, strict=True))
                    for p, q in zip(a.polygons, b.polygons, strict=True)))


def diff_boxes(old: Sequence[Box], new: Sequence[Box]) -> tuple[list[Box], list[tuple[str, str]]]:
    """THE counting rule: what a person did to turn the boxes ``old`` into ``new`` on one frame.

    Returns the boxes to store and the human actions, as ``(kind, label)`` pairs. A box
    equal to an old one is untouched (free; it keeps its source and score). The remaining
    boxes are paired old-to-new by overlap (highest IoU first, whatever their classes),
    then in list order (the bbox widget keeps a moved box in its place, so a box dragged
    clear of where it was is still the same box): each pair is one ``adjust``, whether the
    box was moved, resized, given another class or all of these. What is left is a
    ``delete`` (old) or a ``draw`` (new), so the count is ``max(old changed, new
    changed)``: the fewest box actions that make the edit. An adjusted model box becomes
    ``"corrected"``; a drawn one ``"human"``. See the module docstring for worked examples.
    """
    return _diff(old, new, same_box, lambda a, b: box_iou([o.xyxy for o in a], [n.xyxy for n in b]))


def diff_masks(old: Sequence[Mask], new: Sequence[Mask]) -> tuple[list[Mask], list[tuple[str, str]]]:
    """The counting rule of :func:`diff_boxes` for masks, the same code: a mask left as shown
    (every point) is free; the others are paired by mask IoU (then in list order), each pair
    one ``adjust`` (vertices dragged, class changed), the rest ``delete`` or ``draw``."""
    return _diff(old, new, same_mask, lambda a, b: mask_iou([o.polygons for o in a],
                                                            [n.polygons for n in b]))


def _diff(old, new, same, overlap):
    """:func:`diff_boxes` for any shape: ``same(a, b)`` says a shape is untouched,
    ``overlap(olds, news)`` gives the matrix of their IoUs."""
    old, new = list(old), list(new)
    result: list[Box | None] = [None] * len(new)
    free_old = list(range(len(old)))
    for j, b in enumerate(new):
        i = next((i for i in free_old if same(old[i], b)), None)
        if i is not None:
            free_old.remove(i)
            result[j] = old[i]
    free_new = [j for j in range(len(new)) if result[j] is None]
    pairs: list[tuple[int, int]] = []
    if free_old and free_new:
        iou = overlap([old[i] for i in free_old], [new[j] for j in free_new])
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            a, b = np.unravel_index(flat, iou.shape)
            if iou[a, b] <= 0:
                break
            i, j = free_old[a], free_new[b]
            if any(i == p or j == q for p, q in pairs):
                continue
            pairs.append((i, j))
        paired_old = {i for i, _ in pairs}
        paired_new = {j for _, j in pairs}
        pairs += zip([i for i in free_old if i not in paired_old],
                     [j for j in free_new if j not in paired_new], strict=False)
    actions: list[tuple[str, str]] = []
    for i, j in sorted(pairs, key=lambda p: p[1]):
        source = "corrected" if old[i].source in ("model", "carried") else old[i].source
        result[j] = replace(new[j], score=None, source=source, track=kept_track(old, new, i, j, pairs, same))
        actions.append(("adjust", new[j].label))
    paired_old = {i for i, _ in pairs}
    actions += [("delete", old[i].label) for i in free_old if i not in paired_old]
    for j, b in enumerate(new):
        if result[j] is None:
            result[j] = replace(b, score=None, source="human")
            actions.append(("draw", b.label))
    return [b for b in result if b is not None], actions


def diff_class(old: str | None, new: str) -> list[tuple[str, str]]:
    """The counting rule for a frame's class: the class shown (``old``: the one set before,
    or a model's proposal; None for none) left as it is is free, a class set or changed is
    one ``class`` action. Returns the actions as :func:`diff_boxes` does."""
    return [] if old == new else [("class", new)]


def kept_track(old: Sequence[Box], new: Sequence[Box], i: int, j: int,
               pairs: Sequence[tuple[int, int]], same=same_box) -> int | None:
    """The track id that ``new[j]``, a person's adjustment of ``old[i]`` in
    :func:`diff_boxes`, keeps: ``old[i]``'s, unless the edit split or merged objects, which
    makes a new object (no id until linked). A drawn box has no id either.

    A split: a box drawn in the same edit lies mostly (half its area or more) inside
    ``old[i]``. A merge: a box deleted in the same edit lies mostly inside ``new[j]``. A
    box given another class is another object too.
    """
    if new[j].label != old[i].label:
        return None
    paired_old, paired_new = {p for p, _ in pairs}, {q for _, q in pairs}
    drawn = [n for k, n in enumerate(new) if k not in paired_new
             and not any(same(n, o) for o in old)]
    deleted = [o for k, o in enumerate(old) if k not in paired_old
               and not any(same(o, n) for n in new)]
    if any(_inside(n, old[i]) for n in drawn) or any(_inside(o, new[j]) for o in deleted):
        return None
    return old[i].track


def _inside(a: Box | Mask, b: Box | Mask) -> bool:
    """Half of ``a``'s box area or more lies inside ``b``'s box."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = a.xyxy, b.xyxy
    w = min(ax2, bx2) - max(ax1, bx1)
    h = min(ay2, by2) - max(ay1, by1)
    return w > 0 and h > 0 and w * h >= 0.5 * (ax2 - ax1) * (ay2 - ay1)


# -- human time ------------------------------------------------------------------------------
#: Seconds per event for :class:`ActionTimes`, from published annotation studies.
DEFAULT_SECONDS = {"draw": 7.0, "adjust": 7.0, "delete": 1.6, "class": 1.6, "accept": 1.6}
#: Seconds per event for masks (``ActionTimes(task="masks")``): a mask drawn or corrected
#: costs a tight polygon's time; the rest as for boxes (see :class:`ActionTimes`).
MASK_SECONDS = {**DEFAULT_SECONDS, "draw": 54.0, "adjust": 54.0}


class ActionTimes:
    """Seconds a person spends per kind of event: the human-time model of :func:`simulate`.

    Defaults (:data:`DEFAULT_SECONDS`), from published studies of box annotation:

    - ``draw`` 7.0 s: a box drawn with extreme clicking, the four outermost points of the
      object (Papadopoulos, Uijlings, Keller, Ferrari, "Extreme clicking for efficient
      object annotation", ICCV 2017). Drawing by the corners as ILSVRC did took 25.5 s a
      box (Su, Deng, Fei-Fei, "Crowdsourcing annotations for visual object detection",
      AAAI HCOMP workshop 2012; 42 s with its quality checks): ``ActionTimes(draw=25.5)``.
      The lower figure is the default so that "by hand" is never overstated.
    - ``accept`` 1.6 s: verifying that a proposed box is right is a yes/no question,
      answered in about 1.6 s (Papadopoulos et al., "We don't need no bounding-boxes:
      training object class detectors using only human verification", CVPR 2016). A frame
      accepted as shown is priced as one verification.
    - ``delete`` and ``class`` 1.6 s: a verification answered "no", then one key or one
      click (an assumption from the same figure; no study times them separately).
    - ``adjust`` 7.0 s: no study we know times dragging a box's corners; it is priced as
      drawing it again, which does not flatter the micro-models.

    With ``task="masks"`` (:data:`MASK_SECONDS`) a mask is dearer:

    - ``draw`` 54 s: a tight polygon around an object (Jain and Grauman, "Predicting
      sufficient annotation strength for interactive foreground segmentation", ICCV 2013:
      54 s a tight polygon, 20 s a sloppy contour, 7 s a box, measured on Mechanical
      Turk). COCO's polygons took about 79 s an object (Lin et al., "Microsoft COCO: common
      objects in context", ECCV 2014: 22 worker hours per 1,000 segmentations):
      ``ActionTimes(task="masks", draw=79)``. The lower figure is the default, as for boxes.
    - ``adjust`` 54 s: no study we know times dragging a polygon's vertices; priced as
      drawing it again, as for boxes.
    - ``delete``, ``class``, ``accept`` 1.6 s: the box figures (a yes/no look, a key).

    Parameters
    ----------
    seconds
        A mapping ``kind -> seconds`` (partial is fine), or an :class:`ActionLog` (or
        anything with ``.actions``, such as a project or a widget): the person's own
        medians (:meth:`ActionLog.seconds`) wherever at least ``min_timed`` events of a
        kind were timed, the defaults elsewhere.
    task
        ``"boxes"`` (and frame classes): :data:`DEFAULT_SECONDS`; ``"masks"``:
        :data:`MASK_SECONDS`. The defaults of kinds not measured or given.
    **overrides
        ``draw=25.5`` and the like, applied last.
    """

    def __init__(self, seconds=None, *, task: str = "boxes", min_timed: int = 3,
                 **overrides: float):
        if task not in LABEL_TASKS:
            raise MMError(f"task must be one of {LABEL_TASKS}, got {task!r}")
        chosen = dict(MASK_SECONDS if task == "masks" else DEFAULT_SECONDS)
        self.measured: list[str] = []
        log = getattr(seconds, "actions", seconds)
        if isinstance(log, ActionLog):
            for row in log.seconds(task=task).itertuples(index=False):
                if row.timed >= min_timed:
                    chosen[row.kind] = float(row.median_seconds)
                    self.measured.append(row.kind)
        elif seconds is not None:
            chosen.update(dict(seconds))
        chosen.update(overrides)
        unknown = sorted(set(chosen) - set(DEFAULT_SECONDS))
        if unknown:
            raise MMError(f"unknown kinds {unknown} in action times; known: {list(DEFAULT_SECONDS)}")
        bad = {k: v for k, v in chosen.items() if not (isinstance(v, (int, float)) and v >= 0)}
        if bad:
            raise MMError(f"action times must be seconds >= 0, got {bad}")
        self.seconds = {k: float(v) for k, v in chosen.items()}

    def __getitem__(self, kind: str) -> float:
        return self.seconds[OLD_KIND_NAMES.get(kind, kind)]

    def of(self, log: ActionLog, round: int | None = None) -> float:
        """Seconds the events of ``log`` (of ``round``; all by default) take."""
        return sum(self[a.kind] for a in log.events if round is None or a.round == round)

    def by_hand(self, labels) -> float:
        """Seconds to make ``labels`` (a LabelSet) with no model: every box (mask) drawn (every
        frame class set), and every looked-at frame left empty confirmed as one accept."""
        looked = labels.looked_at
        if labels.task != "classes":
            empty = sum(1 for f in looked if not labels.boxes(f))
            return len(labels) * self["draw"] + empty * self["accept"]
        return len(labels) * self["class"] + (len(looked) - len(labels)) * self["accept"]

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v:g}" + ("*" if k in self.measured else "")
                          for k, v in self.seconds.items())
        return f"ActionTimes({parts})" + (" (* measured)" if self.measured else "")


def format_seconds(seconds: float) -> str:
    """A duration as people say it: ``"42 seconds"``, ``"3.5 minutes"``, ``"2.1 hours"``."""
    if seconds != seconds:
        return "unknown"
    if seconds < 90:
        shown = f"{seconds:.0f}"
        return f"{shown} second" if shown == "1" else f"{shown} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} minutes"
    return f"{seconds / 3600:.1f} hours"
