"""The trained model is kept in the project folder and comes back after a kernel restart."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets.errors import MMError

TINY = dict(epochs=1, imgsz=64, weights=None, progress=False)


def small_project(tmp_path, name="p"):
    frames = mm.load_sample("carphone")
    truth = mm.load_sample_truth("carphone")
    p = mm.Project(tmp_path / name, truth.classes, frames=frames)
    for f in (0, 40, 80):
        p.labels.set_boxes(f, truth.boxes(f))
        p.actions.record("draw", f, label=truth.classes[0])
    return frames, p


def test_overfit_keeps_the_model_in_the_labels_project(tmp_path):
    frames, p = small_project(tmp_path)
    assert p.model is None and p.model_file is None
    model = mm.overfit(frames, p.labels, **TINY)
    assert p.round == 1 and p.model_file.name == "round_0.pt"
    (record,) = p.rounds.to_dict("records")
    assert record["model_file"] == "round_0.pt" and record["trained_on"] == 3
    assert record["labels"] == 3 and record["human_actions"] == 3 and record["train_seconds"] > 0
    again = mm.Project(tmp_path / "p")
    kept = again.model
    assert type(kept) is type(model) and kept.classes_ == model.classes_
    a = model.predict(frames, indices=[5, 50])
    b = kept.predict(frames, indices=[5, 50])
    assert np.allclose(a[["x1", "y1", "x2", "y2", "score"]].to_numpy(float),
                       b[["x1", "y1", "x2", "y2", "score"]].to_numpy(float))
    # A second model is the next round's and is the one given back.
    mm.overfit(frames, p.labels, **TINY)
    assert mm.Project(tmp_path / "p").model_file.name == "round_1.pt"


def test_overfit_project_false_and_explicit_project(tmp_path):
    frames, p = small_project(tmp_path)
    mm.overfit(frames, p.labels, project=False, **TINY)
    assert p.round == 0 and p.model is None
    other = mm.Project(tmp_path / "other", p.classes, frames=frames)
    mm.overfit(frames, p.labels.copy(), project=str(tmp_path / "other"), **TINY)
    assert mm.Project(tmp_path / "other").model_file.name == "round_0.pt" and other.round == 1
    with pytest.raises(MMError, match="project must be"):
        mm.overfit(frames, p.labels, project=3, **TINY)


def test_next_round_records_one_round_per_model(tmp_path):
    frames, p = small_project(tmp_path)
    mm.next_round(p, kind="interpolate")
    assert p.round == 1 and len(p.rounds) == 1 and p.model_file.name == "round_0.pt"


def test_review_starts_from_the_projects_model(tmp_path):
    frames, p = small_project(tmp_path)
    with pytest.raises(MMError, match="keeps no model yet"):
        mm.review(frames, project=p)
    mm.next_round(p, kind="interpolate")
    rev = mm.review(None, project=tmp_path / "p")
    assert rev.model.kind == "interpolate" and rev.round == 1
    assert rev.frame not in (0, 40, 80) and rev.shown_boxes(rev.frame)


def run(kc, code: str, timeout: float = 600) -> str:
    """Run ``code`` in the kernel; return what it printed; fail with its traceback."""
    out, errors = [], []

    def hook(msg):
        content = msg["content"]
        if msg["msg_type"] == "stream" and content.get("name") == "stdout":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(content["traceback"]))

    reply = kc.execute_interactive(textwrap.dedent(code), timeout=timeout, output_hook=hook)
    assert reply["content"]["status"] == "ok", "\n".join(errors)
    return "".join(out)


def test_restart_the_kernel_and_everything_is_back(tmp_path):
    """In a real IPython kernel: label, train, restart the kernel, reopen the project."""
    from jupyter_client import KernelManager

    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "MM_FAST": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)}
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        project = str(tmp_path / "kernel_project")
        out = run(kc, f"""
            import json, sys
            import mm_widgets as mm
            frames = mm.load_sample("carphone")
            truth = mm.load_sample_truth("carphone")
            lab = mm.label(frames, truth.classes, project={project!r}, first_labels=[0, 60, 110])
            for f in lab.suggested:
                lab.set_boxes(f, truth.boxes(f))
            model = mm.overfit(frames, lab.labels, epochs=1, imgsz=64, weights=None, progress=False)
            print(json.dumps([mm.__file__, sys.executable, len(lab.labels), len(lab.actions),
                              lab.project.round, model.kind]))
        """)
        where, python, *state = json.loads(out.strip().splitlines()[-1])
        assert where.startswith(repo) and python == sys.executable  # this checkout, this venv
        assert state == [3, 3, 1, "yolo"]
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=60)
        out = run(kc, f"""
            import json
            import mm_widgets as mm
            assert "lab" not in globals()  # a fresh kernel
            p = mm.Project({project!r})
            rev = mm.review(None, project={project!r})
            print(json.dumps([len(p.labels), [a.kind for a in p.actions], p.round,
                              p.model_file.name, type(p.model).__name__, rev.model.classes_,
                              rev.frame in p.labels.looked_at, rev.round]))
        """)
        labels, kinds, round_, name, cls, classes, on_labelled, review_round = json.loads(
            out.strip().splitlines()[-1])
        assert (labels, kinds, round_, name) == (3, ["draw"] * 3, 1, "round_0.pt")
        assert cls == "YoloMicroModel" and classes == mm.load_sample_truth("carphone").classes
        assert not on_labelled and review_round == 1
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
