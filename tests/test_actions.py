"""The label-efficiency arithmetic and the correction counting shared by oracle and widget."""

from __future__ import annotations

import pytest

import mm_widgets as mm
from mm_widgets.actions import ActionLog, corrections
from mm_widgets.labels import Box


def test_worked_examples():
    # The seed's example: 5 human boxes, then 500 labels accepted from the model.
    assert mm.efficiency(5, 500) == pytest.approx(0.99)
    assert mm.labels_per_action(500, 5) == 100
    assert mm.efficiency(0, 0) == 0.0
    assert mm.efficiency(10, 10) == 0.0  # labelling everything by hand: no automation
    assert mm.labels_per_action(7, 0) == 7


def test_log_counts_and_summary():
    log = ActionLog()
    for f in range(5):
        log.record("draw", f, round=0, label="bunny")
    log.record("adjust", 9, round=1)
    log.record("delete", 10, round=1)
    assert log.count() == 7 and log.count(round=1) == 2 and log.count(kind="draw") == 5
    table = log.summary({0: 5, 1: 130})
    assert table["human_actions"].tolist() == [5, 2]
    assert table["cumulative_actions"].tolist() == [5, 7]
    assert table["efficiency"].tolist() == pytest.approx([0.0, 1 - 7 / 130])
    with pytest.raises(mm.MMError, match="unknown action kind"):
        log.record("wave", 1)


def b(x1, y1, x2, y2, label="a"):
    return Box(x1, y1, x2, y2, label)


def test_corrections_cases():
    truth = [b(0, 0, 100, 100), b(200, 200, 300, 300)]
    assert corrections(truth, truth).n_actions == 0
    shifted = [b(20, 0, 120, 100), truth[1]]  # IoU 80/120 = 0.667: loose -> adjust
    c = corrections(shifted, truth)
    assert c.actions == ["adjust"] and len(c.accepted) == 1
    nudged = [b(5, 0, 105, 100), truth[1]]  # IoU 0.905: tight -> free
    assert corrections(nudged, truth).n_actions == 0
    ghost = [*truth, b(500, 500, 550, 550)]
    assert corrections(ghost, truth).actions == ["delete"]
    missed = [truth[0]]
    assert corrections(missed, truth).actions == ["draw"]
    wrong_class = [b(0, 0, 100, 100, "b"), truth[1]]
    assert sorted(corrections(wrong_class, truth).actions) == ["delete", "draw"]
    assert corrections([], []).n_actions == 0


def test_greedy_matching_prefers_best_pairs():
    truth = [b(0, 0, 100, 100), b(60, 0, 160, 100)]
    proposed = [b(55, 0, 155, 100)]  # overlaps both; best with the second
    c = corrections(proposed, truth)
    assert c.accepted == [(0, 1)] and c.drawn == [0]
