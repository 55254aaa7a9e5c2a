"""Detection figures measured against truth: recall, precision, tight rate, mean IoU, actions;
for boxes (:func:`evaluate`, box IoU), masks (:func:`evaluate_masks`, mask IoU) and frame
classes (:func:`evaluate_classes`).

All of them come from :func:`mm_widgets.actions.corrections`: recall and precision from its
greedy IoU matching, the action counts from the edit a person would make, counted by the
one rule (:func:`mm_widgets.actions.diff_boxes`) the widgets count a person's edits with.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .actions import corrections, diff_class
from .errors import LabelError
from .labels import POLYGONS, TRACK, Box, LabelSet, Mask


def boxes_by_frame(predictions: pd.DataFrame | LabelSet | None) -> dict[int, list[Box]]:
    """Group a predictions table (LabelSet columns) or a LabelSet into ``{frame: [Box]}``."""
    if predictions is None:
        return {}
    if isinstance(predictions, LabelSet):
        return {f: predictions.boxes(f) for f in predictions.frames}
    out: dict[int, list[Box]] = {}
    if len(predictions) == 0:
        return out
    score = predictions["score"] if "score" in predictions else pd.Series(np.nan, predictions.index)
    source = predictions["source"] if "source" in predictions else pd.Series("model", predictions.index)
    track = ([None if pd.isna(t) else int(t) for t in predictions[TRACK].tolist()]
             if TRACK in predictions else [None] * len(predictions))
    for f, x1, y1, x2, y2, label, s, src, t in zip(
            predictions["frame"].tolist(), predictions["x1"].tolist(), predictions["y1"].tolist(),
            predictions["x2"].tolist(), predictions["y2"].tolist(), predictions["label"].tolist(),
            score.tolist(), source.tolist(), track, strict=True):
        out.setdefault(int(f), []).append(
            Box(x1, y1, x2, y2, label, None if s is None or s != s else s, src, t))
    return out


def truth_boxes(truth: LabelSet | pd.DataFrame, frame: int) -> list[Box]:
    """True boxes of one frame; a frame the truth does not mention has none."""
    if isinstance(truth, LabelSet):
        return truth.boxes(frame) if frame in truth._boxes else []
    return boxes_by_frame(truth[truth["frame"] == frame]).get(frame, [])


def masks_by_frame(predictions: pd.DataFrame | LabelSet | None) -> dict[int, list[Mask]]:
    """Group a masks table (:attr:`LabelSet.df` of masks: the box columns, ``track`` and
    ``polygons``, each cell a list of rings or that list as JSON text) or a masks LabelSet
    into ``{frame: [Mask]}``. The box columns are not read: a mask's box is its points'."""
    if predictions is None:
        return {}
    if isinstance(predictions, LabelSet):
        return {f: predictions.masks(f) for f in predictions.frames}
    if len(predictions) == 0:
        return {}
    if POLYGONS not in predictions:
        raise LabelError(f"a masks table needs a {POLYGONS!r} column; it has {list(predictions.columns)}")
    masks = LabelSet.from_df(predictions, sorted(set(predictions["label"].astype(str))),
                             source="model")
    return {f: masks.masks(f) for f in masks.frames}


def truth_masks(truth: LabelSet, frame: int) -> list[Mask]:
    """True masks of one frame; a frame the truth does not mention has none."""
    return truth.masks(frame) if frame in truth._boxes else []


def evaluate(predictions, truth: LabelSet, frames: Iterable[int], *, match_iou: float = 0.5,
             tight_iou: float = 0.75, label: str | None = None) -> dict:
    """Match predictions to truth on ``frames`` and count what a reviewer would have to do.

    Matching is per class (a box of the wrong class matches nothing); with ``label`` only
    the boxes of that class, on both sides, are counted.

    Returns a dict with ``recall``, ``precision``, ``tight_rate`` (share of matched boxes
    with IoU >= ``tight_iou``), ``mean_iou`` (over matched boxes), ``tp``, ``fp``, ``fn``,
    ``truth`` (true boxes), ``predicted``, ``accepted`` (tight boxes: free), the actions a
    reviewer makes by kind (``adjust``, ``delete``, ``draw``) and ``actions`` (their sum,
    counted by the one rule), and ``frames_accepted`` (frames needing no action).
    """
    pred = predictions if isinstance(predictions, dict) else boxes_by_frame(predictions)
    return _judge(pred, lambda f: truth_boxes(truth, f), frames, match_iou, tight_iou, label)


def evaluate_masks(predictions, truth: LabelSet, frames: Iterable[int], *, match_iou: float = 0.5,
                   tight_iou: float = 0.75, label: str | None = None) -> dict:
    """:func:`evaluate` for masks: the same figures and keys, matched by mask IoU (a mask is
    found at mask IoU >= ``match_iou`` and tight at >= ``tight_iou``), the actions counted
    by :func:`~mm_widgets.actions.diff_masks`. ``predictions``: a masks table, a masks
    LabelSet or ``{frame: [Mask]}``; ``truth``: a masks LabelSet."""
    truth.require("masks")
    pred = predictions if isinstance(predictions, dict) else masks_by_frame(predictions)
    return _judge(pred, lambda f: truth_masks(truth, f), frames, match_iou, tight_iou, label)


def _judge(pred: dict, true_of, frames, match_iou, tight_iou, label) -> dict:
    """:func:`evaluate` over ``{frame: proposals}`` and ``true_of(frame)`` (boxes or masks)."""
    counts = dict(tp=0, fp=0, fn=0, accepted=0, adjust=0, delete=0, draw=0, frames_accepted=0)
    ious: list[float] = []
    for f in frames:
        proposed, true = pred.get(int(f), []), true_of(int(f))
        if label is not None:
            proposed = [b for b in proposed if b.label == label]
            true = [b for b in true if b.label == label]
        c = corrections(proposed, true, match_iou, tight_iou)
        counts["tp"] += len(c.tight) + len(c.loose)
        counts["fp"] += len(c.unmatched_proposed)
        counts["fn"] += len(c.unmatched_truth)
        counts["accepted"] += len(c.tight)
        for kind in c.actions:
            counts[kind] += 1
        counts["frames_accepted"] += not c.actions
        ious.extend(c.ious)
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return {
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "tight_rate": counts["accepted"] / tp if tp else 0.0,
        "mean_iou": float(np.mean(ious)) if ious else 0.0,
        "truth": tp + fn, "predicted": tp + fp,
        "actions": counts["adjust"] + counts["delete"] + counts["draw"],
        **counts,
    }


def evaluate_by_class(predictions, truth: LabelSet, frames: Iterable[int], **settings) -> pd.DataFrame:
    """:func:`evaluate` for each class of ``truth``: one row per class (index ``label``)."""
    pred = predictions if isinstance(predictions, dict) else boxes_by_frame(predictions)
    frames = list(frames)
    rows = {c: evaluate(pred, truth, frames, label=c, **settings) for c in truth.classes}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("label")


def evaluate_masks_by_class(predictions, truth: LabelSet, frames: Iterable[int],
                            **settings) -> pd.DataFrame:
    """:func:`evaluate_masks` for each class of ``truth``: one row per class (index ``label``)."""
    pred = predictions if isinstance(predictions, dict) else masks_by_frame(predictions)
    frames = list(frames)
    rows = {c: evaluate_masks(pred, truth, frames, label=c, **settings) for c in truth.classes}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("label")


# -- frame classes --------------------------------------------------------------------------
def classes_by_frame(predictions: pd.DataFrame | LabelSet | None) -> dict[int, tuple[str, float | None]]:
    """Group a class predictions table (``frame, label[, score]``) or a class LabelSet into
    ``{frame: (label, score)}``; a frame named twice keeps its last row."""
    if predictions is None:
        return {}
    df = predictions.df if isinstance(predictions, LabelSet) else predictions
    if len(df) == 0:
        return {}
    score = df["score"] if "score" in df else pd.Series(np.nan, df.index)
    return {int(f): (str(c), None if s is None or s != s else float(s))
            for f, c, s in zip(df["frame"].tolist(), df["label"].tolist(), score.tolist(), strict=True)}


def evaluate_classes(predictions, truth: LabelSet, frames: Iterable[int], *,
                     label: str | None = None) -> dict:
    """Predicted frame classes against the true ones on ``frames``.

    Returns a dict with ``accuracy`` (share of frames whose class is right), ``correct``,
    ``wrong`` (a frame with no prediction is wrong), ``frames``, and ``actions``: what a
    reviewer has to do, one class action per wrong frame (:func:`~mm_widgets.actions.diff_class`).
    With ``label``: ``recall`` (of the frames truly ``label``, the share predicted so),
    ``precision`` (of the frames predicted ``label``, the share truly so), ``truth`` and
    ``predicted`` frame counts for that class.
    """
    pred = predictions if isinstance(predictions, dict) else classes_by_frame(predictions)
    truth.require("classes")
    correct = wrong = actions = 0
    tp = fp = fn = 0
    for f in frames:
        shown = pred.get(int(f), (None, None))[0]
        true = truth.frame_class(int(f))
        ok = shown == true
        correct += ok
        wrong += not ok
        actions += len(diff_class(shown, true))
        if label is not None:
            tp += ok and true == label
            fp += shown == label and not ok
            fn += true == label and not ok
    n = correct + wrong
    out = {"accuracy": correct / n if n else float("nan"), "correct": correct, "wrong": wrong,
           "frames": n, "actions": actions}
    if label is not None:
        out.update(truth=tp + fn, predicted=tp + fp,
                   recall=tp / (tp + fn) if tp + fn else float("nan"),
                   precision=tp / (tp + fp) if tp + fp else float("nan"))
    return out


def evaluate_classes_by_class(predictions, truth: LabelSet, frames: Iterable[int]) -> pd.DataFrame:
    """:func:`evaluate_classes` for each class of ``truth``: one row per class (index ``label``)."""
    pred = predictions if isinstance(predictions, dict) else classes_by_frame(predictions)
    frames = list(frames)
    rows = {c: evaluate_classes(pred, truth, frames, label=c) for c in truth.classes}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("label")


def loose_share(truth: LabelSet, edge_px: float, *, tight_iou: float = 0.75, draws: int = 20,
                seed: int = 0) -> float:
    """Share of perfect boxes a reviewer would still call loose because the truth itself is
    only good to about ``edge_px`` per edge: each true box against copies of itself with
    every edge moved uniformly within +-``edge_px``, IoU below ``tight_iou``."""
    df = truth.df
    if edge_px <= 0 or df.empty:
        return 0.0
    rng = np.random.default_rng(seed)
    xyxy = df[["x1", "y1", "x2", "y2"]].to_numpy(float)
    lo, hi = xyxy[:, :2], xyxy[:, 2:]
    area = np.prod(np.clip(hi - lo, 0, None), axis=1)
    loose = 0
    for _ in range(draws):
        moved = xyxy + rng.uniform(-edge_px, edge_px, xyxy.shape)
        # each box against its own moved copy only (box_iou would pair every two boxes)
        inter = np.prod(np.clip(np.minimum(hi, moved[:, 2:]) - np.maximum(lo, moved[:, :2]),
                                0, None), axis=1)
        moved_area = np.prod(np.clip(moved[:, 2:] - moved[:, :2], 0, None), axis=1)
        iou = inter / np.maximum(area + moved_area - inter, 1e-9)
        loose += int((iou < tight_iou).sum())
    return loose / (draws * len(xyxy))


def efficiency_ceiling(truth: LabelSet, first_boxes: int, edge_px: float = 0.0, *,
                       tight_iou: float = 0.75) -> float:
    """The best label efficiency a loop on this clip can reach: the ``first_boxes`` drawn by
    hand cost one action each, and a perfect model's boxes still cost an adjust where the
    truth's own edge error (``edge_px``) makes them look loose. With frame classes (no
    edges) a perfect model costs nothing after the first labels."""
    total = len(truth)
    if total == 0:
        return 0.0
    rest = max(total - first_boxes, 0)
    loose = 0.0 if truth.task == "classes" else loose_share(truth, edge_px, tight_iou=tight_iou)
    return 1.0 - (first_boxes + loose * rest) / total
