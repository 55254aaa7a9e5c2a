"""A YOLO segmentation micro-model: instance masks of one scene from a handful of labelled frames.

It is the detector (:class:`~.detector.YoloMicroModel`) with ultralytics' YOLO11
segmentation network (``SegmentationModel`` from ``yolo11-seg.yaml``, scaled the same way,
see :mod:`.yolo_net`) and its loss (``v8SegmentationLoss``: the detection loss plus a
per-instance mask loss inside each object's box). Everything else is the detector's, on
each mask's box: the input size from the smallest labelled object, training windows
around the objects, the augmentation (the masks go through each copy's own transform,
:class:`~.augment.Augmenter`), the one training loop with its plateau and settle stops
(the settle rule watches the boxes), warm start and files.

A mask comes out of the network as 32 coefficients per detection over 32 prototype masks
at 1/4 of the input; :meth:`YoloMaskMicroModel.predict` turns each kept detection into
polygons in full-frame pixels (see there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import MMError
from ..labels import BOX_COLUMNS, POLYGONS, TRACK, link_tracks
from ..polygons import bounds, mask_iou, polygons_from_mask, rasterise, ring_area
from .base import register_model
from .detector import YoloMicroModel, decoded_batches, fuse_boxes, mirror_twins
from .yolo_net import quiet_ultralytics

#: How far (in frame pixels) a simplified polygon may stray from the traced pixel edges
#: (``cv2.approxPolyDP``): a traced mask has a vertex at every pixel step of its outline;
#: simplified, a person reviewing it has a few dozen vertices to drag. What it costs,
#: measured on the first pass on synthetic_shapes at 320x240 (277 predicted masks): median
#: 112 -> 26 vertices a mask, mask IoU with the traced pixels 0.977 on average (5th
#: percentile 0.960, worst 0.918: a star's points). On the same clip's truth masks 0.75 px
#: keeps 0.985 with 43 vertices, 1.5 px 0.967 with 11.
SIMPLIFY_PX = 1.0
#: The columns of a mask prediction table (``LabelSet(task="masks").df``).
MASK_COLUMNS = [*BOX_COLUMNS, TRACK, POLYGONS]


def simplify(rings, tolerance: float = SIMPLIFY_PX) -> list[list[float]]:
    """Each ring with fewer vertices (Douglas-Peucker, at most ``tolerance`` px off), as
    flat lists; a ring that would lose its area keeps its traced vertices."""
    import cv2

    out = []
    for ring in rings:
        points = np.asarray(ring, dtype=np.float32).reshape(-1, 1, 2)
        fewer = cv2.approxPolyDP(points, float(tolerance), True).reshape(-1)
        if len(fewer) < 6 or ring_area(fewer) == 0:
            fewer = points.reshape(-1)
        out.append([float(v) for v in fewer])
    return out


@register_model("yolo-seg")
class YoloMaskMicroModel(YoloMicroModel):
    """A small YOLO segmentation model, deliberately overfit to one scene.

    Settings as :class:`~.detector.YoloMicroModel` (every one of them applies, on the box
    around each mask), except:

    engine
        ``"torch"`` (or ``"auto"``, the same): the mask prototypes are a second network
        output that the ONNX export of :mod:`.runtime` does not carry, so this kind
        predicts with torch.
    flip
        Also predict on the mirrored frame: each box is averaged with its mirror twin as
        the detector does, and each mask's probabilities with its twin's, flipped back.
    """

    kind = "yolo-seg"
    task = "masks"

    def __init__(self, *, epochs="auto", imgsz="auto", device="auto", weights="auto", seed=0,
                 progress=True, warm_start=None, crop="auto", width="auto", batch_size="auto",
                 steps_per_epoch=4, lr=0.004, patience=8, settle="auto", conf=0.25, iou=0.5,
                 max_det=100, flip=True, engine="torch", on_epoch=None):
        super().__init__(epochs=epochs, imgsz=imgsz, device=device, weights=weights, seed=seed,
                         progress=progress, warm_start=warm_start, crop=crop, width=width,
                         batch_size=batch_size, steps_per_epoch=steps_per_epoch, lr=lr,
                         patience=patience, settle=settle, conf=conf, iou=iou, max_det=max_det,
                         flip=flip, engine=engine, on_epoch=on_epoch)

    # -- fitting ------------------------------------------------------------------------------
    def _instance_masks(self, looked: list[int], table: pd.DataFrame, frame_size: tuple[int, int],
                        size: tuple[int, int]):
        """Each looked-at frame's masks filled at the input ``size``: ``(k, h, w)`` uint8, in
        the table's order (that of the boxes the Augmenter gets)."""
        import torch

        if POLYGONS not in table.columns:
            raise MMError(f"{type(self).__name__} learns masks: the labels have no polygons")
        sx, sy = size[0] / frame_size[0], size[1] / frame_size[1]
        out = []
        for f in looked:
            rows = table[table["frame"] == f]
            stack = np.zeros((len(rows), size[1], size[0]), dtype=np.uint8)
            for k, polygons in enumerate(rows[POLYGONS]):
                scaled = [np.asarray(r, dtype=float).reshape(-1, 2) * (sx, sy) for r in polygons]
                stack[k] = rasterise([tuple(p.ravel()) for p in scaled], size)
            out.append(torch.from_numpy(stack))
        return out

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, frames, indices: Sequence[int] | None = None, conf: float | None = None,
                *, batch: int = 16, flip: bool | None = None) -> pd.DataFrame:
        """Instance masks on ``frames`` (all, or those at ``indices``), in full-frame pixels.

        Per kept detection (confidence, NMS as the detector): its mask is
        sigmoid(coefficients @ prototypes) at 1/4 of the input, averaged with its mirror
        twin's when ``flip``, upsampled bilinearly to the frame, cut to the detection's
        box and thresholded at 0.5; the pixels are traced into rings
        (:func:`~mm_widgets.polygons.polygons_from_mask`) and simplified to at most
        :data:`SIMPLIFY_PX` px off. A detection whose mask is empty is dropped, and so is
        one whose mask overlaps a higher-scored mask of its class at mask IoU ``iou`` or
        more (the NMS of masks, after the boxes'). Each
        frame is predicted on its own (no smoothing in time); tracks link masks by their
        boxes.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x1, y1, x2, y2, label, score, source, round, track,
            polygons`` (``LabelSet(task="masks").df``): the box is the box around the
            mask's points, ``source="model"``.
        """
        import torch

        self.check_fitted()
        conf = self.conf if conf is None else float(conf)
        flip = self.flip if flip is None else bool(flip)
        indices = list(range(len(frames))) if indices is None else [int(i) for i in indices]
        run = self._runner()
        rows: list[tuple] = []
        with torch.inference_mode(), quiet_ultralytics():
            for chunk, shapes, stack in decoded_batches(frames, indices, batch, self.input_size_):
                outputs = run(stack, flip)
                dets = self._nms(outputs[0], conf)
                mirrored = self._nms(outputs[1], conf) if flip else [None] * len(dets)
                for n, (i, (h, w)) in enumerate(zip(chunk, shapes)):
                    twin = None if mirrored[n] is None else (mirrored[n], outputs[1][1][n])
                    found = [(score, k, self._polygons(prob, box, (w, h))) for box, score, k, prob
                             in self._instances(dets[n], outputs[0][1][n], twin)]
                    for score, k, rings in self._distinct(found):
                        rows.append((i, *bounds(rings), self.classes_[k], score, "model",
                                     self.round_, rings))
        df = pd.DataFrame([r[:-1] for r in rows], columns=BOX_COLUMNS)
        df = df.astype({"frame": np.int64, "x1": float, "y1": float, "x2": float, "y2": float,
                        "score": float, "round": np.int64, "label": object, "source": object})
        df[TRACK] = pd.array(link_tracks(df), dtype="Int64")
        df[POLYGONS] = pd.Series([r[-1] for r in rows], dtype=object)
        return df[MASK_COLUMNS]

    def _distinct(self, found: list) -> list:
        """One frame's ``(score, class id, rings)``, highest score first, without empty
        masks and without a mask whose mask IoU with a higher-scored one of its class is
        ``iou`` or more: the box NMS keeps two boxes on one object when they differ enough
        (on the cockatoo clip's first pass, 5 of 23 held-out frames had such a pair, at mask
        IoU 0.46-0.70), and the second mask is the same object again."""
        kept: list = []
        for score, k, rings in sorted(found, key=lambda f: -f[0]):
            same = [r for _, c, r in kept if c == k]
            if rings and not (same and mask_iou([rings], same).max() >= self.iou):
                kept.append((score, k, rings))
        return kept

    def _instances(self, det, proto, twin):
        """``(box as shares of the input, score, class id, mask probabilities at the
        prototypes' resolution)`` per detection of one image; with ``twin`` (the mirrored
        image's detections and prototypes) boxes and masks are averaged with their mirror
        twins (weighted by score)."""
        import torch

        nc = len(self.classes_)
        width, height = self.input_size_
        probs = torch.sigmoid(torch.einsum("nc,chw->nhw", det[:, 6:], proto))
        if twin is None or not len(twin[0]) or not len(det):
            pairs = [(i, None) for i in range(len(det))]
            fused = det[:, :6]
        else:
            back = twin[0].clone()
            back[:, 0], back[:, 2] = width - twin[0][:, 2], width - twin[0][:, 0]
            pairs = mirror_twins(det, back, self.iou)
            fused = fuse_boxes(det[:, :6], back[:, :6], self.iou)
            twin_probs = torch.sigmoid(torch.einsum("nc,chw->nhw", back[:, 6:], twin[1])).flip(-1)
        out = []
        for row, (i, j) in enumerate(pairs):
            prob = probs[i]
            if j is not None:
                wa, wb = det[i, 4], twin[0][j, 4]
                prob = (prob * wa + twin_probs[j] * wb) / (wa + wb)
            x1, y1, x2, y2, score, k = fused[row].tolist()
            if not 0 <= int(k) < nc:
                continue
            out.append(((x1 / width, y1 / height, x2 / width, y2 / height), score, int(k), prob))
        return out

    @staticmethod
    def _polygons(prob, box, size: tuple[int, int]) -> list[list[float]]:
        """The simplified rings of one mask on a ``(w, h)`` frame: ``prob`` (prototype
        resolution) sampled bilinearly at the centres of the frame pixels inside ``box``
        (shares of the frame), > 0.5. Empty list for an empty mask."""
        import torch
        import torch.nn.functional as F

        w, h = size
        x1, y1, x2, y2 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
        # pixels whose centre lies in [x1, x2) x [y1, y2), as ultralytics' crop_mask keeps them
        c0, c1 = max(math.ceil(x1 - 0.5), 0), min(math.ceil(x2 - 0.5), w)
        r0, r1 = max(math.ceil(y1 - 0.5), 0), min(math.ceil(y2 - 0.5), h)
        if c1 <= c0 or r1 <= r0:
            return []
        gx = (torch.arange(c0, c1, dtype=torch.float32) + 0.5) / w * 2 - 1
        gy = (torch.arange(r0, r1, dtype=torch.float32) + 0.5) / h * 2 - 1
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)[None]
        inside = F.grid_sample(prob[None, None].float().cpu(), grid, mode="bilinear",
                               padding_mode="border", align_corners=False)[0, 0] > 0.5
        rings = polygons_from_mask(inside.numpy(), offset=(c0, r0))
        return simplify(rings) if rings else []

    def _runner(self):
        """``run(stack, flip)``: ``(head output, prototypes)`` for a uint8 stack of resized
        frames, and for its mirror image when ``flip``; the detector's torch path (see
        ``engine``)."""
        if self.engine not in ("auto", "torch"):
            raise MMError(f"a {self.kind!r} model predicts with torch: engine must be 'auto' or "
                          f"'torch', got {self.engine!r}")
        return self._torch_runner()

    @staticmethod
    def _forward(net, x):
        """The segmentation head's ``(detections with mask coefficients, prototypes)``."""
        (pred, proto), _ = net(x)
        return pred.float(), proto.float()

    def _nms(self, out, conf: float):
        """The detector's NMS on the head output; each row keeps its mask coefficients
        after x1, y1, x2, y2, score, class."""
        return super()._nms(out[0], conf)

