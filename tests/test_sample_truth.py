"""Sanity checks on the hand-made ground truth shipped for the carphone and bikes sample clips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mm_widgets

TRUTH = Path(mm_widgets.__file__).parent / "sample_truth"

# (width, height, n_frames) of the decoded sample clips, as ``mm.load_sample`` gives them.
CLIPS = {"carphone": (176, 144, 120)}


def read(name: str) -> pd.DataFrame:
    path = TRUTH / f"{name}_boxes.csv"
    first = path.read_text().splitlines()[0]
    assert first.startswith("# "), "the truth CSV must say on its first line how it was made"
    df = pd.read_csv(path, comment="#")
    assert list(df.columns) == ["frame", "x1", "y1", "x2", "y2", "label"]
    return df


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_boxes_inside_frame_and_frames_in_range(name):
    w, h, n = CLIPS[name]
    df = read(name)
    assert len(df) > 0
    assert df.frame.between(0, n - 1).all()
    assert (df.x1 >= 0).all() and (df.y1 >= 0).all()
    assert (df.x2 <= w).all() and (df.y2 <= h).all()
    assert (df.x1 < df.x2).all() and (df.y1 < df.y2).all()
    assert not df.duplicated().any()


def test_carphone_one_head_per_frame():
    df = read("carphone")
    assert set(df.label) == {"head"}
    assert sorted(df.frame) == list(range(CLIPS["carphone"][2]))
    # A head of this close-up is roughly 45-70 px wide and 80-100 px tall.
    assert (df.x2 - df.x1).between(40, 80).all()
    assert (df.y2 - df.y1).between(70, 110).all()


def test_carphone_head_moves_smoothly():
    df = read("carphone").sort_values("frame").reset_index(drop=True)
    step = df[["x1", "y1", "x2", "y2"]].diff().abs().iloc[1:]
    assert (step.max(axis=1) <= 8).all(), step.max(axis=1).idxmax()
