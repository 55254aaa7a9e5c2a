"""review(): widget state and handler tests (no browser; the browser test is in tests/browser/).

The hand-made cases check that a person's edits in the widget are counted exactly as the
oracle of ``simulate()`` counts the same corrections (:func:`mm_widgets.corrections`).
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mm_widgets as mm
from mm_widgets.actions import ActionLog
from mm_widgets.errors import LabelError, MMError, NotFittedError
from mm_widgets.labels import BOX_COLUMNS, Box, LabelSet
from mm_widgets.models.base import MicroModel
from mm_widgets.propagate import Proposer
from mm_widgets.select import STRATEGIES, rank_frames
from mm_widgets.simulate import Oracle, as_truth
from mm_widgets.widgets.review import Review, review

EVIL = "<img src=x onerror=alert(1)>"
SIZE = (320, 180)


def clip(n=8):
    w, h = SIZE
    rng = np.random.default_rng(1)
    return mm.Frames.from_arrays([rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)],
                                 name="clip")


class FixedModel(MicroModel):
    """A 'model' that proposes given boxes: ``{frame: [Box]}``."""

    kind = "fixed"

    def __init__(self, boxes: dict[int, list[Box]], classes=("cat", "dog")):
        self.boxes = boxes
        self.classes_ = list(classes)
        self.asked: list = []

    def predict(self, frames, indices=None):
        self.asked.append(None if indices is None else list(indices))
        wanted = range(len(frames)) if indices is None else indices
        rows = [(f, *b.xyxy, b.label, b.score, "model", 1)
                for f in wanted for b in self.boxes.get(int(f), [])]
        return pd.DataFrame(rows, columns=BOX_COLUMNS).astype({"score": float})


def model_box(x1, y1, x2, y2, label="cat", score=0.9):
    return Box(x1, y1, x2, y2, label, score, "model")


def widget_dict(w, box):
    return {**w.scale.to_widget(box), "frame": w.frame}


def front_end_set(w, dicts):
    """What the bbox widget sends after an edit: the whole list of boxes."""
    w._bbox.bboxes = [dict(d) for d in dicts]


def front_end_draw(w, d):
    old = [dict(b) for b in w._bbox.bboxes]
    w._bbox.bboxes = old + [{**d, "width": 0, "height": 0}]       # mouse-down
    w._bbox.bboxes = old + [d]                                   # mouse-up


TRUTH = Box(50, 50, 150, 130, "cat")           # 100 x 80
SHIFTED = model_box(70, 50, 170, 130)          # IoU 0.67 with TRUTH: one adjust
GHOST = model_box(200, 100, 260, 160, "dog")   # nothing there: one delete
OTHER = Box(220, 20, 300, 90, "dog")


def edit_nothing(w):
    pass


def edit_move_first_to_truth(w):
    (d,) = w._bbox.bboxes
    front_end_set(w, [{**d, **w.scale.to_widget(TRUTH)}])


def edit_delete_ghost(w):
    front_end_set(w, [d for d in w._bbox.bboxes if d["label"] != "dog"])


def edit_draw_missed(w):
    front_end_draw(w, widget_dict(w, OTHER))


def edit_drag_ghost_onto_missed(w):
    moved = [{**d, **w.scale.to_widget(OTHER)} if d["label"] == "dog" else d for d in w._bbox.bboxes]
    front_end_set(w, moved)                                      # one adjust


def edit_all(w):
    fixed = [{**d, **w.scale.to_widget(TRUTH if d["label"] == "cat" else OTHER)}
             for d in w._bbox.bboxes]
    front_end_set(w, fixed[:1] + [d for d in w._bbox.bboxes if d["label"] == "dog"])  # adjust
    front_end_set(w, fixed)                                      # the ghost dragged: adjust


def edit_relabel(w):
    (d,) = w._bbox.bboxes
    front_end_set(w, [{**d, "label": "cat"}])                    # one adjust


CASES = {
    # name: (proposed on frame 3, truth on frame 3, the person's edit, expected actions)
    "perfect": ([model_box(*TRUTH.xyxy)], [TRUTH], edit_nothing, {}),
    "shifted": ([SHIFTED], [TRUTH], edit_move_first_to_truth, {"adjust": 1}),
    "ghost": ([model_box(*TRUTH.xyxy), GHOST], [TRUTH], edit_delete_ghost, {"delete": 1}),
    "missed": ([model_box(*TRUTH.xyxy)], [TRUTH, OTHER], edit_draw_missed, {"draw": 1}),
    # A wrong box and a missed object: the wrong box is dragged onto it (one action).
    "ghost onto missed": ([model_box(*TRUTH.xyxy), GHOST], [TRUTH, OTHER],
                          edit_drag_ghost_onto_missed, {"adjust": 1}),
    "loose and ghost onto missed": ([SHIFTED, GHOST], [TRUTH, OTHER], edit_all, {"adjust": 2}),
    # The right box with the wrong class: its class is changed (one action).
    "class change": ([model_box(*TRUTH.xyxy, label="dog")], [TRUTH], edit_relabel, {"adjust": 1}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_edits_count_as_the_oracle_counts(name, tmp_path):
    proposed, truth, edit, expected = CASES[name]
    w = review(clip(), FixedModel({3: proposed}), project=tmp_path / "p",
               strategy=lambda frames, k, **kw: [3])
    assert w.frame == 3
    assert len(w._bbox.bboxes) == len(proposed)                  # pre-filled
    edit(w)
    w.accept()
    assert w.frame != 3 and 3 in w.labels.looked_at
    counted = Counter(a.kind for a in w.actions)
    assert counted == Counter(expected)
    # The same numbers as the oracle's and corrections()'s for the same frame.
    assert counted == Counter(mm.corrections(proposed, truth).actions)
    truth_set = as_truth(pd.DataFrame([(3, *b.xyxy, b.label) for b in truth],
                                      columns=["frame", "x1", "y1", "x2", "y2", "label"]), clip())
    log = ActionLog()
    Oracle(truth_set).review(3, proposed, LabelSet(["cat", "dog"], size=SIZE), log, round=0)
    assert Counter(a.kind for a in log) == counted
    # What was stored is the truth; untouched boxes stay the model's, fixed ones are marked.
    saved = sorted(w.labels.boxes(3), key=lambda b: b.x1)
    assert [b.label for b in saved] == [b.label for b in sorted(truth, key=lambda b: b.x1)]
    for got, want in zip(saved, sorted(truth, key=lambda b: b.x1), strict=True):
        assert got.xyxy == pytest.approx(want.xyxy, abs=1e-6)
    sources = Counter(b.source for b in saved)
    assert sources["corrected"] == expected.get("adjust", 0)
    assert sources["human"] == expected.get("draw", 0)
    # ... and all of it is on disk already.
    again = mm.Project(tmp_path / "p")
    assert Counter(a.kind for a in again.actions) == counted
    assert [b.xyxy for b in sorted(again.labels.boxes(3), key=lambda b: b.x1)] == [b.xyxy for b in saved]
    again.close()


@pytest.fixture
def model():
    return FixedModel({
        0: [model_box(10, 10, 60, 60)],
        1: [model_box(12, 10, 62, 60, score=0.6), model_box(200, 100, 260, 160, "dog", 0.2)],
        2: [],
        4: [model_box(100, 50, 150, 100, score=0.95)],
        5: [model_box(101, 50, 151, 100, score=0.4)],
    })


def test_accepting_is_free_and_keeps_the_models_boxes(model, tmp_path):
    w = review(clip(), model, project=tmp_path / "p", strategy=lambda frames, k, **kw: [1, 4])
    assert w.frame == 1
    # the dog box scores 0.2, below conf=0.25: not pre-filled
    assert [d["label"] for d in w._bbox.bboxes] == ["cat"]
    w._confirm.click()                                          # the "Accept frame" button
    assert w.frame == 4 and len(w.actions) == 0
    (saved,) = w.labels.boxes(1)
    assert saved.source == "model" and saved.score == pytest.approx(0.6)
    assert saved.xyxy == (12, 10, 62, 60)
    w._on_key(w._keys, {"type": "key", "key": "Enter"}, [])     # the Enter key accepts too
    assert w.labels.boxes(4)[0].source == "model" and len(w.actions) == 0
    # an empty frame (nothing detected, no confirmed frame near enough to carry a box
    # from: flow finds nothing on frames of noise): a free negative
    assert w.accept(7) == []
    assert w.labels.boxes(7) == [] and 7 in w.labels.looked_at
    assert "3 of 8</b> frames reviewed" in w._counter.value
    assert "<b>0</b> human actions" in w._counter.value
    assert "efficiency <b>100.0%</b>" in w._counter.value
    assert w.efficiency == 1.0
    on_disk = mm.Project(tmp_path / "p")
    assert on_disk.labels.looked_at == [1, 4, 7] and len(on_disk.actions) == 0
    assert on_disk.labels.boxes(1)[0].source == "model"
    on_disk.close()


def test_counter_measures_efficiency(model):
    w = review(clip(), model, strategy=lambda frames, k, **kw: [0, 4])
    w.accept()                                                   # frame 0: 1 label, free
    front_end_set(w, [])                                         # frame 4: delete the box
    w.go_to(6)
    front_end_draw(w, widget_dict(w, OTHER))                     # frame 6: draw one
    assert [a.kind for a in w.actions] == ["delete", "draw"]
    assert len(w.labels) == 2
    assert w.efficiency == mm.efficiency(2, 2) == 0.0
    assert "3 of 8</b> frames reviewed" in w._counter.value
    assert "<b>2</b> human actions" in w._counter.value and "efficiency <b>0.0%</b>" in w._counter.value
    assert "1 delete" in w._status.value and "1 draw" in w._status.value


def test_class_change_and_resize_are_counted(model):
    w = review(clip(), model, strategy=lambda frames, k, **kw: [0])
    (d,) = w._bbox.bboxes
    front_end_set(w, [{**d, "label": "dog"}])                   # class changed
    front_end_set(w, [{**d, "label": "dog", "width": d["width"] + 20}])  # resized
    # One box corrected in one visit is one adjust, however many steps it took.
    assert [a.kind for a in w.actions] == ["adjust"]
    (saved,) = w.labels.boxes(0)
    assert saved.label == "dog" and saved.source == "corrected" and saved.score is None
    # Back on the frame later, moving it again is a new correction.
    w.go_to(1)
    w.go_to(0)
    (d,) = w._bbox.bboxes
    front_end_set(w, [{**d, "x": d["x"] + 5}])
    assert [a.kind for a in w.actions] == ["adjust", "adjust"]


def test_a_click_on_the_review_strip_goes_to_that_frame(model):
    w = review(clip(), model)
    n = len(w.frames)
    w._on_key(w._keys, {"type": "strip", "fx": (5 + 0.5) / n}, [])
    assert w.frame == 5
    assert "cursor:pointer" in w._review_strip.value


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_order_follows_each_registered_strategy(strategy, model):
    frames = clip()
    w = review(frames, model, strategy=strategy, seed=3)
    expected = rank_frames(frames, strategy, seed=3, predictions=w.predictions, labels=w.labels)
    assert w.order == expected and sorted(w.order) == list(range(len(frames)))
    assert w.frame == w.order[0]
    w.accept()
    assert w.frame == w.order[1]
    w._next_sugg.click()                                         # "Next to review": skip one
    assert w.frame == w.order[2]


def test_callable_strategy_order_and_skipping(model):
    w = review(clip(), model, strategy=lambda frames, k, **kw: [5, 2, 7])
    assert w.order[:3] == [5, 2, 7] and sorted(w.order) == list(range(8))
    assert w.frame == 5
    assert "#1 of 8 in review order" in w._status.value
    w.next_suggested()
    assert w.frame == 2
    w.accept()
    assert w.frame == 7
    w.go_to(5)
    w.accept()                                                   # back to the skipped one
    assert w.frame == 7 and w.queue[0] == 7


def test_reopening_the_project_resumes(model, tmp_path):
    frames = clip()
    order = lambda frames, k, **kw: [4, 1, 0]  # noqa: E731
    w = review(frames, model, project=tmp_path / "p", strategy=order)
    w.accept()
    front_end_set(w, [])                                         # frame 1: delete
    w.accept()
    assert w.frame == 0
    w.project.close()
    del w
    w2 = review(frames, model, project=tmp_path / "p", strategy=order)
    assert w2.frame == 0                                         # the first frame not reviewed
    assert w2.order[:1] == [0] and 4 not in w2.order and 1 not in w2.order
    assert model.asked[-1] == [0, 2, 3, 5, 6, 7]                 # reviewed frames not predicted again
    assert [a.kind for a in w2.actions] == ["delete"]
    assert w2.labels.boxes(4)[0].source == "model" and w2.labels.boxes(1) == []
    w2.go_to(4)
    assert len(w2._bbox.bboxes) == 1                             # the saved label, not a new prediction
    assert "2 of 8</b> frames reviewed" in w2._counter.value


def test_round_is_the_projects_unless_given(model, tmp_path):
    project = mm.Project(tmp_path / "p", ["cat", "dog"], frames=clip())
    project.record_round(note="first model")
    w = review(clip(), model, project=project, strategy=lambda frames, k, **kw: [4])
    assert w.round == project.round == 1
    front_end_set(w, [])
    assert [a.round for a in w.actions] == [1]
    w2 = review(clip(), model, round=5, strategy=lambda frames, k, **kw: [4])
    front_end_set(w2, [])
    assert [a.round for a in w2.actions] == [5]
    assert w2.labels.boxes(4) == [] and 4 in w2.labels.looked_at


def test_labels_so_far_are_not_offered_again_and_stay_unchanged(model):
    frames = clip()
    first = LabelSet(["cat", "dog"], size=SIZE, n_frames=len(frames))
    first.set_boxes(0, [Box(10, 10, 60, 60, "cat")])
    first.set_boxes(3, [])
    w = review(frames, model, labels=first, strategy="random")
    assert 0 not in w.order and 3 not in w.order and w.frame not in (0, 3)
    assert w.labels.looked_at[:2] == [0, 3] and len(w.labels) == 1
    w.accept()
    assert len(first.looked_at) == 2                             # the caller's labels untouched
    assert len(w.labels.looked_at) == 3
    with pytest.raises(LabelError, match="not both"):
        review(frames, model, labels=first, project="somewhere")


def test_conf_decides_what_is_prefilled(model):
    w = review(clip(), model, strategy=lambda frames, k, **kw: [1], conf=0.1)
    assert len(w._bbox.bboxes) == 2
    w.set_conf(0.7)
    assert w._bbox.bboxes == []                                 # both boxes score below 0.7
    w.accept()
    assert w.labels.boxes(1) == [] and len(w.actions) == 0


def test_efficiency_curve_follows_the_review(model, tmp_path):
    w = review(clip(), model, project=tmp_path / "p", strategy=lambda frames, k, **kw: [0, 4, 5])
    chart = w.efficiency_curve()
    import plotly.graph_objects as go

    assert isinstance(chart, go.FigureWidget)
    w.accept()
    w.accept()
    front_end_set(w, [])                                        # frame 5: delete
    table = w.efficiency_table()
    # reviewing a model's boxes is round 1 at the earliest (round 0: labels drawn by hand)
    assert table[["round", "human_actions", "cumulative_actions", "labels"]].values.tolist() == [[1, 1, 1, 2]]
    assert table["efficiency"].iloc[0] == pytest.approx(0.5)
    traces = {t.name: t for t in chart.data}
    assert list(traces["efficiency"].y) == pytest.approx([0.5])
    assert list(traces["human actions"].y) == [1]
    # rounds later on (round 0's model and round 1's review closed): a new row, the chart follows
    w.project.record_round()
    w.project.record_round()
    w.go_to(6)
    front_end_draw(w, widget_dict(w, OTHER))
    table = w.efficiency_table()
    assert table["round"].tolist() == [1, 2] and table["cumulative_actions"].tolist() == [1, 2]
    assert list({t.name: t for t in chart.data}["efficiency"].y) == pytest.approx([0.5, 1 - 2 / 3])


def test_works_with_interpolation_on_the_bunny(bunny, bunny_truth, tmp_path):
    model = mm.interpolate(bunny, bunny_truth.subset([0, 66, 131]))
    w = review(bunny, model, project=tmp_path / "bunny")
    # boxes are reviewed in clip order by default (each frame next to one just confirmed)
    assert w.strategy == "sequential" and w.frame == w.order[0] == 0
    assert len(w._bbox.bboxes) == 1 and w._bbox.bboxes[0]["label"] == "bunny"
    w.accept()
    assert len(w.actions) == 0 and len(w.labels) == 1


def test_bad_arguments(model):
    unfitted = FixedModel({})
    del unfitted.classes_
    with pytest.raises(NotFittedError):
        review(clip(), unfitted)
    with pytest.raises(MMError):
        review(clip(), object())
    with pytest.raises(MMError, match="conf"):
        review(clip(), model, conf=2)
    with pytest.raises(MMError, match="unknown selection strategy"):
        review(clip(), model, strategy="nope")
    with pytest.raises(LabelError, match="frames"):
        review(None, model)
    other = LabelSet(["bird"], size=SIZE, n_frames=8)
    with pytest.raises(LabelError, match="classes"):
        review(clip(), model, labels=other)


def test_names_are_escaped(tmp_path):
    frames = clip()
    frames.name = EVIL
    w = review(frames, FixedModel({0: [model_box(10, 10, 60, 60, EVIL)]}, classes=[EVIL]),
               strategy=lambda frames, k, **kw: [0])
    assert isinstance(w, Review)
    for child in (w._header, w._counter, w._status, w._message, w._review_strip, w._legend):
        assert "<img" not in child.value
    assert w._bbox.bboxes[0]["label"] == EVIL                    # the bbox widget shows it as text


# -- the property: the widget path and simulate()'s path count the same ---------------------
W, H = SIZE


@st.composite
def frame_case(draw):
    """Truth on one frame and a model's proposals near it: right, loose, wrong class, ghosts."""
    def box(label):
        x1 = draw(st.integers(0, W - 60))
        y1 = draw(st.integers(0, H - 60))
        return Box(x1, y1, x1 + draw(st.integers(8, 59)), y1 + draw(st.integers(8, 59)), label)

    truth = draw(st.lists(st.sampled_from(["cat", "dog"]).map(box), max_size=4))
    proposed = []
    for t in truth:
        what = draw(st.sampled_from(["exact", "nudged", "shifted", "relabelled", "missed"]))
        if what == "missed":
            continue
        dx = {"exact": 0, "nudged": 1, "shifted": draw(st.integers(5, 40))}.get(what, 0)
        label = ({"cat": "dog", "dog": "cat"}[t.label] if what == "relabelled" else t.label)
        x1 = min(t.x1 + dx, W - (t.x2 - t.x1))
        proposed.append(Box(x1, t.y1, x1 + t.x2 - t.x1, t.y2, label))
    proposed += draw(st.lists(st.sampled_from(["cat", "dog"]).map(box), max_size=3))  # ghosts
    order = draw(st.permutations(range(len(proposed))))
    scores = draw(st.lists(st.floats(0.3, 1.0), min_size=len(proposed), max_size=len(proposed)))
    return truth, [Box(*proposed[k].xyxy, proposed[k].label, s, "model")
                   for k, s in zip(order, scores, strict=True)]


@settings(max_examples=40 if os.environ.get("MM_FAST") == "1" else 150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frame_case(), min_size=1, max_size=4))
def test_widget_path_and_simulate_path_count_the_same(cases):
    """Random detections and truth, frame by frame: the oracle editing the review widget's
    boxes (what notebooks 01/02 do) and simulate()'s oracle shown the same fused proposals
    (:class:`~mm_widgets.propagate.Proposer`, in the widget's order) give the same actions,
    kind for kind, the same free accepts, and store the same labels."""
    frames = clip(len(cases))
    model = FixedModel({f: proposed for f, (_, proposed) in enumerate(cases)})
    truth = as_truth(pd.DataFrame([(f, *b.xyxy, b.label) for f, (t, _) in enumerate(cases) for b in t],
                                  columns=["frame", "x1", "y1", "x2", "y2", "label"]), frames)
    w = review(frames, model, labels=LabelSet(["cat", "dog"], size=SIZE, n_frames=len(cases)))
    oracle = Oracle(truth)
    order = list(w.queue)
    assert oracle.answer(w) == len(cases)
    labels, log = LabelSet(["cat", "dog"], size=SIZE, n_frames=len(cases)), ActionLog()
    proposer = Proposer(frames, labels, {f: proposed for f, (_, proposed) in enumerate(cases)})
    shown_by_frame = {}
    for f in order:
        shown = shown_by_frame[f] = proposer.propose(f)
        oracle.review(f, shown, labels, log, round=1)
        proposer.confirmed(f, shown, labels.boxes(f))
    assert Counter(a.kind for a in w.actions) == Counter(a.kind for a in log)
    assert Counter((a.frame, a.kind) for a in w.actions.events) == \
        Counter((a.frame, a.kind) for a in log.events)
    for f, (t, _) in enumerate(cases):
        assert [(b.xyxy, b.label, b.source) for b in w.labels.boxes(f)] == \
            [(b.xyxy, b.label, b.source) for b in labels.boxes(f)]
        # the count is the fewest box actions: every box not kept is one action, paired or not
        shown = shown_by_frame[f]
        kept = sum(1 for b in labels.boxes(f) if b.source in ("model", "carried"))
        assert sum(1 for a in log if a.frame == f) == max(len(shown) - kept, len(t) - kept)
    assert w.efficiency == mm.efficiency(len(log), len(labels))
    w.close()


class Clock:
    """Stands in for the ``time`` module of mm_widgets.actions: a person's pace, set by hand."""

    def __init__(self, start=1000.0):
        self.now = start

    def time(self):
        return self.now


def test_review_shows_human_time_and_the_persons_own_seconds(model, tmp_path, monkeypatch):
    import mm_widgets.actions

    clock = Clock()
    monkeypatch.setattr(mm_widgets.actions, "time", clock)
    w = review(clip(), model, project=tmp_path / "p", strategy=lambda frames, k, **kw: [0, 1, 2, 3, 4, 5])
    steps = [(2.0, w.accept), (3.0, w.accept), (4.0, w.accept),           # frames 0, 1, 2
             (7.0, lambda: front_end_draw(w, widget_dict(w, OTHER))),    # frame 3: a draw
             (1.0, w.accept),                        # edited: the accept is no verification
             (5.0, lambda: front_end_set(w, [])),                         # frame 4: a delete
             (1.0, w.accept),
             # frame 5 shows nothing: its detection is where the person just deleted one
             (600.0, lambda: front_end_draw(w, widget_dict(w, OTHER))),  # after a break: a draw
             (0.5, w.accept),
             (2.5, w.accept)]                                           # frame 6
    for dt, act in steps:
        clock.now += dt
        act()
    assert [a.kind for a in w.actions.events] == ["accept"] * 3 + ["draw", "delete", "draw",
                                                                      "accept"]
    # Recomputed by hand from the raw timestamps: each event gets the gap before it (the
    # first, the one since the widget showed its frame), and the draw after the 600 s break
    # is idle, not timed. Accepts: 2, 3, 4 and 3 s (frame 6: 0.5 + 2.5 after the draw).
    seconds = w.actions.seconds().set_index("kind")
    assert seconds.loc["accept", "timed"] == 4 and seconds.loc["accept", "median_seconds"] == 3.0
    assert seconds.loc["draw", "timed"] == 1 and seconds.loc["draw", "median_seconds"] == 7.0
    assert seconds.loc["delete", "timed"] == 1 and seconds.loc["delete", "median_seconds"] == 6.0
    assert "your median: draw 7.0 s, delete 6.0 s, accept 3.0 s" in w._counter.value
    # Human time: the person's own seconds, the published 7 s for the untimed draw:
    # accepts 2 + 3 + 4 + 3, draws 7 + 7, delete 6 = 32 s.
    assert "human time &asymp; <b>32 seconds</b>" in w._counter.value
    # The project says the same, per kind, from the same log on disk.
    w.project.close()
    again = mm.Project(tmp_path / "p")
    table = again.summary().set_index("kind")
    assert table.loc["accept", "events"] == 4 and table.loc["delete", "events"] == 1
    assert table.loc["draw", "events"] == 2
    assert table.loc["accept", "seconds"] == 3.0 and table.loc["draw", "seconds"] == 7.0
    assert table["total_seconds"].sum() == pytest.approx(32.0)
    assert "human time about 32 seconds" in again._repr_html_()
    assert "4 labels, 3 human actions, efficiency 0.250" in again._repr_html_()
    again.close()
