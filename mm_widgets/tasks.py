"""Tasks: what :func:`mm_widgets.simulate`'s one loop (train, predict, rank, review with every
edit counted, judge, baseline) needs to know about a kind of label. One class per task,
registered in :data:`TASKS` under its LabelSet task; a new task is a new :class:`Task`.
"""

from __future__ import annotations

import pandas as pd

from .actions import ActionLog, efficiency
from .errors import MMError, warn
from .interpolate import interpolate
from .labels import LabelSet
from .metrics import (
    boxes_by_frame,
    classes_by_frame,
    evaluate,
    evaluate_by_class,
    evaluate_classes,
    evaluate_classes_by_class,
    evaluate_masks,
    evaluate_masks_by_class,
    masks_by_frame,
)
from .oracle import ClassOracle, MaskOracle, Oracle
from .propagate import Proposer
from .select import rank_frames
from .tracker_walk import make_tracker, tracker_available, tracker_walk

NAN = float("nan")

#: The columns of a simulation table on box truth (one row per round).
TABLE_COLUMNS = [
    "round", "frames_reviewed", "human_actions", "cumulative_actions", "labels", "recall",
    "precision", "tight_rate", "mean_iou", "efficiency", "labels_per_action", "train_seconds",
    "predict_seconds", "interp_recall", "interp_precision", "interp_tight_rate",
    "interp_efficiency", "human_seconds", "interp_human_seconds", "by_hand_seconds", "tp", "fp",
    "fn", "accepted", "tracker_actions", "tracker_efficiency", "tracker_human_seconds",
    "interp_actions", "interp_labels",
]
#: The columns of a simulation table on mask truth: the box table's but the tracker walk's.
MASK_TABLE_COLUMNS = [c for c in TABLE_COLUMNS if not c.startswith("tracker_")]
#: The columns of a simulation table on class truth (one row per round).
CLASS_TABLE_COLUMNS = [
    "round", "frames_reviewed", "human_actions", "cumulative_actions", "labels", "accuracy",
    "efficiency", "labels_per_action", "train_seconds", "predict_seconds", "interp_accuracy",
    "interp_efficiency", "human_seconds", "interp_human_seconds", "by_hand_seconds", "correct",
    "wrong",
]


class Task:
    """One kind of label in the loop. A task must provide, as class attributes:

    - ``name`` (its LabelSet task); ``holds``, ``does``: its truth and a model of it in
      words (errors); ``baseline``, ``legend``: its no-model baseline in words (the
      human-time sentence) and short (charts);
    - ``columns``: its table's columns in order. The loop fills those every task has
      (round, frames_reviewed, human_actions, cumulative_actions, labels, efficiency,
      labels_per_action, train/predict_seconds, human_seconds, by_hand_seconds); the
      figures of :meth:`evaluate` named in ``quality`` (NaN before a model), ``counts`` (0
      before a model) and ``baseline_quality`` (as ``interp_*``) and
      :meth:`baseline_round` fill the rest; ``class_figures``: the per-class columns;

    as methods of a run (``task(frames, truth, times, **simulate_settings)``):

    - ``oracle.review(frame, proposed, labels, log, round)``: leave the true labels on a
      frame, counted by :mod:`mm_widgets.actions` as the task's review widget counts a
      person's; return the actions (:mod:`mm_widgets.oracle`);
    - ``by_frame(predictions)``: a predictions table as ``{frame: proposal}``;
      ``evaluate(proposed, frames, by_class=False)``: the proposals judged on ``frames``
      (a dict; by class: a table indexed by ``label`` with ``truth`` and ``class_figures``);
    - ``baseline_round(r, reviewed, baseline, labels, log, before)``: the baseline's
      columns for round ``r`` (``interp_efficiency``, ``interp_human_seconds``...);
      ``baseline``: its proposals on the frames unlabelled before the round; ``before``:
      the loop's actions and seconds then;

    as class methods, for the totals over domains: ``pooled_baseline(last, n_labels)``: the
    baseline's actions and labels (``last``: each domain's last row); ``pool(now, last, r,
    reports)``: the task's own columns (``now``: the domains' rows of round ``r``); and the
    hooks below where their defaults do not fit.
    """

    nothing = None
    learns = True

    def __init__(self, frames, truth: LabelSet, times, *, temporal="auto", **settings):
        self.frames, self.truth, self.times, self.temporal = frames, truth, times, temporal

    def figures(self, quality: dict | None, baseline: dict | None) -> dict:
        """A row's figures from :meth:`evaluate` of the model and of the baseline."""
        q, b = quality or {}, baseline or {}
        return {**{c: q.get(c, NAN) for c in self.quality},
                **{f"interp_{c}": b.get(c, NAN) for c in self.baseline_quality},
                **{c: q.get(c, 0) for c in self.counts}}

    def begin(self, labels: LabelSet, log: ActionLog, call) -> None:
        """The first labels are in: start what runs beside the loop."""

    def start_round(self, labels: LabelSet, proposed: dict) -> None:
        """A round's review starts with the model's ``proposed``."""

    def propose(self, frame: int, proposed: dict):
        """What the oracle is shown on ``frame``."""
        return proposed.get(frame, self.nothing)

    def confirmed(self, frame: int, shown, labels: LabelSet) -> None:
        """``frame`` was reviewed: ``shown`` was proposed, ``labels`` holds what was left."""

    def report_extras(self) -> dict:
        """Keyword arguments for the :class:`~mm_widgets.simulate.SimulationReport`."""
        return {}


class ObjectTask(Task):
    """What boxes and masks share: objects on a frame, each found at IoU >= ``match_iou``
    (box IoU, mask IoU) and tight at ``tight_iou``, judged by recall, precision and tight
    rate; the baseline is keyframe interpolation as a loop of its own. A subclass names its
    oracle, its grouping and judge (``by_frame``, ``evaluate``), and :meth:`carried` and
    :meth:`kept`: the interpolation's objects on a frame and the labels' own."""

    baseline, legend = "keyframe interpolation", "interpolation"
    quality = ("recall", "precision", "tight_rate", "mean_iou")
    baseline_quality = ("recall", "precision", "tight_rate")
    counts = ("tp", "fp", "fn", "accepted")
    class_figures = ("recall", "precision", "tight_rate")
    nothing: list = []

    def __init__(self, frames, truth, times, *, match_iou=0.5, tight_iou=0.75, temporal="auto",
                 **settings):
        super().__init__(frames, truth, times, temporal=temporal)
        self.match_iou, self.tight_iou = match_iou, tight_iou

    def begin(self, labels, log, call) -> None:
        # Keyframe interpolation as a loop of its own: a person with a video tool's
        # interpolation alone, from the same first labels, confirming as many frames a round,
        # keyframes halving the longest gaps first (its own best order), every frame confirmed
        # moving the interpolated objects around it at once.
        self.keyframes = labels.copy()
        self.keyframe_log = ActionLog(log.events)
        self.keyframe_model = interpolate(self.frames, self.keyframes)

    def baseline_round(self, r, reviewed, baseline, labels, log, before) -> dict:
        n = len(reviewed)
        for f in rank_frames(self.frames, "bisect", labels=self.keyframes, count=n)[:n]:
            self.oracle.review(f, self.carried(f), self.keyframes, self.keyframe_log, round=r)
            self.keyframe_model.add_keyframe(f, self.kept(self.keyframes, f))
        return {"interp_efficiency": efficiency(len(self.keyframe_log), len(self.keyframes)),
                "interp_human_seconds": self.times.of(self.keyframe_log),
                "interp_actions": len(self.keyframe_log), "interp_labels": len(self.keyframes)}

    @staticmethod
    def pooled_baseline(last, n_labels):
        # interpolation's own loop in every domain, pooled: its actions over its labels
        return last["interp_actions"].sum(min_count=1), last["interp_labels"].sum(min_count=1)

    @classmethod
    def pool(cls, now, last, r, reports) -> dict:
        """Recall and precision pooled over every domain's objects (from ``tp``/``fp``/``fn``)."""
        tp, fp, fn, tight = (int(now[c].sum()) for c in cls.counts)
        return {
            "recall": tp / (tp + fn) if r and tp + fn else (1.0 if r else NAN),
            "precision": tp / (tp + fp) if r and tp + fp else (1.0 if r else NAN),
            "tight_rate": tight / tp if tp else NAN,
            "tp": tp, "fp": fp, "fn": fn, "accepted": tight,
        }

    def report_extras(self) -> dict:
        return {"interp_labels": self.keyframes, "interp_actions": self.keyframe_log}


class BoxTask(ObjectTask):
    """Boxes. A proposal is a frame's list of boxes: the model's raw boxes fused with boxes
    carried from every frame confirmed so far (``proposals="fused"``,
    :class:`~mm_widgets.propagate.Proposer`, what ``review()`` shows a person), the model's
    alone (``"detections"``) or carried ones alone (``"carried"``: nothing is trained). The
    oracle is :class:`~mm_widgets.oracle.Oracle`; a box is found at IoU >= ``match_iou`` and
    tight at ``tight_iou``. The baseline is keyframe interpolation as a loop of its own, and
    the tracker walk over the whole clip (``baselines``)."""

    name, holds, does = "boxes", "boxes", "detects boxes"
    columns = TABLE_COLUMNS

    def __init__(self, frames, truth, times, *, match_iou=0.5, tight_iou=0.75, temporal="auto",
                 proposals="fused", baselines=("interpolate", "tracker"), **settings):
        # fused proposals start from the raw per-frame boxes (propagation makes them
        # consistent in time); the model alone keeps its own temporal consistency
        super().__init__(frames, truth, times, match_iou=match_iou, tight_iou=tight_iou,
                         temporal=False if proposals == "fused" else temporal)
        self.proposals, self.baselines = proposals, baselines
        self.oracle = Oracle(truth, match_iou, tight_iou)
        self.learns = proposals != "carried"

    def by_frame(self, predictions) -> dict:
        return boxes_by_frame(predictions)

    def evaluate(self, proposed, frames, by_class=False):
        return (evaluate_by_class if by_class else evaluate)(
            proposed, self.truth, frames, match_iou=self.match_iou, tight_iou=self.tight_iou)

    def carried(self, frame):
        return self.keyframe_model.boxes_at(frame)

    @staticmethod
    def kept(labels, frame):
        return labels.boxes(frame)

    def begin(self, labels, log, call) -> None:
        super().begin(labels, log, call)
        # the tracker walk over the whole clip, when asked for and this OpenCV has CSRT
        self.walk = None
        if "tracker" in self.baselines and not tracker_available():
            warn("the tracker walk baseline needs OpenCV's CSRT tracker (contrib modules), "
                 "which this cv2 lacks: tracker_* columns left empty. "
                 + make_tracker.__doc__.split(",")[0])
        elif "tracker" in self.baselines:
            call.step(0, "tracker walk")
            self.walk = tracker_walk(self.frames, self.truth, match_iou=self.match_iou,
                                     tight_iou=self.tight_iou)

    def start_round(self, labels, proposed) -> None:
        self.proposer = (None if self.proposals == "detections" else
                         Proposer(self.frames, labels, proposed if self.learns else None))

    def propose(self, frame, proposed):
        # proposals from every frame confirmed so far, this round's included
        return (proposed.get(frame, []) if self.proposer is None
                else self.proposer.propose(frame))

    def confirmed(self, frame, shown, labels) -> None:
        if self.proposer is not None:
            self.proposer.confirmed(frame, shown, labels.boxes(frame))

    def baseline_round(self, r, reviewed, baseline, labels, log, before) -> dict:
        walk = self.walk
        return {**super().baseline_round(r, reviewed, baseline, labels, log, before),
                "tracker_actions": NAN if walk is None else walk.actions,
                "tracker_efficiency": NAN if walk is None else walk.efficiency,
                "tracker_human_seconds": NAN if walk is None else self.times.of(walk.log)}

    @classmethod
    def pool(cls, now, last, r, reports) -> dict:
        """Recall and precision pooled over every domain's boxes (from ``tp``/``fp``/``fn``),
        the tracker walk of every domain pooled: its actions over its labels."""
        walk_labels = sum(len(rep.walk.labels) for rep in reports if rep.walk is not None)
        return {
            **super().pool(now, last, r, reports),
            "tracker_actions": float(last["tracker_actions"].sum(min_count=1)) if r else NAN,
            "tracker_efficiency": (1 - float(last["tracker_actions"].sum()) / walk_labels
                                   if r and walk_labels and last["tracker_actions"].notna().all()
                                   else NAN),
            "tracker_human_seconds": (float(last["tracker_human_seconds"].sum(min_count=1))
                                      if r else NAN),
        }

    def report_extras(self) -> dict:
        return {"walk": self.walk, **super().report_extras()}


class MaskTask(ObjectTask):
    """Instance masks. A proposal is a frame's list of masks: the model's alone
    (``proposals="detections"``, what ``review()`` shows a person; nothing is carried from
    confirmed frames, and the model's outlines are not smoothed in time, which moves boxes
    only). The oracle is :class:`~mm_widgets.oracle.MaskOracle`: a mask is found at mask
    IoU >= ``match_iou`` and tight at ``tight_iou``, counted by
    :func:`~mm_widgets.actions.diff_masks` as the mask widgets count a person. The baseline
    is keyframe interpolation of masks (:meth:`~mm_widgets.interpolate.InterpolationModel.masks_at`)
    as a loop of its own, as for boxes; there is no tracker walk. The table has the box
    table's columns but the ``tracker_*`` ones, with the same meanings at mask IoU."""

    name, holds, does = "masks", "instance masks", "segments instances (masks)"
    columns = MASK_TABLE_COLUMNS
    #: What ``simulate(proposals=...)`` may ask of masks.
    proposals = ("detections",)

    def __init__(self, frames, truth, times, *, match_iou=0.5, tight_iou=0.75, temporal="auto",
                 proposals="detections", **settings):
        if proposals not in self.proposals:
            raise MMError(f"with masks the oracle is shown the model's masks alone "
                          f"(proposals='detections'), not proposals={proposals!r}")
        super().__init__(frames, truth, times, match_iou=match_iou, tight_iou=tight_iou,
                         temporal=False)
        self.oracle = MaskOracle(truth, match_iou, tight_iou)

    def by_frame(self, predictions) -> dict:
        return masks_by_frame(predictions)

    def evaluate(self, proposed, frames, by_class=False):
        return (evaluate_masks_by_class if by_class else evaluate_masks)(
            proposed, self.truth, frames, match_iou=self.match_iou, tight_iou=self.tight_iou)

    def carried(self, frame):
        return self.keyframe_model.masks_at(frame)

    @staticmethod
    def kept(labels, frame):
        return labels.masks(frame)


class ClassTask(Task):
    """Frame classes. A proposal is the model's ``(class, score)`` for a frame; the oracle
    (:class:`~mm_widgets.oracle.ClassOracle`) accepts a right class (free) or sets the true
    one (one class action). ``accuracy`` is the round's model on the frames it had not seen.
    The baseline is the nearest labelled frame's class
    (:meth:`~mm_widgets.interpolate.InterpolationModel.class_at`) on the same frames: what
    reviewing its classes instead of the model's would have cost this round."""

    name, holds, does = "classes", "frame classes (one class per frame)", "classifies whole frames"
    baseline, legend = "the nearest labelled frame's class", "nearest labelled frame"
    columns = CLASS_TABLE_COLUMNS
    quality = baseline_quality = ("accuracy",)
    counts = ("correct", "wrong")
    class_figures = ("recall", "precision")

    def __init__(self, frames, truth, times, *, temporal="auto", **settings):
        super().__init__(frames, truth, times, temporal=temporal)
        self.oracle = ClassOracle(truth)

    def by_frame(self, predictions) -> dict:
        return classes_by_frame(predictions)

    def evaluate(self, proposed, frames, by_class=False):
        return (evaluate_classes_by_class if by_class else evaluate_classes)(
            proposed, self.truth, frames)

    def baseline_round(self, r, reviewed, baseline, labels, log, before) -> dict:
        actions = evaluate_classes(baseline, self.truth, reviewed)["actions"]
        n, seconds = before
        return {"interp_efficiency": efficiency(n + actions, len(labels)),
                "interp_human_seconds": (seconds + actions * self.times["class"]
                                         + (len(reviewed) - actions) * self.times["accept"])}

    @staticmethod
    def pooled_baseline(last, n_labels):
        return ((1 - last["interp_efficiency"]) * last["labels"]).sum(min_count=1), n_labels

    @classmethod
    def pool(cls, now, last, r, reports) -> dict:
        """Accuracy pooled over every domain's frames (``correct``/``wrong``)."""
        correct, wrong = int(now["correct"].sum()), int(now["wrong"].sum())
        interp_correct = (now["interp_accuracy"] * (now["correct"] + now["wrong"])).sum(min_count=1)
        return {"accuracy": correct / (correct + wrong) if correct + wrong else NAN,
                "interp_accuracy": (float(interp_correct) / (correct + wrong)
                                    if correct + wrong and pd.notna(interp_correct) else NAN),
                "correct": correct, "wrong": wrong}


#: Every task the loop runs, by LabelSet task name.
TASKS: dict[str, type[Task]] = {t.name: t for t in (BoxTask, ClassTask, MaskTask)}
