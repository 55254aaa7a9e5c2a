"""Temporal consistency for video predictions: link boxes into tracks across frames.

A micro-model sees each frame alone; a video does not change much from one frame to the
next. Linking boxes of neighbouring frames (same class, overlapping) into tracks lets us:

- fill one-frame gaps (a box on frames f-1 and f+1 of one track, none on f),
- drop one-frame ghosts (a box with no partner on either neighbouring frame, while both
  neighbours were predicted), and
- smooth box edges along a track with a symmetric [1, 2, 1] window, which leaves steady
  and straight-line motion unchanged and removes frame-to-frame jitter.

The linking itself (:func:`~mm_widgets.labels.link_tracks`) lives with the boxes, so that
a label set and its exports can give every box a track id; the smoothed table keeps the
ids in its ``track`` column.

Only frames that were predicted take part: a frame outside the predicted set is never
filled, and a box whose neighbours were not predicted is never called a ghost.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .labels import BOX_COLUMNS, TRACK, link_tracks


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
    columns = [*BOX_COLUMNS, TRACK]
    if not len(df):
        return df.reindex(columns=columns).astype({TRACK: "Int64"})
    df = df.reset_index(drop=True).copy()
    predicted = set(int(f) for f in (df["frame"].unique() if predicted is None else predicted))
    df[TRACK] = link_tracks(df, link_iou)
    out = []
    for _, t in df.sort_values("frame").groupby(TRACK, sort=False):
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
        return df.iloc[0:0][columns].astype({TRACK: "Int64"})
    result = pd.concat(out, ignore_index=True).astype({TRACK: "Int64"})
    return result.sort_values(["frame", "x1"], kind="stable").reset_index(drop=True)[columns]


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
