"""label() in a real JupyterLab: draw a box with the mouse, switch frames, pick classes.

Checks from the kernel side and in the project folder on disk that the labels arrived in
full-frame pixels, measures what a frame costs (bytes, latency) and checks escaping.
"""

from __future__ import annotations

import statistics

import pytest

import mm_widgets as mm

from .harness import drag, publish_screenshot, wait_image_loaded

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=alert(1)>"

# Click "Next" on a labeller and time it until the new frame is loaded and painted.
NEXT_FRAME_JS = """async (root) => {
  const img = root.querySelector('.image-measure img');
  const next = [...root.querySelectorAll('button')].find(b => b.textContent.trim() === 'Next');
  const before = img.src;
  const shown = new Promise(resolve => {
    const done = () => requestAnimationFrame(() => resolve(performance.now()));
    const check = () => (img.src !== before && img.complete && img.naturalWidth > 0)
      ? done() : setTimeout(check, 1);
    check();
  });
  const t0 = performance.now();
  next.click();
  const t1 = await shown;
  const blob = await (await fetch(img.src)).blob();
  return {ms: t1 - t0, bytes: blob.size, width: img.naturalWidth, height: img.naturalHeight};
}"""


def test_draw_a_box_and_switch_frames(open_notebook, tmp_path):
    project = tmp_path / "bunny_project"
    nb = open_notebook([
        "import mm_widgets as mm\nframes = mm.load_sample('bunny')",
        f"w = mm.label(frames, ['bunny'], project={str(project)!r})\nw",
    ])
    page = nb.page
    root = page.locator(".mm-label").first
    image = root.locator(".image-measure img")
    image.wait_for()
    wait_image_loaded(image)
    frame = nb.kernel_eval("w.frame")
    suggested = nb.kernel_eval("w.suggested")
    assert frame == suggested[0]

    # Drag around the rabbit (from the shipped ground truth), in page pixels.
    truth = mm.load_sample_truth("bunny").boxes(frame)[0]
    width, height = mm.load_sample("bunny").size
    rect = image.bounding_box()
    start = (rect["x"] + truth.x1 / width * rect["width"], rect["y"] + truth.y1 / height * rect["height"])
    end = (rect["x"] + truth.x2 / width * rect["width"], rect["y"] + truth.y2 / height * rect["height"])
    drag(page, start, end)

    # What the drag means in full-frame pixels, through the image's on-screen box.
    expected = ((start[0] - rect["x"]) / rect["width"] * width, (start[1] - rect["y"]) / rect["height"] * height,
                (end[0] - rect["x"]) / rect["width"] * width, (end[1] - rect["y"]) / rect["height"] * height)
    # Boxes and actions read together, once both are there: twice this test, under the load
    # of a parallel make test, read the box stored and no action yet (a real loss of the
    # count would still fail here, after the wait).
    got, kinds = nb.wait_kernel(f"([b.xyxy + (b.label,) for b in w.labels.boxes({frame})], "
                                "[a.kind for a in w.actions])", lambda v: len(v[0]) == 1 and v[1])
    assert got[0][:4] == pytest.approx(expected, abs=2.0)
    assert got[0][4] == "bunny"
    assert kinds == ["draw"]
    on_disk = mm.Project(project, read_only=True)  # the kernel holds it open
    (saved,) = on_disk.labels.boxes(frame)
    assert saved.xyxy == pytest.approx(expected, abs=2.0)
    assert [a.kind for a in on_disk.actions] == ["draw"]
    on_disk.close()

    # The box and its class are on screen; the counter says one suggested frame is done.
    root.locator("svg text", has_text="bunny").first.wait_for()
    assert "1 of 5" in root.inner_text()
    page.mouse.move(rect["x"] + rect["width"] - 5, rect["y"] + rect["height"] + 40)  # no hover marks
    page.wait_for_timeout(150)
    root.screenshot(path=str(tmp_path / "label.png"))
    publish_screenshot(tmp_path / "label.png", "label.png")

    # Next frame: time it in the browser, and count the bytes that came over the websocket.
    handle = root.element_handle()
    runs = []
    for _ in range(6):
        ws_before = nb.ws_bytes
        run = page.evaluate(NEXT_FRAME_JS, handle)
        page.wait_for_timeout(100)  # let any trailing message (status text) arrive
        run["ws_bytes"] = nb.ws_bytes - ws_before
        runs.append(run)
    assert nb.kernel_eval("w.frame") == frame + 6
    assert nb.kernel_eval(f"len(w.labels.boxes({frame + 1}))") == 0
    latency = [r["ms"] for r in runs[1:]]  # the first switch also warms the page's code paths
    per_frame = [r["bytes"] for r in runs]
    print(f"\nlabel(): {runs[0]['width']}x{runs[0]['height']} JPEG per frame: "
          f"{statistics.median(per_frame) / 1000:.1f} kB median, {max(per_frame) / 1000:.1f} kB max; "
          f"websocket per switch: {statistics.median(r['ws_bytes'] for r in runs) / 1000:.1f} kB; "
          f"next-frame latency: {statistics.median(latency):.0f} ms median, {max(latency):.0f} ms max "
          f"(first {runs[0]['ms']:.0f} ms)")
    assert max(per_frame) <= 150_000
    assert (runs[0]["width"], runs[0]["height"]) == (800, 450)
    # 150 ms is the target; the bound is loose because the CPU here is shared with training.
    assert statistics.median(latency) <= 450

    # Going back shows the drawn box again, in the same place on screen.
    nb.kernel_eval(f"w.go_to({frame}) or 0")
    root.locator("svg text", has_text="bunny").first.wait_for()
    assert not nb.dialogs


def test_classes_mode_keys_and_escaping(open_notebook, tmp_path):
    project = tmp_path / "classes_project"
    nb = open_notebook([
        "import mm_widgets as mm\nframes = mm.load_sample('bunny')\n"
        "frames.name = \"<img src=x onerror=alert('file')>.mp4\"",
        f"EVIL = {EVIL!r}\n"
        f"c = mm.label(frames, ['bunny', 'no bunny', EVIL], project={str(project)!r}, "
        "task='classes', first_labels=[10, 60, 120])\nc",
        "b = mm.label(frames, ['bunny', EVIL], first_labels=[3])\nb",
    ])
    page = nb.page
    root = page.locator(".mm-label").first
    wait_image_loaded(root.locator("img").last)

    root.get_by_role("button", name="bunny", exact=False).first.click()
    nb.wait_kernel("c.frame", lambda f: f == 60)
    page.keyboard.press("3")  # focus stays in the labeller: key 3 is the third class
    nb.wait_kernel("c.frame", lambda f: f == 120)
    assert nb.kernel_eval("[c.labels.frame_class(i) for i in (10, 60)]") == ["bunny", EVIL]
    assert nb.kernel_eval("[a.kind for a in c.actions]") == ["class", "class"]
    on_disk = mm.Project(project, read_only=True)  # the kernel holds it open
    assert on_disk.labels.frame_class(60) == EVIL and on_disk.labels.frame_class(10) == "bunny"
    on_disk.close()

    # The names show as text everywhere: class buttons, the bbox widget's class picker, the
    # header with the file name; no element was made from them, no script ran.
    assert EVIL in root.inner_text()
    assert "onerror=alert('file')" in root.inner_text()
    second = page.locator(".mm-label").nth(1)
    assert EVIL in second.locator(".class-label").all_inner_texts()[1]
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.wait_for_timeout(200)
    assert not nb.dialogs
    page.screenshot(path=str(tmp_path / "classes.png"), full_page=True)
