"""The README's code runs as written, and every command it names exists."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import mm_widgets as mm

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_leads_with_the_two_commands():
    first = blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in first.strip().splitlines()] == ["make demo",
                                                                                   "make test"]


@pytest.mark.parametrize("target", ["demo", "test", "lab", "bench"])
def test_make_targets_named_in_readme_exist(target):
    assert f"make {target}" in README
    result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_readme_images_exist():
    for path in re.findall(r"\]\((docs/img/[^)]+)\)", README):
        assert (ROOT / path).is_file(), path


@pytest.mark.slow
def test_readme_code_runs_as_written(tmp_path, monkeypatch):
    """The ten lines, verbatim: a real overfit() on the bunny clip. With MM_FAST=1 (make
    test) it trains with the notebooks' tiny settings (2 epochs, 96 px), as the notebook
    runs do: what is checked here is that the lines run and connect, not how good the
    model is (the benchmarks measure that). With the defaults this was the suite's
    slowest test: 89 s, against ~9 s."""
    code = blocks("python")[0]
    monkeypatch.chdir(tmp_path)
    if os.environ.get("MM_FAST") == "1":
        real = mm.overfit

        def tiny(frames, labels, **settings):
            return real(frames, labels, **{**settings, "epochs": 2, "imgsz": 96})

        monkeypatch.setattr(mm, "overfit", tiny)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    model, rev = scope["model"], scope["rev"]
    assert len(scope["lab"].labels) == 5 and model.classes_ == ["bunny"]
    assert (tmp_path / "bunny_project" / "project.json").exists()
    assert rev.efficiency_curve() is not None
    # "Restart the kernel": the second block, in a fresh scope with only the frames.
    again = {"mm": scope["mm"], "frames": scope["frames"]}
    exec(compile(blocks("python")[1], "README.md", "exec"), again)
    assert again["project"].model_file.name == "round_0.pt"
    assert again["rev"].model.classes_ == ["bunny"] and len(again["project"].labels) == 5
