"""Fixtures for real-browser tests: a JupyterLab server, Chromium, and opened notebooks.

Use them in any test marked ``@pytest.mark.browser``::

    def test_my_widget(open_notebook):
        nb = open_notebook(["import mm_widgets as mm", "w = mm.show(...)", "w"])
        nb.page.click(...)                       # Playwright page
        assert nb.kernel_eval("w.frame") == 3    # read back from the kernel

One server and one browser serve the whole session (starting them costs seconds); each
notebook gets its own kernel, shut down after its test.
"""

from __future__ import annotations

import re

import pytest

from .harness import JupyterLabServer, Notebook, ensure_chromium, launch_browser, write_notebook


@pytest.fixture(scope="session")
def chromium():
    """Path of Debian's Chromium (installed with apt-get when missing)."""
    return ensure_chromium()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """A running :class:`~tests.browser.harness.JupyterLabServer`, stopped at the end."""
    server = JupyterLabServer(tmp_path_factory.mktemp("lab_root"), tmp_path_factory.mktemp("lab_home"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium, tmp_path_factory):
    """A Playwright browser context on Debian's Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_browser(playwright, tmp_path_factory.mktemp("chromium_profile"))
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def open_notebook(lab_server, browser, request):
    """``open_notebook(cells, name=None, run=True) -> Notebook``: write a notebook of the
    given code cells into the server's root, open it, wait for its kernel, run all cells."""
    opened: list[Notebook] = []

    def _open(cells, name: str | None = None, run: bool = True) -> Notebook:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or request.node.name)
        path = write_notebook(lab_server.root / f"{stem}_{len(opened)}.ipynb", cells)
        notebook = Notebook(lab_server, browser, path)
        opened.append(notebook)
        notebook.open()
        if run:
            notebook.run_all()
        return notebook

    try:
        yield _open
    finally:
        for notebook in opened:
            notebook.close()
