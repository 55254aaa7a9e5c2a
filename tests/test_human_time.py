"""Human time (issue 28, item 6): waiting for the model and undone actions are no work,
and an action added never lowers the total. A clock the test sets stands in for the
``time`` module of mm_widgets.actions; every expected figure is worked out by hand from
the steps below."""

from __future__ import annotations

import pytest

import mm_widgets as mm
from mm_widgets.actions import ActionLog

from .test_review import FixedModel, clip, front_end_draw, front_end_set, model_box, widget_dict


class Clock:
    """Stands in for the ``time`` module of mm_widgets.actions: a person's pace, set by hand."""

    def __init__(self, start=1000.0):
        self.now = start

    def time(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    import mm_widgets.actions

    c = Clock()
    monkeypatch.setattr(mm_widgets.actions, "time", c)
    return c


def per_kind(log_or_project):
    return log_or_project.seconds().set_index("kind") if isinstance(log_or_project, ActionLog) \
        else log_or_project.summary().set_index("kind")


def test_the_first_accept_after_training_is_timed_from_the_review_not_from_the_labelling(
        clock, tmp_path):
    frames = clip()
    project = mm.Project(tmp_path / "p", ["cat", "dog"], frames=frames)
    lab = mm.label(frames, project=project, first_labels=[3])   # shown at 1000
    clock.now += 7.0
    front_end_draw(lab, widget_dict(lab, model_box(20, 20, 80, 70, "cat", None)))  # 1007: a draw
    clock.now += 70.0                                           # overfit() trains: 70 s of waiting
    model = FixedModel({f: [model_box(10, 10, 60, 60)] for f in range(8)})
    rev = mm.review(frames, model, project=project, background=False,
                    strategy=lambda frames, k, **kw: [0, 1, 2, 4])   # shown at 1077
    for dt in (2.0, 3.0, 4.0):                                  # three accepts, 2, 3 and 4 s
        clock.now += dt
        rev.accept()
    seconds = per_kind(project.actions)
    # Before: the first accept was given the 72 s since the draw (training included).
    assert seconds.loc["accept", "timed"] == 3
    assert seconds.loc["accept", "median_seconds"] == pytest.approx(3.0)
    # The draw is timed from the moment the label widget showed its frame.
    assert seconds.loc["draw", "timed"] == 1 and seconds.loc["draw", "median_seconds"] == 7.0
    # The total is what the person spent: 7 + 2 + 3 + 4 s, none of the training.
    assert project.summary()["total_seconds"].sum() == pytest.approx(16.0)
    # The same from the journal on disk.
    project.close()
    again = mm.Project(tmp_path / "p")
    assert per_kind(again).loc["accept", "median_seconds"] == pytest.approx(3.0)
    assert again.summary()["total_seconds"].sum() == pytest.approx(16.0)
    again.close()


def test_a_slow_frame_is_waiting_and_a_quick_one_is_not(clock):
    log = ActionLog()
    log.look()                                   # 1000: a frame shown
    clock.now += 2.0
    log.record("accept", 0)                      # 2 s
    with log.waiting():                          # the next frame's block is predicted: 30 s
        clock.now += 30.0
    clock.now += 3.0
    log.record("accept", 1)                      # 3 s after the frame showed, not 33 s
    with log.waiting():                          # a frame ready at once: no wait at all
        pass
    clock.now += 4.0
    log.record("accept", 2)                      # 4 s
    seconds = per_kind(log)
    assert seconds.loc["accept", "timed"] == 3
    assert seconds.loc["accept", "median_seconds"] == pytest.approx(3.0)
    assert log.total_seconds() == pytest.approx(9.0)


def test_undo_and_redo_leave_the_undone_time_out(clock, tmp_path):
    w = mm.label(clip(), ["cat", "dog"], project=tmp_path / "p", first_labels=[2, 5])  # 1000
    a = widget_dict(w, model_box(20, 20, 80, 70, "cat", None))
    b = widget_dict(w, model_box(100, 40, 160, 100, "dog", None))
    clock.now += 5.0
    front_end_draw(w, a)                          # 1005: draw, 5 s
    clock.now += 2.0
    front_end_set(w, [])                          # 1007: delete, 2 s
    clock.now += 10.0
    w.undo()                                      # 1017: the delete undone
    clock.now += 11.5
    w.redo()                                      # 1028.5: and redone
    clock.now += 3.0
    front_end_draw(w, b)                          # 1031.5: draw, 3 s after the redo
    clock.now += 1.0
    front_end_draw(w, a)                          # 1032.5: draw, 1 s ...
    clock.now += 4.0
    w.undo()                                      # 1036.5: ... undone for good
    clock.now += 2.0
    front_end_draw(w, a)                          # 1038.5: draw, 2 s after the undo
    assert [x.kind for x in w.actions.events] == ["draw", "delete", "draw", "draw"]
    seconds = per_kind(w.actions)
    # Before: the redone delete was timed 2 + 10 + 11.5 = 23.5 s, the last draw 1 + 4 + 2 = 7 s.
    assert seconds.loc["delete", "timed"] == 1
    assert seconds.loc["delete", "median_seconds"] == pytest.approx(2.0)
    assert seconds.loc["draw", "timed"] == 3
    assert seconds.loc["draw", "median_seconds"] == pytest.approx(3.0)   # 5, 3, 2
    assert w.actions.total_seconds() == pytest.approx(5 + 2 + 3 + 2)
    # The journal on disk gives the same figures.
    w.project.close()
    again = mm.Project(tmp_path / "p")
    assert per_kind(again).loc["delete", "median_seconds"] == pytest.approx(2.0)
    assert per_kind(again).loc["draw", "median_seconds"] == pytest.approx(3.0)
    assert again.summary()["total_seconds"].sum() == pytest.approx(12.0)
    again.close()


def test_an_action_added_never_lowers_the_total(clock, tmp_path):
    project = mm.Project(tmp_path / "p", ["cat"], frames=clip())
    project.actions.record("accept", 0)            # the first event: untimed, priced 1.6 s
    totals = []
    for f in (1, 2, 3):                             # three quick adjusts, 2 s each
        clock.now += 2.0
        project.actions.record("adjust", f, label="cat")
        totals.append(float(project.summary()["total_seconds"].sum()))
    # Before: 1.6 + 7 = 8.6, 1.6 + 14 = 15.6, then 1.6 + 3 x 2 = 7.6 once the person's own
    # median (2 s) replaced the published 7 s: the third adjust lowered the total.
    assert totals == pytest.approx([1.6 + 2, 1.6 + 4, 1.6 + 6])
    assert totals == sorted(totals)
    # The price a simulation would take from this log is still the person's median.
    assert mm.ActionTimes(project.actions)["adjust"] == pytest.approx(2.0)
    project.close()


def test_a_mask_project_prices_its_untimed_work_as_polygons(clock, tmp_path):
    """An untimed mask drawn costs a polygon's published time (54 s), not a box's (7 s), in
    a mask project's summary and in the price a simulation would take from its log."""
    project = mm.Project(tmp_path / "m", ["cat"], task="masks", frames=clip())
    project.actions.record("draw", 0, label="cat")      # the first event: untimed
    clock.now += 4000.0                                  # a break: untimed as well
    project.actions.record("adjust", 1, label="cat")
    table = project.summary().set_index("kind")
    assert table.loc["draw", "total_seconds"] == pytest.approx(54.0)
    assert table.loc["adjust", "total_seconds"] == pytest.approx(54.0)
    assert table.loc["draw", "seconds"] == pytest.approx(54.0)
    # the same log read as boxes keeps the box prices
    assert project.actions.total_seconds() == pytest.approx(7.0 + 7.0)
    project.close()
