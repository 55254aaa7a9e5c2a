"""Crowded frames and the keyboard, in a real JupyterLab, by mouse and keys only.

- A box drawn inside another box on a frame where boxes overlap: a drag that starts inside
  a box draws a new one (the box under it stays where it was); a click inside a box selects
  it; Shift+drag moves it.
- Keys reach a widget just shown, with no click: the cells are run with Shift+Enter, as a
  person runs them, and nothing typed lands in the notebook's next cell.
- ``show()``: a small clip enlarged as ``label()`` shows it; Space pauses playback on every
  press (and plays again on the next), with the frame staying where it paused.

Under ``make screenshots`` saves docs/img/draw_inside.png and docs/img/show_small.png.
"""

from __future__ import annotations

import pytest

from .harness import PANEL, drag, publish_screenshot, wait_image_loaded

pytestmark = pytest.mark.browser

HEAD = (56.0, 15.0, 109.0, 100.0)   # the man's head in carphone frame 10 (the sample truth)
HAND = (40.0, 60.0, 80.0, 130.0)    # a box overlapping it


def page_point(rect, size, point):
    return (rect["x"] + point[0] / size[0] * rect["width"], rect["y"] + point[1] / size[1] * rect["height"])


def cell_sources(page):
    return page.evaluate("""() => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        return nb.widgets.map(c => c.model.sharedModel.getSource());
    }""")


def run_with_shift_enter(nb, n_cells):
    """Run the cells one by one with Shift+Enter, as a person does (JupyterLab moves the
    keyboard focus to the next cell each time, and to a new empty cell after the last)."""
    page = nb.page
    page.locator(f"{PANEL} .jp-Cell .jp-InputArea-editor").first.click()
    page.keyboard.press("Escape")  # command mode
    for _ in range(n_cells):
        page.keyboard.press("Shift+Enter")
        page.wait_for_timeout(200)
    nb.wait_kernel_idle()


def test_draw_inside_a_box_and_keys_without_a_click(open_notebook, tmp_path):
    cells = [
        "import mm_widgets as mm\nframes = mm.load_sample('carphone')",
        "w = mm.label(frames, ['head', 'hand'], first_labels=[10])\n"
        f"w.set_boxes(10, [mm.Box(*{HEAD}, 'head'), mm.Box(*{HAND}, 'hand')])\nw",
    ]
    nb = open_notebook(cells, run=False)
    page = nb.page
    run_with_shift_enter(nb, len(cells))
    root = page.locator(".mm-label").first
    image = root.locator(".image-measure img")
    image.wait_for()
    wait_image_loaded(image)
    page.wait_for_timeout(500)
    assert nb.kernel_eval("w.frame") == 10
    before = cell_sources(page)

    # 1. Keys with no click: the widget took the keyboard when it appeared.
    page.keyboard.press("2")                       # choose the second class
    nb.wait_kernel("w._bbox.label", lambda v: v == "hand")
    page.keyboard.press("ArrowRight")
    nb.wait_kernel("w.frame", lambda f: f == 11)
    page.keyboard.press("ArrowLeft")
    nb.wait_kernel("w.frame", lambda f: f == 10)
    assert cell_sources(page) == before            # nothing typed into a cell
    wait_image_loaded(image)
    page.wait_for_timeout(400)

    # 2. A drag that starts inside the head's box (where it overlaps the hand's) draws a new
    #    box; both boxes under it stay as they were.
    rect = image.bounding_box()
    size = (176, 144)
    page.keyboard.press("1")
    nb.wait_kernel("w._bbox.label", lambda v: v == "head")
    eye = (62.0, 70.0, 76.0, 84.0)                 # inside HEAD and inside HAND
    drag(page, page_point(rect, size, eye[:2]), page_point(rect, size, eye[2:]), steps=10)
    boxes = nb.wait_kernel("[(b.xyxy, b.label) for b in w.labels.boxes(10)]", lambda v: len(v) == 3)
    assert [tuple(b) for b, _ in boxes[:2]] == [HEAD, HAND]
    assert boxes[2][0] == pytest.approx(eye, abs=0.5) and boxes[2][1] == "head"
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "draw", "draw"]
    page.wait_for_timeout(300)
    root.screenshot(path=str(tmp_path / "draw_inside.png"))
    publish_screenshot(tmp_path / "draw_inside.png", "draw_inside.png")

    # 3. A click inside the hand's box (away from the others) selects it: Delete removes it.
    rect = image.bounding_box()                       # the screenshot may have scrolled
    page.mouse.click(*page_point(rect, size, (50.0, 120.0)))
    page.wait_for_timeout(300)
    assert nb.kernel_eval("len(w.labels.boxes(10))") == 3   # a click changes nothing
    page.keyboard.press("Delete")
    boxes = nb.wait_kernel("[(b.xyxy, b.label) for b in w.labels.boxes(10)]", lambda v: len(v) == 2)
    assert [b[1] for b in boxes] == ["head", "head"] and tuple(boxes[0][0]) == HEAD
    page.keyboard.press("Control+z")                 # the key still reaches the widget
    nb.wait_kernel("len(w.labels.boxes(10))", lambda v: v == 3)

    # 4. Shift+drag inside the head's box (above the others) moves it: one adjust.
    page.wait_for_timeout(300)
    start = page_point(rect, size, (95.0, 30.0))
    page.keyboard.down("Shift")
    drag(page, start, (start[0] + 10 / size[0] * rect["width"], start[1]), steps=6)
    page.keyboard.up("Shift")
    moved = nb.wait_kernel("[b.xyxy for b in w.labels.boxes(10) if b.label == 'head']",
                           lambda v: tuple(v[0]) != HEAD)
    assert moved[0] == pytest.approx((HEAD[0] + 10, HEAD[1], HEAD[2] + 10, HEAD[3]), abs=0.6)
    kinds = nb.kernel_eval("[a.kind for a in w.actions]")
    assert kinds.count("adjust") == 1 and kinds.count("draw") == 3
    assert not nb.dialogs


def test_show_enlarges_a_small_clip_and_space_pauses_on_every_press(open_notebook, tmp_path):
    cells = [
        "import mm_widgets as mm\nframes = mm.load_sample('carphone')\n"
        "truth = mm.load_sample_truth('carphone')",
        "v = mm.show(frames, truth, interval=80)\nv",
    ]
    nb = open_notebook(cells, run=False)
    page = nb.page
    run_with_shift_enter(nb, len(cells))
    root = page.locator(".mm-viewer").first
    image = root.locator("img").first
    image.wait_for()
    wait_image_loaded(image)
    box = image.bounding_box()
    assert nb.kernel_eval("list(v.scale.shown)") == [660, 540]
    assert box["width"] == pytest.approx(660, abs=1) and box["height"] == pytest.approx(540, abs=1)
    slider = root.locator(".widget-hslider", has_text="frame").first.locator(".slider-container")
    assert slider.bounding_box()["width"] >= 250      # a frame slider a person can drag
    root.screenshot(path=str(tmp_path / "show_small.png"))
    publish_screenshot(tmp_path / "show_small.png", "show_small.png")

    # Space with no click: plays; every second press pauses, and the frame stays put.
    paused = []
    for _ in range(4):
        page.keyboard.press(" ")
        nb.wait_kernel("v.playing", lambda p: p)
        start = nb.kernel_eval("v.frame")
        nb.wait_kernel("v.frame", lambda f, s=start: f >= s + 3)   # it really plays
        page.keyboard.press(" ")
        nb.wait_kernel("v.playing", lambda p: not p)
        page.wait_for_timeout(250)                     # frames in flight have landed
        here = nb.kernel_eval("v.frame")
        page.wait_for_timeout(600)                     # ~7 intervals: nothing moves
        assert nb.kernel_eval("v.frame") == here
        shown = page.evaluate("(root) => root.innerText", root.element_handle())
        assert f"frame {here} of 120" in shown
        paused.append(here)
    assert paused == sorted(paused) and len(set(paused)) == 4
    # At the last frame Space plays from the start (as the legend says).
    nb.kernel_eval("v.go_to(119) or 0")
    page.keyboard.press(" ")
    nb.wait_kernel("v.playing", lambda p: p)
    nb.wait_kernel("v.frame", lambda f: f < 60)
    page.keyboard.press(" ")
    nb.wait_kernel("v.playing", lambda p: not p)
    assert "from the start" in root.locator(".mm-key-legend").inner_text()
