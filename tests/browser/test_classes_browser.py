"""A frame classifier's whole loop in a real JupyterLab: label -> overfit -> show -> review ->
next round -> efficiency curve, on the first three shots of bikes.mp4 (one class per shot).

The person's part goes through the page: a class button clicked and class keys pressed in
``label()``, "Accept frame", Enter, class keys and Ctrl+Z in ``review()``, a click on the class
timeline of ``show()``; the rest of each review is answered by the oracle through the widget's own edit
path (as the notebooks do unattended). Every count is read back from the kernel and from
the project folder on disk. Under ``make screenshots`` saves docs/img/classes_viewer.png,
docs/img/classes_review.png and docs/img/classes_efficiency.png.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .harness import PANEL, HarnessError, publish_screenshot, wait_image_loaded, wait_until

pytestmark = pytest.mark.browser

CLASSES = ["road", "queued cars", "van and cyclist"]
CUTS = (30, 76)  # bikes.mp4's first cuts (benchmarks/classify.py); frames 0-136 are 3 shots
FIRST = [10, 50, 100]

RUN_CELL_JS = """(k) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = k;
  return window.jupyterapp.commands.execute('notebook:run-cell');
}"""


def true_class(f: int) -> str:
    return CLASSES[(f >= CUTS[0]) + (f >= CUTS[1])]


def run_cell(nb, k: int, timeout: float = 240.0) -> None:
    """Run code cell ``k`` alone and wait for it; a traceback in its output fails the test."""
    nb.page.evaluate(RUN_CELL_JS, k)
    cell = nb.page.locator(f"{PANEL} .jp-CodeCell").nth(k)
    prompt = cell.locator(".jp-InputArea-prompt")
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()), timeout, 0.25,
               f"cell {k} to run")
    errors = [t for t in cell.locator(".jp-OutputArea-output").all_inner_texts() if "Traceback" in t]
    if errors:
        raise HarnessError(f"cell {k} raised:\n" + "\n".join(errors)[-3000:])


def save_screenshot(locator, tmp_path: Path, name: str) -> Path:
    locator.page.mouse.move(1, 1)  # no hover marks on the picture
    locator.page.wait_for_timeout(300)
    locator.screenshot(path=str(tmp_path / name))
    return publish_screenshot(tmp_path / name, name)


def journal(project: Path) -> list[dict]:
    path = project / "actions.journal"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_classifier_loop_label_overfit_show_review_round_curve(open_notebook, tmp_path):
    project = tmp_path / "bikes_classes"
    fit = "imgsz=64, epochs=8, weights='scratch'"
    nb = open_notebook([
        "import mm_widgets as mm\n"
        "from mm_widgets.simulate import ClassOracle\n"
        "frames = mm.load_sample('bikes')[:137]   # three shots\n"
        f"classes = {CLASSES!r}\n"
        "truth = mm.LabelSet(classes, 'classes', n_frames=len(frames))\n"
        "for f in range(len(frames)):\n"
        f"    truth.set_class(f, classes[(f >= {CUTS[0]}) + (f >= {CUTS[1]})])\n"
        f"lab = mm.label(frames, classes, task='classes', project={str(project)!r}, "
        f"first_labels={FIRST})\n"
        "lab",
        f"model = mm.overfit(frames, lab.labels, {fit})\n"
        "v = mm.show(frames, model)\n"
        "v",
        "rev = mm.review(frames, project=lab.project)\n"
        "rev",
        "ClassOracle(truth).answer(rev, n=40)   # the rest of round 1, unattended\n"
        f"model2 = mm.next_round(lab.project, {fit})\n"
        "rev2 = mm.review(frames, project=lab.project)\n"
        "ClassOracle(truth).answer(rev2)\n"
        "rev2.efficiency_curve()",
    ], run=False)
    page = nb.page

    # -- label: a class button clicked, then the class keys (focus stays in the labeller) ----
    run_cell(nb, 0)
    lab = page.locator(".mm-label").first
    wait_image_loaded(lab.locator("img").first)
    assert nb.kernel_eval("lab.frame") == FIRST[0]
    lab.get_by_role("button", name="1 road", exact=False).click()
    nb.wait_kernel("lab.frame", lambda f: f == FIRST[1])
    page.keyboard.press("2")
    nb.wait_kernel("lab.frame", lambda f: f == FIRST[2])
    page.keyboard.press("3")
    labelled = nb.wait_kernel("sorted((f, lab.labels.frame_class(f)) for f in lab.labels.frames)",
                              lambda v: len(v) == 3)
    assert labelled == [[f, true_class(f)] for f in FIRST]
    assert [(a["kind"], a["frame"]) for a in journal(project)] == [("class", f) for f in FIRST]

    # -- overfit and show: the class of every frame on the timeline, scrubbed ---------------
    run_cell(nb, 1)
    viewer = page.locator(".mm-viewer").first
    image = viewer.locator("img").first
    image.wait_for()
    wait_image_loaded(image)
    assert nb.kernel_eval("type(v).__name__") == "ClassViewer"
    nb.wait_kernel("v.predicted.complete", timeout=60)
    strip = viewer.locator(".mm-strip")
    # a click near the end of the timeline goes to a frame of the third shot
    strip.scroll_into_view_if_needed()
    box = strip.bounding_box()
    strip.click(position={"x": box["width"] * 0.9, "y": box["height"] / 2})
    frame = nb.wait_kernel("v.frame", lambda f: f > 100)
    label, score = nb.kernel_eval(f"list(v.frame_class({frame}))")
    page.wait_for_function(f"(root) => root.innerText.includes('frame {frame} of 137')",
                           arg=viewer.element_handle())
    viewer_text = viewer.inner_text()
    assert f"frame {frame} of 137" in viewer_text and label in viewer_text
    cells = strip.locator("> div")
    assert cells.count() == 137
    title = cells.nth(frame).get_attribute("title")
    assert title.startswith(f"frame {frame}: {label}")
    shown = save_screenshot(viewer, tmp_path, "classes_viewer.png")
    assert shown.exists() and score is not None

    # -- review: the model's class pre-filled; Enter accepts (free), a key changes (one action)
    run_cell(nb, 2)
    rev = page.locator(".mm-review").first
    wait_image_loaded(rev.locator("img").first)
    assert nb.kernel_eval("type(rev).__name__") == "ClassReview"
    # Four frames, whatever the model says: "Accept frame" clicked (it also gives the widget
    # the keyboard focus), Enter, the key of another class than the one shown (a change: one
    # action; then undone with Ctrl+Z), the key of the class shown (the same as accepting: free).
    changed = 0
    for how in ("button", "Enter", "other key", "same key"):
        f = nb.kernel_eval("rev.frame")
        shown_class = nb.wait_kernel(f"rev.shown_class({f})", lambda c: c is not None, timeout=15)
        before = nb.kernel_eval("len(rev.actions)")
        if how == "button":
            rev.get_by_role("button", name="Accept frame").click()
            left = shown_class
        elif how == "Enter":
            page.keyboard.press("Enter")
            left = shown_class
        else:
            left = shown_class if how == "same key" else next(c for c in CLASSES if c != shown_class)
            page.keyboard.press(str(CLASSES.index(left) + 1))
        nb.wait_kernel(f"{f} in rev.labels", timeout=15)
        counted = left != shown_class
        changed += counted
        assert nb.kernel_eval(f"rev.labels.frame_class({f})") == left
        assert nb.kernel_eval("len(rev.actions)") == before + counted
        source = nb.kernel_eval(f"rev.labels.frame_state({f})['class'][2]")
        assert source == ("corrected" if counted else "model")
        nb.wait_kernel("rev.frame", lambda g, f=f: g != f)        # moved on in review order
        if how == "other key":
            # Ctrl+Z: back to that frame, unlabelled, and the action taken back from the count
            page.keyboard.press("Control+z")
            nb.wait_kernel("rev.frame", lambda g, f=f: g == f)
            assert nb.wait_kernel(f"{f} in rev.labels", lambda v: v is False) is False
            assert nb.kernel_eval("len(rev.actions)") == before
            changed -= 1
            undone = f
    assert changed == 0
    # the journal keeps the change and its retraction (the record is never rewritten), and
    # each frame accepted as a free, timed 'accept'
    events = [a for a in journal(project) if a["round"] >= 1]
    on_disk = [(a["kind"], a["frame"], a.get("retracted", False)) for a in events
               if a["kind"] != "accept"]
    assert on_disk == [("class", undone, False), ("class", undone, True)]
    assert len([a for a in events if a["kind"] == "accept"]) == 3
    page.wait_for_function("(root) => root.innerText.includes(' of 137')", arg=rev.element_handle())
    save_screenshot(rev, tmp_path, "classes_review.png")

    # -- the rest of round 1 by the oracle, the next round, its review, the efficiency curve --
    run_cell(nb, 3, timeout=400)
    # the cell's last chart (next_round's training draws its loss curve above it)
    plot = page.locator(f"{PANEL} .jp-CodeCell").nth(3).locator(".js-plotly-plot").last
    plot.wait_for(timeout=30000)
    plot.scroll_into_view_if_needed()
    plot.locator(".scatterlayer .trace").first.wait_for()
    table = nb.kernel_eval("rev2.efficiency_table()[['round', 'class', 'labels', "
                           "'efficiency']].to_dict('list')")
    assert table["round"] == [0, 1, 2] and table["labels"][-1] == 137
    actions = nb.kernel_eval("[(a.round, a.kind) for a in rev2.actions]")
    assert table["class"] == [sum(1 for r, _ in actions if r == k) for k in (0, 1, 2)]
    assert table["efficiency"][-1] == pytest.approx(1 - len(actions) / 137)
    page.wait_for_timeout(500)  # plotly's first transition
    output = plot.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')][1]")
    save_screenshot(output, tmp_path, "classes_efficiency.png")
    legend = plot.locator(".legend").first.text_content(timeout=10000)
    assert "efficiency" in legend
    assert not nb.dialogs
