"""Feasibility check with known answers: an oracle plays the human in the micro-model loop.

``simulate(frames, truth)`` runs the micro-model loop: label a few frames, overfit a
micro-model, let it label the rest, review its proposals in selection order and correct
them (every correction counted), retrain on everything accepted, repeat. The oracle makes
the edit a person would make (:func:`mm_widgets.actions.corrections`) and it is counted by
the one rule the review widget counts a person's edits with
(:func:`mm_widgets.actions.diff_boxes`): the same edit gives the same count on both paths.

Human time: every round also says how long a person would have taken, from the events in
the action log priced by an :class:`~mm_widgets.actions.ActionTimes` model (published
defaults, or a person's own measured seconds), beside the time to label the same labels
by hand and the time keyframe interpolation would have left to spend.

Every round is also measured for keyframe interpolation from the same looked-at frames
(``interp_*`` columns), so a micro-model figure is never shown without the no-model one.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from .actions import (
    ActionLog,
    ActionTimes,
    diff_class,
    efficiency,
    format_seconds,
    labels_per_action,
)
from .errors import MMError, warn
from .interpolate import interpolate
from .labels import BOX_COLUMNS, Box, LabelSet
from .metrics import (
    boxes_by_frame,
    classes_by_frame,
    efficiency_ceiling,
    evaluate,
    evaluate_by_class,
    evaluate_classes,
    evaluate_classes_by_class,
)
from .models.progress import long_call
from .oracle import Oracle
from .propagate import Proposer
from .rounds import train_model
from .select import rank_frames, review_order, select_frames
from .temporal import predict_settings
from .tracker_walk import WalkResult, make_tracker, tracker_available, tracker_walk

TABLE_COLUMNS = [
    "round", "frames_reviewed", "human_actions", "cumulative_actions", "labels", "recall",
    "precision", "tight_rate", "mean_iou", "efficiency", "labels_per_action", "train_seconds",
    "predict_seconds", "interp_recall", "interp_precision", "interp_tight_rate",
    "interp_efficiency", "human_seconds", "interp_human_seconds", "by_hand_seconds", "tp", "fp",
    "fn", "accepted", "tracker_actions", "tracker_efficiency", "tracker_human_seconds",
    "interp_actions", "interp_labels",
]


def as_truth(truth, frames) -> LabelSet:
    """Ground truth as a LabelSet covering every frame (a frame without boxes is empty)."""
    n, size = len(frames), frames.size
    if isinstance(truth, LabelSet):
        out = truth.copy()
        out.n_frames, out.size = n, size
    elif isinstance(truth, pd.DataFrame):
        out = LabelSet.from_df(truth, size=size, n_frames=n)
    else:
        raise MMError(f"truth must be a LabelSet or a DataFrame like bunny_boxes.csv, "
                      f"got {type(truth).__name__}")
    for f in range(n):
        out._looked_at.add(f)
    if out.task == "classes":
        missing = [f for f in range(n) if out.frame_class(f) is None]
        if missing:
            raise MMError(f"class truth needs a class for every frame: {len(missing)} of {n} "
                          f"frames have none (first: {missing[:5]})")
    return out


@dataclass
class SimulationReport:
    """What :func:`simulate` measured: ``table`` (one row per round) and the final state."""

    table: pd.DataFrame
    labels: LabelSet
    actions: ActionLog
    model: object = None
    first_frames: list[int] = field(default_factory=list)
    #: with ``domains=``: one row per domain and round (the table holds the totals)
    domains: pd.DataFrame | None = None
    #: one row per round and class: the model's and interpolation's figures for that class
    per_class: pd.DataFrame | None = None
    truth: LabelSet | None = None
    #: the human-time model the seconds columns were priced with
    times: ActionTimes | None = None
    #: the tracker-assisted walk over the whole clip (``tracker_*`` columns), if it ran
    walk: WalkResult | None = None
    #: keyframe interpolation's own loop (``interp_efficiency``, ``interp_human_seconds``):
    #: its labels and action log
    interp_labels: LabelSet | None = None
    interp_actions: ActionLog | None = None
    #: frame -> the boxes the oracle was shown there (the proposals of its round)
    shown: dict[int, list[Box]] = field(default_factory=dict)

    @property
    def first_boxes(self) -> int:
        """Boxes drawn by hand before any model (round 0)."""
        return self.actions.count(round=0)

    @property
    def corrections_after_first(self) -> int:
        """Human actions after the first labels: what the micro-models left to fix."""
        return len(self.actions) - self.actions.count(round=0)

    def ceiling(self, edge_px: float = 0.0, tight_iou: float = 0.75) -> float:
        """The best efficiency this clip allows (see :func:`mm_widgets.metrics.efficiency_ceiling`):
        the first labels cost what they cost, and a perfect model still looks loose where
        the truth's own edges are only good to ``edge_px``."""
        if self.truth is None:
            raise MMError("this report holds no truth to compute a ceiling from")
        return efficiency_ceiling(self.truth, self.first_boxes, edge_px, tight_iou=tight_iou)

    @property
    def human_time(self) -> str:
        """The human time of the run in one sentence, from the last row of :attr:`table`:
        the labels made by hand, with micro-models, with keyframe interpolation and with
        the tracker walk (where it ran)."""
        last = self.table.iloc[-1]
        text = (f"{int(last['labels'])} labels by hand: {format_seconds(last['by_hand_seconds'])}; "
                f"with micro-models: {format_seconds(last['human_seconds'])}")
        if pd.notna(last["interp_human_seconds"]):
            baseline = ("the nearest labelled frame's class" if self.truth is not None
                        and self.truth.task == "classes" else "keyframe interpolation")
            text += f"; with {baseline}: {format_seconds(last['interp_human_seconds'])}"
        if pd.notna(last.get("tracker_human_seconds", float("nan"))):
            text += f"; with the tracker walk: {format_seconds(last['tracker_human_seconds'])}"
        return text + (f" (seconds per event: {self.times!r})" if self.times is not None else "")

    def plot(self):
        """Efficiency and recall (frame classes: accuracy) per round, beside interpolation
        (the nearest labelled frame's class), with the method's published marks
        (:mod:`mm_widgets.plots`)."""
        from .plots import efficiency_figure

        if self.truth is not None and self.truth.task == "classes":
            return efficiency_figure(self.table, task="classes", baseline="nearest labelled frame")
        return efficiency_figure(self.table)

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.human_time)}</p>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}"))


#: What the oracle can be shown (see :func:`simulate`'s ``proposals``).
PROPOSALS = ("fused", "detections", "carried")
def simulate(frames, truth, *, first_labels: int | Sequence[int] = 5, rounds: int = 3,
             strategy="auto", review_budget: int | None = None, match_iou: float = 0.5,
             tight_iou: float = 0.75, kind="auto", first_strategy="diverse", seed: int = 0,
             progress: bool = True, domains=None, temporal="auto", action_times=None,
             proposals: str = "fused", baselines: Sequence[str] = ("interpolate", "tracker"),
             **fit_settings) -> SimulationReport:
    """Run the micro-model loop with an oracle that corrects from ground truth.

    Parameters
    ----------
    frames
        The clip (:class:`~mm_widgets.data.Frames`).
    truth
        Ground truth boxes: a LabelSet or a DataFrame ``frame,x1,y1,x2,y2[,label]``; frames
        it does not mention are empty. Or frame classes: a LabelSet with
        ``task="classes"`` or a DataFrame ``frame,label``, one class for every frame; the
        loop then trains a frame classifier and the oracle accepts a right class (free)
        or sets the true one (one class action), see :func:`_simulate_class_rounds`.
    first_labels
        How many frames the person labels by hand first (picked by ``first_strategy``), or
        the frame indices themselves.
    rounds
        Train-predict-review rounds after the first labels.
    strategy
        Review order (a registered name or a callable, see :mod:`mm_widgets.select`);
        ``"auto"``: :data:`mm_widgets.select.DEFAULT_ORDER` (boxes in clip order, what
        measured best with propagation; frame classes least sure first).
    review_budget
        Frames reviewed per round; by default the frames not yet reviewed are shared out
        evenly so the last round reviews what is left.
    kind
        ``"auto"`` (the micro-model overfit() picks), a registered kind, or ``"interpolate"``;
        a kind that learns boxes with class truth (or classes with box truth) is refused.
    proposals
        What the oracle is shown on a frame (boxes): ``"fused"`` (the model's raw boxes
        fused with boxes carried from every frame confirmed so far, this round's included:
        :class:`~mm_widgets.propagate.Proposer`, what ``review()`` shows a person),
        ``"detections"`` (the model alone, each frame on its own) or ``"carried"`` (carried
        boxes alone: no model is trained).
    temporal
        Temporal consistency of the model's own predictions with ``proposals="detections"``
        (see :mod:`mm_widgets.temporal`): ``"auto"`` (on for video frames), True or False.
    baselines
        The baselines run beside the loop (boxes): ``"interpolate"`` (always: ``interp_*``)
        and ``"tracker"``, the tracker-assisted walk (:mod:`mm_widgets.tracker_walk`,
        ``tracker_*`` columns, over the whole clip).
    progress
        One display for the whole run (rounds, and each training's epochs and loss);
        False: silent.
    domains
        ``"shots"`` (found with :func:`mm_widgets.split_shots`) or a list of frame ranges:
        one micro-model per domain (an assembly line), ``first_labels`` frames labelled in
        each. ``.table`` then holds the totals and ``.domains`` the rows of every domain.
    action_times
        The human-time model: an :class:`~mm_widgets.actions.ActionTimes`, a mapping
        ``kind -> seconds``, or a person's own log (an ActionLog, a project, a widget) whose
        measured medians replace the published defaults. None: the defaults.

    Returns
    -------
    SimulationReport
        ``.table`` with one row per round: frames_reviewed, human_actions,
        cumulative_actions, labels, recall/precision/tight_rate/mean_iou of the round's
        model on frames it had not seen, efficiency and labels_per_action (cumulative),
        train/predict seconds, and the same for keyframe interpolation (``interp_*``);
        ``human_seconds`` (cumulative: every event of the log priced by ``action_times``),
        ``interp_human_seconds`` (the same with interpolation's proposals reviewed in the
        round) and ``by_hand_seconds`` (the labels so far drawn by hand).
        ``interp_efficiency`` and ``interp_human_seconds`` are keyframe interpolation as a
        loop of its own: the same first boxes, as many frames confirmed a round, keyframes
        halving the longest gaps first (``"bisect"``), each frame's boxes interpolated from
        every frame confirmed before it.
        ``tracker_actions``, ``tracker_efficiency`` and ``tracker_human_seconds``: the
        tracker walk over the whole clip (the same in every round).
        :attr:`SimulationReport.human_time` says it in a sentence.
        With class truth the columns are :data:`CLASS_TABLE_COLUMNS`: ``accuracy`` in
        place of recall and precision, and ``interp_*`` for the nearest labelled frame's
        class.
    """
    task = truth_task(truth)
    check_kind(kind, task)
    if proposals not in PROPOSALS:
        raise MMError(f"proposals must be one of {PROPOSALS}, got {proposals!r}")
    unknown = [b for b in baselines if b not in ("interpolate", "tracker")]
    if unknown:
        raise MMError(f"unknown baselines {unknown}: known are 'interpolate' and 'tracker'")
    strategy = review_order(strategy, task)
    if domains is not None:
        return simulate_domains(
            frames, truth, domains, first_labels=first_labels, rounds=rounds, strategy=strategy,
            review_budget=review_budget, match_iou=match_iou, tight_iou=tight_iou, kind=kind,
            first_strategy=first_strategy, seed=seed, progress=progress, temporal=temporal,
            action_times=action_times, proposals=proposals, baselines=baselines, **fit_settings)
    run = _simulate_class_rounds if truth_task(truth) == "classes" else _simulate_rounds
    with long_call(progress, rounds, "round") as call:
        return run(
            call, frames, truth, first_labels=first_labels, rounds=rounds, strategy=strategy,
            review_budget=review_budget, match_iou=match_iou, tight_iou=tight_iou, kind=kind,
            first_strategy=first_strategy, seed=seed, progress=progress, temporal=temporal,
            times=action_times if isinstance(action_times, ActionTimes) else ActionTimes(action_times),
            proposals=proposals, baselines=baselines, **fit_settings)


def _simulate_rounds(call, frames, truth, *, first_labels, rounds, strategy, review_budget,
                     match_iou, tight_iou, kind, first_strategy, seed, progress, temporal,
                     times, proposals, baselines, **fit_settings) -> SimulationReport:
    """:func:`simulate` on one domain; its rounds are reported to ``call`` (a LongCall)."""
    truth = as_truth(truth, frames)
    n = len(frames)
    labels = LabelSet(truth.classes, "boxes", size=frames.size, n_frames=n)
    log = ActionLog()
    oracle = Oracle(truth, match_iou, tight_iou)
    first = _first_frames(frames, labels, first_labels, first_strategy, seed)
    for f in first:
        oracle.review(f, [], labels, log, round=0)
    # Keyframe interpolation as a loop of its own: a person with a video tool's
    # interpolation alone, from the same first boxes, confirming as many frames a round,
    # keyframes halving the longest gaps first (its own best order), every frame confirmed
    # moving the interpolated boxes around it at once.
    keyframes = labels.copy()
    keyframe_log = ActionLog(log.events)
    keyframe_model = interpolate(frames, keyframes)
    walk = _tracker_walk(frames, truth, baselines, match_iou, tight_iou, call)
    rows = [_row(0, len(first), log, labels, None, None, 0.0, 0.0, None, times, None, walk)]
    per_class = []
    fitted = None
    shown_to_oracle: dict[int, list[Box]] = {}
    for r in range(1, rounds + 1):
        remaining = [f for f in range(n) if f not in labels]
        if not remaining:
            break
        call.step(r - 1, "training")
        start = time.perf_counter()
        fitted = (None if proposals == "carried" else
                  train_model(frames, labels, kind, fitted, seed=seed, progress=progress,
                              **fit_settings))
        train_seconds = time.perf_counter() - start
        call.step(r - 1, f"predicting {len(remaining)} frames")
        start = time.perf_counter()
        if fitted is None:
            predictions = pd.DataFrame(columns=BOX_COLUMNS)
        else:
            # fused proposals start from the raw per-frame boxes (propagation makes them
            # consistent in time); the model alone keeps its own temporal consistency
            predictions = fitted.predict(frames, indices=remaining, **predict_settings(
                fitted, False if proposals == "fused" else temporal))
        predict_seconds = time.perf_counter() - start
        detected = boxes_by_frame(labels.fresh_tracks(predictions))
        quality = evaluate(detected, truth, remaining, match_iou=match_iou, tight_iou=tight_iou)
        interp = boxes_by_frame(interpolate(frames, labels).predict(frames, indices=remaining))
        budget = _budget(review_budget, len(remaining), rounds - r + 1)
        order = rank_frames(frames, strategy, seed=seed + r, predictions=predictions,
                            labels=labels, count=budget)
        reviewed = order[:budget]
        interp_quality = evaluate(interp, truth, remaining, match_iou=match_iou, tight_iou=tight_iou)
        proposer = (None if proposals == "detections" else
                    Proposer(frames, labels, None if proposals == "carried" else detected))
        for f in reviewed:
            # proposals from every frame confirmed so far, this round's included
            shown = shown_to_oracle[f] = (detected.get(f, []) if proposer is None
                                          else proposer.propose(f))
            oracle.review(f, shown, labels, log, round=r)
            if proposer is not None:
                proposer.confirmed(f, shown, labels.boxes(f))
        for f in rank_frames(frames, "bisect", labels=keyframes, count=len(reviewed))[:len(reviewed)]:
            oracle.review(f, keyframe_model.boxes_at(f), keyframes, keyframe_log, round=r)
            keyframe_model.add_keyframe(f, keyframes.boxes(f))
        interp_eff = efficiency(len(keyframe_log), len(keyframes))
        interp_seconds = times.of(keyframe_log)
        if len(truth.classes) > 1:
            mine = evaluate_by_class(detected, truth, remaining, match_iou=match_iou,
                                     tight_iou=tight_iou)
            theirs = evaluate_by_class(interp, truth, remaining, match_iou=match_iou,
                                       tight_iou=tight_iou)
            for c in truth.classes:
                per_class.append({
                    "round": r, "label": c, "truth": int(mine.at[c, "truth"]),
                    "recall": mine.at[c, "recall"], "precision": mine.at[c, "precision"],
                    "tight_rate": mine.at[c, "tight_rate"],
                    "interp_recall": theirs.at[c, "recall"],
                    "interp_precision": theirs.at[c, "precision"],
                    "interp_tight_rate": theirs.at[c, "tight_rate"]})
        rows.append(_row(r, len(reviewed), log, labels, quality, interp_quality, train_seconds,
                         predict_seconds, interp_eff, times, interp_seconds, walk,
                         (len(keyframe_log), len(keyframes))))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return SimulationReport(table, labels, log, fitted, first,
                            per_class=pd.DataFrame(per_class) if per_class else None, truth=truth,
                            times=times, walk=walk, interp_labels=keyframes,
                            interp_actions=keyframe_log, shown=shown_to_oracle)


def _tracker_walk(frames, truth, baselines, match_iou, tight_iou, call):
    """The tracker walk over the whole clip, when asked for and this OpenCV has CSRT."""
    if "tracker" not in baselines:
        return None
    if not tracker_available():
        warn("the tracker walk baseline needs OpenCV's CSRT tracker (contrib modules), which "
             "this cv2 lacks: tracker_* columns left empty. " + make_tracker.__doc__.split(",")[0])
        return None
    call.step(0, "tracker walk")
    return tracker_walk(frames, truth, match_iou=match_iou, tight_iou=tight_iou)


def _row(r, reviewed, log, labels, quality, interp, train_s, predict_s, interp_eff, times,
         interp_seconds, walk=None, interp_counts=None) -> dict:
    actions = log.count(round=r)
    total = len(log)
    nan = float("nan")
    q = quality or {}
    i = interp or {}
    return {
        "round": r, "frames_reviewed": reviewed, "human_actions": actions,
        "cumulative_actions": total, "labels": len(labels),
        "recall": q.get("recall", nan), "precision": q.get("precision", nan),
        "tight_rate": q.get("tight_rate", nan), "mean_iou": q.get("mean_iou", nan),
        "efficiency": efficiency(total, len(labels)),
        "labels_per_action": labels_per_action(len(labels), total),
        "train_seconds": train_s, "predict_seconds": predict_s,
        "interp_recall": i.get("recall", nan), "interp_precision": i.get("precision", nan),
        "interp_tight_rate": i.get("tight_rate", nan),
        "interp_efficiency": nan if interp_eff is None else interp_eff,
        "human_seconds": times.of(log),
        "interp_human_seconds": nan if interp_seconds is None else interp_seconds,
        "by_hand_seconds": times.by_hand(labels),
        "tp": q.get("tp", 0), "fp": q.get("fp", 0), "fn": q.get("fn", 0),
        "accepted": q.get("accepted", 0),
        "tracker_actions": nan if walk is None or not r else walk.actions,
        "tracker_efficiency": nan if walk is None or not r else walk.efficiency,
        "tracker_human_seconds": nan if walk is None or not r else times.of(walk.log),
        "interp_actions": nan if interp_counts is None else interp_counts[0],
        "interp_labels": nan if interp_counts is None else interp_counts[1],
    }


def simulate_domains(frames, truth, domains, *, first_labels=5, **kw) -> SimulationReport:
    """One simulation per domain (frames ``range``), then the totals over domains per round.

    Recall and precision of the totals are pooled over every domain's boxes (from the
    ``tp``/``fp``/``fn`` counts), efficiency from the summed actions and labels.
    """
    from .assembly import split_shots

    truth = as_truth(truth, frames)
    ranges = split_shots(frames) if domains == "shots" else [range(d.start, d.stop) for d in domains]
    if not isinstance(first_labels, int):
        raise MMError("with domains=, first_labels is a number of frames per domain")
    times = None
    walks: dict[int, int] = {}  # domain -> labels of its tracker walk
    parts, labels, log = [], LabelSet(truth.classes, truth.task, size=frames.size,
                                      n_frames=len(frames)), ActionLog()
    with long_call(kw.get("progress", True), len(ranges), "shot") as call:
        for k, rng in enumerate(ranges):
            call.step(k, f"frames {rng.start}-{rng.stop - 1}")
            sub_truth = truth.subset(rng)
            shifted = LabelSet(truth.classes, truth.task, size=frames.size, n_frames=len(rng))
            for f in rng:
                if truth.task == "classes":
                    shifted.set_class(f - rng.start, sub_truth.frame_class(f))
                else:
                    shifted.set_boxes(f - rng.start, sub_truth.boxes(f) if f in sub_truth._boxes else [])
            report = simulate(frames[rng.start:rng.stop], shifted,
                              first_labels=min(first_labels, len(rng)), **kw)
            if report.walk is not None:
                walks[k] = len(report.walk.labels)
            table = report.table.assign(domain=f"frames {rng.start}-{rng.stop - 1}", domain_index=k)
            parts.append(table)
            for f in report.labels.looked_at:
                if truth.task == "classes":
                    _copy_class(report.labels, f, labels, f + rng.start)
                else:
                    labels.set_boxes(f + rng.start, report.labels.boxes(f))
            log.extend(type(a)(a.kind, a.frame + rng.start, a.round, a.label, a.time)
                       for a in report.actions.events)
            times = report.times
    per_domain = pd.concat(parts, ignore_index=True)
    if truth.task == "classes":
        return SimulationReport(_pool_class_rounds(per_domain), labels, log, domains=per_domain,
                                truth=truth, times=times)
    rounds = sorted(per_domain["round"].unique())
    rows = []
    for r in rounds:
        # a domain that finished early keeps its last figures in later rounds
        last = per_domain[per_domain["round"] <= r].groupby("domain_index").tail(1)
        now = per_domain[per_domain["round"] == r]
        tp, fp, fn, tight = (int(now[c].sum()) for c in ("tp", "fp", "fn", "accepted"))
        cum, n_labels = int(last["cumulative_actions"].sum()), int(last["labels"].sum())
        # interpolation's own loop in every domain, pooled: its actions over its labels
        interp_actions = last["interp_actions"].sum(min_count=1)
        interp_labels = last["interp_labels"].sum(min_count=1)
        walk_labels = sum(walks.values())
        rows.append({
            "round": int(r), "frames_reviewed": int(now["frames_reviewed"].sum()),
            "human_actions": int(now["human_actions"].sum()), "cumulative_actions": cum,
            "labels": n_labels,
            "recall": tp / (tp + fn) if r and tp + fn else (1.0 if r else float("nan")),
            "precision": tp / (tp + fp) if r and tp + fp else (1.0 if r else float("nan")),
            "tight_rate": tight / tp if tp else float("nan"), "mean_iou": float("nan"),
            "efficiency": efficiency(cum, n_labels),
            "labels_per_action": labels_per_action(n_labels, cum),
            "train_seconds": float(now["train_seconds"].sum()),
            "predict_seconds": float(now["predict_seconds"].sum()),
            "interp_recall": float("nan"), "interp_precision": float("nan"),
            "interp_tight_rate": float("nan"),
            "interp_efficiency": (1 - float(interp_actions) / float(interp_labels)
                                  if r and pd.notna(interp_labels) and interp_labels
                                  else float("nan")),
            "human_seconds": float(last["human_seconds"].sum()),
            "interp_human_seconds": (float(last["interp_human_seconds"].sum(min_count=1))
                                     if r else float("nan")),
            "by_hand_seconds": float(last["by_hand_seconds"].sum()),
            "tp": tp, "fp": fp, "fn": fn, "accepted": tight,
            # the walk of every domain, pooled: its actions over its labels
            "tracker_actions": float(last["tracker_actions"].sum(min_count=1)) if r else float("nan"),
            "tracker_efficiency": (1 - float(last["tracker_actions"].sum()) / walk_labels
                                   if r and walk_labels and last["tracker_actions"].notna().all()
                                   else float("nan")),
            "tracker_human_seconds": (float(last["tracker_human_seconds"].sum(min_count=1))
                                      if r else float("nan")),
            "interp_actions": interp_actions if r else float("nan"),
            "interp_labels": interp_labels if r else float("nan"),
        })
    return SimulationReport(pd.DataFrame(rows, columns=TABLE_COLUMNS), labels, log,
                            domains=per_domain, truth=truth, times=times)


# -- frame classes: the same loop for a frame classifier ------------------------------------
#: The columns of a simulation table on class truth (one row per round).
CLASS_TABLE_COLUMNS = [
    "round", "frames_reviewed", "human_actions", "cumulative_actions", "labels", "accuracy",
    "efficiency", "labels_per_action", "train_seconds", "predict_seconds", "interp_accuracy",
    "interp_efficiency", "human_seconds", "interp_human_seconds", "by_hand_seconds", "correct",
    "wrong",
]


def truth_task(truth) -> str:
    """``"classes"`` for frame-class truth (a class LabelSet, or a table with no box
    columns), else ``"boxes"``."""
    if isinstance(truth, LabelSet):
        return truth.task
    if isinstance(truth, pd.DataFrame) and "label" in truth and not {"x1", "y1", "x2", "y2"} & set(truth):
        return "classes"
    return "boxes"


def check_kind(kind, task: str) -> None:
    """Refuse a model kind that cannot learn what the truth holds, naming both."""
    from .models.base import model_class

    if not isinstance(kind, str) or kind in ("auto", "interpolate"):
        return
    learns = getattr(model_class(kind), "task", task)
    if learns != task:
        holds = {"classes": "frame classes (one class per frame)", "boxes": "boxes"}[task]
        does = {"classes": "classifies whole frames", "boxes": "detects boxes"}[learns]
        raise MMError(f"the truth holds {holds}, but model kind {kind!r} {does}: pass "
                      f"kind='auto' (or a kind that learns {task}), or truth of {learns}")


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


def _budget(review_budget: int | None, remaining: int, rounds_left: int) -> int:
    """Frames the oracle reviews this round: ``review_budget``, or the frames not looked at
    yet shared out evenly over the rounds left (the last round reviews what is left)."""
    return review_budget if review_budget is not None else math.ceil(remaining / rounds_left)


def _first_frames(frames, labels: LabelSet, first_labels, first_strategy, seed) -> list[int]:
    n = len(frames)
    if isinstance(first_labels, int):
        if first_labels < 1:
            raise MMError("first_labels must be at least 1")
        return list(select_frames(frames, min(first_labels, n), strategy=first_strategy, seed=seed))
    return [labels.check_frame(f) for f in first_labels]


def _simulate_class_rounds(call, frames, truth, *, first_labels, rounds, strategy, review_budget,
                           match_iou, tight_iou, kind, first_strategy, seed, progress, temporal,
                           times, proposals, baselines, **fit_settings) -> SimulationReport:
    """:func:`simulate` on frame-class truth.

    The same loop as for boxes: the first frames get their class by hand (one class action
    each), then every round trains a classifier on every class accepted so far (warm
    started), predicts the frames nobody has looked at, and the oracle reviews a share of
    them, least sure first: a right class is accepted (free), a wrong one set (one
    class action). ``accuracy`` is the round's model on the frames it had not seen;
    ``interp_accuracy`` / ``interp_efficiency`` are the same for the nearest labelled
    frame's class (:meth:`~mm_widgets.interpolate.InterpolationModel.class_at`), the
    no-model baseline, from the same looked-at frames.
    """
    truth = as_truth(truth, frames)
    n = len(frames)
    labels = LabelSet(truth.classes, "classes", size=frames.size, n_frames=n)
    log = ActionLog()
    oracle = ClassOracle(truth)
    first = _first_frames(frames, labels, first_labels, first_strategy, seed)
    for f in first:
        oracle.review(f, None, labels, log, round=0)
    rows = [_class_row(0, len(first), log, labels, None, None, 0.0, 0.0, None, times, None)]
    per_class = []
    fitted = None
    for r in range(1, rounds + 1):
        remaining = [f for f in range(n) if f not in labels]
        if not remaining:
            break
        call.step(r - 1, "training")
        start = time.perf_counter()
        fitted = train_model(frames, labels, kind, fitted, seed=seed, progress=progress,
                             **fit_settings)
        train_seconds = time.perf_counter() - start
        call.step(r - 1, f"predicting {len(remaining)} frames")
        start = time.perf_counter()
        predictions = fitted.predict(frames, indices=remaining, **predict_settings(fitted, temporal))
        predict_seconds = time.perf_counter() - start
        proposed = classes_by_frame(predictions)
        quality = evaluate_classes(proposed, truth, remaining)
        nearest = classes_by_frame(interpolate(frames, labels).predict(frames, indices=remaining))
        budget = _budget(review_budget, len(remaining), rounds - r + 1)
        order = rank_frames(frames, strategy, seed=seed + r, predictions=predictions, labels=labels)
        reviewed = order[:budget]
        interp_quality = evaluate_classes(nearest, truth, remaining)
        interp_actions = evaluate_classes(nearest, truth, reviewed)["actions"]
        before, before_seconds = len(log), times.of(log)
        for f in reviewed:
            oracle.review(f, proposed.get(f), labels, log, round=r)
        interp_eff = efficiency(before + interp_actions, len(labels))
        interp_seconds = (before_seconds + interp_actions * times["class"]
                          + (len(reviewed) - interp_actions) * times["accept"])
        mine = evaluate_classes_by_class(proposed, truth, remaining)
        theirs = evaluate_classes_by_class(nearest, truth, remaining)
        for c in truth.classes:
            per_class.append({
                "round": r, "label": c, "truth": int(mine.at[c, "truth"]),
                "recall": mine.at[c, "recall"], "precision": mine.at[c, "precision"],
                "interp_recall": theirs.at[c, "recall"], "interp_precision": theirs.at[c, "precision"]})
        rows.append(_class_row(r, len(reviewed), log, labels, quality, interp_quality,
                               train_seconds, predict_seconds, interp_eff, times, interp_seconds))
    table = pd.DataFrame(rows, columns=CLASS_TABLE_COLUMNS)
    return SimulationReport(table, labels, log, fitted, first,
                            per_class=pd.DataFrame(per_class) if per_class else None, truth=truth,
                            times=times)


def _class_row(r, reviewed, log, labels, quality, interp, train_s, predict_s, interp_eff, times,
               interp_seconds) -> dict:
    total = len(log)
    nan = float("nan")
    q, i = quality or {}, interp or {}
    return {
        "round": r, "frames_reviewed": reviewed, "human_actions": log.count(round=r),
        "cumulative_actions": total, "labels": len(labels),
        "accuracy": q.get("accuracy", nan), "efficiency": efficiency(total, len(labels)),
        "labels_per_action": labels_per_action(len(labels), total),
        "train_seconds": train_s, "predict_seconds": predict_s,
        "interp_accuracy": i.get("accuracy", nan),
        "interp_efficiency": nan if interp_eff is None else interp_eff,
        "human_seconds": times.of(log),
        "interp_human_seconds": nan if interp_seconds is None else interp_seconds,
        "by_hand_seconds": times.by_hand(labels),
        "correct": q.get("correct", 0), "wrong": q.get("wrong", 0),
    }


def _copy_class(src: LabelSet, frame: int, dst: LabelSet, to: int) -> None:
    """Frame ``frame``'s class in ``src`` (score, source, round and all) as frame ``to`` of ``dst``."""
    label, score, source, round_ = src._frame_class[frame]
    dst.set_class(to, label, score=score, source=source, round=round_)


def _pool_class_rounds(per_domain: pd.DataFrame) -> pd.DataFrame:
    """The totals over domains per round of class tables: accuracy pooled over every
    domain's frames (``correct``/``wrong``), efficiency from the summed actions and labels."""
    rows = []
    nan = float("nan")
    for r in sorted(per_domain["round"].unique()):
        # a domain that finished early keeps its last figures in later rounds
        last = per_domain[per_domain["round"] <= r].groupby("domain_index").tail(1)
        now = per_domain[per_domain["round"] == r]
        correct, wrong = int(now["correct"].sum()), int(now["wrong"].sum())
        cum, n_labels = int(last["cumulative_actions"].sum()), int(last["labels"].sum())
        interp_actions = ((1 - last["interp_efficiency"]) * last["labels"]).sum(min_count=1)
        interp_correct = (now["interp_accuracy"] * (now["correct"] + now["wrong"])).sum(min_count=1)
        rows.append({
            "round": int(r), "frames_reviewed": int(now["frames_reviewed"].sum()),
            "human_actions": int(now["human_actions"].sum()), "cumulative_actions": cum,
            "labels": n_labels,
            "accuracy": correct / (correct + wrong) if correct + wrong else nan,
            "efficiency": efficiency(cum, n_labels),
            "labels_per_action": labels_per_action(n_labels, cum),
            "train_seconds": float(now["train_seconds"].sum()),
            "predict_seconds": float(now["predict_seconds"].sum()),
            "interp_accuracy": (float(interp_correct) / (correct + wrong)
                                if correct + wrong and pd.notna(interp_correct) else nan),
            "interp_efficiency": (1 - float(interp_actions) / n_labels
                                  if r and n_labels and pd.notna(interp_actions) else nan),
            "human_seconds": float(last["human_seconds"].sum()),
            "interp_human_seconds": (float(last["interp_human_seconds"].sum(min_count=1))
                                     if r else nan),
            "by_hand_seconds": float(last["by_hand_seconds"].sum()),
            "correct": correct, "wrong": wrong,
        })
    return pd.DataFrame(rows, columns=CLASS_TABLE_COLUMNS)
