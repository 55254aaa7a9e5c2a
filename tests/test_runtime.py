"""Prediction through ONNX Runtime gives the torch network's boxes (issue 25 item 1)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from mm_widgets import MicroModel
from mm_widgets.errors import MMError
from mm_widgets.models import detector
from mm_widgets.models.detector import YoloMicroModel
from mm_widgets.models.runtime import OnnxNetwork
from mm_widgets.samples import synthetic_crowd

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def crowd():
    """Two classes, several objects a frame, a 128x96 input: fitted in about 2 s."""
    frames, truth = synthetic_crowd(12, (128, 96), objects=6, seed=1)
    model = YoloMicroModel(imgsz=128, epochs=3, batch_size=8, steps_per_epoch=2, weights=None,
                           progress=False).fit(frames, truth.subset([0, 4, 8]))
    return frames, model


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b`` (rows x1, y1, x2, y2)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area = lambda r: np.prod(r[:, 2:] - r[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def predict_with(model, engine, frames, **kw):
    model.engine = engine
    try:
        return model.predict(frames, temporal=False, **kw)
    finally:
        model.engine = "auto"


def test_onnxruntime_boxes_are_the_torch_boxes(crowd):
    frames, model = crowd
    torch_boxes = predict_with(model, "torch", frames, conf=0.05)
    ort_boxes = predict_with(model, "onnxruntime", frames, conf=0.05)
    assert isinstance(model._exported(), OnnxNetwork)  # the runtime did the work
    assert len(torch_boxes) >= 2 * len(frames)  # enough boxes for the comparison to mean something
    for f in range(len(frames)):
        a = torch_boxes[torch_boxes.frame == f]
        b = ort_boxes[ort_boxes.frame == f]
        assert len(a) == len(b), f"frame {f}: {len(a)} torch boxes, {len(b)} onnxruntime boxes"
        if len(a):
            corners = ["x1", "y1", "x2", "y2"]
            iou = iou_matrix(a[corners].to_numpy(), b[corners].to_numpy())
            iou[a["label"].to_numpy()[:, None] != b["label"].to_numpy()[None, :]] = 0
            rows, cols = linear_sum_assignment(-iou)  # one to one
            assert iou[rows, cols].min() >= 0.99  # each box has a twin of its class


def test_auto_uses_onnxruntime_on_the_cpu_and_saved_model_predicts_the_same(crowd, tmp_path):
    frames, model = crowd
    ort_boxes = predict_with(model, "onnxruntime", frames)
    auto = model.predict(frames, temporal=False)
    assert auto.equals(ort_boxes)
    loaded = MicroModel.load(model.save(tmp_path / "m.pt"))
    assert loaded.engine == "auto"
    again = loaded.predict(frames, temporal=False)
    assert isinstance(loaded._exported(), OnnxNetwork)
    assert again.equals(ort_boxes)
    assert os.listdir(tmp_path) == ["m.pt"]  # the graph was made in memory


def test_changed_weights_are_exported_again(crowd):
    import torch

    frames, model = crowd
    before = predict_with(model, "onnxruntime", frames)
    first = model._exported()
    assert model._exported() is first  # kept while the weights are the same
    bias = model.net_.model[-1].cv3[0][-1].bias
    with torch.no_grad():
        bias += 3.0  # every class logit of the finest level up: many more boxes
    try:
        after = predict_with(model, "onnxruntime", frames)
        assert model._exported() is not first
        assert len(after) == len(predict_with(model, "torch", frames)) > len(before)
    finally:
        with torch.no_grad():
            bias -= 3.0


def test_export_failure_falls_back_to_torch_with_one_warning(crowd, monkeypatch, tmp_path):
    frames, fitted = crowd
    model = MicroModel.load(fitted.save(tmp_path / "m.pt"))  # its own cache

    def broken(*args, **kwargs):
        raise RuntimeError("no exporter here")

    monkeypatch.setattr(detector, "OnnxNetwork", broken)
    with pytest.warns(RuntimeWarning, match="Predicting with torch.*no exporter here"):
        first = model.predict(frames, temporal=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once for these weights, not at every call
        second = model.predict(frames, temporal=False)
    assert first.equals(second)
    assert first.equals(predict_with(fitted, "torch", frames))


def test_unknown_engine_is_refused(crowd):
    frames, model = crowd
    with pytest.raises(MMError, match="engine must be one of"):
        predict_with(model, "tensorrt", frames)
