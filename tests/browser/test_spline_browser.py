"""SplineExplorer in a real JupyterLab: a click on the plot buys a label and redraws.

Checks from the kernel side that the label was bought near the clicked x and that the
figure's data changed, checks on the page that the new point was drawn, and saves the
screenshot used in the README (docs/img/spline.png).
"""

from __future__ import annotations

import pytest

from .harness import publish_screenshot

pytestmark = pytest.mark.browser

# Marker points drawn on the first plot: the labels bought plus the ring on the newest one
# (every other trace of that plot is drawn as a line).
COUNT_POINTS_JS = "(plot) => plot.querySelectorAll('.scatterlayer path.point').length"


def test_a_click_on_the_plot_buys_a_label(open_notebook, tmp_path):
    nb = open_notebook([
        "import mm_widgets as mm\n"
        "explorer = mm.SplineExplorer('runge', strategy='active')\n"
        "explorer.auto_sample(16)",
        "explorer",
    ])
    page = nb.page
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for()
    drag_layer = plot.locator(".nsewdrag").first
    drag_layer.wait_for()
    page.wait_for_function("(p) => p.querySelectorAll('.scatterlayer path.point').length >= 16",
                           arg=plot.element_handle(), timeout=20000)
    assert nb.kernel_eval("explorer.labels") == 16
    global_before = nb.kernel_eval("list(explorer.figure.data[explorer._trace['global']].y)")
    assert page.evaluate(COUNT_POINTS_JS, plot.element_handle()) == 16 + 1

    # Click at x = 0.3 (the plot area spans the domain [-1, 1]), halfway up.
    box = drag_layer.bounding_box()
    target_x = 0.3
    at = (box["x"] + box["width"] * (target_x + 1) / 2, box["y"] + box["height"] * 0.5)
    page.mouse.move(at[0] - 5, at[1])
    page.mouse.move(*at, steps=5)
    page.mouse.click(*at)

    assert nb.wait_kernel("explorer.labels", lambda n: n == 17) == 17
    bought = nb.kernel_eval("float(explorer.curve.xs[-1])")
    per_px = 2 / box["width"]  # domain units per page pixel
    assert bought == pytest.approx(target_x, abs=per_px)  # the x clicked, to the pixel
    assert nb.kernel_eval("explorer.changed_regions") == [5]  # x = 0.3 lies in region 6
    global_after = nb.kernel_eval("list(explorer.figure.data[explorer._trace['global']].y)")
    assert global_after != global_before
    page.wait_for_function(f"(p) => ({COUNT_POINTS_JS})(p) === 17 + 1",
                           arg=plot.element_handle(), timeout=10000)
    assert "local fits changed: 6" in page.locator(".widget-html-content").first.inner_text()
    assert not nb.dialogs

    # A click 3 px to the right buys a new x there (not the nearest drawn point again).
    page.mouse.click(at[0] + 3, at[1])
    nb.wait_kernel("explorer.labels", lambda n: n == 18)
    second = nb.kernel_eval("float(explorer.curve.xs[-1])")
    assert second == pytest.approx(bought + 3 * per_px, abs=per_px) and second != bought
    # The README picture: the 16 labels and the one click, as before.
    nb.kernel_eval("explorer.reset()")
    nb.kernel_eval("len(explorer.auto_sample(16))")
    nb.kernel_eval(f"explorer.buy({bought})")

    widget = page.locator(".jp-OutputArea-output .widget-vbox").first
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let plotly finish its transition before the picture
    widget.screenshot(path=str(tmp_path / "spline.png"))
    publish_screenshot(tmp_path / "spline.png", "spline.png")
