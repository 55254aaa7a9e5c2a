"""A YOLO detection micro-model that learns one scene from a handful of labelled frames.

Ultralytics supplies the network (``DetectionModel`` built from its YOLO11 yaml, see
:mod:`.yolo_net`) and the detection loss; training is the project's one loop
(:mod:`.training`). Ultralytics' Trainer is built for datasets of thousands of images: its
setup, on-disk dataset, dataloader workers and validation cost far more than the learning
itself when there are five frames, and its default ``nbs=64`` makes the optimiser step only
every few epochs. Here the few frames are decoded once, resized once and kept in memory;
every step draws a batch of randomly scaled, shifted, flipped and recoloured copies of them
(:mod:`.augment`), and training stops when the loss stops falling.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..actions import match_boxes
from ..errors import MMError, NoLabelsError, UnknownClassError, warn
from ..labels import BOX_COLUMNS, TRACK, box_iou, link_tracks
from ..temporal import smooth_predictions, temporal_wanted
from .augment import Augmenter
from .base import MicroModel, register_model, weights_choice
from .progress import notice
from .runtime import (
    ENGINES,
    OnnxNetwork,
    default_threads,
    export_onnx,
    nms,
    refuse_external_data,
    weights_fingerprint,
)
from .training import (
    Plateau,
    Schedule,
    Settled,
    adamw,
    copy_weights,
    resolve_device,
    train,
)
from .yolo_net import (
    architecture,
    build_network,
    find_pretrained,
    pretrained_state,
    prior_for_input_size,
    quiet_ultralytics,
)

FORMAT_VERSION = 1
#: How much more often a frame a person drew or corrected boxes on is trained on than one
#: whose boxes are all accepted predictions.
PERSON_WEIGHT = 3.0


def input_size(frame_size: tuple[int, int], imgsz: int, stride: int = 32) -> tuple[int, int]:
    """Network input ``(w, h)``: long side ``imgsz``, both sides multiples of ``stride``.

    The frame is stretched slightly rather than padded so that no pixels are wasted; the
    same stretch applies at training and prediction, and boxes are scaled back exactly.
    """
    w, h = frame_size
    long_side = max(stride, int(round(imgsz / stride)) * stride)
    if w >= h:
        return long_side, max(stride, int(round(long_side * h / w / stride)) * stride)
    return max(stride, int(round(long_side * w / h / stride)) * stride), long_side


def small_side(boxes: np.ndarray) -> float:
    """The short side of the smallest labelled objects: the 10th percentile of the boxes'
    shorter sides (a few oddly thin boxes do not decide the input size alone)."""
    return float(np.percentile(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 10))


def auto_imgsz(boxes: np.ndarray, frame_size: tuple[int, int], lo: int = 128, hi: int = 640,
               min_side: float = 64.0) -> int:
    """Smallest input size (multiple of 32, within ``lo..hi``) at which the smallest
    labelled box keeps about ``min_side`` pixels on its shorter side.

    64 px, not just enough to recognise the object (~40 px): a box edge is placed to about
    an input pixel, and tight boxes (IoU >= 0.75, accepted untouched in review) need that
    to be a small share of the box. Measured on bunny and carphone from 5 frames: tight
    rate 0.77 -> 0.89 and 0.97 -> 1.00 with the longer training below.
    """
    w, h = frame_size
    scale = min_side / max(small_side(boxes), 1.0)
    return int(np.clip(math.ceil(max(w, h) * scale / 32) * 32, lo, hi))


#: Training windows are at least this many input pixels on a side: room for an object and
#: the background around it (a window that small still holds several 30-px people).
MIN_CROP = 256
#: Windows are used only when they save at least half the pixels of a whole frame; above
#: that, whole frames (all objects and all background in every step) are worth their cost.
MAX_CROP_SHARE = 0.5


def crop_size(size: tuple[int, int], boxes: np.ndarray, side="auto") -> tuple[int, int] | None:
    """Training window ``(w, h)`` in input pixels, or None to train on whole frames.

    ``size`` is the network input for a whole frame and ``boxes`` the labelled boxes
    (``x1, y1, x2, y2``) at that scale. ``"auto"``: a square window 1.25x the longest
    labelled box (so that any object fits with some background), at least
    :data:`MIN_CROP`, used when it covers at most :data:`MAX_CROP_SHARE` of the frame.
    An integer: windows of that side (rounded up to a multiple of 32) whenever they are
    smaller than the frame. ``None``: whole frames.
    """
    if side is None or side is False:
        return None
    w, h = size
    if side == "auto":
        longest = float(np.max(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]),
                               initial=0.0))
        side = max(MIN_CROP, math.ceil(1.25 * longest / 32) * 32)
        limit = MAX_CROP_SHARE
    else:
        if int(side) < 32:
            raise MMError(f"crop must be 'auto', None or a side of at least 32 px, got {side!r}")
        side = math.ceil(int(side) / 32) * 32
        limit = 1.0
    window = (min(side, w), min(side, h))
    if window == (w, h) or window[0] * window[1] > limit * w * h:
        return None
    return window


def describe_plan(boxes: np.ndarray, labels: Sequence[str], frame_size, size, crop,
                  reason: str) -> str:
    """One sentence: how small the objects are, the input size and why, crops or whole frames."""
    w, h = frame_size
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    side = small_side(boxes)
    names = pd.Series(np.asarray(labels, dtype=object)[sides <= side]).value_counts()
    scale = size[0] / w
    text = (f"the smallest '{names.index[0]}' boxes are ~{side:.0f} px on their short "
            f"side: input {size[0]}x{size[1]} ({scale:.2f}x of {w}x{h}, {reason}), where they "
            f"keep ~{side * scale:.0f} px")
    if crop is None:
        return text + "; training on whole frames"
    share = size[0] * size[1] / (crop[0] * crop[1])
    return (text + f"; training on {crop[0]}x{crop[1]} windows around the objects "
            f"({share:.1f}x fewer pixels per image than whole frames)")


def resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaged resize to ``(w, h)``: the same filter at training and prediction."""
    import cv2

    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)



def decoded_batches(frames, indices: Sequence[int], batch: int, size: tuple[int, int]):
    """``(frame indices, their (h, w), resized uint8 stack)`` per ``batch`` frames, the next
    batch decoded and resized in a background thread while the caller predicts this one
    (the video decoder and OpenCV release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    def load(chunk):
        arrays = [np.asarray(frames[i]) for i in chunk]
        return chunk, [a.shape[:2] for a in arrays], np.stack([resize(a, size) for a in arrays])

    chunks = [list(indices[s:s + batch]) for s in range(0, len(indices), batch)]
    if not chunks:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="mm-decode") as pool:
        pending = pool.submit(load, chunks[0])
        for nxt in chunks[1:] + [None]:
            done = pending.result()
            pending = pool.submit(load, nxt) if nxt is not None else None
            yield done


# -- the micro-model -----------------------------------------------------------------------

def detection_loss(net, batch):
    """Ultralytics' detection loss (box, class, distribution focal) for one batch: the sum
    to minimise and the loss per image."""
    loss, _ = net.loss(batch)
    loss = loss.sum()
    return loss, float(loss.detach()) / batch["img"].shape[0]


def is_class_row(name: str) -> bool:
    """Head tensors with one row per class: the last layer of each class branch."""
    return ".cv3." in name and name.endswith((".2.weight", ".2.bias"))


def mirror(stack: np.ndarray) -> np.ndarray:
    """A uint8 stack of frames ``(n, h, w, 3)`` mirrored left to right, contiguous (OpenCV's
    flip: 2 ms for 8 frames of 640x480, where numpy's copy of a reversed view took 30 ms)."""
    import cv2

    return np.stack([cv2.flip(f, 1) for f in stack])


def as_numpy(values) -> np.ndarray:
    """A torch tensor (on any device, copied to the CPU) or an array as a numpy array,
    without importing torch."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def mirror_boxes(det, width: float) -> np.ndarray:
    """Detections ``(n, 6)`` made on a horizontally mirrored input, mapped back."""
    det = as_numpy(det)
    out = det.copy()
    out[:, 0], out[:, 2] = width - det[:, 2], width - det[:, 0]
    return out


def fuse_boxes(a, b, match_iou: float) -> np.ndarray:
    """Average each box of ``a`` with its best same-class twin in ``b`` (IoU >= ``match_iou``),
    weighted by score; the fused score is the mean. Boxes of ``a`` without a twin are kept
    as found; boxes of ``b`` without a twin are dropped (``b`` only refines ``a``). Rows in
    :func:`mirror_twins`' order; numpy arrays (torch tensors are read as such)."""
    a, b = as_numpy(a), as_numpy(b)
    if not len(a) or not len(b):
        return a
    out = []
    for i, j in mirror_twins(a, b, match_iou):
        if j is None:
            out.append(a[i, :6])
        else:
            wa, wb = a[i, 4], b[j, 4]
            box = (a[i, :4] * wa + b[j, :4] * wb) / (wa + wb)
            out.append(np.concatenate([box, [(wa + wb) / 2], a[i, 5:6]]).astype(a.dtype))
    return np.stack(out)


def mirror_twins(a, b, match_iou: float) -> list[tuple[int, int | None]]:
    """The pairing :func:`fuse_boxes` averages: each row of ``a`` (x1, y1, x2, y2, score,
    class, ...), highest score first, with its best same-class twin in ``b`` (IoU >=
    ``match_iou``, each row of ``b`` used once) or None."""
    a, b = as_numpy(a), as_numpy(b)
    order = np.argsort(-a[:, 4], kind="stable").tolist()
    if not len(b):
        return [(i, None) for i in order]
    iou = box_iou(a[:, :4], b[:, :4])
    iou[a[:, 5, None] != b[None, :, 5]] = 0
    pairs, used = [], set()
    for i in order:
        j = int(iou[i].argmax())
        if iou[i, j] >= match_iou and j not in used:
            used.add(j)
            pairs.append((i, j))
        else:
            pairs.append((i, None))
    return pairs


#: The settle rule (:class:`~.training.Settled`): how many unlabelled frames each check
#: predicts, every how many epochs, how many checks in a row must change nothing, and the
#: IoU with its own box at the previous check under which a box counts as moved. Eight
#: frames every 4 epochs cost ~2% of the crowd's training (640x480 input), and stopped
#: bunny and carphone after 48-52 of 60 epochs, as 12 frames did.
SETTLE_FRAMES = 8
SETTLE_EVERY = 4
SETTLE_PATIENCE = 2
SETTLE_IOU = 0.9


def settle_sample(n_frames: int, looked: Sequence[int], k: int) -> list[int]:
    """Up to ``k`` frames spread evenly over the clip, none of them labelled or looked at."""
    taken = set(looked)
    free = [i for i in range(n_frames) if i not in taken]
    if len(free) <= k:
        return free
    return [free[int(i)] for i in np.linspace(0, len(free) - 1, k).round()]


def finds_text(boxes: int) -> str:
    """The settle rule's words for a model that finds its ``boxes`` labelled boxes."""
    return "it finds the labelled box" if boxes == 1 else f"it finds all {boxes} labelled boxes"


class Seen(NamedTuple):
    """One predicted box at a check of the settle rule (what :func:`match_boxes` reads)."""

    xyxy: tuple[float, float, float, float]
    label: int


def prediction_changes(before: Sequence[np.ndarray], now: Sequence[np.ndarray],
                       move_iou: float = SETTLE_IOU) -> tuple[int, int]:
    """How many boxes appeared, disappeared or moved between two predictions of the same
    frames (one ``(n, 6)`` array of x1, y1, x2, y2, score, class per frame), and how many
    boxes the two hold (a matched pair counts once).

    Boxes are matched per class, greedily by IoU (at least 0.5); a matched box whose IoU
    with its twin is below ``move_iou`` has moved.
    """
    changed = total = 0
    for a, b in zip(before, now, strict=True):
        pairs, gone, new = match_boxes([Seen(tuple(r[:4]), int(r[5])) for r in a],
                                       [Seen(tuple(r[:4]), int(r[5])) for r in b], 0.5)
        changed += len(gone) + len(new) + sum(v < move_iou for _, _, v in pairs)
        total += len(pairs) + len(gone) + len(new)
    return changed, total


#: Images a training step for ``batch_size="auto"`` (see :class:`YoloMicroModel`).
AUTO_BATCH = 16


@register_model("yolo")
class YoloMicroModel(MicroModel):
    """A small YOLO detector, deliberately overfit to one scene.

    Parameters
    ----------
    epochs
        Maximum number of epochs (an epoch is ``steps_per_epoch`` optimiser steps of
        ``batch`` augmented images); ``"auto"`` picks a maximum and stops earlier once the
        training loss plateaus.
    imgsz
        Long side of the network input in pixels; ``"auto"`` picks the smallest size at
        which the smallest labelled object keeps about 40 pixels.
    device
        ``"auto"`` (CUDA when available, else CPU), or a torch device string.
    weights
        ``"auto"``: pretrained YOLO11n weights when already on disk (never downloaded:
        ``yolo11n.pt`` in ``~/.cache/mm_widgets/weights/`` or in ultralytics' own
        ``weights_dir``), else train from scratch and say so once per session. ``"pretrained"``: those
        weights or an error. ``"scratch"`` (or ``None``): from scratch, silently.
        ``"headstart"``: the weights this package pretrains on synthetic scenes and ships
        (:mod:`~mm_widgets.models.headstart`), each class starting from its one "object"
        class. A path: an mm_widgets model file or an ultralytics ``.pt`` to start from.
    seed
        Seeds weight initialisation and augmentation: the same seed gives the same model.
    progress
        ``True`` (a tqdm line), ``False`` (silent), or a reporter with
        ``start``/``update``/``close`` (see :mod:`mm_widgets.models.progress`).
    warm_start
        A fitted :class:`YoloMicroModel` to start from (later retraining rounds): its
        weights, input size and class ids; classes new to this round get new head rows.
    crop
        Train on windows cut around the objects at the input scale instead of whole
        frames: ``"auto"`` when the objects are small in the frame (see :func:`crop_size`),
        a side in pixels, or ``None`` for whole frames. Prediction is always on whole
        frames at the same scale, so crops change the cost of training, not the boxes'
        pixels.
    width
        Width multiplier of the network; ``"auto"``: 0.125 from scratch, 0.25 (YOLO11n)
        when starting from pretrained weights.
    batch_size, steps_per_epoch, lr
        Optimiser settings: AdamW with ``lr`` (halved when not from scratch), warm-up and
        cosine decay, an exponential moving average of the weights. ``batch_size="auto"``:
        16 images a step, first model and warm-started rounds alike. Batches of 8 train in
        half the time but gave looser boxes in paired runs: megamind's first pass tight
        rate 0.65 instead of 0.93, bikes 0.71 instead of 0.94
        (``benchmarks/speed.py --set batch_size=8``); for warm-started rounds only, megamind's
        one-model loop ended at efficiency 0.592 instead of 0.703 (191 human actions instead
        of 139, ``benchmarks/crowd.py --clips megamind``), though the crowd's and the bunny's
        loops were as good.
    patience
        Stop when the smoothed epoch loss has not improved by 1% for this many epochs.
    settle
        With ``epochs="auto"``, also stop once the predictions on this many frames nobody
        labelled (spread over the clip, decoded once) stop changing: every
        :data:`SETTLE_EVERY` epochs they are predicted and compared with the previous
        check, and :data:`SETTLE_PATIENCE` checks in a row in which no box appeared,
        disappeared or moved (IoU under :data:`SETTLE_IOU`), while the model finds every
        labelled box, end training. ``"auto"``: :data:`SETTLE_FRAMES` frames for a first
        model, off for a warm-started round (measured on first passes only: bunny and
        carphone 60 -> 48-52 epochs, 16-17% less time, the same recall and tight rate
        within the seeds' spread; ``benchmarks/speed.py --set settle=8``); ``0``: the
        loss plateau alone.
    conf, iou, max_det, flip
        Prediction defaults: confidence threshold, NMS IoU, boxes per frame, and whether
        to average each box with its twin found on the mirrored frame. The NMS IoU
        is stricter than ultralytics' 0.7 because a micro-model's false positives are
        mostly second, looser boxes on the object it did find.
    engine
        What runs the network in :meth:`predict`: ``"auto"`` (ONNX Runtime for a model on
        the CPU, torch on a GPU), ``"onnxruntime"`` or ``"torch"``. The ONNX graph is
        exported in memory from the fitted network on the first prediction and again
        whenever its weights have changed; if that fails, torch predicts and a warning
        says why. Training is always torch's. See :mod:`mm_widgets.models.runtime` for
        the measurements behind the choice.
    on_epoch
        Called as ``on_epoch(epoch, loss)`` after every epoch (may raise
        ``KeyboardInterrupt`` to stop training, like Ctrl-C).
    """

    kind = "yolo"
    task = "boxes"
    file_tensors = "numpy"  # _from_checkpoint takes numpy arrays: loading needs no torch

    def __init__(self, *, epochs="auto", imgsz="auto", device="auto", weights="auto", seed=0,
                 progress=True, warm_start=None, crop="auto", width="auto", batch_size="auto",
                 steps_per_epoch=4,
                 lr=0.004, patience=8, settle="auto", conf=0.25, iou=0.5, max_det=100,
                 flip=True, engine="auto", on_epoch=None):
        self.epochs = epochs
        self.imgsz = imgsz
        self.device = device
        self.weights = weights
        self.seed = seed
        self.progress = progress
        self.warm_start = warm_start
        self.crop = crop
        self.width = width
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.lr = lr
        self.patience = patience
        self.settle = settle
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.flip = flip
        self.engine = engine
        self.on_epoch = on_epoch

    def __repr__(self) -> str:
        if not self.is_fitted:
            return f"{type(self).__name__}(unfitted)"
        w, h = self.input_size_
        crops = "" if self.crop_ is None else f" ({self.crop_[0]}x{self.crop_[1]} training windows)"
        return (f"{type(self).__name__}(classes={self.classes_}, {w}x{h} input{crops}, {len(self.history_)} "
                f"epochs in {self.train_seconds_:.1f} s, trained on frames {self.domain_})")

    # -- fitting ------------------------------------------------------------------------------
    def _training_set(self, frames, labels):
        """Looked-at frames and their boxes (frames without boxes are negatives)."""
        held = getattr(labels, "task", "boxes")
        if held != self.task:
            raise MMError(f"{type(self).__name__} (kind {self.kind!r}) learns {self.task}; these "
                          f"labels hold {'frame classes' if held == 'classes' else held}")
        looked = sorted(set(labels.looked_at) | set(labels.frames))
        table = labels.df
        if table.empty:
            raise NoLabelsError(
                f"no {self.task} to learn from: label at least one object (frames confirmed "
                "empty help only as negatives)"
            )
        classes = list(labels.classes)
        if self.warm_start is not None:
            # Keep the old class ids stable so the warm-started head still means the same.
            classes = list(self.warm_start.classes_) + [c for c in classes if c not in self.warm_start.classes_]
        unknown = sorted(set(table["label"]) - set(classes))
        if unknown:
            raise UnknownClassError(f"labels use unknown class(es) {unknown}; known: {classes}")
        n = len(frames)
        outside = [f for f in looked if not 0 <= f < n]
        if outside:
            raise MMError(f"labelled frame(s) {outside[:5]} lie outside the {n} frames given")
        return looked, table, classes

    def _start_weights(self, nc: int):
        """(config, state dict or None, where it starts from) for a network with ``nc`` classes."""
        if self.warm_start is not None:
            if getattr(self.warm_start, "kind", None) != self.kind:
                raise MMError(f"warm_start must be a fitted {type(self).__name__} (kind "
                              f"{self.kind!r}), got {type(self.warm_start).__name__}")
            self.warm_start.check_fitted()
            cfg = copy.deepcopy(self.warm_start.cfg_)
            cfg["nc"] = nc
            return cfg, self.warm_start.net_.state_dict(), "warm_start"
        scratch = architecture(nc, 0.125 if self.width == "auto" else self.width, task=self.task)
        weights = weights_choice(self.weights)
        if weights == "scratch":
            return scratch, None, "scratch"
        if weights == "headstart":
            return self._headstart(nc)
        if weights in ("auto", "pretrained"):
            found = find_pretrained()
            if found is None and weights == "pretrained":
                raise MMError("no pretrained YOLO weights on disk, and mm_widgets never downloads:"
                              " pass weights='path/to/yolo11n.pt' or weights='scratch'")
            if found is None:
                notice("No pretrained YOLO weights on disk (mm_widgets never downloads): "
                       "training a small YOLO from scratch. Pass weights='path/to/yolo11n.pt' to "
                       "start from pretrained weights, or weights='scratch' to silence this.")
                return scratch, None, "scratch"
            weights = found
        if not weights.is_file():
            raise MMError(f"weights file not found: {weights}")
        try:
            from ..checkpoints import read_checkpoint

            payload = read_checkpoint(weights)
        except MMError:
            payload = None
        if payload is not None:
            if payload.get("kind") != self.kind:
                raise MMError(f"{weights} is a {payload.get('kind')!r} model, not a "
                              f"{self.kind!r} one")
            cfg = copy.deepcopy(payload["cfg"])
            cfg["nc"] = nc
            return cfg, payload["state_dict"], "file"
        width = 0.25 if self.width == "auto" else self.width
        return architecture(nc, width, task=self.task), pretrained_state(weights), "pretrained"

    def _headstart(self, nc: int):
        """The package's head start (:mod:`.headstart`) for ``nc`` classes: each class's head
        row starts as the pretrained "object" row."""
        from ..checkpoints import read_checkpoint
        from .headstart import HEADSTART_FILE

        if self.task != "boxes":
            raise MMError(f"weights='headstart' is made for boxes, not {self.task}: pass "
                          "weights='scratch' or a file of your own")
        if not HEADSTART_FILE.is_file():
            raise MMError(f"the head-start weights are missing from this installation "
                          f"({HEADSTART_FILE}); reinstall mm_widgets or pass weights='scratch'")
        payload = read_checkpoint(HEADSTART_FILE)
        cfg = copy.deepcopy(payload["cfg"])
        cfg["nc"] = nc
        state = {k: (v.repeat(nc, *[1] * (v.ndim - 1)) if is_class_row(k) else v)
                 for k, v in payload["state_dict"].items()}
        return cfg, state, "headstart"

    def fit(self, frames, labels) -> YoloMicroModel:
        """Train on the looked-at frames of ``labels`` (frames without boxes are negatives).

        Parameters
        ----------
        frames
            :class:`~mm_widgets.data.Frames` (or any sequence of RGB arrays).
        labels
            A :class:`~mm_widgets.labels.LabelSet` of boxes.

        Returns
        -------
        YoloMicroModel
            ``self``, fitted. Ctrl-C during training keeps the best weights so far (with
            a warning) instead of losing them.
        """
        import torch

        looked, table, classes = self._training_set(frames, labels)
        started = time.perf_counter()
        first = np.asarray(frames[looked[0]])
        frame_size = (first.shape[1], first.shape[0])
        xyxy = table[["x1", "y1", "x2", "y2"]].to_numpy(float)
        if self.warm_start is not None and self.imgsz == "auto":
            size = tuple(self.warm_start.input_size_)
            reason = f"as round {self.warm_start.round_}"
        elif self.imgsz == "auto":
            size = input_size(frame_size, auto_imgsz(xyxy, frame_size))
            reason = "imgsz auto: ~64 px for them, within 128-640"
        else:
            size = input_size(frame_size, int(self.imgsz))
            reason = f"imgsz={self.imgsz}"
        scale = np.array([size[0] / frame_size[0], size[1] / frame_size[1]] * 2)
        crop = crop_size(size, xyxy * scale, self.crop)
        plan = describe_plan(xyxy, table["label"].to_numpy(), frame_size, size, crop, reason)
        device = resolve_device(self.device)

        # Decode and resize the few frames once; every augmented batch is cut from these.
        images = np.stack([resize(np.asarray(frames[f]), size) for f in looked])
        cls_id = {c: i for i, c in enumerate(classes)}
        w, h = frame_size
        boxes = []
        for f in looked:
            rows = table[table["frame"] == f]
            b = np.zeros((len(rows), 5), dtype=np.float64)
            if len(rows):
                b[:, 0] = [cls_id[c] for c in rows["label"]]
                b[:, 1:] = rows[["x1", "y1", "x2", "y2"]].to_numpy(float) / [w, h, w, h]
            boxes.append(np.clip(b, 0, None))

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            cfg, state, started_from = self._start_weights(len(classes))
            net = build_network(cfg)
            if state is not None:
                old_classes = (self.warm_start.classes_ if self.warm_start is not None
                               else None)
                copy_weights(net, state, old_classes=old_classes, classes=classes,
                             is_head=is_class_row)
            if started_from in ("scratch", "pretrained"):
                prior_for_input_size(net, size if crop is None else crop)
            net.to(device)
            g = torch.Generator().manual_seed(self.seed)
            tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
            aug = Augmenter(tensor, boxes, g, weights=self._frame_weights(looked, table),
                            crop=crop, masks=self._instance_masks(looked, table, frame_size, size))
            settled = self._settle_rule(frames, looked, size, classes, device, tensor, boxes)
            result = self._train(net, aug, device, started_from, plan, self._batch_size(),
                                 settled)

        self.net_ = net
        self.cfg_ = cfg
        self.classes_ = classes
        self.history_ = result.history
        self.train_seconds_ = time.perf_counter() - started
        self.domain_ = list(looked)
        self.imgsz_ = int(max(size))
        self.input_size_ = (int(size[0]), int(size[1]))
        self.crop_ = None if crop is None else (int(crop[0]), int(crop[1]))
        self.plan_ = plan
        self.frame_size_ = (int(w), int(h))
        self.started_from_ = started_from
        self.stop_reason_ = result.stop_reason
        self.round_ = (self.warm_start.round_ + 1) if self.warm_start is not None else 0
        return self

    def _instance_masks(self, looked: list[int], table: pd.DataFrame, frame_size: tuple[int, int],
                        size: tuple[int, int]):
        """Per looked-at frame, its objects' masks at the input ``size`` (frames are
        ``frame_size``) for the Augmenter, one per box in the table's order; None for a
        model of boxes."""
        return None

    @staticmethod
    def _frame_weights(looked: list[int], table: pd.DataFrame) -> list[float] | None:
        """Frames with a box a person drew or corrected are drawn ``PERSON_WEIGHT`` times as
        often as frames holding only accepted predictions: those boxes carry what the
        model got wrong, and its own accepted (possibly a little loose) boxes should not
        outvote them. None (all frames alike) while no prediction has been accepted yet:
        the first labels, negatives among them, are all a person's."""
        if not (table["source"] == "model").any():
            return None
        by_person = set(table.loc[table["source"] != "model", "frame"].astype(int))
        weights = [PERSON_WEIGHT if f in by_person else 1.0 for f in looked]
        return None if len(set(weights)) <= 1 else weights

    def _batch_size(self) -> int:
        if self.batch_size == "auto":
            return AUTO_BATCH
        if int(self.batch_size) < 1:
            raise MMError(f"batch_size must be >= 1 or 'auto', got {self.batch_size!r}")
        return int(self.batch_size)

    def _max_epochs(self, started_from: str) -> int:
        if self.epochs != "auto":
            if int(self.epochs) < 1:
                raise MMError(f"epochs must be >= 1, got {self.epochs}")
            return int(self.epochs)
        # Box edges keep sharpening long after the object is found: cap at 60 epochs from
        # scratch (the plateau rule stops earlier when the loss is flat).
        return {"scratch": 60, "headstart": 60, "pretrained": 30}.get(started_from, 20)

    def _settle_rule(self, frames, looked: list[int], size: tuple[int, int], classes: list[str],
                     device, images, boxes: list[np.ndarray]) -> Settled | None:
        """The settle rule for this training, its sample decoded and resized once; None
        when it is off (``settle=0``, a fixed number of epochs, every frame labelled, a
        warm-started round with ``settle="auto"``).

        ``images`` (N x 3 x h x w, 0-1) and ``boxes`` (class, x1, y1, x2, y2 as shares of
        the frame, per image) are the labelled frames: the rule stops only a model that
        finds every labelled box on them (IoU >= 0.5, its class)."""
        import torch

        if self.epochs != "auto" or not self.settle:
            return None
        if self.settle == "auto" and self.warm_start is not None:
            return None  # not measured on warm-started rounds
        k = SETTLE_FRAMES if self.settle == "auto" else int(self.settle)
        sample = settle_sample(len(frames), looked, k)
        if not sample:
            return None
        stack = np.stack([resize(np.asarray(frames[i]), size) for i in sample])
        x = torch.from_numpy(stack).to(device).permute(0, 3, 1, 2).float().div_(255)
        scale = np.array([size[0], size[1]] * 2, dtype=float)
        taught = [[Seen(tuple(b[1:] * scale), int(b[0])) for b in frame] for frame in boxes]

        def look(module):
            return [d.cpu().numpy() for d in self._sample_boxes(module, x, classes)]

        def finds_its_labels(module):
            found = self._sample_boxes(module, images.to(device), classes)
            return all(len(match_boxes([Seen(tuple(r[:4]), int(r[5])) for r in d.tolist()],
                                       want, 0.5)[0]) == len(want)
                       for d, want in zip(found, taught, strict=True))

        return Settled(look, prediction_changes, f"{len(sample)} unlabelled frames",
                       every=SETTLE_EVERY, patience=SETTLE_PATIENCE, taught=finds_its_labels,
                       taught_text=finds_text(sum(map(len, taught))))

    def _sample_boxes(self, net, x, classes: list[str]):
        """Boxes ``net`` finds on the input batch ``x`` (no mirror): the prediction path's
        own forward pass and NMS, run on a copy of this model that knows its classes."""
        view = copy.copy(self)
        view.classes_ = list(classes)  # the NMS reads the class count; self is not fitted yet
        return view._nms(view._forward(net, x), view.conf)

    def _train(self, net, aug: Augmenter, device, started_from: str, plan: str,
               batch_size: int, settled: Settled | None = None):
        """AdamW (no weight decay on biases and norms), warm-up from scratch, cosine decay,
        averaged weights, BatchNorm re-estimated on fresh augmented batches.

        torch's fused AdamW and a one-call (``multi_avg_fn``) average would save ~13 ms a
        step of ~190 here; they were tried and left out: their different rounding makes
        every figure measured so far a different draw of the same noisy experiment
        (bunny's tight rate moves 0.77-0.95 between seeds), for 3-7% of the time."""
        lr = self.lr if started_from == "scratch" else self.lr / 2
        opt = adamw(net, lr)
        max_epochs = self._max_epochs(started_from)
        total_steps = max_epochs * self.steps_per_epoch
        warmup = min(20, total_steps // 5) if started_from == "scratch" else 0

        def batches(epoch):
            for _ in range(self.steps_per_epoch):
                yield {k: v.to(device) for k, v in aug.batch(batch_size).items()}

        def bn_batches():
            return (aug.batch(batch_size)["img"].to(device) for _ in range(8))

        with quiet_ultralytics():
            return train(
                net, opt, batches=batches, loss=detection_loss, epochs=max_epochs,
                schedule=Schedule(total_steps, warmup=warmup, final=0.05), average=True,
                plateau=Plateau(patience=self.patience) if self.epochs == "auto" else None,
                settled=settled, clip_grad=10.0, bn_batches=bn_batches, progress=self.progress,
                on_epoch=self.on_epoch, desc="overfit YOLO", plan=plan)

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, frames, indices: Sequence[int] | None = None, conf: float | None = None,
                *, batch: int = 32, temporal="auto", flip: bool | None = None) -> pd.DataFrame:
        """Boxes on ``frames`` (all, or those at ``indices``), in full-frame pixels.

        Parameters
        ----------
        frames
            :class:`~mm_widgets.data.Frames` or a sequence of RGB arrays.
        indices
            Frame indices to predict; default all.
        conf
            Confidence threshold; default the model's ``conf`` setting.
        batch
            Frames per forward pass.
        temporal
            Link boxes across neighbouring frames (fill one-frame gaps, drop one-frame
            ghosts, smooth edges; :mod:`mm_widgets.temporal`): ``"auto"`` is on for frames
            decoded from a video, off for folders and arrays.
        flip
            Also predict on the mirrored frame and average each box with its mirror twin
            (weighted by score): box edges sit where both views agree. Default: the model's
            ``flip`` setting.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x1, y1, x2, y2, label, score, source, round``, ``source="model"``.
        """
        self.check_fitted()
        conf = self.conf if conf is None else float(conf)
        flip = self.flip if flip is None else bool(flip)
        indices = list(range(len(frames))) if indices is None else [int(i) for i in indices]
        rows: list[tuple] = []
        run = self._runner()
        with quiet_ultralytics():
            for chunk, shapes, stack in decoded_batches(frames, indices, batch, self.input_size_):
                outputs = run(stack, flip)
                dets = [as_numpy(d) for d in self._nms(outputs[0], conf)]
                if flip:
                    mirrored = self._nms(outputs[1], conf)
                    width = float(self.input_size_[0])
                    dets = [fuse_boxes(d, mirror_boxes(m, width), self.iou)
                            for d, m in zip(dets, mirrored)]
                for i, (h, w), det in zip(chunk, shapes, dets):
                    sx, sy = w / self.input_size_[0], h / self.input_size_[1]
                    for x1, y1, x2, y2, score, k in det.tolist():
                        rows.append((i, max(x1 * sx, 0.0), max(y1 * sy, 0.0),
                                     min(x2 * sx, float(w)), min(y2 * sy, float(h)),
                                     self.classes_[int(k)], score, "model", self.round_))
        df = pd.DataFrame(rows, columns=BOX_COLUMNS)
        df = df.astype({"frame": np.int64, "x1": float, "y1": float, "x2": float, "y2": float,
                        "score": float, "round": np.int64, "label": object, "source": object})
        df = df[(df.x2 > df.x1) & (df.y2 > df.y1)].reset_index(drop=True)
        if temporal_wanted(temporal, frames):
            df = smooth_predictions(df, predicted=indices)  # links the boxes into tracks
        else:
            df[TRACK] = pd.array(link_tracks(df), dtype="Int64")
        return df

    def _runner(self):
        """``run(stack, flip)``: the head's outputs for a uint8 stack of resized frames
        ``(n, h, w, 3)``, and for its mirror image when ``flip``: float32 numpy arrays from
        ONNX Runtime when :attr:`engine` says so (see :meth:`_exported`; no torch needed),
        else float tensors on the model's device from the torch network (half precision on
        a CUDA GPU). :meth:`_nms` takes either."""
        if self.engine not in ENGINES:
            raise MMError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        built = self.__dict__.get("_net")  # None: loaded from a file and not needed yet
        on_cpu = built is None or next(built.parameters()).device.type == "cpu"
        wanted = self.engine == "onnxruntime" or (self.engine == "auto" and on_cpu)
        exported = self._exported() if wanted else None
        if exported is not None:
            def run(stack, flip):
                return [exported(v) for v in ((stack, mirror(stack)) if flip else (stack,))]
            return run
        return self._torch_runner()

    def _torch_runner(self):
        """:meth:`_runner` through the torch network: float tensors on the model's device
        (half precision on a CUDA GPU), each output as :meth:`_forward` gives it."""
        import torch

        net = self.net_
        device = next(net.parameters()).device

        def run(stack, flip):
            # Half precision where the device has it (a CUDA GPU); the CPU keeps float32.
            half = torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda")
            with torch.inference_mode(), half:
                # HWC frames seen as NCHW: channels-last memory, the CPU convolutions' fast path
                x = torch.from_numpy(stack).to(device).permute(0, 3, 1, 2).float().div_(255)
                return [self._forward(net, v) for v in ((x, x.flip(-1)) if flip else (x,))]
        return run

    def _exported(self) -> OnnxNetwork | None:
        """The network in ONNX Runtime, kept with the weights it was made from (a digest of
        them): the graph a model file holds, else exported from the torch network on first
        use, and again after ``fit`` or any change of weights. None, after one warning per
        set of weights, when that fails: torch predicts."""
        threads = default_threads()
        digest = self._weights_digest()
        key = (digest, tuple(self.input_size_), threads)
        cached = self.__dict__.get("_onnx")
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            exported = OnnxNetwork(self._graph(digest), self.input_size_, threads=threads,
                                   classes=len(self.classes_))
        except Exception as e:  # noqa: BLE001 - whatever the exporter or runtime raised
            warn(f"Predicting with torch: the network could not be run in ONNX Runtime "
                 f"({type(e).__name__}: {str(e)[:200]}). Set engine='torch' to predict with "
                 f"torch without trying.", RuntimeWarning)
            exported = None
        self._onnx = (key, exported)
        return exported

    def _weights_digest(self) -> str:
        """:func:`~.runtime.weights_fingerprint` of the current weights: of the network once
        built, else of the weights read from the model file (no torch)."""
        if self.__dict__.get("_net") is None and "_file_state" in self.__dict__:
            return self.__dict__["_file_digest"]
        return weights_fingerprint(self.net_)

    def _graph(self, digest: str) -> bytes:
        """The ONNX graph of the weights whose digest is ``digest`` at this input size: the
        one kept (read from the model file, or exported before) when it matches, else
        exported now from the torch network."""
        kept = self.__dict__.get("_onnx_graph")
        if kept is not None and kept[:2] == (digest, tuple(self.input_size_)):
            return kept[2]
        graph = export_onnx(self.net_, self.input_size_)
        self._onnx_graph = (digest, tuple(self.input_size_), graph)
        return graph

    @staticmethod
    def _forward(net, x):
        out = net(x)
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out.float()

    def _nms(self, out, conf: float):
        """Per image: ``(n, 6)`` tensors of x1, y1, x2, y2, score, class after NMS (and
        after them whatever rows the head adds after the class scores: a segmentation
        head's mask coefficients).

        torchvision's NMS rather than ultralytics': the latter stops early under a time
        limit, which would make predictions depend on how busy the machine is. ``out`` as
        a numpy array (ONNX Runtime's, see :meth:`_runner`): the same NMS in numpy
        (:func:`~.runtime.nms`), numpy rows out, no torch.
        """
        if isinstance(out, np.ndarray):
            return nms(out, len(self.classes_), conf, self.iou, self.max_det)
        import torch
        from torchvision.ops import batched_nms

        nc = len(self.classes_)
        results = []
        for p in out.transpose(1, 2):  # (anchors, 4 + nc)
            xywh, scores, extra = p[:, :4], p[:, 4:4 + nc], p[:, 4 + nc:]
            score, k = scores.max(1)
            keep = score > conf
            xywh, score, k, extra = xywh[keep], score[keep], k[keep], extra[keep]
            xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
            order = batched_nms(xyxy, score, k, self.iou)[: self.max_det]
            results.append(torch.cat([xyxy[order], score[order, None], k[order, None].float(),
                                      extra[order]], 1))
        return results

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write weights and plain data (no pickled code) to ``path``; see ``MicroModel.load``.

        Unless ``engine="torch"``, the file also holds the network exported for ONNX Runtime
        (:meth:`_graph`: the one already made for these weights, else exported now, ~1 s)
        with the digest of the weights it was made from, so that a model loaded from it
        predicts on a CPU without torch. If the export fails the file holds no graph, and
        prediction after loading exports again (and says why if it fails again).
        """
        import torch

        from ..checkpoints import write_checkpoint

        self.check_fitted()
        state = {k: v.detach().cpu() for k, v in self.net_.state_dict().items()}
        payload = {
            "kind": self.kind,
            "format": FORMAT_VERSION,
            "cfg": copy.deepcopy(self.cfg_),
            "state_dict": state,
            "classes": list(self.classes_),
            "history": [float(v) for v in self.history_],
            "train_seconds": float(self.train_seconds_),
            "domain": [int(f) for f in self.domain_],
            "imgsz": int(self.imgsz_),
            "input_size": list(self.input_size_),
            "crop": None if self.crop_ is None else list(self.crop_),
            "plan": self.plan_,
            "frame_size": list(self.frame_size_),
            "started_from": self.started_from_,
            "stop_reason": self.stop_reason_,
            "round": int(self.round_),
            "settings": {"conf": float(self.conf), "iou": float(self.iou),
                         "max_det": int(self.max_det), "seed": int(self.seed),
                         "flip": bool(self.flip), "engine": str(self.engine)},
        }
        if self.engine != "torch":
            digest = weights_fingerprint(state)
            try:
                graph = self._graph(digest)
            except Exception:  # noqa: BLE001 - said by predict, which tries again
                graph = None
            if graph is not None:
                payload["onnx"] = torch.frombuffer(bytearray(graph), dtype=torch.uint8)
                payload["onnx_weights"] = digest
        return write_checkpoint(path, payload)

    @classmethod
    def _from_checkpoint(cls, payload: dict) -> YoloMicroModel:
        if payload.get("format", 0) > FORMAT_VERSION:
            raise MMError(f"this YOLO model file is format {payload['format']}; this mm_widgets "
                          f"reads up to {FORMAT_VERSION}: upgrade mm_widgets")
        model = cls(progress=False, **payload.get("settings", {}))
        # The network is built when something needs it (net_): predicting through the file's
        # ONNX graph does not, and then torch is never imported.
        state = {str(k): as_numpy(v) for k, v in payload["state_dict"].items()}
        model._file_state = (payload["cfg"], state)
        model._file_digest = weights_fingerprint(state)
        model.input_size_ = tuple(payload["input_size"])
        graph = payload.get("onnx")
        if graph is not None:
            graph = as_numpy(graph).astype(np.uint8).tobytes()
            refuse_external_data(graph)  # whether or not it would be used
            if payload.get("onnx_weights") == model._file_digest:
                model._onnx_graph = (model._file_digest, model.input_size_, graph)
        model.cfg_ = payload["cfg"]
        model.classes_ = list(payload["classes"])
        model.history_ = list(payload["history"])
        model.train_seconds_ = float(payload["train_seconds"])
        model.domain_ = list(payload["domain"])
        model.imgsz_ = int(payload["imgsz"])
        model.crop_ = None if payload.get("crop") is None else tuple(payload["crop"])
        model.plan_ = payload.get("plan", "")
        model.frame_size_ = tuple(payload["frame_size"])
        model.started_from_ = payload.get("started_from", payload.get("start", "file"))
        model.stop_reason_ = payload.get("stop_reason")
        model.round_ = int(payload.get("round", 0))
        return model

    @property
    def net_(self):
        """The fitted torch network (ultralytics' ``DetectionModel``). A model loaded from a
        file builds it from the file's weights on first use (training on, ``engine="torch"``,
        a file without an ONNX graph, changing weights): until then it is not made, and
        torch not imported."""
        net = self.__dict__.get("_net")
        if net is None:
            if "_file_state" not in self.__dict__:
                raise AttributeError(f"{type(self).__name__} has no network yet: it is not fitted")
            import torch

            cfg, state = self.__dict__["_file_state"]
            net = build_network(cfg)
            net.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
            net.eval()
            self.net_ = net
        return net

    @net_.setter
    def net_(self, net) -> None:
        self.__dict__["_net"] = net
        self.__dict__.pop("_file_state", None)
