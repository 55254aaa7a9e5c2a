"""Feasibility check with known answers: an oracle plays the human in the micro-model loop.

``simulate(frames, truth)`` runs the micro-model loop: label a few frames, overfit a
micro-model, let it label the rest, review its proposals in selection order and correct
them (every correction counted), retrain on everything accepted, repeat. The oracle makes
the edit a person would make (:func:`mm_widgets.actions.corrections`) and it is counted by
the one rule the review widget counts a person's edits with
(:func:`mm_widgets.actions.diff_boxes`): the same edit gives the same count on both paths.

One loop for every task (:mod:`mm_widgets.tasks`): boxes, frame classes and instance
masks. With masks the oracle is shown the model's masks alone and leaves the true ones:
a tight mask (mask IoU >= ``tight_iou``) of the right class as shown (free), a loose one
or one of the wrong class corrected (one adjust), a missed one drawn, an extra one deleted,
counted by :func:`mm_widgets.actions.diff_masks` as the mask widgets count a person; the
figures are the box table's at mask IoU, beside keyframe interpolation of masks, and a
mask drawn or corrected is priced as a polygon (``ActionTimes(task="masks")``).

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

from .actions import ActionLog, ActionTimes, efficiency, format_seconds, labels_per_action
from .errors import MMError
from .interpolate import interpolate
from .labels import BOX_COLUMNS, POLYGONS, Box, LabelSet
from .metrics import efficiency_ceiling
from .models.progress import long_call
from .oracle import ClassOracle, MaskOracle, Oracle  # noqa: F401 (imported from here by notebooks, tests)
from .rounds import train_model
from .select import rank_frames, review_order, select_frames
from .tasks import CLASS_TABLE_COLUMNS, MASK_TABLE_COLUMNS, TABLE_COLUMNS, TASKS, Task  # noqa: F401 (as above)
from .temporal import predict_settings
from .tracker_walk import WalkResult


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
    #: frame -> what the oracle was shown there (the proposals of its round: boxes, or a
    #: frame class and its score)
    shown: dict[int, list[Box] | tuple] = field(default_factory=dict)

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
            text += f"; with {self._task.baseline}: {format_seconds(last['interp_human_seconds'])}"
        if pd.notna(last.get("tracker_human_seconds", float("nan"))):
            text += f"; with the tracker walk: {format_seconds(last['tracker_human_seconds'])}"
        return text + (f" (seconds per event: {self.times!r})" if self.times is not None else "")

    def plot(self):
        """Efficiency and recall (frame classes: accuracy) per round, beside interpolation
        (the nearest labelled frame's class), with the method's published marks
        (:mod:`mm_widgets.plots`)."""
        from .plots import efficiency_figure

        return efficiency_figure(self.table, task=self._task.name, baseline=self._task.legend)

    @property
    def _task(self) -> type[Task]:
        return TASKS[self.truth.task if self.truth is not None else "boxes"]

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.human_time)}</p>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}"))


#: What the oracle can be shown (see :func:`simulate`'s ``proposals``).
PROPOSALS = ("fused", "detections", "carried")
def simulate(frames, truth, *, first_labels: int | Sequence[int] = 5, rounds: int = 3,
             strategy="auto", review_budget: int | None = None, match_iou: float = 0.5,
             tight_iou: float = 0.75, kind="auto", first_strategy="diverse", seed: int = 0,
             progress: bool = True, domains=None, temporal="auto", action_times=None,
             proposals: str | None = None, baselines: Sequence[str] = ("interpolate", "tracker"),
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
        or sets the true one (one class action), see :class:`mm_widgets.tasks.ClassTask`.
        Or instance masks: a LabelSet with ``task="masks"`` or a DataFrame with a
        ``polygons`` column; the loop trains a mask model (``kind="auto"``) or interpolates
        masks (``kind="interpolate"``), see :class:`mm_widgets.tasks.MaskTask`.
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
        a kind that learns another task than the truth holds is refused.
    proposals
        What the oracle is shown on a frame (boxes): ``"fused"`` (the model's raw boxes
        fused with boxes carried from every frame confirmed so far, this round's included:
        :class:`~mm_widgets.propagate.Proposer`, what ``review()`` shows a person),
        ``"detections"`` (the model alone, each frame on its own) or ``"carried"`` (carried
        boxes alone: no model is trained). None: ``"fused"`` for boxes; masks are always
        shown as the model made them (``"detections"``).
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
        class. With mask truth they are :data:`MASK_TABLE_COLUMNS`: the box columns but the
        tracker walk's, recall, precision, tight rate and mean IoU at mask IoU, ``interp_*``
        for keyframe interpolation of masks, seconds priced with ``ActionTimes(task="masks")``
        unless ``action_times`` is an ActionTimes.
    """
    task = truth_task(truth)
    if task not in TASKS:
        raise MMError(f"simulate() runs on truth of {' or '.join(TASKS)}, not of {task}")
    check_kind(kind, task)
    if proposals is not None and proposals not in PROPOSALS:
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
    with long_call(progress, rounds, "round") as call:
        return _simulate_rounds(
            call, frames, truth, first_labels=first_labels, rounds=rounds, strategy=strategy,
            review_budget=review_budget, match_iou=match_iou, tight_iou=tight_iou, kind=kind,
            first_strategy=first_strategy, seed=seed, progress=progress, temporal=temporal,
            times=(action_times if isinstance(action_times, ActionTimes)
                   else ActionTimes(action_times, task=task)),
            proposals=proposals, baselines=baselines, **fit_settings)


def _simulate_rounds(call, frames, truth, *, first_labels, rounds, strategy, review_budget,
                     kind, first_strategy, seed, progress, times, match_iou, tight_iou, temporal,
                     proposals, baselines, **fit_settings) -> SimulationReport:
    """:func:`simulate` on one domain, for every task (:mod:`mm_widgets.tasks`); its rounds
    are reported to ``call`` (a LongCall)."""
    truth = as_truth(truth, frames)
    task = TASKS[truth.task](frames, truth, times, match_iou=match_iou, tight_iou=tight_iou,
                             temporal=temporal, baselines=baselines,
                             **({} if proposals is None else {"proposals": proposals}))
    n = len(frames)
    labels = LabelSet(truth.classes, truth.task, size=frames.size, n_frames=n)
    log = ActionLog()
    first = _first_frames(frames, labels, first_labels, first_strategy, seed)
    for f in first:
        task.oracle.review(f, task.nothing, labels, log, round=0)
    task.begin(labels, log, call)
    rows = [_row(task, 0, len(first), log, labels)]
    per_class, shown, fitted = [], {}, None
    for r in range(1, rounds + 1):
        remaining = [f for f in range(n) if f not in labels]
        if not remaining:
            break
        call.step(r - 1, "training")
        start = time.perf_counter()
        fitted = (train_model(frames, labels, kind, fitted, seed=seed, progress=progress,
                              **fit_settings) if task.learns else None)
        train_seconds = time.perf_counter() - start
        call.step(r - 1, f"predicting {len(remaining)} frames")
        start = time.perf_counter()
        predictions = (pd.DataFrame(columns=BOX_COLUMNS) if fitted is None else fitted.predict(
            frames, indices=remaining, **predict_settings(fitted, task.temporal)))
        predict_seconds = time.perf_counter() - start
        proposed = task.by_frame(labels.fresh_tracks(predictions))
        baseline = task.by_frame(interpolate(frames, labels).predict(frames, indices=remaining))
        quality, baseline_quality = task.evaluate(proposed, remaining), task.evaluate(baseline, remaining)
        budget = _budget(review_budget, len(remaining), rounds - r + 1)
        reviewed = rank_frames(frames, strategy, seed=seed + r, predictions=predictions,
                               labels=labels, count=budget)[:budget]
        before = len(log), times.of(log)
        task.start_round(labels, proposed)
        for f in reviewed:
            shown[f] = task.propose(f, proposed)
            task.oracle.review(f, shown[f], labels, log, round=r)
            task.confirmed(f, shown[f], labels)
        if len(truth.classes) > 1:
            mine, theirs = (task.evaluate(p, remaining, by_class=True) for p in (proposed, baseline))
            per_class += [{"round": r, "label": c, "truth": int(mine.at[c, "truth"]),
                           **{k: mine.at[c, k] for k in task.class_figures},
                           **{f"interp_{k}": theirs.at[c, k] for k in task.class_figures}}
                          for c in truth.classes]
        rows.append(_row(task, r, len(reviewed), log, labels, train_seconds, predict_seconds,
                         quality, baseline_quality,
                         task.baseline_round(r, reviewed, baseline, labels, log, before)))
    return SimulationReport(pd.DataFrame(rows, columns=task.columns), labels, log, fitted, first,
                            per_class=pd.DataFrame(per_class) if per_class else None, truth=truth,
                            times=times, shown=shown, **task.report_extras())


def _row(task: Task, r, reviewed, log, labels, train_s=0.0, predict_s=0.0, quality=None,
         baseline_quality=None, baseline_columns=()) -> dict:
    """One round's row: the columns every task has, then the task's (NaN where it has none)."""
    total = len(log)
    return {
        **dict.fromkeys(task.columns, float("nan")),
        "round": r, "frames_reviewed": reviewed, "human_actions": log.count(round=r),
        "cumulative_actions": total, "labels": len(labels),
        "efficiency": efficiency(total, len(labels)),
        "labels_per_action": labels_per_action(len(labels), total),
        "train_seconds": train_s, "predict_seconds": predict_s,
        "human_seconds": task.times.of(log), "by_hand_seconds": task.times.by_hand(labels),
        **task.figures(quality, baseline_quality), **dict(baseline_columns),
    }


def simulate_domains(frames, truth, domains, *, first_labels=5, **kw) -> SimulationReport:
    """One simulation per domain (frames ``range``), then the totals over domains per round.

    Recall and precision of the totals are pooled over every domain's boxes (from the
    ``tp``/``fp``/``fn`` counts), accuracy over every domain's frames, efficiency from the
    summed actions and labels.
    """
    from .assembly import split_shots

    truth = as_truth(truth, frames)
    ranges = split_shots(frames) if domains == "shots" else [range(d.start, d.stop) for d in domains]
    if not isinstance(first_labels, int):
        raise MMError("with domains=, first_labels is a number of frames per domain")
    parts, reports = [], []
    labels, log = LabelSet(truth.classes, truth.task, size=frames.size, n_frames=len(frames)), ActionLog()
    with long_call(kw.get("progress", True), len(ranges), "shot") as call:
        for k, rng in enumerate(ranges):
            call.step(k, f"frames {rng.start}-{rng.stop - 1}")
            shifted = LabelSet(truth.classes, truth.task, size=frames.size, n_frames=len(rng))
            for f in rng:  # a frame's labels, scores, sources and rounds
                shifted.apply_frame_state({**truth.frame_state(f), "frame": f - rng.start})
            report = simulate(frames[rng.start:rng.stop], shifted,
                              first_labels=min(first_labels, len(rng)), **kw)
            reports.append(report)
            parts.append(report.table.assign(domain=f"frames {rng.start}-{rng.stop - 1}",
                                              domain_index=k))
            for f in report.labels.looked_at:
                labels.apply_frame_state({**report.labels.frame_state(f), "frame": f + rng.start})
            log.extend(type(a)(a.kind, a.frame + rng.start, a.round, a.label, a.time)
                       for a in report.actions.events)
    per_domain = pd.concat(parts, ignore_index=True)
    return SimulationReport(_pool(TASKS[truth.task], per_domain, reports), labels, log,
                            domains=per_domain, truth=truth, times=reports[-1].times)


def _pool(task: type[Task], per_domain: pd.DataFrame, reports) -> pd.DataFrame:
    """The totals over domains per round: the columns every task has here, the task's own
    from :meth:`~mm_widgets.tasks.Task.pool`."""
    rows = []
    nan = float("nan")
    for r in sorted(per_domain["round"].unique()):
        # a domain that finished early keeps its last figures in later rounds
        last = per_domain[per_domain["round"] <= r].groupby("domain_index").tail(1)
        now = per_domain[per_domain["round"] == r]
        cum, n_labels = int(last["cumulative_actions"].sum()), int(last["labels"].sum())
        interp_actions, interp_labels = task.pooled_baseline(last, n_labels)
        rows.append({
            **dict.fromkeys(task.columns, nan),
            "round": int(r), "frames_reviewed": int(now["frames_reviewed"].sum()),
            "human_actions": int(now["human_actions"].sum()), "cumulative_actions": cum,
            "labels": n_labels, "efficiency": efficiency(cum, n_labels),
            "labels_per_action": labels_per_action(n_labels, cum),
            "train_seconds": float(now["train_seconds"].sum()),
            "predict_seconds": float(now["predict_seconds"].sum()),
            "interp_efficiency": (1 - float(interp_actions) / float(interp_labels)
                                  if r and pd.notna(interp_labels) and interp_labels else nan),
            "human_seconds": float(last["human_seconds"].sum()),
            "interp_human_seconds": (float(last["interp_human_seconds"].sum(min_count=1))
                                     if r else nan),
            "by_hand_seconds": float(last["by_hand_seconds"].sum()),
            "interp_actions": interp_actions if r else nan,
            "interp_labels": interp_labels if r else nan,
            **task.pool(now, last, r, reports),
        })
    return pd.DataFrame(rows, columns=task.columns)


def truth_task(truth) -> str:
    """``"classes"`` for frame-class truth (a class LabelSet, or a table with no box
    columns), ``"masks"`` for mask truth (a masks LabelSet, or a table with a ``polygons``
    column), else ``"boxes"``."""
    if isinstance(truth, LabelSet):
        return truth.task
    if isinstance(truth, pd.DataFrame) and POLYGONS in truth:
        return "masks"
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
        does = TASKS[learns].does if learns in TASKS else f"learns {learns}"
        raise MMError(f"the truth holds {TASKS[task].holds}, but model kind {kind!r} {does}: "
                      f"pass kind='auto' (or a kind that learns {task}), or truth of {learns}")


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
