"""review() and show() in a real JupyterLab: pre-filled boxes, one deleted with the mouse.

Checks from the kernel side and in the project folder on disk (``actions.journal``) that
accepting a frame cost nothing and the deletion is exactly one ``delete``; plays the
viewer; renders the efficiency chart of a real (fast, interpolation) ``simulate()`` run.
Under ``make screenshots`` saves the screenshots used in the README: docs/img/review.png, docs/img/viewer.png and
docs/img/efficiency_widget.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mm_widgets as mm

from .harness import drag, publish_screenshot, wait_image_loaded

pytestmark = pytest.mark.browser

KEYFRAMES = [0, 44, 88, 131]


def save_screenshot(locator, tmp_path: Path, name: str) -> None:
    locator.page.mouse.move(1, 1)  # no hover marks on the picture
    locator.page.wait_for_timeout(200)
    locator.screenshot(path=str(tmp_path / name))
    publish_screenshot(tmp_path / name, name)


def journal(project: Path) -> list[dict]:
    path = project / "actions.journal"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_review_prefills_and_a_deleted_box_is_one_delete(open_notebook, tmp_path):
    project = tmp_path / "bunny_review"
    nb = open_notebook([
        "import mm_widgets as mm\n"
        "frames = mm.load_sample('bunny')\n"
        f"keyframes = mm.load_sample_truth('bunny').subset({KEYFRAMES})\n"
        "model = mm.interpolate(frames, keyframes)",
        f"rev = mm.review(frames, model, project={str(project)!r})\nrev",
    ])
    page = nb.page
    root = page.locator(".mm-review").first
    image = root.locator(".image-measure img")
    image.wait_for()
    wait_image_loaded(image)
    first = nb.kernel_eval("rev.order[0]")
    assert nb.kernel_eval("rev.frame") == first

    # The model's box is drawn over the frame, before anyone touched anything.
    root.locator("svg text", has_text="bunny").first.wait_for()
    assert root.locator("svg rect").count() >= 1
    assert "0 of 132" in root.inner_text()

    # "Accept frame" keeps the box for free and moves to the next frame in review order (the
    # order as it stands then: blocks predicted in the background meanwhile join it).
    root.get_by_role("button", name="Accept frame").click()
    second = nb.wait_kernel("rev.frame", lambda f: f != first)
    assert nb.kernel_eval("rev.queue[0]") == second
    order = [first, second]
    assert nb.kernel_eval("[a.kind for a in rev.actions]") == []
    assert nb.kernel_eval(f"[b.source for b in rev.labels.boxes({order[0]})]") == ["model"]
    wait_image_loaded(image)
    page.wait_for_function("(root) => root.innerText.includes('1 of 132')",
                           arg=root.element_handle(), timeout=10000)
    save_screenshot(root, tmp_path, "review.png")

    # Delete the pre-filled box with the mouse: the bbox widget's "x" above its top-right
    # corner (a 12 x 12 target, 8 shown pixels above the box, 5 in from its right edge).
    (x1, y1, x2, y2) = nb.kernel_eval(f"rev.shown_boxes({order[1]})[0].xyxy")
    (width, height) = nb.kernel_eval("list(rev.frames.size)")
    rect = image.bounding_box()
    sx, sy = rect["width"] / width, rect["height"] / height
    page.mouse.click(rect["x"] + x2 * sx - 5, rect["y"] + y1 * sy - 8)

    assert nb.wait_kernel("[a.kind for a in rev.actions]", lambda v: len(v) >= 1) == ["delete"]
    assert nb.kernel_eval(f"rev.labels.boxes({order[1]})") == []
    on_disk = journal(project)
    # the accept is logged too (free, but timed), then the one counted delete
    assert [(a["kind"], a["frame"], a["label"]) for a in on_disk] == [
        ("accept", order[0], None), ("delete", order[1], "bunny")]
    reopened = mm.Project(project, read_only=True)  # the kernel holds it open
    assert reopened.labels.looked_at == sorted(order[:2])
    assert reopened.labels.boxes(order[1]) == []
    reopened.close()
    page.wait_for_function("(root) => root.innerText.includes('1 human action')",
                           arg=root.element_handle(), timeout=10000)
    # The bbox widget removes a deleted box after a short fade-out (a Svelte transition):
    # wait for it to go rather than sampling mid-animation.
    from playwright.sync_api import expect

    expect(root.locator("svg text", has_text="bunny")).to_have_count(0, timeout=10000)
    assert not nb.dialogs


def test_viewer_plays_and_efficiency_chart(open_notebook, tmp_path):
    nb = open_notebook([
        "import mm_widgets as mm\n"
        "from mm_widgets.widgets.charts import figure_widget\n"
        "frames = mm.load_sample('bunny')\n"
        "truth = mm.load_sample_truth('bunny')\n"
        f"model = mm.interpolate(frames, truth.subset({KEYFRAMES}))",
        "v = mm.show(frames, model)\nv.go_to(30)\nv",
        "from mm_widgets.plots import efficiency_figure\n"
        "report = mm.simulate(frames, truth, kind='interpolate', first_labels=5, rounds=3,\n"
        "                     baselines=('interpolate',))  # no tracker walk: 21 of this cell's 24 s\n"
        "# The model is the interpolation itself: its interp_* twins would only hide under it.\n"
        "table = report.table[[c for c in report.table if not c.startswith('interp_')]]\n"
        "chart = figure_widget(efficiency_figure(\n"
        "    table, title=\"Label efficiency per round: bunny, simulate(kind='interpolate')\"))\n"
        "chart",
    ])
    page = nb.page
    viewer = page.locator(".mm-viewer").first
    image = viewer.locator("img").first
    image.wait_for()
    wait_image_loaded(image)
    assert viewer.locator(".mm-strip > div").count() == 132
    assert "frame 30 of 132" in viewer.inner_text()
    assert nb.kernel_eval("v.empty_frames") == []  # also opens the kernel client before playing
    save_screenshot(viewer, tmp_path, "viewer.png")

    # Play: the browser steps the frames, the kernel follows; pause stops it.
    viewer.locator(".widget-play button").first.click()
    nb.wait_kernel("v.frame", lambda f: f >= 33, timeout=15)
    assert nb.kernel_eval("v.playing") is True
    nb.kernel_eval("v.stop() or 0")
    page.wait_for_timeout(300)  # a step already on its way may still arrive
    stopped = nb.kernel_eval("v.frame")
    page.wait_for_timeout(500)
    assert nb.kernel_eval("v.frame") == stopped < 131

    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(timeout=20000)
    plot.locator(".scatterlayer .trace").first.wait_for()
    assert nb.kernel_eval("len(report.table)") == 4
    legend = plot.locator(".legend").first.text_content()
    assert "efficiency" in legend and "recall" in legend
    page.wait_for_timeout(500)  # plotly's first transition
    # docs/img/efficiency.png is the real micro-model loop (benchmarks/loop.py --png); this
    # in-browser chart of the interpolation loop goes beside it.
    save_screenshot(page.locator(".jp-OutputArea-output", has=plot).first, tmp_path,
                    "efficiency_widget.png")
    assert not nb.dialogs


def test_a_box_drawn_on_one_frame_is_carried_to_the_next(open_notebook, tmp_path):
    """The model misses the rabbit past frame 10 (interpolation from two early keyframes,
    nothing held past them): the person draws the rabbit on frame 60 with the mouse, goes
    on with "Next to review" (clip order), and frame 61 shows the box carried there at once
    (no training), tight on the rabbit, which the person accepts for free."""
    nb = open_notebook([
        "import mm_widgets as mm\n"
        "frames = mm.load_sample('bunny')\n"
        "truth = mm.load_sample_truth('bunny')\n"
        "model = mm.interpolate(frames, truth.subset([0, 10]), hold_ends=False)",
        "rev = mm.review(frames, model, strategy='sequential')\nrev.go_to(60)\nrev",
    ])
    page = nb.page
    root = page.locator(".mm-review").first
    image = root.locator(".image-measure img")
    image.wait_for()
    wait_image_loaded(image)
    assert nb.kernel_eval("rev.frame") == 60
    assert nb.kernel_eval("rev.shown_boxes(60)") == []
    (x1, y1, x2, y2) = nb.kernel_eval("truth.boxes(60)[0].xyxy")
    (width, height) = nb.kernel_eval("list(rev.frames.size)")
    rect = image.bounding_box()
    sx, sy = rect["width"] / width, rect["height"] / height
    root.locator(".class-label", has_text="bunny").first.click()
    drag(page, (rect["x"] + x1 * sx, rect["y"] + y1 * sy), (rect["x"] + x2 * sx, rect["y"] + y2 * sy),
         steps=10)
    assert nb.wait_kernel("[a.kind for a in rev.actions]", lambda v: len(v) >= 1) == ["draw"]
    drawn = nb.kernel_eval("rev.labels.boxes(60)[0].xyxy")
    assert drawn == pytest.approx((x1, y1, x2, y2), abs=3)

    root.get_by_role("button", name="Next to review").click()
    nb.wait_kernel("rev.frame", lambda f: f == 61)
    wait_image_loaded(image)
    carried = nb.kernel_eval("[(b.source, b.xyxy) for b in rev.shown_boxes(61)]")
    assert [source for source, _ in carried] == ["carried"]
    assert nb.kernel_eval("rev.shown_boxes(61)[0].iou(truth.boxes(61)[0])") >= 0.75
    # drawn over the frame in the browser, and said in the status line
    root.locator("svg text", has_text="bunny").first.wait_for()
    page.wait_for_function("(root) => root.innerText.includes('1 carried from frame 60')",
                           arg=root.element_handle(), timeout=10000)
    save_screenshot(root, tmp_path, "review_carried.png")
    page.keyboard.press("Enter")                                  # accepted as carried: free
    nb.wait_kernel("rev.frame", lambda f: f == 62)
    assert nb.kernel_eval("[a.kind for a in rev.actions.events]") == ["draw", "accept"]
    assert nb.kernel_eval("[b.source for b in rev.labels.boxes(61)]") == ["carried"]
    assert not nb.dialogs
