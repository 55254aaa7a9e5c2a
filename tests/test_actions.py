"""The label-efficiency arithmetic and the correction counting shared by oracle and widget."""

from __future__ import annotations

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets.actions import (
    Action,
    ActionLog,
    ActionTimes,
    corrections,
    diff_boxes,
    diff_class,
    format_seconds,
)
from mm_widgets.labels import Box, LabelSet


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
    assert c.actions == ["adjust"] and len(c.tight) == 1 and len(c.loose) == 1
    assert c.edited == [truth[1], truth[0]]
    nudged = [b(5, 0, 105, 100), truth[1]]  # IoU 0.905: tight -> free
    assert corrections(nudged, truth).n_actions == 0
    ghost = [*truth, b(500, 500, 550, 550)]
    assert corrections(ghost, truth).actions == ["delete"]
    missed = [truth[0]]
    assert corrections(missed, truth).actions == ["draw"]
    assert corrections([], []).n_actions == 0
    two_ghosts = [b(500, 500, 550, 550), b(600, 600, 650, 650)]
    assert corrections(two_ghosts, []).actions == ["delete", "delete"]
    assert corrections([], truth).actions == ["draw", "draw"]


def test_ghost_and_miss_in_one_edit_is_one_adjust():
    """Regression: a wrong box and a missed object were a delete plus a draw for the oracle
    (corrections) and one adjust for the widget (diff_boxes). A person drags the wrong box
    onto the object: one adjust, on both paths."""
    truth = [b(0, 0, 100, 100)]
    ghost = [Box(300, 300, 340, 340, "a", 0.8, "model")]
    c = corrections(ghost, truth)
    assert c.actions == ["adjust"]
    assert (c.unmatched_proposed, c.unmatched_truth) == ([0], [0])  # still a fp and a fn
    boxes, counted = diff_boxes(ghost, c.edited)
    assert counted == [("adjust", "a")] and boxes[0].source == "corrected"
    assert boxes[0].xyxy == truth[0].xyxy
    # One ghost more than misses: the extra one is a delete; one miss more: a draw.
    assert sorted(corrections([*ghost, b(400, 0, 450, 50)], truth).actions) == ["adjust", "delete"]
    assert sorted(corrections(ghost, [*truth, b(0, 200, 50, 250)]).actions) == ["adjust", "draw"]


def test_class_change_is_one_adjust():
    """Regression: a box of the wrong class on the object was a delete plus a draw for the
    oracle and one adjust in the widget. The person changes its class: one adjust; its
    corners stay where the model put them."""
    truth = [b(0, 0, 100, 100, "cat")]
    wrong = [Box(2, 0, 102, 100, "dog", 0.9, "model")]
    c = corrections(wrong, truth)
    assert c.actions == ["adjust"]
    assert c.edited == [Box(2, 0, 102, 100, "cat", 0.9, "model")]
    boxes, counted = diff_boxes(wrong, c.edited)
    assert counted == [("adjust", "cat")] and boxes[0].source == "corrected"
    # Wrong class and loose: the person drags and relabels it, still one box corrected.
    assert corrections([Box(30, 0, 130, 100, "dog")], truth).actions == ["adjust"]
    # Recall does not forgive it: the matching is per class.
    assert (c.tight, c.unmatched_proposed, c.unmatched_truth) == ([], [0], [0])


def test_a_frame_class_is_one_action_when_set_or_changed():
    assert diff_class(None, "day") == [("class", "day")]
    assert diff_class("night", "day") == [("class", "day")]
    assert diff_class("day", "day") == []  # a proposed class accepted: free


def test_diff_boxes_counts_the_fewest_box_actions():
    old = [b(0, 0, 10, 10), b(50, 50, 60, 60), b(100, 100, 110, 110)]
    new = [old[0], b(200, 0, 210, 10)]  # one kept, one moved far, one gone
    _, counted = diff_boxes(old, new)
    assert sorted(k for k, _ in counted) == ["adjust", "delete"]
    _, counted = diff_boxes(old[:1], [old[0], b(1, 1, 2, 2), b(3, 3, 4, 4)])
    assert [k for k, _ in counted] == ["draw", "draw"]


def test_greedy_matching_prefers_best_pairs():
    truth = [b(0, 0, 100, 100), b(60, 0, 160, 100)]
    proposed = [b(55, 0, 155, 100)]  # overlaps both; best with the second
    c = corrections(proposed, truth)
    assert c.tight == [(0, 1)] and c.unmatched_truth == [0] and c.actions == ["draw"]


def test_accepts_are_logged_but_never_counted():
    log = ActionLog()
    log.record("draw", 0)
    log.record("accept", 1)
    assert len(log) == 1 and log.count() == 1 and [a.kind for a in log] == ["draw"]
    assert log.count(kind="accept") == 1 and [a.kind for a in log.events] == ["draw", "accept"]
    assert log.summary({0: 1})["human_actions"].tolist() == [1]
    # The older name of a frame-class action, as older journals hold it, reads as "class".
    assert Action("set_class", 3).kind == "class"


def timed_log(events):
    log = ActionLog()
    log.extend(Action(kind, frame, 0, None, t) for frame, (kind, t) in enumerate(events))
    return log


def test_measured_seconds_are_medians_of_the_gaps_before_each_event():
    log = timed_log([("accept", 100.0), ("draw", 106.0), ("draw", 114.0), ("accept", 116.0),
                     ("draw", 1116.0),           # after a 1000 s break: not timed
                     ("adjust", 1120.0), ("delete", 1122.0), ("delete", 1122.05),  # one edit
                     ("accept", 1123.0)])
    s = log.seconds().set_index("kind")
    # draws: 6 and 8 s timed (the one after the break is not): median 7
    assert s.loc["draw", "events"] == 3 and s.loc["draw", "timed"] == 2
    assert s.loc["draw", "median_seconds"] == pytest.approx(7.0)
    # accepts: the first event has nothing before it; then 2 and 0.95 s
    assert s.loc["accept", "timed"] == 2
    assert s.loc["accept", "median_seconds"] == pytest.approx((2.0 + 0.95) / 2)
    assert s.loc["adjust", "median_seconds"] == pytest.approx(4.0)
    # two deletes 0.05 s apart came from one edit: they share its 2 s
    assert s.loc["delete", "timed"] == 2 and s.loc["delete", "median_seconds"] == pytest.approx(1.0)
    assert s.loc["class", "timed"] == 0 and np.isnan(s.loc["class", "median_seconds"])
    # A longer idle limit times the draw after the break too.
    assert log.seconds(idle=2000).set_index("kind").loc["draw", "timed"] == 3


def test_action_times_defaults_measured_and_overrides():
    t = ActionTimes()
    assert (t["draw"], t["accept"]) == (7.0, 1.6) and t["set_class"] == t["class"]
    assert ActionTimes(draw=25.5)["draw"] == 25.5
    assert ActionTimes({"adjust": 3})["adjust"] == 3.0
    log = timed_log([("accept", 0.0), ("draw", 4.0), ("draw", 8.0), ("draw", 12.0),
                     ("adjust", 14.0)])
    measured = ActionTimes(log)
    assert measured["draw"] == 4.0 and measured.measured == ["draw"]
    assert measured["adjust"] == 7.0  # one timed adjust is too few: the default stands
    assert ActionTimes(log, min_timed=1)["adjust"] == 2.0
    assert measured.of(log) == 4.0 * 3 + 7.0 + 1.6
    with pytest.raises(mm.MMError, match="unknown kinds"):
        ActionTimes(wave=1)
    with pytest.raises(mm.MMError, match="seconds >= 0"):
        ActionTimes(draw=-1)


def test_by_hand_prices_every_box_drawn_and_every_empty_frame_looked_at():
    labels = LabelSet(["a"], size=(200, 200), n_frames=5)
    labels.set_boxes(0, [b(0, 0, 10, 10), b(20, 20, 30, 30)])
    labels.set_boxes(1, [])
    t = ActionTimes(draw=10, accept=2)
    assert t.by_hand(labels) == 2 * 10 + 1 * 2
    classes = LabelSet(["day", "night"], "classes", n_frames=5)
    classes.set_class(0, "day")
    classes.set_class(1, "night")
    assert ActionTimes({"class": 3}).by_hand(classes) == 2 * 3
    assert format_seconds(42) == "42 seconds" and format_seconds(600) == "10.0 minutes"
    assert format_seconds(1.2) == "1 second" and format_seconds(0.4) == "0 seconds"
    assert format_seconds(2 * 3600) == "2.0 hours"
