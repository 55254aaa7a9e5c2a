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

    trained = []

    def quick(frames, labels, **kwargs):
        kwargs.update(epochs=1, imgsz=64, weights=None)
        model = real(frames, labels, **kwargs)
        # The demo's own predictions, kept for the test to count by hand: predicting the
        # 132 frames of 1280x720 a second time cost the test seconds and proved nothing more.
        predict = model.predict

        def kept(*args, **settings):
            model.predictions = predict(*args, **settings)
            return model.predictions

        model.predict = kept
        trained.append((model, labels))
        return model

    monkeypatch.setattr(overfit_module, "overfit", quick)
    return trained


def corrections_by_hand(frames, truth, boxes_of) -> tuple[int, float]:
    """Bunny has one rabbit per frame: a frame needs no action when a box of the prediction
    lies tight (IoU >= 0.75) on it, else one (the nearest box dragged onto it, or one drawn),
    plus one delete for every further box. Also the recall at IoU 0.5."""
    actions = found = 0
    for f in range(len(frames)):
        true = truth.boxes(f)
        boxes = boxes_of(f)
        if not true:
            actions += len(boxes)
            continue
        (t,) = true
        ious = sorted((b.iou(t) for b in boxes), reverse=True)
        kept = bool(ious) and ious[0] >= 0.75
        found += bool(ious) and ious[0] >= 0.5
        actions += max(len(boxes) - kept, 1 - kept)
    return actions, found / len(truth)


def test_demo_writes_an_offline_report_and_prints_figures(tmp_path, quick_overfit, capsys):
    out = tmp_path / "report" / "demo.html"
    assert main(["demo", "--out", str(out), "--first-labels", "3", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"recall \d\.\d{3}, precision \d\.\d{3}, mean IoU \d\.\d{3}", printed)
    # The printed figures, recomputed by hand from the model's and interpolation's boxes.
    import mm_widgets as mm
    from mm_widgets.metrics import boxes_by_frame

    frames, truth = mm.load_sample("bunny"), mm.load_sample_truth("bunny")
    ((model, labels),) = quick_overfit
    ours = boxes_by_frame(model.predictions)
    theirs = boxes_by_frame(mm.interpolate(frames, labels).predict(frames))
    actions, recall = corrections_by_hand(frames, truth, lambda f: ours.get(f, []))
    assert f"Against the truth at IoU 0.5: recall {recall:.3f}" in printed
    assert f"a reviewer would need {actions} corrections" in printed
    actions, recall = corrections_by_hand(frames, truth, lambda f: theirs.get(f, []))
    assert f"Keyframe interpolation from the same frames: recall {recall:.3f}" in printed
    assert f", {actions} corrections." in printed
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
