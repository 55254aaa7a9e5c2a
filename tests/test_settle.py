"""Training stops when predictions on unlabelled frames stop changing (issue 25 item 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mm_widgets import Frames, LabelSet
from mm_widgets.labels import Box
from mm_widgets.models.detector import YoloMicroModel, prediction_changes, settle_sample
from mm_widgets.models.training import Settled, train


def _line_fit(epochs, settled, lr=0.05):
    """A one-weight regression trained by :func:`train`: y = 3 x, from w = 0."""
    torch.manual_seed(0)
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    x = torch.linspace(-1, 1, 16).view(-1, 1)

    def loss(net, batch):
        value = ((net(batch) - 3 * batch) ** 2).mean()
        return value, float(value.detach())

    opt = torch.optim.SGD(net.parameters(), lr=lr)
    return net, train(net, opt, batches=lambda epoch: [x], loss=loss, epochs=epochs,
                      settled=settled, progress=False)


def _weight_to(decimals):
    """Predictions: the weight rounded (one 'prediction' per check), changes: 0 or 1 of 1."""
    return dict(look=lambda m: round(float(m.weight), decimals),
                changes=lambda a, b: (int(a != b), 1))


def test_stops_once_predictions_stop_changing_and_says_when():
    # Gradient steps take w from 0 towards 3 (w - 3 shrinks by a constant factor, ~0.24, per
    # epoch): rounded to 2 decimals it reads 3.00 from some epoch on; the rule wants two
    # checks in a row (every 2 epochs) without a change.
    seen = []
    rule = Settled(**_weight_to(2), what="1 frame", every=2, patience=2)
    rule.look = lambda m, look=rule.look: seen.append(look(m)) or seen[-1]
    net, result = _line_fit(100, rule, lr=1.0)
    stop = len(result.history)
    assert stop < 100 and stop % 2 == 0
    # the last three checks (stop - 4, stop - 2, stop) saw the same value; the one before differed
    assert seen[-3:] == [3.0, 3.0, 3.0] and seen[-4] != 3.0
    assert result.stop_reason == (f"predictions on 1 frame stopped changing after {stop} epochs "
                                  f"(the same at epochs {stop - 4}, {stop - 2} and {stop})")
    # the weights kept are still the lowest-loss epoch's (here the last: a converging fit)
    assert result.history[-1] == min(result.history)
    assert torch.equal(net.weight, result.state["weight"])


def test_does_not_stop_while_predictions_still_change():
    # Rounded to 6 decimals the weight still moves at every check of a 40-epoch run with a
    # small step: far from converged.
    rule = Settled(**_weight_to(6), what="1 frame", every=2, patience=2)
    _, result = _line_fit(40, rule, lr=0.01)
    assert len(result.history) == 40
    assert result.stop_reason == "reached the epoch maximum"
    assert [c for _, c, _ in rule.log] == [1] * 18  # checks at 2..38, none at the last epoch


def test_a_model_that_finds_nothing_has_not_settled():
    rule = Settled(look=lambda m: [], changes=lambda a, b: (0, 0), what="3 unlabelled frames",
                   every=2, patience=1)
    _, result = _line_fit(12, rule)
    assert result.stop_reason == "reached the epoch maximum"
    assert len(rule.log) == 4  # checks at 2, 4, ..., 10 (none at the last epoch): 4 compared


def test_the_notebook_bar_says_why_training_stopped():
    from mm_widgets.widgets.progress import NotebookProgress

    bar = NotebookProgress(show=False)
    rule = Settled(look=lambda m: 0, changes=lambda a, b: (0, 2), what="2 unlabelled frames",
                   every=1, patience=1)
    torch.manual_seed(0)
    net = torch.nn.Linear(1, 1)
    x = torch.ones(4, 1)

    def loss(net, batch):
        value = ((net(batch) - batch) ** 2).mean()
        return value, float(value.detach())

    result = train(net, torch.optim.SGD(net.parameters(), lr=0.1), batches=lambda e: [x],
                   loss=loss, epochs=10, settled=rule, progress=bar)
    assert result.stop_reason == ("predictions on 2 unlabelled frames stopped changing after 2 "
                                  "epochs (the same at epochs 1 and 2)")
    assert bar.text.value.endswith(f"2 epochs · loss {result.history[-1]:.3f} "
                                   f"({result.stop_reason})")


def test_small_changes_within_tolerance_are_said_as_such():
    rule = Settled(look=lambda m: 0, changes=lambda a, b: (1, 40), what="12 unlabelled frames",
                   every=3, patience=2, tolerance=1)
    _, result = _line_fit(30, rule)
    assert len(result.history) == 9
    assert result.stop_reason == ("predictions on 12 unlabelled frames settled after 9 epochs "
                                  "(at most 1 of 40 changed between epochs 3, 6 and 9)")


def test_prediction_changes_counts_new_lost_and_moved_boxes():
    box = lambda x1, y1, x2, y2, k: [x1, y1, x2, y2, 0.9, k]  # noqa: E731
    before = [np.array([box(0, 0, 10, 10, 0), box(20, 0, 30, 10, 0), box(40, 0, 50, 10, 1)]),
              np.zeros((0, 6))]
    now = [np.array([box(0, 0, 10, 10, 0),      # same box: no change
                     box(21, 0, 31, 10, 0),     # moved: IoU 9/11 = 0.82 < 0.9
                     box(40, 0, 50, 10, 0)]),   # other class: the class-1 box is gone, this is new
           np.array([box(5, 5, 9, 9, 1)])]      # new on the second frame
    assert prediction_changes(before, now) == (1 + 2 + 1, 1 + 1 + 2 + 1)
    assert prediction_changes(before, before) == (0, 3)
    # a box one pixel wider at 100 px: IoU 0.99 is the same box
    assert prediction_changes([np.array([box(0, 0, 100, 100, 0)])],
                              [np.array([box(0, 0, 101, 100, 0)])]) == (0, 1)


def test_the_sample_is_spread_over_unlabelled_frames():
    assert settle_sample(10, [0, 5], 12) == [1, 2, 3, 4, 6, 7, 8, 9]
    picks = settle_sample(132, [0, 30, 60, 90, 131], 12)
    assert len(picks) == len(set(picks)) == 12
    assert not set(picks) & {0, 30, 60, 90, 131}
    assert picks[0] == 1 and picks[-1] == 130
    assert settle_sample(3, [0, 1, 2], 12) == []


@pytest.fixture(scope="module")
def square():
    """24 frames of 64x64 noise with a 28-px square that shifts a pixel either way: an object
    a from-scratch YOLO at a 64 px input finds within ~40 epochs of 2 steps."""
    rng = np.random.default_rng(0)
    arrays, labels = [], LabelSet(["square"], size=(64, 64), n_frames=24)
    for i in range(24):
        img = rng.integers(0, 40, (64, 64, 3), dtype=np.uint8)
        x = 18 + i % 3 - 1
        img[18:46, x:x + 28] = (230, 60, 40)
        arrays.append(img)
        if i in (0, 8, 16, 23):
            labels.set_boxes(i, [Box(x, 18, x + 28, 46, "square")])
    return Frames.from_arrays(arrays), labels


@pytest.mark.slow
def test_a_yolo_model_that_stops_early_says_so(square, capsys):
    """~10 s: a from-scratch YOLO finds nothing for its first ~30 epochs, and the rule
    cannot settle before it does."""
    frames, labels = square
    # patience=100: the loss plateau never stops this run, only the settle rule can
    model = YoloMicroModel(imgsz=64, batch_size=8, steps_per_epoch=2, weights=None,
                           patience=100, settle=12, seed=0, progress=True).fit(frames, labels)
    epochs = len(model.history_)
    assert epochs < 60, model.stop_reason_
    assert epochs % 4 == 0
    assert model.stop_reason_ == (
        f"predictions on 12 unlabelled frames stopped changing after {epochs} epochs "
        f"(the same at epochs {epochs - 8}, {epochs - 4} and {epochs}; it finds all 4 labelled "
        "boxes)")
    assert model.stop_reason_ in capsys.readouterr().err  # on the tqdm line
    # what settled was a model that finds the square, not one that finds nothing
    assert len(model.predict(frames, indices=[4, 12, 20])) >= 2


def test_settle_off_and_fixed_epochs_run_their_course(square):
    frames, labels = square
    fixed = YoloMicroModel(epochs=3, imgsz=64, batch_size=8, steps_per_epoch=1, weights=None,
                           settle=12, progress=False).fit(frames, labels)
    assert fixed.stop_reason_ == "reached the epoch maximum"
    off = YoloMicroModel(settle=0)._settle_rule(frames, [0], (64, 32), ["square"], "cpu", None, [])
    assert off is None
    # "auto": a first model checks 8 unlabelled frames; a warm-started round is not checked
    rule = YoloMicroModel()._settle_rule(frames, [0], (64, 64), ["square"], "cpu",
                                         torch.zeros(1, 3, 64, 64), [np.zeros((1, 5))])
    assert rule.what == "8 unlabelled frames" and rule.taught_text == "it finds the labelled box"
    warm = YoloMicroModel(warm_start=fixed)._settle_rule(frames, [0], (64, 64), ["square"], "cpu",
                                                         torch.zeros(1, 3, 64, 64), [])
    assert warm is None
