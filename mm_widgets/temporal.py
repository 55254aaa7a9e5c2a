"""Temporal consistency for video predictions: link boxes into tracks across frames.

A micro-model sees each frame alone; a video does not change much from one frame to the
next. Linking boxes of neighbouring frames (same class, overlapping) into tracks lets us:

- fill one-frame gaps (a box on frames f-1 and f+1 of one track, none on f),
- drop one-frame ghosts (a box with no partner on either neighbouring frame, while both
  neighbours were predicted), and
- smooth box edges along a track with a symmetric [1, 2, 1] window, which leaves steady
  and straight-line motion unchanged and removes frame-to-frame jitter.

Only frames that were predicted take part: a frame outside the predicted set is never
filled, and a box whose neighbours were not predicted is never called a ghost.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .labels import BOX_COLUMNS, box_iou


def near(a: np.ndarray, b: np.ndarray, move: float = 0.75, size: float = 1.5) -> np.ndarray:
    """``(len(a), len(b))``: boxes of about the same size (each side within ``size`` x)
    whose centres are less than ``move`` x their mean size apart."""
    wa, ha = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    wb, hb = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    ca = np.stack([(a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2], 1)
    cb = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], 1)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    scale = (np.sqrt(wa * ha)[:, None] + np.sqrt(wb * hb)[None, :]) / 2
    rw = np.maximum(wa[:, None], wb[None, :]) / np.maximum(np.minimum(wa[:, None], wb[None, :]), 1e-9)
    rh = np.maximum(ha[:, None], hb[None, :]) / np.maximum(np.minimum(ha[:, None], hb[None, :]), 1e-9)
    return (dist < move * scale) & (rw <= size) & (rh <= size)


def link_tracks(df: pd.DataFrame, link_iou: float = 0.3, max_gap: int = 1) -> np.ndarray:
    """A track id per row of ``df``: rows on frames up to ``max_gap + 1`` apart that overlap
    by ``link_iou`` or more (same class) share an id. Greedy, highest IoU first."""
    track = np.full(len(df), -1, dtype=np.int64)
    if not len(df):
        return track
    frames = df["frame"].to_numpy()
    xyxy = df[["x1", "y1", "x2", "y2"]].to_numpy(float)
    labels = df["label"].to_numpy()
    rows_of = {f: np.flatnonzero(frames == f) for f in np.unique(frames)}
    last_seen: dict[int, int] = {}  # track id -> its newest row
    next_id = 0
    for f in sorted(rows_of):
        rows = rows_of[f]
        # candidate tracks: those whose newest box is 1..max_gap+1 frames back
        open_tracks = [(t, r) for t, r in last_seen.items() if 0 < f - frames[r] <= max_gap + 1]
        if open_tracks:
            prev = np.array([r for _, r in open_tracks])
            iou = box_iou(xyxy[rows], xyxy[prev])
            # A small object moving fast overlaps its last box little: a box of about the
            # same size whose centre moved less than 3/4 of its size still links, after
            # every overlap-based link (it counts as the weakest overlap that links).
            iou = np.where((iou < link_iou) & near(xyxy[rows], xyxy[prev]), link_iou, iou)
            iou = np.where(labels[rows][:, None] == labels[prev][None, :], iou, 0.0)
            # prefer the nearest frame back, then the best overlap
            gap = f - frames[prev]
            score = iou - 1e-3 * gap[None, :]
            for flat in np.argsort(-score, axis=None, kind="stable"):
                i, j = np.unravel_index(flat, score.shape)
                if iou[i, j] < link_iou:
                    break
                if track[rows[i]] >= 0 or open_tracks[j][0] in {track[r] for r in rows}:
                    continue
                track[rows[i]] = open_tracks[j][0]
        for r in rows:
            if track[r] < 0:
                track[r] = next_id
                next_id += 1
            last_seen[int(track[r])] = int(r)
    return track


def smooth_predictions(df: pd.DataFrame, predicted: Iterable[int] | None = None, *,
                       link_iou: float = 0.3, fill_gaps: bool = True, drop_ghosts: bool = True,
                       smooth: bool = True) -> pd.DataFrame:
    """Make per-frame predictions consistent in time (see the module docstring).

    Parameters
    ----------
    df
        Predictions with LabelSet columns.
    predicted
        The frames the model was run on (default: the frames in ``df``; pass it so that
        frames predicted empty count as predicted).
    """
    if not len(df):
        return df.copy()
    df = df.reset_index(drop=True).copy()
    predicted = set(int(f) for f in (df["frame"].unique() if predicted is None else predicted))
    df["_track"] = link_tracks(df, link_iou)
    out = []
    for _, t in df.sort_values("frame").groupby("_track", sort=False):
        frames = t["frame"].to_numpy()
        if drop_ghosts and len(t) == 1:
            f = int(frames[0])
            if f - 1 in predicted and f + 1 in predicted:
                continue
        if fill_gaps and len(t) > 1:
            t = _fill_gaps(t, predicted)
        if smooth and len(t) > 2:
            t = _smooth(t)
        out.append(t)
    if not out:
        return df.iloc[0:0][BOX_COLUMNS].copy()
    result = pd.concat(out, ignore_index=True).drop(columns="_track")
    return result.sort_values(["frame", "x1"], kind="stable").reset_index(drop=True)[BOX_COLUMNS]


def _fill_gaps(t: pd.DataFrame, predicted: set[int]) -> pd.DataFrame:
    rows = [t]
    records = t.to_dict("records")
    for a, b in zip(records, records[1:], strict=False):
        if b["frame"] - a["frame"] == 2 and a["frame"] + 1 in predicted:
            mid = dict(a)
            mid["frame"] = a["frame"] + 1
            for c in ("x1", "y1", "x2", "y2"):
                mid[c] = (a[c] + b[c]) / 2
            mid["score"] = min(a["score"], b["score"]) if pd.notna(a["score"]) else a["score"]
            rows.append(pd.DataFrame([mid]))
    return pd.concat(rows, ignore_index=True).sort_values("frame") if len(rows) > 1 else t


def _smooth(t: pd.DataFrame) -> pd.DataFrame:
    t = t.copy()
    frames = t["frame"].to_numpy()
    xyxy = t[["x1", "y1", "x2", "y2"]].to_numpy(float)
    smoothed = xyxy.copy()
    for i in range(1, len(t) - 1):
        if frames[i] - frames[i - 1] == 1 and frames[i + 1] - frames[i] == 1:
            smoothed[i] = (xyxy[i - 1] + 2 * xyxy[i] + xyxy[i + 1]) / 4
    t[["x1", "y1", "x2", "y2"]] = smoothed
    return t


def temporal_wanted(temporal, frames) -> bool:
    """``temporal="auto"`` means on for frames decoded from a video, off otherwise."""
    if temporal == "auto":
        return bool(getattr(frames, "is_video", False))
    return bool(temporal)


def predict_settings(model, temporal) -> dict:
    """``{"temporal": temporal}`` for models whose ``predict`` takes it, else nothing."""
    import inspect

    try:
        takes = "temporal" in inspect.signature(model.predict).parameters
    except (TypeError, ValueError):
        takes = False
    return {"temporal": temporal} if takes else {}
