"""The YOLO network exported for the CPU: ONNX Runtime predicts, torch keeps training and GPUs.

The fitted torch network is exported in memory (no file) with torch's TorchScript-based
ONNX exporter, the one ultralytics' own ``format="onnx"`` uses, and run in an ONNX Runtime
session. The graph takes the resized uint8 frames as they come from the decoder
(``batch x h x w x 3``) and returns what the torch network's head returns, so decoding,
resizing, mirror averaging and NMS stay the prediction path's own.

A saved model file holds this graph beside the weights (with a digest of the weights it
was made from), so a model loaded for review predicts through ONNX Runtime with numpy NMS
(:func:`nms`) and never imports torch: measured on ``benchmarks/long_scene.py`` (5,402
frames), peak resident memory 1,270 -> 586 MB and the first prediction 2.98 -> 0.11 s.

Why ONNX Runtime, measured on this project's 2-core CPU (AMD EPYC, AVX2), network forward
only, YOLO11 at width 0.125, images/s at a 640x480 input with 2 threads, batch 1/4/8/16/32:
torch eager 27/37/31/29/19, ONNX Runtime 1.32 53/54/53/47/42, OpenVINO 2026.4 61/63/62/59/51;
with 1 thread: torch 15-20, ONNX Runtime 29-32, OpenVINO 32-35. At 256x192 (2 threads)
ONNX Runtime 142-246 and OpenVINO 116-254, torch 44-176. OpenVINO is up to 15% faster at
640x480, but building it from the torch network costs 2.4-4.9 s (trace, convert, compile)
against 0.7 s for ONNX export and 0.1 s for the session, paid again after every training
round; its wheel is 59 MB (180 MB installed, with a telemetry package) against 28 MB for
ONNX Runtime and 9 MB for onnx (109 MB installed together). torch's newer exporter
(``dynamo=True``) took 5.7-12 s per export and needs onnxscript too. Memory a 640x480 batch
adds to the process: ONNX Runtime +200 MB (8 frames) / +455 MB (32), OpenVINO +314 / +884,
torch +266 / +450. Whole ``predict`` on the 768x576 synthetic crowd (mirror averaging on,
frames already decoded, the resize thread sharing the two cores): torch 12.5-15 frames/s,
ONNX Runtime 20-21 at every batch size from 4 to 32.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import warnings

import numpy as np

from ..errors import ProjectError

#: What ``engine=`` accepts; see :class:`~mm_widgets.models.detector.YoloMicroModel`.
ENGINES = ("auto", "torch", "onnxruntime")


def weights_fingerprint(weights) -> str:
    """A digest of every weight and buffer: changes whenever training (or anything else)
    changes a value, so an exported copy is rebuilt exactly when it would differ.

    ``weights`` is a torch network or its state dict as read from a model file (names to
    numpy arrays, :func:`~mm_widgets.checkpoints.read_checkpoint` with ``tensors="numpy"``):
    the same weights give the same digest either way, and the second needs no torch.
    """
    state = weights.state_dict() if hasattr(weights, "state_dict") else weights
    digest = hashlib.blake2b(digest_size=16)
    for name, value in state.items():
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().contiguous().numpy()
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def default_threads() -> int | None:
    """Threads for a session when nothing set them: torch's count when torch is in use (so
    ``torch.set_num_threads`` speaks for both), else ``OMP_NUM_THREADS`` as torch would read
    it, else None (ONNX Runtime's default: one per physical core, torch's default too)."""
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return threads if threads > 0 else None


def export_onnx(net, size: tuple[int, int]) -> bytes:
    """``net`` (an ultralytics ``DetectionModel``) as ONNX bytes for inputs of ``size``
    ``(w, h)``: uint8 frames ``(batch, h, w, 3)`` in, the head's decoded output
    ``(batch, 4 + classes, anchors)`` out, any batch size.

    A copy is exported (Conv and BatchNorm folded, the head in ultralytics' export mode);
    ``net`` itself is left as it was.
    """
    import torch
    from ultralytics.nn.modules import Detect

    from .yolo_net import quiet_ultralytics

    class FromFrames(torch.nn.Module):
        """The network behind the prediction path's own conversion of uint8 frames."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, frames):
            return self.net(frames.permute(0, 3, 1, 2).float().div(255))

    w, h = size
    twin = copy.deepcopy(net).cpu().float().eval()
    for p in twin.parameters():
        p.requires_grad_(False)
    with quiet_ultralytics():
        twin.fuse(verbose=False)
    for m in twin.modules():
        if isinstance(m, Detect):
            m.export, m.format, m.shape = True, "onnx", None  # anchors for this size, in the graph
    buffer = io.BytesIO()
    example = torch.zeros(1, h, w, 3, dtype=torch.uint8)
    with warnings.catch_warnings(), torch.no_grad(), quiet_ultralytics():
        # The TorchScript-based exporter is deprecated in favour of dynamo=True, which took
        # 5.7-12 s here against 0.7 s; the warning says so, nothing the user can act on.
        warnings.simplefilter("ignore")
        torch.onnx.export(FromFrames(twin), (example,), buffer, dynamo=False, opset_version=17,
                          input_names=["frames"], output_names=["boxes"],
                          dynamic_axes={"frames": {0: "batch"}, "boxes": {0: "batch"}})
    return buffer.getvalue()


class OnnxNetwork:
    """An exported YOLO network (:func:`export_onnx`'s bytes) in an ONNX Runtime session on
    the CPU. Needs onnxruntime only: no torch.

    Parameters
    ----------
    graph
        The ONNX bytes.
    size
        The network's input ``(w, h)``; a graph made for another size is refused
        (``ValueError``), as is one whose output is not ``(batch, 4 + classes, anchors)``
        when ``classes`` is given.
    threads
        Threads for one call (ONNX Runtime's ``intra_op_num_threads``); None: ONNX
        Runtime's default, one per physical core.
    classes
        How many classes the network has.

    Calling it on a uint8 array ``(batch, h, w, 3)`` returns the head's output as a float32
    array ``(batch, 4 + classes, anchors)``, the same numbers as the torch network's to
    float rounding.
    """

    def __init__(self, graph: bytes, size: tuple[int, int], threads: int | None = None,
                 classes: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its own warnings are not the user's
        # Protobuf only, never ONNX Runtime's own format: what refuse_external_data walks.
        options.add_session_config_entry("session.load_model_format", "ONNX")
        self.size = (int(size[0]), int(size[1]))
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        w, h = self.size
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [h, w, 3]:
            raise ValueError(f"the graph takes {[i.shape for i in inputs]}, not frames of "
                             f"{h}x{w}x3")
        if len(outputs) != 1:
            raise ValueError(f"the graph gives {len(outputs)} outputs, not one")
        if classes is not None:
            rows = self(np.zeros((1, h, w, 3), dtype=np.uint8)).shape  # one blank frame
            if len(rows) != 3 or rows[1] != 4 + classes:
                raise ValueError(f"the graph gives {rows}, not boxes of {classes} classes")

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"frames": np.ascontiguousarray(frames)})[0]


#: Where ONNX's messages (``onnx.proto``) hold messages that can hold a tensor: message ->
#: {field number: message}. A graph's initializers, a node's tensor attributes, subgraphs
#: (``If``, ``Loop``, ``Scan``), functions and training graphs are all reached.
_HOLDS = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node", 11: "attribute"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}
#: A TensorProto's fields: its name, its external data entries (key, value), where its data is.
_NAME, _EXTERNAL_DATA, _DATA_LOCATION, _EXTERNAL = 8, 13, 14, 1


def refuse_external_data(graph: bytes) -> None:
    """Raise :class:`~mm_widgets.errors.ProjectError` naming the tensor when ONNX model bytes
    ``graph`` hold a tensor whose values lie in another file (``data_location`` EXTERNAL or
    ``external_data`` entries), anywhere: an initializer, a node's tensor attribute, in a
    subgraph or a function. ONNX Runtime would open the file such a tensor names, so a model
    file from elsewhere could make it read any file; :func:`export_onnx` never writes one.

    The protobuf is walked here, field by field, without the onnx package (whose import
    takes seconds, too long for the prediction path that needs none of it); a graph that
    is not well-formed protobuf raises ``ValueError``.
    """
    todo = [("model", memoryview(graph), 0)]
    while todo:
        kind, data, depth = todo.pop()
        if depth > 100:  # protobuf's own parsers refuse deeper messages too
            raise ValueError("its ONNX graph nests messages more than 100 deep")
        if kind != "tensor":
            holds = _HOLDS[kind]
            todo.extend((holds[field], value, depth + 1) for field, wire, value in _fields(data)
                        if wire == 2 and field in holds)
            continue
        name, location, external = "", None, False
        for field, wire, value in _fields(data):
            if field == _NAME and wire == 2:
                name = bytes(value).decode("utf-8", "replace")
            elif field == _DATA_LOCATION and wire == 0:
                external |= value == _EXTERNAL
            elif field == _EXTERNAL_DATA and wire == 2:
                external = True
                entry = {f: bytes(v).decode("utf-8", "replace") for f, w, v in _fields(value)
                         if w == 2}
                if entry.get(1) == "location":
                    location = entry.get(2)
        if external:
            raise ProjectError(
                f"its ONNX graph's tensor {name[:100]!r} takes its values from another file "
                f"({'unnamed' if location is None else repr(location[:200])}): refused, that "
                f"file not opened")


def _fields(data: memoryview):
    """``(field number, wire type, value)`` for each field of one protobuf message: an int
    for a varint, a memoryview of a length-delimited field's bytes, None for a fixed one."""
    at, end = 0, len(data)
    while at < end:
        key, at = _varint(data, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at:at + size], at + size
        elif wire in (1, 5):  # fixed 64 or 32 bits
            value, at = None, at + (8 if wire == 1 else 4)
        else:  # groups (3, 4): no ONNX message has one
            raise ValueError(f"its ONNX graph has a protobuf field of wire type {wire}")
        if at > end:
            raise ValueError("its ONNX graph is cut short")
        yield field, wire, value


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    """The protobuf varint starting at ``at`` and where the next field starts."""
    value = shift = 0
    while shift < 70:
        if at >= len(data):
            break
        byte = data[at]
        value, at, shift = value | (byte & 0x7F) << shift, at + 1, shift + 7
        if byte < 0x80:
            return value, at
    raise ValueError("its ONNX graph is not well-formed protobuf (a number cut short or too long)")


def nms(out: np.ndarray, classes: int, conf: float, iou: float, max_det: int) -> list[np.ndarray]:
    """Per image of the head's output ``out`` ``(batch, 4 + classes + extra, anchors)``: the
    ``(n, 6 + extra)`` float32 rows x1, y1, x2, y2, score, class (then the extra values,
    such as mask coefficients) of the boxes kept, best first, at most ``max_det``.

    torchvision's ``batched_nms`` in numpy, for the prediction path without torch: boxes
    scoring over ``conf`` in their best class, then per class, best first, every box whose
    IoU with a kept one is over ``iou`` is dropped. Same float32 arithmetic, so the same
    boxes as torchvision's but where two IoUs differ in their last bit at the threshold.
    """
    results = []
    for p in np.asarray(out, dtype=np.float32).transpose(0, 2, 1):  # (anchors, 4 + nc + extra)
        scores = p[:, 4:4 + classes]
        k = scores.argmax(1)
        score = scores[np.arange(len(p)), k]
        keep = score > conf
        p, score, k = p[keep], score[keep], k[keep]
        xy, wh = p[:, :2], p[:, 2:4]
        xyxy = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
        order = _kept(xyxy, score, k, iou)[:max_det]
        results.append(np.concatenate(
            [xyxy[order], score[order, None], k[order, None].astype(np.float32),
             p[order, 4 + classes:]], 1))
    return results


def _kept(xyxy: np.ndarray, score: np.ndarray, k: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, per class, in decreasing score."""
    order = np.argsort(-score, kind="stable")
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    dropped = np.zeros(len(order), dtype=bool)
    kept = []
    for n, i in enumerate(order):
        if dropped[i]:
            continue
        kept.append(i)
        rest = order[n + 1:]
        rest = rest[(k[rest] == k[i]) & ~dropped[rest]]
        lo = np.maximum(xyxy[rest, :2], xyxy[i, :2])
        hi = np.minimum(xyxy[rest, 2:], xyxy[i, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        dropped[rest[inter / (area[i] + area[rest] - inter) > iou]] = True
    return np.asarray(kept, dtype=np.int64)
