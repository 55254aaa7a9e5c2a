"""label() edits in a real JupyterLab with the mouse and keyboard: a drag released outside
the frame, undo and redo of a draw, an adjust and a delete, zoom with the wheel.

Every check reads the kernel (and the project folder on disk) after real Chromium input
events. Under ``make screenshots`` saves docs/img/label_zoom.png (a zoomed labeller with
its key legend) and docs/img/keys.png (the legend alone).
"""

from __future__ import annotations

import pytest

import mm_widgets as mm

from .harness import drag, publish_screenshot, wait_image_loaded

pytestmark = pytest.mark.browser


def to_page(rect, region, shown, point):
    """Page pixels of a full-frame ``point`` on an image showing ``region`` of the frame."""
    x1, y1, x2, y2 = region
    return (rect["x"] + (point[0] - x1) / (x2 - x1) * rect["width"],
            rect["y"] + (point[1] - y1) / (y2 - y1) * rect["height"])


def test_edge_drag_undo_redo_and_zoom(open_notebook, tmp_path):
    project = tmp_path / "carphone_project"
    nb = open_notebook([
        "import mm_widgets as mm\nframes = mm.load_sample('carphone')",
        f"w = mm.label(frames, ['eye'], project={str(project)!r}, first_labels=[10, 60])\nw",
    ])
    page = nb.page
    root = page.locator(".mm-label").first
    image = root.locator(".image-measure img")
    image.wait_for()
    wait_image_loaded(image)
    width, height = 176, 144
    assert nb.kernel_eval("list(w.scale.shown)") == [660, 540]  # a small clip fills the cell
    rect = image.bounding_box()
    assert rect["width"] == pytest.approx(660, abs=1)
    full = (0, 0, width, height)
    frame = nb.kernel_eval("w.frame")

    # 1. Start inside, release 60 px past the bottom-right corner: saved, cut at the edge.
    start = to_page(rect, full, None, (120, 90))
    drag(page, start, (rect["x"] + rect["width"] + 60, rect["y"] + rect["height"] + 60), steps=12)
    # Boxes and actions read together once both are there (see test_label_browser).
    got, kinds = nb.wait_kernel(f"([b.xyxy for b in w.labels.boxes({frame})], "
                                "[a.kind for a in w.actions])", lambda v: len(v[0]) == 1 and v[1])
    assert got[0] == pytest.approx((120, 90, width, height), abs=1.0)
    assert kinds == ["draw"]
    page.wait_for_function("(root) => root.innerText.includes('1 box')", arg=root.element_handle(),
                           timeout=10000)
    # The box no longer follows the mouse, and no page text was selected on the way.
    page.mouse.move(rect["x"] + 20, rect["y"] + 20, steps=4)
    page.wait_for_timeout(300)
    assert nb.kernel_eval(f"[b.xyxy for b in w.labels.boxes({frame})]") == got
    assert page.evaluate("() => String(window.getSelection())") == ""
    on_disk = mm.Project(project, read_only=True)  # the kernel holds it open
    assert on_disk.labels.boxes(frame)[0].xyxy == pytest.approx(got[0])
    on_disk.close()

    # 2. Undo and redo the draw with the keyboard.
    page.keyboard.press("Control+z")
    nb.wait_kernel(f"len(w.labels.boxes({frame}))", lambda v: v == 0)
    assert nb.kernel_eval("len(w.actions)") == 0
    page.keyboard.press("Control+Shift+z")
    nb.wait_kernel(f"len(w.labels.boxes({frame}))", lambda v: v == 1)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw"]

    # 3. Another visit; move the box by its middle with Shift held (a plain drag there
    #    would draw a new box): one adjust; undo, redo.
    page.keyboard.press("ArrowRight")
    nb.wait_kernel("w.frame", lambda f: f == frame + 1)
    page.keyboard.press("ArrowLeft")
    nb.wait_kernel("w.frame", lambda f: f == frame)
    page.wait_for_timeout(300)
    middle = to_page(rect, full, None, (148, 117))
    page.keyboard.down("Shift")
    drag(page, middle, (middle[0] - 66, middle[1] - 54), steps=8)  # 66 shown px = 17.6 frame px
    page.keyboard.up("Shift")
    moved = nb.wait_kernel(f"[b.xyxy for b in w.labels.boxes({frame})]", lambda v: v != got)
    assert moved[0] == pytest.approx((120 - 17.6, 90 - 14.4, width - 17.6, height - 14.4), abs=1.0)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "adjust"]
    page.keyboard.press("Control+z")
    nb.wait_kernel(f"[b.xyxy for b in w.labels.boxes({frame})]", lambda v: v == got)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw"]
    page.keyboard.press("Control+Shift+z")
    nb.wait_kernel(f"[b.xyxy for b in w.labels.boxes({frame})]", lambda v: v == moved)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "adjust"]

    # 4. Delete it with the keyboard (a click selects it, Delete removes); undo brings it back.
    page.wait_for_timeout(300)
    page.mouse.click(middle[0] - 66, middle[1] - 54)
    page.wait_for_timeout(200)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "adjust"]  # a click is free
    page.keyboard.press("Delete")
    nb.wait_kernel(f"len(w.labels.boxes({frame}))", lambda v: v == 0)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "adjust", "delete"]
    page.keyboard.press("Control+z")
    nb.wait_kernel(f"[b.xyxy for b in w.labels.boxes({frame})]", lambda v: v == moved)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "adjust"]
    root.locator("svg rect").first.wait_for(timeout=10000)  # on screen again
    on_disk = mm.Project(project, read_only=True)  # the kernel holds it open
    assert [a.kind for a in on_disk.actions] == ["draw", "adjust"]
    assert on_disk.labels.boxes(frame)[0].xyxy == pytest.approx(moved[0])
    on_disk.close()

    # 5. Zoom with the wheel over a small object, the man's eye (13 x 10 px in frame 60), and
    #    draw its box: the kernel gets full-frame coordinates within 1 px.
    nb.kernel_eval("w.go_to(60) or 0")
    wait_image_loaded(image)
    page.wait_for_timeout(300)
    target = (59.0, 49.0, 72.0, 59.0)
    over = to_page(rect, full, None, (65, 54))
    page.mouse.move(*over)
    for _ in range(6):
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(150)
    zoom = nb.wait_kernel("w.zoom", lambda z: z > 3.7)
    assert zoom == pytest.approx(1.25 ** 6)
    region = nb.kernel_eval("list(w.scale.region)")
    # The point under the mouse stayed under the mouse.
    fx, fy = (over[0] - rect["x"]) / rect["width"], (over[1] - rect["y"]) / rect["height"]
    assert region[0] + fx * (region[2] - region[0]) == pytest.approx(65, abs=0.5)
    assert region[1] + fy * (region[3] - region[1]) == pytest.approx(54, abs=0.5)
    wait_image_loaded(image)
    page.wait_for_timeout(400)
    a = to_page(rect, region, None, target[:2])
    b = to_page(rect, region, None, target[2:])
    drag(page, a, b, steps=8)
    (box,) = nb.wait_kernel("[b.xyxy for b in w.labels.boxes(60)]", lambda v: len(v) == 1)
    assert box == pytest.approx(target, abs=1.0)
    print(f"\nzoom {zoom:.2f}: drawn {box}, aimed at {target}")
    page.mouse.move(rect["x"] + rect["width"] + 200, rect["y"] + 10)
    page.wait_for_timeout(200)
    root.screenshot(path=str(tmp_path / "label_zoom.png"))
    publish_screenshot(tmp_path / "label_zoom.png", "label_zoom.png")
    root.locator(".mm-key-legend").screenshot(path=str(tmp_path / "keys.png"))
    publish_screenshot(tmp_path / "keys.png", "keys.png")
    assert not nb.dialogs


def test_viewer_strip_click_keys_and_stop(open_notebook, tmp_path):
    nb = open_notebook([
        "import mm_widgets as mm\nframes = mm.load_sample('bunny')\n"
        "model = mm.interpolate(frames, mm.load_sample_truth('bunny').subset([0, 60, 131]))",
        "v = mm.show(frames, model, interval=60)\nv",
    ])
    page = nb.page
    root = page.locator(".mm-viewer").first
    strip = root.locator(".mm-strip")
    strip.wait_for()
    n = 132
    # Click the middle of the strip cell of frame 100: the viewer goes there.
    r = strip.bounding_box()
    page.mouse.click(r["x"] + (100 + 0.5) / n * r["width"], r["y"] + r["height"] / 2)
    nb.wait_kernel("v.frame", lambda f: f == 100)
    page.wait_for_function("(root) => root.innerText.includes('frame 100 of 132')",
                           arg=root.element_handle(), timeout=10000)
    # The click gave the viewer the keyboard: arrows step through frames.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    nb.wait_kernel("v.frame", lambda f: f == 101)
    # Play, then the Play widget's stop button: the frame shown stays.
    buttons = root.locator(".widget-play button")
    buttons.nth(0).click()
    nb.wait_kernel("v.frame", lambda f: f >= 105, timeout=20)
    buttons.filter(has=page.locator(".fa-stop")).click()  # the stop button (a square)
    page.wait_for_timeout(500)
    stopped = nb.kernel_eval("[v.frame, v.playing, v._play.value]")
    assert stopped[0] >= 105 and stopped[1:] == [False, stopped[0]]
    page.wait_for_timeout(300)
    assert nb.kernel_eval("v.frame") == stopped[0]
    assert f"frame {stopped[0]} of 132" in root.inner_text()
    assert not nb.dialogs
