"""The oracles: play the person with ground truth, through the same counting as a person.

Used by :func:`mm_widgets.simulate` (the micro-model loop and its baselines) and by the
tracker walk (:mod:`mm_widgets.tracker_walk`): one rule for every path, the review
widget's (:func:`mm_widgets.actions.diff_boxes` for boxes, :func:`~mm_widgets.actions.diff_masks`
for masks, :func:`~mm_widgets.actions.diff_class` for frame classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .actions import ActionLog, corrections, diff_boxes, diff_class, diff_masks
from .labels import Box, LabelSet, Mask
from .metrics import truth_boxes, truth_masks


class Oracle:
    """Plays the human with box truth: reviews one frame's proposals at a time."""

    def __init__(self, truth: LabelSet, match_iou: float = 0.5, tight_iou: float = 0.75):
        self.truth, self.match_iou, self.tight_iou = truth, match_iou, tight_iou

    def review(self, frame: int, proposed: Sequence[Box], labels: LabelSet, log: ActionLog,
               round: int) -> int:
        """Correct ``proposed`` on ``frame`` into ``labels``; record and return the actions.

        The edit is :func:`~mm_widgets.actions.corrections`' (what a person would leave),
        counted and stored by :func:`~mm_widgets.actions.diff_boxes`, as the review widget
        does for a person; a frame left as proposed is logged as a free ``accept``.
        """
        c = corrections(proposed, self.true(frame), self.match_iou, self.tight_iou)
        # what was shown is the model's (or carried from confirmed frames), whoever made it
        shown = [replace(b, source="carried" if b.source == "carried" else "model")
                 for b in proposed]
        kept, edits = self.diff(shown, c.edited)
        self.store(labels, frame, kept, round)
        for kind, label in edits:
            log.record(kind, frame, round, label)
        if not edits:
            log.record("accept", frame, round)
        return len(edits)

    def answer(self, widget, n: int | None = None) -> int:
        """Play the person at a review widget, through the widget's own edit path.

        For the next ``n`` frames of ``widget.queue`` (all by default): accept the frame when
        the boxes shown need no correction, otherwise leave the boxes a person would leave
        (:func:`~mm_widgets.actions.corrections`) with ``widget.set_boxes``: the widget counts
        the actions itself, as for a person. Returns the number of frames answered. Used by
        notebooks run unattended.
        """
        done = 0
        for f in list(widget.queue)[:n]:
            c = corrections(self.shown(widget, f), self.true(f), self.match_iou, self.tight_iou)
            if c.n_actions == 0:
                widget.accept(f)
            else:
                self.leave(widget, f, c.edited)
            done += 1
        return done

    # what differs between boxes and masks
    def true(self, frame: int) -> list[Box]:
        return truth_boxes(self.truth, frame)

    diff = staticmethod(diff_boxes)

    @staticmethod
    def store(labels: LabelSet, frame: int, kept, round: int) -> None:
        labels.set_boxes(frame, kept, round=round)

    @staticmethod
    def shown(widget, frame: int) -> list[Box]:
        return widget.shown_boxes(frame)

    @staticmethod
    def leave(widget, frame: int, edited) -> None:
        widget.set_boxes(frame, edited)


class MaskOracle(Oracle):
    """Plays the human with mask truth, as :class:`Oracle` does with boxes: a tight mask
    (mask IoU >= ``tight_iou``) of the right class is left as shown (free, an ``accept``
    when the whole frame is); a loose one, or one of the wrong class, is corrected (one
    ``adjust``); a missed one drawn, an extra one deleted. The edit is
    :func:`~mm_widgets.actions.corrections`' on masks, counted and stored by
    :func:`~mm_widgets.actions.diff_masks`, the function the mask widgets count a person's
    edits with; :meth:`answer` drives a mask review widget (``queue``, ``shown_masks``,
    ``accept``, ``set_masks``)."""

    def true(self, frame: int) -> list[Mask]:
        return truth_masks(self.truth, frame)

    diff = staticmethod(diff_masks)

    @staticmethod
    def store(labels: LabelSet, frame: int, kept, round: int) -> None:
        labels.set_masks(frame, kept, round=round)

    @staticmethod
    def shown(widget, frame: int) -> list[Mask]:
        return widget.shown_masks(frame)

    @staticmethod
    def leave(widget, frame: int, edited) -> None:
        widget.set_masks(frame, edited)


class ClassOracle:
    """Plays the human with frame-class truth: one frame at a time, through the same
    counting as a person (:func:`~mm_widgets.actions.diff_class`)."""

    def __init__(self, truth: LabelSet):
        truth.require("classes")
        self.truth = truth

    def review(self, frame: int, proposed: tuple[str, float | None] | None, labels: LabelSet,
               log: ActionLog, round: int) -> int:
        """Leave the true class on ``frame`` (``proposed`` is the model's ``(class, score)``
        or None); record and return the actions (0: accepted as proposed)."""
        shown, score = proposed if proposed is not None else (None, None)
        true = self.truth.frame_class(frame)
        edits = diff_class(shown, true)
        if not edits:
            labels.set_class(frame, true, score=score, source="model", round=round)
            log.record("accept", frame, round)  # free, but a person's time (ActionTimes)
        else:
            labels.set_class(frame, true, source="human" if shown is None else "corrected",
                             round=round)
        for kind, label in edits:
            log.record(kind, frame, round, label)
        return len(edits)

    def answer(self, widget, n: int | None = None) -> int:
        """Play the person at a class review widget, through the widget's own edit path:
        for the next ``n`` frames of ``widget.queue`` (all by default) accept the class shown
        when it is right, otherwise pick the true one (the widget counts). Returns the
        number of frames answered."""
        done = 0
        for f in list(widget.queue)[:n]:
            true = self.truth.frame_class(f)
            if widget.shown_class(f) == true:
                widget.accept(f)
            else:
                widget.set_class(f, true)
            done += 1
        return done
