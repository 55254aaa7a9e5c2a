"""The oracle on hand-made cases, and simulate() end to end with the interpolation model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.actions import Action, ActionLog, ActionTimes, format_seconds
from mm_widgets.labels import Box, LabelSet
from mm_widgets.select import frame_uncertainty, rank_frames
from mm_widgets.simulate import Oracle, as_truth

from .conftest import moving_square_frames


def oracle_case(proposed, truth):
    t = LabelSet(["a"], size=(200, 200))
    t.set_boxes(0, truth)
    labels, log = LabelSet(["a"], size=(200, 200)), ActionLog()
    n = Oracle(t).review(0, proposed, labels, log, round=1)
    return n, [a.kind for a in log], labels.boxes(0)


def test_oracle_hand_made_cases():
    truth = [Box(0, 0, 100, 100, "a")]
    assert oracle_case([Box(0, 0, 100, 100, "a", 0.9, "model")], truth)[:2] == (0, [])
    n, kinds, final = oracle_case([Box(30, 0, 130, 100, "a", 0.9, "model")], truth)
    assert (n, kinds) == (1, ["adjust"]) and final[0].source == "corrected"
    assert final[0].xyxy == (0, 0, 100, 100)
    n, kinds, _ = oracle_case([truth[0], Box(150, 150, 190, 190, "a", 0.4, "model")], truth)
    assert (n, kinds) == (1, ["delete"])
    n, kinds, final = oracle_case([], truth)
    assert (n, kinds) == (1, ["draw"]) and final[0].source == "human"
    # accepted prediction keeps the model's own box and source: it was free
    _, _, final = oracle_case([Box(2, 0, 102, 100, "a", 0.9, "model")], truth)
    assert final[0].source == "model" and final[0].x1 == 2


def square_clip(n=40):
    arrays, boxes = moving_square_frames(n, size=(96, 64))
    frames = mm.Frames.from_arrays(arrays)
    truth = pd.DataFrame(boxes, columns=["frame", "x1", "y1", "x2", "y2"])
    return frames, truth


def test_simulate_with_interpolation_counts_every_action():
    frames, truth = square_clip()
    report = mm.simulate(frames, truth, first_labels=[0, 13, 26, 39], rounds=2,
                         kind="interpolate", strategy="random")
    t = report.table
    assert t["round"].tolist() == [0, 1, 2]
    assert t.loc[0, "human_actions"] == 4 and t.loc[0, "labels"] == 4
    assert t["frames_reviewed"].sum() == 40  # every frame looked at once
    assert t["cumulative_actions"].iloc[-1] == len(report.actions)
    assert t["labels"].iloc[-1] == 40 and len(report.labels.looked_at) == 40
    # efficiency is measured from the counts, never assumed
    last = t.iloc[-1]
    assert last["efficiency"] == pytest.approx(1 - last["cumulative_actions"] / last["labels"])
    kinds = report.actions.df["kind"].value_counts().to_dict()
    assert sum(kinds.values()) == last["cumulative_actions"] and set(kinds) <= {"draw", "adjust",
                                                                                "delete"}
    # A square on a sine path defeats straight-line interpolation between far keyframes
    # (a miss costs a delete and a draw, so efficiency can go below zero); more reviewed
    # keyframes in round 2 make it better.
    assert t.loc[2, "recall"] > t.loc[1, "recall"]
    # with interpolation as the model, the interpolation columns are the same figures
    assert t.loc[1, "recall"] == t.loc[1, "interp_recall"]
    # the final labels are the truth, box for box
    for f, x1, y1, x2, y2 in truth.itertuples(index=False):
        assert report.labels.boxes(f)[0].iou(Box(x1, y1, x2, y2, "object")) >= 0.75


def test_simulate_review_budget_and_errors():
    frames, truth = square_clip(30)
    report = mm.simulate(frames, truth, first_labels=[0, 29], rounds=2, review_budget=5,
                         kind="interpolate", strategy="uncertain")
    assert report.table["frames_reviewed"].tolist() == [2, 5, 5]
    with pytest.raises(mm.MMError, match="LabelSet or a DataFrame"):
        mm.simulate(frames, [1, 2], kind="interpolate")
    with pytest.raises(mm.MMError, match="at least 1"):
        mm.simulate(frames, truth, first_labels=0, kind="interpolate")


def test_simulate_plot_has_the_published_marks():
    frames, truth = square_clip(20)
    fig = mm.simulate(frames, truth, first_labels=[0, 19], rounds=1, kind="interpolate",
                      strategy="random").plot()
    names = {t.name for t in fig.data}
    assert {"efficiency", "recall", "human actions"} <= names
    # The marks are named lines in the legend (no words on the plot for a curve to cross),
    # drawn across the rounds shown.
    marks = [t for t in fig.data if t.name.startswith("published mark")]
    assert sorted(t.y[0] for t in marks) == [0.70, 0.95] and all(t.y[0] == t.y[1] for t in marks)
    assert all(tuple(t.x) == (0, 1) for t in marks)
    assert "efficiency 0.95" in marks[0].name + marks[1].name
    # Plain words: what the line is, its source named once; no in-house name for it.
    legend = " ".join(t.name for t in fig.data)
    assert legend.count("Landau 2021") == 1
    assert "seed" not in legend and "Batman clip" not in legend
    assert not fig.layout.annotations and not fig.layout.shapes


def test_uncertain_prefers_flicker_count_changes_and_mid_scores():
    rows = [(f, 10, 10, 30, 30, "a", 0.95, "model", 0) for f in range(10)]
    rows.append((4, 60, 10, 80, 30, "a", 0.95, "model", 0))  # a one-frame ghost: flicker
    rows.append((7, 60, 40, 80, 60, "a", 0.5, "model", 0))  # mid score, also one frame
    preds = pd.DataFrame(rows, columns=["frame", "x1", "y1", "x2", "y2", "label", "score",
                                        "source", "round"])
    u = frame_uncertainty(preds, 10)
    assert u[7] > u[4] > u[0] and u[2] == u[1]
    frames = mm.Frames.from_arrays([np.zeros((8, 8, 3), np.uint8)] * 10)
    labels = LabelSet(["a"], n_frames=10)
    labels.set_boxes(7, [])
    order = rank_frames(frames, "uncertain", predictions=preds, labels=labels)
    assert order[0] == 4 and 7 not in order and sorted(order) == [f for f in range(10) if f != 7]
    assert rank_frames(frames, "uncertain", predictions=preds, seed=3) == \
        rank_frames(frames, "uncertain", predictions=preds, seed=3)
    assert mm.select_frames(frames, 3, "uncertain", predictions=preds) == sorted(
        rank_frames(frames, "uncertain", predictions=preds)[:3])


def test_oracle_reviews_in_the_strategy_order_not_clip_order():
    frames, truth = square_clip(12)

    def prefer(frames, k, **kw):
        return [9, 3, 7]

    report = mm.simulate(frames, truth, first_labels=[0], rounds=1, review_budget=2,
                         kind="interpolate", strategy=prefer)
    assert report.labels.looked_at == [0, 3, 9]


def test_notebook_path_and_simulate_report_the_same_efficiency_and_time(tmp_path):
    """Notebooks 01/02 label the suggested frames with the truth through the labeller, then
    let the oracle answer in the review widget; simulate() does the same work with no widget.
    Same frames, same model, same order: the same actions, efficiency and human time."""
    from mm_widgets.actions import ActionTimes

    frames, truth_df = square_clip(24)
    truth = as_truth(truth_df, frames)
    first = [*range(0, 24, 6), 23]

    def backwards(frames, k, **kw):
        return list(range(len(frames)))[::-1][:k]

    lab = mm.label(frames, truth.classes, project=tmp_path / "p", first_labels=first)
    for f in lab.suggested:                                   # notebook 01, cell 3
        lab.set_boxes(f, truth.boxes(f))
    model = mm.interpolate(frames, lab.labels)                # the notebooks overfit; any model fits
    rev = mm.review(frames, model, project=lab.project, strategy=backwards)
    Oracle(truth).answer(rev)                                 # notebook 01, unattended
    widget_table = rev.efficiency_table()
    rev.close()

    report = mm.simulate(frames, truth, first_labels=first, rounds=1, kind="interpolate",
                         strategy=backwards, progress=False)
    sim = report.table.iloc[-1]
    last = widget_table.iloc[-1]
    assert sim["labels"] == last["labels"] == len(truth)
    assert sim["cumulative_actions"] == last["cumulative_actions"] > len(first)
    assert sim["efficiency"] == pytest.approx(last["efficiency"])
    for kind in ("draw", "adjust", "delete"):
        assert report.actions.count(kind=kind) == rev.actions.count(kind=kind)
    assert report.actions.count(kind="accept") == rev.actions.count(kind="accept") > 0
    # ... and so the same human time, priced by the same model
    assert sim["human_seconds"] == pytest.approx(ActionTimes().of(rev.actions))
    assert sim["by_hand_seconds"] == pytest.approx(ActionTimes().by_hand(rev.labels))


def test_simulate_reports_human_time_recomputed_from_its_log():
    frames, truth = square_clip(30)
    prices = {"draw": 10.0, "adjust": 4.0, "delete": 2.0, "class": 1.0, "accept": 0.5}
    report = mm.simulate(frames, truth, first_labels=[0, 10, 20, 29], rounds=2, kind="interpolate",
                         strategy="random", progress=False, action_times=prices)
    t = report.table
    events = report.actions.events
    assert {a.kind for a in events} >= {"draw", "accept"}
    for r in range(3):
        by_log = sum(prices[a.kind] for a in events if a.round <= r)
        assert t.loc[r, "human_seconds"] == pytest.approx(by_log)
    # every box drawn by hand (the square is in every frame: no empty frame to confirm)
    assert t["by_hand_seconds"].tolist() == [10.0 * n for n in t["labels"]]
    # interpolation's own loop, priced the same way from its own log
    theirs = report.interp_actions.events
    assert {a.kind for a in theirs} >= {"draw", "accept"}
    for r in (1, 2):
        by_log = sum(prices[a.kind] for a in theirs if a.round <= r)
        assert t.loc[r, "interp_human_seconds"] == pytest.approx(by_log)
    assert np.isnan(t.loc[0, "interp_human_seconds"])
    last = t.iloc[-1]
    assert report.human_time.startswith(
        f"30 labels by hand: {format_seconds(last['by_hand_seconds'])}; with micro-models: "
        f"{format_seconds(last['human_seconds'])}; with keyframe interpolation: "
        f"{format_seconds(last['interp_human_seconds'])}")
    assert report.human_time in report._repr_html_()
    # A person's own measured seconds price the same run: medians of its timed events.
    log = ActionLog()
    log.extend(Action(k, f, 0, None, 100.0 + 3 * f) for f, k in enumerate(["accept"] + ["draw"] * 4))
    mine = mm.simulate(frames, truth, first_labels=[0, 10, 20, 29], rounds=2, kind="interpolate",
                       strategy="random", progress=False, action_times=log)
    assert mine.times["draw"] == 3.0 and mine.times.measured == ["draw"]
    n_draws = mine.actions.count(kind="draw")
    assert mine.table["human_seconds"].iloc[-1] == pytest.approx(
        3.0 * n_draws + sum(ActionTimes()[a.kind] for a in mine.actions.events if a.kind != "draw"))


def test_domains_add_up_human_time():
    frames, truth = square_clip(24)
    report = mm.simulate(frames, truth, first_labels=2, rounds=1, kind="interpolate",
                         domains=[range(0, 12), range(12, 24)], progress=False)
    per = report.domains
    last = per.groupby("domain_index").tail(1)
    for col in ("human_seconds", "by_hand_seconds", "interp_human_seconds"):
        assert report.table[col].iloc[-1] == pytest.approx(last[col].sum())
    assert report.table["human_seconds"].iloc[-1] == pytest.approx(report.times.of(report.actions))


def test_every_figure_of_the_report_recomputed_from_labels_and_actions():
    """recall, precision, efficiency, interpolation's efficiency, the first boxes, the
    corrections after them and the ceiling, recomputed by hand from the raw boxes and log."""
    frames, truth_df = square_clip(30)
    first = [0, 10, 20, 29]
    report = mm.simulate(frames, truth_df, first_labels=first, rounds=1, kind="interpolate",
                         strategy="random", progress=False)
    t, truth = report.table, as_truth(truth_df, frames)
    rest = [f for f in range(len(frames)) if f not in first]
    pred = report.model.predict(frames, indices=rest)
    found = predicted = 0
    for f in rest:
        (true,) = truth.boxes(f)  # one square per frame
        boxes = [Box(r.x1, r.y1, r.x2, r.y2, r.label) for r in pred[pred["frame"] == f].itertuples()]
        predicted += len(boxes)
        found += any(b.iou(true) >= 0.5 for b in boxes)
    assert t.loc[1, "recall"] == pytest.approx(found / len(rest))
    assert t.loc[1, "precision"] == pytest.approx(found / predicted)
    # efficiency from the log and the labels themselves
    actions, labels = len(report.actions), len(report.labels)
    assert t.loc[1, "efficiency"] == pytest.approx(1 - actions / labels)
    # keyframe interpolation's own loop, recomputed without the package: keyframes halving
    # the longest gap first (the earliest of the farthest), each frame's square moved in a
    # straight line between the nearest keyframes (held past the last), counted free when
    # IoU >= 0.75 (and kept as shown) and one adjust otherwise (one square per frame)
    keys = {f: truth.boxes(f)[0].xyxy for f in first}
    adjusts = 0
    for _ in range(len(rest)):
        dist = [min(abs(f - k) for k in keys) for f in range(len(frames))]
        f = dist.index(max(dist))
        below = max((k for k in keys if k < f), default=None)
        above = min((k for k in keys if k > f), default=None)
        if below is None or above is None:
            guess = keys[above if below is None else below]
        else:
            a = (f - below) / (above - below)
            guess = tuple((1 - a) * p + a * q for p, q in zip(keys[below], keys[above], strict=True))
        true = truth.boxes(f)[0]
        tight = Box(*guess, true.label).iou(true) >= 0.75
        adjusts += not tight
        keys[f] = guess if tight else true.xyxy
    assert t.loc[1, "interp_efficiency"] == pytest.approx(1 - (len(first) + adjusts) / len(truth))
    # the first boxes: one drawn per first frame (the square is in every one), round 0
    assert report.first_boxes == len(first) == sum(1 for a in report.actions if a.round == 0)
    assert report.corrections_after_first == sum(1 for a in report.actions if a.round > 0)
    assert report.ceiling() == pytest.approx(1 - len(first) / len(truth))
