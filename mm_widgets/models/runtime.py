"""The YOLO network exported for the CPU: ONNX Runtime predicts, torch keeps training and GPUs.

The fitted torch network is exported in memory (no file) with torch's TorchScript-based
ONNX exporter, the one ultralytics' own ``format="onnx"`` uses, and run in an ONNX Runtime
session. The graph takes the resized uint8 frames as they come from the decoder
(``batch x h x w x 3``) and returns what the torch network's head returns, so decoding,
resizing, mirror averaging and NMS stay the prediction path's own.

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
import warnings

import numpy as np

#: What ``engine=`` accepts; see :class:`~mm_widgets.models.detector.YoloMicroModel`.
ENGINES = ("auto", "torch", "onnxruntime")


def weights_fingerprint(net) -> str:
    """A digest of every weight and buffer of ``net``: changes whenever training (or anything
    else) changes a value, so an exported copy is rebuilt exactly when it would differ."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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
    """An exported YOLO network in an ONNX Runtime session on the CPU.

    Parameters
    ----------
    net
        The fitted torch network (not changed).
    size
        Its input ``(w, h)``.
    threads
        Threads for one call (ONNX Runtime's ``intra_op_num_threads``); None: ONNX
        Runtime's default, one per physical core.

    Calling it on a uint8 array ``(batch, h, w, 3)`` returns the head's output as a float32
    array ``(batch, 4 + classes, anchors)``, the same numbers as the torch network's to
    float rounding.
    """

    def __init__(self, net, size: tuple[int, int], threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its own warnings are not the user's
        self.size = (int(size[0]), int(size[1]))
        self.session = ort.InferenceSession(export_onnx(net, self.size), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"frames": np.ascontiguousarray(frames)})[0]
