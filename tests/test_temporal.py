"""Temporal consistency: fills a planted gap, drops a planted ghost, leaves steady tracks be."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mm_widgets.labels import BOX_COLUMNS
from mm_widgets.temporal import link_tracks, smooth_predictions


def track(frames, x0=10.0, dx=2.0, w=20.0, label="a", score=0.9):
    return [(f, x0 + dx * f, 10.0, x0 + dx * f + w, 30.0, label, score, "model", 0) for f in frames]


def table(rows):
    return pd.DataFrame(rows, columns=BOX_COLUMNS)


def test_steady_and_linear_tracks_unchanged():
    df = table(track(range(10)) + track(range(10), x0=200, dx=0, label="b"))
    out = smooth_predictions(df)
    merged = out.merge(df, on=["frame", "label"], suffixes=("", "_in"))
    assert len(out) == 20
    assert np.allclose(merged[["x1", "x2"]].values, merged[["x1_in", "x2_in"]].values)


def test_planted_gap_is_filled():
    rows = [r for r in track(range(10)) if r[0] != 5]
    out = smooth_predictions(table(rows), predicted=range(10))
    f5 = out[out.frame == 5]
    assert len(f5) == 1 and f5.x1.iloc[0] == 20.0  # halfway between frames 4 and 6


def test_gap_outside_predicted_frames_not_filled():
    rows = [r for r in track(range(10)) if r[0] != 5]
    out = smooth_predictions(table(rows), predicted=[f for f in range(10) if f != 5])
    assert 5 not in set(out.frame)


def test_planted_ghost_is_dropped_and_lone_edge_box_kept():
    rows = track(range(10)) + [(4, 300.0, 50.0, 330.0, 80.0, "a", 0.6, "model", 0)]
    out = smooth_predictions(table(rows), predicted=range(10))
    assert len(out) == 10 and not (out.x1 == 300.0).any()
    # A lone box whose neighbours were not predicted is not called a ghost.
    lone = table([(4, 300.0, 50.0, 330.0, 80.0, "a", 0.6, "model", 0)])
    assert len(smooth_predictions(lone, predicted=[4])) == 1


def test_jitter_is_smoothed():
    rows = track(range(7))
    rows[3] = (3, 16.0 + 4, 10.0, 36.0 + 4, 30.0, "a", 0.9, "model", 0)  # 4 px jitter
    out = smooth_predictions(table(rows))
    assert abs(out[out.frame == 3].x1.iloc[0] - 16.0) <= 2.0


def test_link_tracks_respects_classes():
    rows = track(range(3), label="a") + track(range(3), label="b")
    ids = link_tracks(table(rows))
    assert len(set(ids[:3])) == 1 and len(set(ids[3:])) == 1 and ids[0] != ids[3]


def test_a_small_fast_object_stays_one_track_and_is_not_dropped_as_ghosts():
    # 12 px wide, 8 px a frame: consecutive boxes overlap with IoU 0.2, below link_iou.
    rows = track(range(8), x0=10.0, dx=8.0, w=12.0)
    assert len(set(link_tracks(table(rows)))) == 1
    out = smooth_predictions(table(rows), predicted=range(8))
    assert len(out) == 8


def test_two_people_side_by_side_stay_two_tracks():
    rows = track(range(6), x0=10.0, dx=1.0, w=20.0) + track(range(6), x0=34.0, dx=1.0, w=20.0)
    ids = link_tracks(table(rows))
    assert len(set(ids)) == 2
    assert len(smooth_predictions(table(rows), predicted=range(6))) == 12
