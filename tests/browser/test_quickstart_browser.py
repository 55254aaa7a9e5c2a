"""notebooks/01_quickstart.ipynb, the real file, run top to bottom in JupyterLab + Chromium.

A newcomer's first five minutes: every widget of the one-minute story must render in the
page (label with its suggested-frames filmstrip, the viewer, review, the efficiency chart)
and no cell may fail. Under ``make screenshots`` the whole notebook becomes docs/img/quickstart.png.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from .harness import PANEL, Notebook, publish_screenshot, wait_image_loaded

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
WIDTH, TALL = 1280, 9000  # the page's size while the notebook runs (pixels)

# Errors as the notebook model in the page holds them (what the file would save), not only
# what the DOM shows: error outputs, and tracebacks printed to stderr.
NOTEBOOK_OUTPUTS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const counts = [], errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    counts.push(cell.executionCount);
    for (let j = 0; j < cell.outputs.length; j++) {
      const o = cell.outputs.get(j).toJSON();
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      const text = Array.isArray(o.text) ? o.text.join('') : (o.text || '');
      if (o.output_type === 'stream' && o.name === 'stderr' && text.includes('Traceback'))
        errors.push(`cell ${i}: ${text.slice(-500)}`);
    }
  }
  return {path: panel.context.path, counts, errors};
}"""

# Where the notebook's last cell ends on the page (the panel scrolled to the top), so the
# screenshot can hold all of it: JupyterLab scrolls inside its own panel, which a "full
# page" screenshot alone would cut off, and pads the end so the last cell can scroll up.
CONTENT_HEIGHT_JS = """() => {
  const cells = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell');
  return cells[cells.length - 1].getBoundingClientRect().bottom + 24;
}"""


@pytest.fixture
def quickstart(lab_server, browser):
    """The real notebook, copied into a folder of its own under the server's root (it
    writes ``bunny_project`` next to itself), opened with an idle kernel, not yet run."""
    where = lab_server.root / f"quickstart-{uuid.uuid4().hex[:8]}"
    where.mkdir(parents=True)
    path = Path(shutil.copy(NOTEBOOK, where / NOTEBOOK.name))
    notebook = Notebook(lab_server, browser, path)
    # JupyterLab renders only the cells in (or near) the viewport and detaches the others;
    # a page taller than the whole notebook keeps every cell, prompt and widget in the DOM,
    # where Run All's progress and the widgets below are read.
    notebook.page.set_viewport_size({"width": WIDTH, "height": TALL})
    try:
        notebook.open()
        yield notebook
    finally:
        notebook.close()


def test_quickstart_runs_and_every_widget_renders(quickstart, tmp_path):
    nb, page = quickstart, quickstart.page
    # Small settings, whatever the environment of the server: the notebook reads MM_FAST
    # when its first cell runs, so setting it in the kernel before Run All is enough and
    # leaves the notebook itself exactly as committed (it is what the screenshot shows).
    nb.kernel_eval("__import__('os').environ.update(MM_FAST='1')")
    started = time.monotonic()
    nb.run_all(timeout=150)  # also fails on any traceback shown on stderr
    ran = time.monotonic() - started

    state = page.evaluate(NOTEBOOK_OUTPUTS_JS)
    assert state["path"] == nb.name
    assert state["errors"] == []
    assert all(isinstance(c, int) for c in state["counts"]), state["counts"]
    stderr = page.locator(
        f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert [t for t in stderr.all_inner_texts() if "Traceback" in t] == []
    outputs = " ".join(page.locator(f"{PANEL} .jp-OutputArea-output").all_inner_texts())
    assert "Error displaying widget" not in outputs
    assert nb.kernel_eval("FAST") is True

    # label(): the frame in the bbox widget, and the filmstrip of suggested frames.
    label = page.locator(f"{PANEL} .mm-label").first
    image = label.locator(".image-measure img")
    image.wait_for()
    wait_image_loaded(image)
    suggested = nb.kernel_eval("lab.suggested")
    assert len(suggested) == 5
    thumbs = label.locator("img.widget-image")
    assert thumbs.count() == len(suggested)
    for i in range(thumbs.count()):
        wait_image_loaded(thumbs.nth(i))
    strip_text = label.inner_text()
    assert all(str(f) in strip_text for f in suggested)
    # The unattended cell labelled all five through the widget.
    assert nb.kernel_eval("sorted(set(lab.suggested) & set(lab.labels.looked_at))") == suggested

    # model.show(): the viewer's frame and its one-mark-per-frame strip.
    viewer = page.locator(f"{PANEL} .mm-viewer").first
    wait_image_loaded(viewer.locator("img").first)
    assert viewer.locator(".mm-strip > div").count() == nb.kernel_eval("len(frames)")

    # review(): the frame with the model's boxes to accept or fix.
    review = page.locator(f"{PANEL} .mm-review").first
    review_image = review.locator(".image-measure img")
    review_image.wait_for()
    wait_image_loaded(review_image)
    assert nb.kernel_eval("rev.reviewed") >= 1

    # rev.efficiency_curve(): a plotly chart in the last cell's output, with its traces.
    last_cell = page.locator(f"{PANEL} .jp-CodeCell").last
    chart = last_cell.locator(".js-plotly-plot").first
    chart.wait_for(timeout=20000)
    chart.locator(".scatterlayer .trace").first.wait_for()
    assert "efficiency" in chart.locator(".legend").first.text_content().lower()
    assert not nb.dialogs

    # The whole notebook in one picture: no file browser beside it, the page cut to the
    # content's height, scrolled to the top.
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    # Select the title cell (not the last one run, with its toolbar), which scrolls up.
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0; }")
    page.locator(f"{PANEL} .jp-Cell").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    height = int(page.evaluate(CONTENT_HEIGHT_JS))
    assert height < TALL, "the notebook outgrew the page: raise TALL"
    page.set_viewport_size({"width": WIDTH, "height": height})
    page.mouse.move(1, 1)  # no hover marks on the picture
    page.wait_for_timeout(800)  # layout and plotly's resize after the viewport change
    chart.locator(".scatterlayer .trace").first.wait_for()
    page.screenshot(path=str(tmp_path / "quickstart.png"), full_page=True)
    publish_screenshot(tmp_path / "quickstart.png", "quickstart.png")
    print(f"\n01_quickstart: Run All took {ran:.1f} s (MM_FAST=1); screenshot {height} px tall")
