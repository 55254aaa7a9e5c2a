"""`mm-widgets demo`: the headless story end to end (with a 1-epoch model to stay quick)."""

from __future__ import annotations

import importlib
import re

import pytest

from mm_widgets.cli import main

# The module, not the function the package re-exports under the same name.
overfit_module = importlib.import_module("mm_widgets.overfit")


@pytest.fixture
def quick_overfit(monkeypatch):
    real = overfit_module.overfit

    def quick(labels, frames, **kwargs):
        kwargs.update(epochs=1, imgsz=64, weights=None)
        return real(labels, frames, **kwargs)

    monkeypatch.setattr(overfit_module, "overfit", quick)


def test_demo_writes_an_offline_report_and_prints_figures(tmp_path, quick_overfit, capsys):
    out = tmp_path / "report" / "demo.html"
    assert main(["demo", "--out", str(out), "--first-labels", "3", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"recall \d\.\d{3}, precision \d\.\d{3}, mean IoU \d\.\d{3}", printed)
    assert "Keyframe interpolation" in printed and str(out) in printed
    page = out.read_text()
    # No script is fetched from anywhere (plotly.js itself mentions its CDN in a string).
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "plotly.js v" in page  # plotly.js is inside the page
    assert page.count(";base64,") >= 4  # the strip of frames (JSON escapes the "/")
    assert "Training loss per epoch" in page and "keyframe interpolation" in page


def test_cli_needs_a_command(capsys):
    with pytest.raises(SystemExit):
        main([])
