"""Review in little memory (issue 25 item 4): a saved YOLO model is read without torch and
predicts through the ONNX graph its file holds, with numpy NMS and mirror fusing, giving
the torch network's boxes; files without a graph still load; nothing in a file is run."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from mm_widgets import MicroModel
from mm_widgets.checkpoints import read_checkpoint, write_checkpoint
from mm_widgets.errors import ProjectError
from mm_widgets.models.detector import YoloMicroModel
from mm_widgets.models.runtime import nms
from mm_widgets.samples import synthetic_crowd

from .test_runtime import predict_with

pytest.importorskip("onnxruntime")

CORNERS = ["x1", "y1", "x2", "y2"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Two classes, several objects a frame, a 128x96 input: fitted in about 2 s, saved."""
    frames, truth = synthetic_crowd(12, (128, 96), objects=6, seed=1)
    model = YoloMicroModel(imgsz=128, epochs=3, batch_size=8, steps_per_epoch=2, weights=None,
                           progress=False).fit(frames, truth.subset([0, 4, 8]))
    return frames, model, model.save(tmp_path_factory.mktemp("light") / "crowd.pt")


def assert_same_boxes(a: pd.DataFrame, b: pd.DataFrame, frames: int) -> None:
    """Frame by frame: as many boxes, each with a twin of its class at IoU >= 0.99."""
    for f in range(frames):
        x, y = a[a.frame == f], b[b.frame == f]
        assert len(x) == len(y), f"frame {f}: {len(x)} boxes against {len(y)}"
        if len(x):
            p, q = x[CORNERS].to_numpy(), y[CORNERS].to_numpy()
            lo, hi = np.maximum(p[:, None, :2], q[None, :, :2]), np.minimum(p[:, None, 2:], q[None, :, 2:])
            inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
            area = lambda r: np.prod(r[:, 2:] - r[:, :2], axis=1)  # noqa: E731
            iou = inter / (area(p)[:, None] + area(q)[None, :] - inter)
            iou[x["label"].to_numpy()[:, None] != y["label"].to_numpy()[None, :]] = 0
            rows, cols = linear_sum_assignment(-iou)  # one to one
            assert iou[rows, cols].min() >= 0.99


def test_loaded_model_predicts_without_its_torch_network_the_torch_boxes(saved):
    frames, model, path = saved
    loaded = MicroModel.load(path)
    light = loaded.predict(frames, conf=0.05, temporal=False)
    assert "_net" not in loaded.__dict__  # the file's graph, numpy NMS and fusing did it all
    heavy = predict_with(model, "torch", frames, conf=0.05)  # torch network, torchvision NMS
    assert len(heavy) >= 2 * len(frames)  # enough boxes for the comparison to mean something
    assert set(heavy["label"]) == {"person", "car"}
    assert_same_boxes(light, heavy, len(frames))
    assert_same_boxes(loaded.predict(frames, conf=0.05, temporal=False, flip=False),
                      predict_with(model, "torch", frames, conf=0.05, flip=False), len(frames))


def test_numpy_nms_keeps_torchvisions_boxes():
    rng = np.random.default_rng(0)
    n, nc = 400, 3
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 30, (n, 2))
    out = np.concatenate([xy, wh, rng.uniform(0, 1, (n, nc)), rng.normal(size=(n, 2))], 1)
    out = out.T[None].astype(np.float32)  # (1, 4 + classes + 2 extra values, anchors)
    model = YoloMicroModel(iou=0.5, max_det=50)
    model.classes_ = ["a", "b", "c"]
    import torch

    expected = model._nms(torch.from_numpy(out), 0.3)[0].numpy()  # torchvision's batched_nms
    got = nms(out, nc, 0.3, 0.5, 50)[0]
    assert got.shape == (50, 8)  # capped at max_det, the extra values carried
    np.testing.assert_array_equal(got[:, :6], expected[:, :6])
    anchors = out[0].T
    for row in got:  # each kept box's extra values are its own anchor's
        anchor = anchors[anchors[:, 4 + int(row[5])] == row[4]]
        np.testing.assert_array_equal(row[6:], anchor[0, 4 + nc:])
    np.testing.assert_array_equal(model._nms(out, 0.3)[0], got)  # numpy in: the numpy path


def test_a_file_without_a_graph_loads_and_exports_on_first_predict(saved, tmp_path):
    frames, model, path = saved
    model.engine = "torch"  # saved without the graph, as every file before it was
    try:
        old = model.save(tmp_path / "old.pt")
    finally:
        model.engine = "auto"
    assert "onnx" not in read_checkpoint(old, tensors="numpy")
    assert "onnx" in read_checkpoint(path, tensors="numpy")
    loaded = MicroModel.load(old)
    boxes = predict_with(loaded, "onnxruntime", frames)
    assert "_net" in loaded.__dict__  # built from the file's weights to export them
    assert_same_boxes(boxes, MicroModel.load(path).predict(frames, temporal=False), len(frames))


def test_a_graph_that_is_not_of_the_files_weights_is_not_used(saved, tmp_path):
    frames, model, path = saved
    payload = read_checkpoint(path)
    bias = next(k for k in payload["state_dict"] if k.endswith(".cv3.0.2.bias"))
    payload["state_dict"][bias] += 3.0  # every class logit of the finest level up: more boxes
    edited = MicroModel.load(write_checkpoint(tmp_path / "edited.pt", payload))
    boxes = edited.predict(frames, temporal=False)
    assert len(boxes) == len(predict_with(edited, "torch", frames))
    assert len(boxes) > len(model.predict(frames, temporal=False))


def test_review_of_a_saved_model_never_imports_torch(saved, tmp_path):
    frames, model, path = saved
    np.save(tmp_path / "frames.npy", np.stack([np.asarray(f) for f in frames]))
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import mm_widgets as mm

        frames = mm.Frames.from_arrays(list(np.load(sys.argv[1])))
        model = mm.MicroModel.load(sys.argv[2])
        rev = mm.review(frames, model)
        assert rev.predicted.wait(60)
        model.predict(frames, temporal=False).to_csv(sys.argv[3], index=False)
        keys = mm.LabelSet(["disc"], size=frames.size, n_frames=len(frames))
        keys.set_boxes(0, [mm.Box(0, 0, 10, 10, "disc")])
        keys.set_boxes(4, [mm.Box(20, 0, 30, 10, "disc")])  # an AssemblyLine saves such models
        again = mm.MicroModel.load(mm.interpolate(None, keys).save(sys.argv[4]))
        assert again.predict(frames, indices=[2])[["x1", "x2"]].values.tolist() == [[10.0, 20.0]]
        print("imported:", sorted(m for m in ("torch", "torchvision", "ultralytics", "onnx")
                                  if m in sys.modules))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "frames.npy"), str(path),
                           str(tmp_path / "boxes.csv"), str(tmp_path / "keys.pt")],
                          capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "imported: []" in done.stdout
    boxes = pd.read_csv(tmp_path / "boxes.csv")
    assert len(boxes) > 0
    assert_same_boxes(boxes, model.predict(frames, temporal=False), len(frames))


def test_plain_data_is_written_as_torch_writes_it(tmp_path):
    import torch

    payload = {"kind": "interpolate", "keyframes": {"3": [[1.5, 2.0, 8.0, 9.0, "disc"]]},
               "settings": {"hold_ends": True}, "task": "boxes", "none": None, "pair": (1, 2)}
    path = write_checkpoint(tmp_path / "keys.pt", payload)
    assert torch.load(path, weights_only=True) == payload  # torch reads it as its own
    assert read_checkpoint(path, tensors="numpy") == payload


class RunsShell:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_model_files_are_read_as_plain_data_only(tmp_path):
    import torch

    marker = tmp_path / "the_pickle_ran"
    evil = tmp_path / "evil.pt"
    torch.save({"kind": "yolo", "cfg": RunsShell(f"touch {marker}")}, evil)
    with pytest.raises(ProjectError, match=r"evil.pt is not a plain mm_widgets model file .*system"):
        MicroModel.load(evil)
    assert not marker.exists(), "the pickle ran code"

    storage = torch.zeros(4)

    class PastItsStorage:  # a tensor of 1,000 values over a storage of 4
        def __reduce__(self):
            with pytest.warns(UserWarning):  # TypedStorage is deprecated; torch.save still takes it
                typed = storage.storage()
            return torch._utils._rebuild_tensor_v2, (typed, 0, (1000,), (1,), False,
                                                     collections.OrderedDict())

    far = tmp_path / "far.pt"
    torch.save({"kind": "yolo", "w": PastItsStorage()}, far)
    with pytest.raises(ProjectError, match="reaching past its storage"):
        MicroModel.load(far)


def _stride0(torch):
    """A tensor of 2**22 float32 values (16 MB) viewing a storage of one value (stride 0)."""
    return {"kind": "yolo", "w": torch.zeros(1).expand(2**22)}


def _deflated(torch):
    """16 MB of zeros in a deflated zip entry (torch writes entries stored): 16 KB on disk."""
    return {"kind": "yolo", "w": torch.zeros(2**22)}


def _memo(torch):
    """A 9-byte pickle storing to memo slot 2**22: Python's unpickler would make its memo
    2**23 slots (64 MB)."""
    return b"\x80\x02}r" + (2**22).to_bytes(4, "little") + b"."


@pytest.mark.parametrize("make", [_stride0, _deflated, _memo])
def test_a_model_file_unpacks_to_about_its_own_size(tmp_path, make):
    import tracemalloc
    import zipfile

    import torch

    made = make(torch)
    path = tmp_path / f"{make.__name__[1:]}.pt"
    if isinstance(made, bytes):  # a pickle of our own, in torch's zip
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", made)
    else:
        torch.save(made, path)
    if make is _deflated:
        with zipfile.ZipFile(path) as z:
            entries = [(i.filename, z.read(i)) for i in z.infolist()]
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in entries:
                z.writestr(name, data)
    assert path.stat().st_size < 2**16
    tracemalloc.start()
    try:
        with pytest.raises(ProjectError, match=f"{path.name} is not a plain mm_widgets model"):
            MicroModel.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"loading a {path.stat().st_size:,}-byte file took {peak:,} bytes"


def test_tensors_that_view_part_of_a_storage_are_read_as_torch_reads_them(tmp_path):
    import torch

    base = torch.arange(24, dtype=torch.float32)
    payload = {"kind": "yolo", "whole": base, "slice": base[5:11], "t": base.view(4, 6).t(),
               "wide": torch.arange(3.0).expand(4, 3), "one": base[7],
               "bf16": torch.arange(6, dtype=torch.bfloat16).view(2, 3)}
    path = tmp_path / "views.pt"
    torch.save(payload, path)
    read = read_checkpoint(path, tensors="numpy")
    for key, tensor in payload.items():
        if key != "kind":
            expected = tensor.float().numpy() if key == "bf16" else tensor.numpy()
            np.testing.assert_array_equal(read[key], expected)
            assert read[key].shape == tuple(tensor.shape)


def external(tensor, location: str):
    """``tensor`` (an onnx TensorProto) with its values said to lie in the file ``location``."""
    from onnx import TensorProto

    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


@pytest.mark.parametrize("where", ["initializer", "subgraph", "cut short"])
def test_a_graph_whose_tensor_names_another_file_is_refused_unopened(saved, tmp_path, where):
    import onnx  # already imported by the export that saved the model
    import torch
    from onnx import TensorProto, helper

    frames, model, path = saved
    payload = read_checkpoint(path)
    graph = onnx.load_from_string(payload["onnx"].numpy().tobytes())
    tensors = [*graph.graph.initializer, *(a.t for n in graph.graph.node for a in n.attribute
                                           if a.type == onnx.AttributeProto.TENSOR)]
    assert len(tensors) > 20  # our own export: every tensor inside the graph, none outside
    assert not [t.name for t in tensors
                if t.data_location == TensorProto.EXTERNAL or len(t.external_data)]
    secret = tmp_path / "no such file.bin"  # ONNX Runtime's own error would be that it is missing
    if where == "initializer":
        name = graph.graph.initializer[3].name
        external(graph.graph.initializer[3], str(secret))
    elif where == "subgraph":  # a Constant's tensor inside an If's branch: never run, still refused
        name = "inner"
        branch = helper.make_graph(
            [helper.make_node("Constant", [], ["c"], value=external(
                helper.make_tensor(name, TensorProto.FLOAT, [16], np.zeros(16)), str(secret)))],
            "then", [], [helper.make_tensor_value_info("c", TensorProto.FLOAT, [16])])
        graph.graph.node.append(helper.make_node(
            "If", [graph.graph.input[0].name], ["unused"], then_branch=branch, else_branch=branch))
    data = graph.SerializeToString()
    payload["onnx"] = torch.frombuffer(bytearray(data[: len(data) // 2] if where == "cut short"
                                                 else data), dtype=torch.uint8)
    hostile = write_checkpoint(tmp_path / "hostile.pt", payload)  # its weights, their digest
    if where == "cut short":
        message = r"hostile.pt is not a whole 'yolo' model file .*ONNX graph is cut short"
    else:
        message = (rf"hostile.pt: its ONNX graph's tensor '{name}' takes its values from another"
                   rf" file \('{re.escape(str(secret))}'\): refused, that file not opened")
    with pytest.raises(ProjectError, match=message):
        MicroModel.load(hostile)


def test_onnx_runtime_reads_a_graph_as_protobuf_only(saved, tmp_path):
    """ONNX Runtime also loads its own flatbuffer format, which the check does not walk."""
    import onnxruntime as ort

    from mm_widgets.models.runtime import OnnxNetwork

    frames, model, path = saved
    graph = read_checkpoint(path, tensors="numpy")["onnx"].tobytes()
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "graph.ort")  # written in ORT's format
    ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    flat = (tmp_path / "graph.ort").read_bytes()
    assert flat[4:8] == b"ORTM"
    assert ort.InferenceSession(flat, providers=["CPUExecutionProvider"])  # it would load it
    OnnxNetwork(graph, model.input_size_)
    with pytest.raises(Exception, match="protobuf parsing failed"):
        OnnxNetwork(flat, model.input_size_)
