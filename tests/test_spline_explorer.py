"""SplineExplorer at the state and handler depths: every click has a Python path."""

from __future__ import annotations

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets import spline


@pytest.fixture
def explorer():
    return mm.SplineExplorer("runge", strategy="uniform")


def trace(explorer, name):
    return explorer.figure.data[explorer._trace[name]]


def local_trace_y(explorer):
    return [np.array(explorer.figure.data[i].y, dtype=float) for i in explorer._trace["local"]]


def click(explorer, x, y=0.5):
    """What keys.js sends for a click on the plot area at ``x`` (the x axis spans the domain)."""
    low, high = explorer.curve.domain
    explorer._on_msg(explorer._clicks, {"type": "plot", "fx": (x - low) / (high - low), "fy": y}, [])


def test_a_click_on_the_plot_buys_a_label_and_redraws(explorer):
    explorer.auto_sample(17)
    global_before = np.array(trace(explorer, "global").y, dtype=float)
    local_before = local_trace_y(explorer)
    errors_before = len(explorer.error_figure.data[1].x)

    click(explorer, 0.05)

    assert explorer.curve.cost == 18 and explorer.curve.xs[-1] == pytest.approx(0.05)
    assert list(trace(explorer, "labels").x)[-1] == pytest.approx(0.05)
    assert list(trace(explorer, "newest").x) == pytest.approx([0.05])
    # Only region 5's local fit (index 4) changed; the global polynomial moved.
    assert explorer.changed_regions == (4,)
    local_after = local_trace_y(explorer)
    assert [not np.allclose(a, b) for a, b in zip(local_before, local_after, strict=True)] == [
        k == 4 for k in range(8)]
    global_after = np.array(trace(explorer, "global").y, dtype=float)
    assert not np.allclose(global_after, global_before)
    assert np.allclose(np.array(trace(explorer, "global_before").y, dtype=float),
                       global_before, equal_nan=True)
    assert len(explorer.error_figure.data[1].x) == errors_before + 1
    assert "local fits changed: 5;" in explorer.status.value


def test_a_click_buys_the_x_clicked_and_clicks_stay_in_the_domain(explorer):
    click(explorer, -0.4)
    click(explorer, -0.397)  # a click right beside it buys a new x, not the same one again
    click(explorer, 7.0)
    assert explorer.curve.xs.tolist() == pytest.approx([-0.4, -0.397, 1.0])
    explorer._on_msg(explorer._clicks, {"type": "plot", "fx": "x"}, [])   # garbage: nothing
    explorer._on_msg(explorer._clicks, {"type": "strip", "fx": 0.5}, [])  # not a plot click
    assert explorer.labels == 3
    # plotly's own click event (the nearest point it drew) buys nothing: no double labels.
    explorer.figure._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"trace_indexes": [1], "point_indexes": [0], "xs": [0.3], "ys": [0.5]},
        "device_state": None, "selector": None}
    assert explorer.labels == 3


def test_buy_matches_the_click_path():
    by_click, by_call = mm.SplineExplorer("kink"), mm.SplineExplorer("kink")
    for x in (-0.7, 0.2, 0.9):
        click(by_click, x)
        by_call.buy(x)
    for name in ("global", "labels"):
        assert np.allclose(np.array(trace(by_click, name).y, dtype=float),
                           np.array(trace(by_call, name).y, dtype=float), equal_nan=True)


def test_buttons_run_the_python_paths(explorer):
    explorer.buy_button.click()
    assert explorer.curve.xs.tolist() == [-1.0]  # uniform starts at the ends
    explorer.auto_count.value = 6
    explorer.auto_button.click()
    assert explorer.labels == 7 and len(trace(explorer, "labels").x) == 7
    assert len(explorer.error_figure.data[0].x) == 7
    explorer.reset_button.click()
    assert explorer.labels == 0
    assert len(trace(explorer, "labels").x) == 0 and len(explorer.error_figure.data[0].x) == 0


def test_curve_picker_noise_slider_and_strategy_picker(explorer):
    explorer.auto_sample(5)
    explorer.curve_picker.value = "flat"
    assert explorer.curve.name == "flat" and explorer.labels == 0
    assert np.allclose(trace(explorer, "truth").y, explorer.curve.truth(trace(explorer, "truth").x))
    explorer.set_curve("noisy")
    assert explorer.noise_slider.value == pytest.approx(0.005)  # the curve's own noise shown
    explorer.auto_sample(6)
    xs, ys = explorer.curve.xs.tolist(), explorer.curve.ys.tolist()
    explorer.noise_slider.value = 0.02
    assert explorer.curve.noise == 0.02 and explorer.curve.name == "noisy"
    # The labels bought stay bought: the same x's, drawn again with the new noise, refitted.
    assert explorer.curve.xs.tolist() == xs and explorer.labels == 6
    assert explorer.curve.ys.tolist() != ys
    assert len(trace(explorer, "labels").x) == 6 and len(explorer.error_figure.data[0].x) == 6
    assert "6 labels bought were kept" in explorer.status.value
    explorer.set_noise(0.0)
    assert explorer.curve.noise == 0.0 and explorer.labels == 6
    truth = explorer.curve.truth(np.array(xs))
    assert np.allclose(explorer.curve.ys, truth)  # no noise: the labels are the curve itself
    explorer.reset()
    explorer.strategy_picker.value = "active"
    first = explorer.buy_next()
    assert first == pytest.approx(-0.875)  # active starts with the middle of region 1
    explorer.set_strategy("random")
    explorer.auto_sample(3)
    assert explorer.labels == 4


def test_random_strategy_repeats_after_reset():
    explorer = mm.SplineExplorer("wiggly", strategy="random", seed=3)
    first = explorer.auto_sample(5)
    explorer.reset()
    assert explorer.auto_sample(5) == first


def test_user_curve_and_strategy_callables():
    def middle_first(xs, ys, domain, rng):
        return 0.5 * (domain[0] + domain[1]) if len(xs) == 0 else float(rng.uniform(*domain))

    curve = spline.HiddenCurve(np.cos, domain=(0.0, 6.0), name="<b>cos</b>")
    explorer = mm.SplineExplorer(curve, strategy=middle_first, regions=4)
    assert explorer.curve_picker.value == "<b>cos</b>"
    assert explorer.buy_next() == 3.0
    assert "&lt;b&gt;" in explorer.figure.layout.title.text
    assert len(explorer.figure.layout.shapes) == 4


def test_buy_outside_the_domain_is_refused_and_costs_nothing(explorer):
    with pytest.raises(ValueError, match="outside"):
        explorer.buy(2.0)
    assert explorer.labels == 0
