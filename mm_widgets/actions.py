"""The human-action log and the label-efficiency arithmetic.

A *label* is one box (or one frame class) in the final, accepted label set. A *human
action* is one of: draw a box, adjust a predicted box, delete a wrong prediction, set or
change a frame's class. Accepting a correct prediction untouched costs nothing::

    efficiency        = 1 - human_actions / labels          (0 when no labels)
    labels_per_action = labels / max(human_actions, 1)

:func:`corrections` turns "what the model proposed" and "what is right" into the list of
actions a person needs; the simulated oracle and the review widget both count through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from .errors import MMError
from .labels import Box, box_iou

ACTION_KINDS = ("draw", "adjust", "delete", "set_class")
ACTION_COLUMNS = ["kind", "frame", "round", "label", "time"]


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
    """One counted human action."""

    kind: str
    frame: int
    round: int = 0
    label: str | None = None
    time: float = field(default_factory=time.time)

    def __post_init__(self):
        if self.kind not in ACTION_KINDS:
            raise MMError(f"unknown action kind {self.kind!r}; known: {ACTION_KINDS}")
        object.__setattr__(self, "frame", int(self.frame))
        object.__setattr__(self, "round", int(self.round))


class ActionLog:
    """Log of human actions; ``sink`` (e.g. a project journal) hears each one, and
    ``retract_sink`` each one taken back by :meth:`retract` (an undo).

    An undone action is taken back from the count: after an undo the labels and the
    counts are what they were before the action; a redo counts it again. The journal keeps
    both lines, so the record of what was done (and when) is never rewritten.
    """

    def __init__(self, actions: Iterable[Action] = (), sink: Callable[[Action], None] | None = None,
                 retract_sink: Callable[[Action], None] | None = None):
        self._actions: list[Action] = list(actions)
        self._sink = sink
        self._retract_sink = retract_sink

    def record(self, kind: str, frame: int, round: int = 0, label: str | None = None) -> Action:
        """Count one human action and return it."""
        action = Action(kind, frame, round, label)
        if self._sink is not None:
            self._sink(action)  # persisted first: a failed save must not count in memory
        self._actions.append(action)
        return action

    def extend(self, actions: Iterable[Action]) -> None:
        for a in actions:
            if self._sink is not None:
                self._sink(a)
            self._actions.append(a)

    def retract(self, actions: Iterable[Action]) -> None:
        """Take ``actions`` (recorded here) back from the count: what an undo does."""
        for a in actions:
            k = next((k for k in range(len(self._actions) - 1, -1, -1) if self._actions[k] is a), None)
            if k is None:
                raise MMError(f"cannot retract {a}: it is not in this log")
            if self._retract_sink is not None:
                self._retract_sink(a)  # persisted first, like a new action
            del self._actions[k]

    def __len__(self) -> int:
        return len(self._actions)

    def __iter__(self):
        return iter(self._actions)

    def count(self, round: int | None = None, kind: str | None = None) -> int:
        return sum(1 for a in self._actions
                   if (round is None or a.round == round) and (kind is None or a.kind == kind))

    @property
    def df(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(a) for a in self._actions], columns=ACTION_COLUMNS)

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
    """What a person must do to turn proposed boxes into the right ones."""

    accepted: list[tuple[int, int]]  # (proposed index, truth index) matched tight: free
    adjusted: list[tuple[int, int]]  # matched loosely: one adjust each
    deleted: list[int]  # proposed boxes with no match: one delete each
    drawn: list[int]  # truth boxes with no match: one draw each
    ious: list[float] = field(default_factory=list)  # IoU of every matched pair

    @property
    def actions(self) -> list[str]:
        return (["adjust"] * len(self.adjusted) + ["delete"] * len(self.deleted)
                + ["draw"] * len(self.drawn))

    @property
    def n_actions(self) -> int:
        return len(self.adjusted) + len(self.deleted) + len(self.drawn)


def match_boxes(proposed: Sequence, truth: Sequence, match_iou: float = 0.5,
                by_label: bool = True) -> tuple[list[tuple[int, int, float]], list[int], list[int]]:
    """Greedy IoU matching: highest-IoU pairs first, each box used once.

    ``proposed`` and ``truth`` are sequences of :class:`~mm_widgets.labels.Box` (or of
    objects with ``xyxy`` and ``label``). With ``by_label`` a pair must share a class.
    Returns ``(pairs, unmatched_proposed, unmatched_truth)`` with ``pairs`` as
    ``(proposed_index, truth_index, iou)``.
    """

    if not len(proposed) or not len(truth):
        return [], list(range(len(proposed))), list(range(len(truth)))
    iou = box_iou([p.xyxy for p in proposed], [t.xyxy for t in truth])
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


def corrections(proposed: Sequence, truth: Sequence, match_iou: float = 0.5,
                tight_iou: float = 0.75) -> Corrections:
    """The actions a person needs to turn ``proposed`` boxes into ``truth`` on one frame.

    Matched with IoU >= ``tight_iou``: accepted, free. Matched with ``match_iou`` <= IoU <
    ``tight_iou``: one adjust. Unmatched proposal: one delete. Unmatched truth: one draw.
    A proposal of the wrong class over a true object counts as a delete plus a draw.
    """
    if not 0 < match_iou <= tight_iou <= 1:
        raise MMError(f"need 0 < match_iou <= tight_iou <= 1, got {match_iou}, {tight_iou}")
    pairs, lone_p, lone_t = match_boxes(proposed, truth, match_iou)
    accepted = [(i, j) for i, j, v in pairs if v >= tight_iou]
    adjusted = [(i, j) for i, j, v in pairs if v < tight_iou]
    return Corrections(accepted, adjusted, lone_p, lone_t, [v for _, _, v in pairs])


# -- a person's edit on one frame, counted -----------------------------------------------
#: Coordinates closer than this (full-frame pixels) are the same box.
SAME_COORD = 1e-6


def same_box(a: Box, b: Box) -> bool:
    return a.label == b.label and all(abs(p - q) < SAME_COORD for p, q in zip(a.xyxy, b.xyxy, strict=True))


def same_boxes(a: Sequence[Box], b: Sequence[Box]) -> bool:
    return len(a) == len(b) and all(same_box(p, q) for p, q in zip(a, b, strict=True))


def diff_boxes(old: Sequence[Box], new: Sequence[Box]) -> tuple[list[Box], list[tuple[str, str]]]:
    """What a person did to turn the boxes ``old`` into ``new`` on one frame.

    Returns the boxes to store and the human actions, as ``(kind, label)`` pairs. A box
    equal to an old one is untouched (free; it keeps its source and score). The remaining
    boxes are paired old-to-new by overlap (highest IoU first), then in list order (the
    bbox widget keeps a moved box in its place, so a box dragged clear of where it was is
    still the same box): each pair is one ``adjust``. What is left is a ``delete`` (old)
    or a ``draw`` (new). An adjusted model box becomes ``"corrected"``; a drawn one
    ``"human"``.
    """
    old, new = list(old), list(new)
    result: list[Box | None] = [None] * len(new)
    free_old = list(range(len(old)))
    for j, b in enumerate(new):
        i = next((i for i in free_old if same_box(old[i], b)), None)
        if i is not None:
            free_old.remove(i)
            result[j] = old[i]
    free_new = [j for j in range(len(new)) if result[j] is None]
    pairs: list[tuple[int, int]] = []
    if free_old and free_new:
        iou = box_iou([old[i].xyxy for i in free_old], [new[j].xyxy for j in free_new])
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
        source = "corrected" if old[i].source == "model" else old[i].source
        result[j] = replace(new[j], score=None, source=source, track=kept_track(old, new, i, j, pairs))
        actions.append(("adjust", new[j].label))
    paired_old = {i for i, _ in pairs}
    actions += [("delete", old[i].label) for i in free_old if i not in paired_old]
    for j, b in enumerate(new):
        if result[j] is None:
            result[j] = replace(b, score=None, source="human")
            actions.append(("draw", b.label))
    return [b for b in result if b is not None], actions


def kept_track(old: Sequence[Box], new: Sequence[Box], i: int, j: int,
               pairs: Sequence[tuple[int, int]]) -> int | None:
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
             and not any(same_box(n, o) for o in old)]
    deleted = [o for k, o in enumerate(old) if k not in paired_old
               and not any(same_box(o, n) for n in new)]
    if any(_inside(n, old[i]) for n in drawn) or any(_inside(o, new[j]) for o in deleted):
        return None
    return old[i].track


def _inside(a: Box, b: Box) -> bool:
    """Half of ``a``'s area or more lies inside ``b``."""
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    return w > 0 and h > 0 and w * h >= 0.5 * a.area
