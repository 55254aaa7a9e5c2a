"""label(task="masks") in a real JupyterLab: a polygon labelled by mouse clicks arrives in
full-frame pixels exactly; Enter closes one, Escape cancels one; a vertex dragged in a
later visit is one adjust; a selected mask is deleted with the Delete key. review() of a
mask model: its masks pre-filled, Enter accepts a frame (free), a point dragged twice is
one adjust landing exactly, C gives a selected mask the chosen class (one adjust).

The clip is 176x144 (carphone), shown enlarged 3.75 times (660x540): a click on whole shown
pixel ``s`` is full-frame ``s / 3.75``. Under ``make screenshots`` saves
docs/img/masks_label.png and docs/img/masks_review.png.
"""

from __future__ import annotations

import pytest

from .harness import drag, publish_screenshot, wait_image_loaded

pytestmark = pytest.mark.browser

SCALE = 3.75  # 660 / 176 = 540 / 144


def test_polygon_by_clicks_and_a_vertex_drag(open_notebook, tmp_path):
    nb = open_notebook([
        "import mm_widgets as mm\nframes = mm.load_sample('carphone')",
        "w = mm.label(frames, ['face', 'phone'], task='masks', first_labels=[10, 60])\nw",
    ])
    page = nb.page
    root = page.locator(".mm-label").first
    image = root.locator(".mm-masks img")
    image.wait_for()
    wait_image_loaded(image)
    assert nb.kernel_eval("list(w.scale.shown)") == [660, 540]
    surface = root.locator("svg.mm-mask-surface")
    rect = surface.bounding_box()
    assert (rect["width"], rect["height"]) == pytest.approx((660, 540), abs=0.5)
    frame = nb.kernel_eval("w.frame")

    def at(x, y):
        """Page pixels of the full-frame point (x, y): the middle of its shown pixel's start."""
        return rect["x"] + x * SCALE + 0.4, rect["y"] + y * SCALE + 0.4

    # 1. Class 1 (the key), four clicks, and a click on the first point closes the polygon.
    #    Full-frame points on multiples of 4 fall on whole shown pixels (x 3.75).
    page.mouse.move(*at(88, 72))  # the labeller takes the keyboard when the mouse enters
    page.keyboard.press("1")
    root.locator(".mm-mask-class.mm-chosen", has_text="face").wait_for()  # (a round trip)
    face = [(40, 20), (100, 24), (96, 108), (44, 112)]
    for point in face:
        page.mouse.click(*at(*point))
    page.mouse.click(*at(*face[0]))
    got = nb.wait_kernel(f"[(m.label, m.polygons) for m in w.labels.masks({frame})]",
                         lambda v: len(v) == 1)
    assert got == [["face", [[float(v) for p in face for v in p]]]]  # (JSON: lists)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw"]

    # 2. Key 2 chooses the class; three clicks and Enter close a triangle; Escape cancels
    #    the polygon begun after it.
    page.keyboard.press("2")
    root.locator(".mm-mask-class.mm-chosen", has_text="phone").wait_for()
    phone = [(120, 60), (160, 60), (140, 100)]
    for point in phone:
        page.mouse.click(*at(*point))
    page.keyboard.press("Enter")
    nb.wait_kernel(f"len(w.labels.masks({frame}))", lambda v: v == 2)
    page.mouse.click(*at(8, 8))
    page.mouse.click(*at(20, 8))
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    got = nb.kernel_eval(f"[(m.label, m.polygons) for m in w.labels.masks({frame})]")
    assert got[1] == ["phone", [[float(v) for p in phone for v in p]]]
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "draw"]
    assert root.locator("svg .mm-open").count() == 0

    # 3. Another visit; drag one point of the face twice: one adjust, points exact.
    page.keyboard.press("ArrowRight")
    nb.wait_kernel("w.frame", lambda f: f == frame + 1)
    page.keyboard.press("ArrowLeft")
    nb.wait_kernel("w.frame", lambda f: f == frame)
    page.wait_for_function("(r) => r.querySelectorAll('svg .mm-vertex').length === 7",
                           arg=root.element_handle(), timeout=10000)
    drag(page, at(100, 24), at(112, 28))
    nb.wait_kernel(f"w.labels.masks({frame})[0].polygons[0][2:4]", lambda v: v == [112.0, 28.0])
    drag(page, at(112, 28), at(116, 32))
    nb.wait_kernel(f"w.labels.masks({frame})[0].polygons[0][2:4]", lambda v: v == [116.0, 32.0])
    assert nb.kernel_eval(f"w.labels.masks({frame})[0].polygons") == [
        [40.0, 20.0, 116.0, 32.0, 96.0, 108.0, 44.0, 112.0]]
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "draw", "adjust"]
    assert "3 human actions" in root.inner_text()

    page.mouse.move(rect["x"] + rect["width"] - 4, rect["y"] + rect["height"] + 30)
    page.wait_for_timeout(150)
    root.screenshot(path=str(tmp_path / "masks_label.png"))
    publish_screenshot(tmp_path / "masks_label.png", "masks_label.png")

    # 4. Click inside the phone to select it, Delete removes it: one delete.
    page.mouse.click(*at(140, 70))
    page.keyboard.press("Delete")
    nb.wait_kernel(f"len(w.labels.masks({frame}))", lambda v: v == 1)
    assert nb.kernel_eval("[a.kind for a in w.actions]") == ["draw", "draw", "adjust", "delete"]
    assert not nb.dialogs


# The fake mask model of the review test: on frame 0 it is right; on every later frame one
# point of the face is 12 px off (the person drags it back) and the tie is called a face
# (the person gives it its class with C). Full-frame points on multiples of 4 fall on whole
# shown pixels.
FACE = [64, 48, 68, 28, 84, 16, 104, 20, 112, 40, 112, 64, 104, 88, 92, 100, 76, 96, 68, 80]
TIE = [80, 104, 96, 108, 112, 108, 124, 112, 120, 120, 100, 116, 84, 116]
MODEL_CELL = f"""
import mm_widgets as mm
from mm_widgets.labels import Mask

class Model:
    task, classes_ = 'masks', ['face', 'tie']

    def predict(self, frames, indices=None):
        table = mm.LabelSet(self.classes_, 'masks')
        for f in range(len(frames)) if indices is None else indices:
            face = {FACE}
            if f > 0:
                face[10] = 124
            table.set_masks(f, [Mask([face], 'face', 0.9, 'model'),
                                Mask([{TIE}], 'tie' if f == 0 else 'face', 0.8, 'model')])
        return table.df
"""


def test_mask_review_accept_by_key_drag_a_point_and_change_a_class(open_notebook, tmp_path):
    nb = open_notebook([
        MODEL_CELL + "frames = mm.load_sample('carphone')",
        "rev = mm.review(frames, Model())\nrev",
    ])
    page = nb.page
    root = page.locator(".mm-review").first
    image = root.locator(".mm-masks img")
    image.wait_for()
    wait_image_loaded(image)
    surface = root.locator("svg.mm-mask-surface")
    rect = surface.bounding_box()
    assert (rect["width"], rect["height"]) == pytest.approx((660, 540), abs=0.5)
    assert nb.kernel_eval("rev.frame") == 0

    def at(x, y):
        """Page pixels of full-frame (x, y), measured now: the counter over the frame may
        have grown a line meanwhile."""
        box = surface.bounding_box()
        return box["x"] + x * SCALE + 0.4, box["y"] + y * SCALE + 0.4

    # 1. The model's two masks are drawn (17 points); Enter accepts the frame: free.
    page.wait_for_function("(r) => r.querySelectorAll('svg .mm-vertex').length === 17",
                           arg=root.element_handle(), timeout=10000)
    page.mouse.move(*at(150, 20))  # the widget takes the keyboard when the mouse enters
    page.keyboard.press("Enter")
    nb.wait_kernel("rev.frame", lambda f: f == 1)
    assert nb.kernel_eval("[a.kind for a in rev.actions]") == []
    assert nb.kernel_eval("[(m.label, m.source) for m in rev.labels.masks(0)]") == [
        ["face", "model"], ["tie", "model"]]

    # 2. Frame 1: the face's loose point dragged back, then another point nudged: one adjust,
    #    every point where the mouse left it, in full-frame pixels exactly.
    root.locator(f"svg .mm-vertex[cx='{124 * SCALE:g}'][cy='{64 * SCALE:g}']").wait_for()  # frame 1's
    drag(page, at(124, 64), at(112, 64))
    nb.wait_kernel("[a.kind for a in rev.actions]", lambda v: v == ["adjust"])
    drag(page, at(104, 88), at(100, 88))
    want = FACE.copy()
    want[12] = 100
    nb.wait_kernel("rev.labels.masks(1)[0].polygons[0]", lambda v: v == [float(v) for v in want])
    assert nb.kernel_eval("[a.kind for a in rev.actions]") == ["adjust"]

    # 3. The tie, called a face: clicked (selected), key 2 chooses "tie", C gives it to it.
    page.mouse.click(*at(100, 112))
    page.keyboard.press("2")
    root.locator(".mm-mask-class.mm-chosen", has_text="tie").wait_for()
    page.keyboard.press("c")
    nb.wait_kernel("[[m.label for m in rev.labels.masks(1)], [a.kind for a in rev.actions]]",
                   lambda v: v == [["face", "tie"], ["adjust", "adjust"]])
    assert nb.kernel_eval("rev.labels.masks(1)[1].polygons[0]") == [float(v) for v in TIE]
    page.wait_for_function("(r) => r.innerText.includes('2 human actions')",  # (a round trip)
                           arg=root.element_handle(), timeout=10000)

    page.mouse.move(*at(172, 152))
    page.wait_for_timeout(150)
    root.screenshot(path=str(tmp_path / "masks_review.png"))
    publish_screenshot(tmp_path / "masks_review.png", "masks_review.png")
    assert not nb.dialogs
