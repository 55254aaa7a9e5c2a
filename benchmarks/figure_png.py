"""Render a plotly figure to PNG with headless Debian Chromium (no kaleido, no download).

Used by benchmarks that refresh the README's pictures. Needs the dev extra (playwright) and
/usr/bin/chromium (`make test` installs it).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def write_png(fig, path: str | Path, width: int = 860, height: int | None = None) -> Path:
    """Write ``fig`` as a PNG of ``width`` pixels (height from the figure's layout)."""
    from playwright.sync_api import sync_playwright

    height = height or int(fig.layout.height or 450) + 20
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "figure.html"
        fig.write_html(page_file, include_plotlyjs=True, full_html=True,
                       config={"displayModeBar": False})
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_file.as_uri())
            page.wait_for_selector(".main-svg")
            page.screenshot(path=str(path))
            browser.close()
    return path
