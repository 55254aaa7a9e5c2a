"""A YOLO detection micro-model that learns one scene from a handful of labelled frames.

Ultralytics supplies the network (``DetectionModel`` built from its YOLO11 yaml) and the
detection loss; the training loop is our own. Ultralytics' Trainer is built for datasets
of thousands of images: its setup, on-disk dataset, dataloader workers and validation
cost far more than the learning itself when there are five frames, and its default
``nbs=64`` makes the optimiser step only every few epochs. Here the few frames are
decoded once, resized once and kept in memory; every step draws a batch of randomly
scaled, shifted, flipped and recoloured copies of them, and training stops when the
loss stops falling.

Offline: ``YOLO_OFFLINE``, ``YOLO_AUTOINSTALL`` and a private ``YOLO_CONFIG_DIR`` are set
before ultralytics is first imported, and nothing here calls the parts of ultralytics
that download (weights, fonts, checks, hub).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import MMError, NoLabelsError, UnknownClassError
from ..labels import BOX_COLUMNS
from ..temporal import smooth_predictions, temporal_wanted
from .base import MicroModel, register_model
from .progress import as_progress

FORMAT_VERSION = 1
GRAY = 114 / 255  # fill for pixels shifted in from outside the frame, as ultralytics pads
LOSS_GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}  # ultralytics' default loss weights
PRETRAINED_NAMES = ("yolo11n.pt",)


# -- ultralytics, imported offline and quiet -------------------------------------------------

def private_config_dir() -> Path:
    """Where ultralytics may keep its settings file: a cache folder of ours, never the cwd."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "mm_widgets" / "ultralytics"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError:
        path = Path(tempfile.gettempdir()) / f"mm_widgets-ultralytics-{os.getuid() if hasattr(os, 'getuid') else 0}"
        path.mkdir(parents=True, exist_ok=True)
    return path


class _QuietFilter(logging.Filter):
    """Drops ultralytics log records below ERROR while mm_widgets is working."""

    depth = 0

    def filter(self, record: logging.LogRecord) -> bool:
        return self.depth == 0 or record.levelno >= logging.ERROR


_QUIET = _QuietFilter()


@contextmanager
def quiet_ultralytics():
    """Silence ultralytics' console chatter for the duration (errors still show)."""
    _QUIET.depth += 1
    try:
        yield
    finally:
        _QUIET.depth -= 1


def import_ultralytics():
    """Import the ultralytics parts we use, offline and without console output.

    The environment must be set before ultralytics' first import: it reads these
    variables once, at import time. A value the user set already is respected.
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(private_config_dir()))
    # A filter on the logger (set before import, kept by ultralytics' own set-up) hides the
    # "Creating new Ultralytics Settings" banner and training chatter, but only in our calls.
    logger = logging.getLogger("ultralytics")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    with quiet_ultralytics():
        from ultralytics.nn import tasks
    return tasks


# -- architecture --------------------------------------------------------------------------

def architecture(nc: int, width: float = 0.25, depth: float = 0.5) -> dict:
    """The YOLO11 detection config as plain data, scaled to ``width`` x ``depth``.

    Width 0.25 is YOLO11n; from scratch on a few frames 0.125 learns as well and trains
    about twice as fast on a CPU.
    """
    import yaml

    import_ultralytics()
    import ultralytics

    path = Path(ultralytics.__file__).parent / "cfg" / "models" / "11" / "yolo11.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["scales"] = {"n": [float(depth), float(width), 1024]}
    cfg["scale"] = "n"
    cfg["nc"] = int(nc)
    return cfg


def build_network(cfg: dict):
    """An ultralytics ``DetectionModel`` from a config dict, with loss gains attached."""
    from types import SimpleNamespace

    tasks = import_ultralytics()
    with quiet_ultralytics():
        net = tasks.DetectionModel(copy.deepcopy(cfg), nc=cfg["nc"], verbose=False)
    # v8DetectionLoss reads its gains from model.args (the Trainer puts its settings there).
    net.args = SimpleNamespace(**LOSS_GAINS)
    return net


def prior_for_input_size(net, size: tuple[int, int]) -> None:
    """Set the class-score prior of a fresh head for our input size.

    Ultralytics starts every class logit at "about 5 objects in a 640 x 640 image", which
    at ~160 px inputs is ~16x too pessimistic: scores then stay under any threshold for
    most of a short training run.
    """
    import torch

    head = net.model[-1]
    cells_per_level = [size[0] * size[1] / float(s) ** 2 for s in head.stride]
    with torch.no_grad():
        for branch, cells in zip(head.cv3, cells_per_level):
            branch[-1].bias[: head.nc] = math.log(2 / head.nc / cells)


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
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    smallest = max(float(np.percentile(sides, 10)), 1.0)
    scale = min_side / smallest
    return int(np.clip(math.ceil(max(w, h) * scale / 32) * 32, lo, hi))


def resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaged resize to ``(w, h)``: the same filter at training and prediction."""
    import cv2

    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)


def find_pretrained() -> Path | None:
    """A YOLO11n checkpoint already on disk (never downloaded), or None."""
    places = [private_config_dir().parent / "weights"]
    settings = Path(os.environ.get("YOLO_CONFIG_DIR", "")) / "Ultralytics" / "settings.json"
    if settings.exists():
        import json

        try:
            weights_dir = json.loads(settings.read_text()).get("weights_dir")
        except (OSError, ValueError):
            weights_dir = None
        if weights_dir:
            places.append(Path(weights_dir))
    for place in places:
        for name in PRETRAINED_NAMES:
            if (place / name).is_file():
                return place / name
    return None


def pretrained_state(path: Path) -> dict:
    """The float weights of an ultralytics ``.pt`` file, loaded without running its code."""
    tasks = import_ultralytics()
    with quiet_ultralytics():
        ckpt, _ = tasks.torch_safe_load(str(path), safe_only=True)
    model = ckpt.get("ema") or ckpt.get("model")
    if model is None:
        raise MMError(f"{path} holds no YOLO model weights")
    return {k: v.float() for k, v in model.state_dict().items()}


# -- augmentation --------------------------------------------------------------------------

class Augmenter:
    """Random batches of scaled, shifted, flipped and recoloured copies of a few images.

    Images are ``(N, 3, H, W)`` float tensors in 0..1; ``boxes[i]`` are ``(k, 5)`` arrays
    of ``class, x1, y1, x2, y2`` normalised to 0..1 (empty for negative frames).
    """

    def __init__(self, images, boxes: list[np.ndarray], generator, *, scale=(0.6, 1.5),
                 translate=0.25, flip=0.5, colour=0.25, min_visible=0.3):
        self.images = images
        self.boxes = boxes
        self.g = generator
        self.scale, self.translate, self.flip = scale, translate, flip
        self.colour, self.min_visible = colour, min_visible

    def _uniform(self, n, lo, hi):
        import torch

        return lo + (hi - lo) * torch.rand(n, generator=self.g, dtype=torch.float64)

    def batch(self, size: int) -> dict:
        import torch
        import torch.nn.functional as F

        n = len(self.images)
        pick = torch.randint(n, (size,), generator=self.g)
        s = torch.exp(self._uniform(size, math.log(self.scale[0]), math.log(self.scale[1])))
        tx = self._uniform(size, -self.translate, self.translate) * 2  # normalised -1..1 coords
        ty = self._uniform(size, -self.translate, self.translate) * 2
        f = torch.where(torch.rand(size, generator=self.g, dtype=torch.float64) < self.flip,
                        -1.0, 1.0).double()
        # Output point u maps to input point f * (u - t) / s (x), (u - t) / s (y).
        theta = torch.zeros(size, 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = f / s
        theta[:, 0, 2] = -f * tx / s
        theta[:, 1, 1] = 1 / s
        theta[:, 1, 2] = -ty / s
        src = self.images[pick] - GRAY  # so that zero padding comes out gray
        grid = F.affine_grid(theta.float(), list(src.shape), align_corners=False)
        img = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False) + GRAY
        img = self._recolour(img)

        idx, cls, xywh = [], [], []
        for j in range(size):
            b = self.boxes[int(pick[j])]
            if not len(b):
                continue
            sj, fj, txj, tyj = float(s[j]), float(f[j]), float(tx[j]), float(ty[j])
            # normalised 0..1 -> -1..1, transform, back to 0..1
            x = (b[:, [1, 3]] * 2 - 1) * sj * fj + txj
            y = (b[:, [2, 4]] * 2 - 1) * sj + tyj
            x1, x2 = (np.minimum(x[:, 0], x[:, 1]) + 1) / 2, (np.maximum(x[:, 0], x[:, 1]) + 1) / 2
            y1, y2 = (y[:, 0] + 1) / 2, (y[:, 1] + 1) / 2
            full = (x2 - x1) * (y2 - y1)
            cx1, cy1 = np.clip(x1, 0, 1), np.clip(y1, 0, 1)
            cx2, cy2 = np.clip(x2, 0, 1), np.clip(y2, 0, 1)
            seen = np.clip(cx2 - cx1, 0, None) * np.clip(cy2 - cy1, 0, None)
            # A box mostly pushed out of view is dropped; its sliver stays unlabelled.
            keep = seen >= self.min_visible * full
            for k in np.flatnonzero(keep):
                idx.append(j)
                cls.append(b[k, 0])
                xywh.append(((cx1[k] + cx2[k]) / 2, (cy1[k] + cy2[k]) / 2,
                             cx2[k] - cx1[k], cy2[k] - cy1[k]))
        return {
            "img": img,
            "batch_idx": torch.tensor(idx, dtype=torch.float32),
            "cls": torch.tensor(cls, dtype=torch.float32).view(-1, 1),
            "bboxes": torch.tensor(np.array(xywh, dtype=np.float32).reshape(-1, 4)),
        }

    def _recolour(self, img):
        import torch

        n = img.shape[0]
        c = self.colour
        bright = self._uniform(n, 1 - c, 1 + c).float().view(n, 1, 1, 1)
        contrast = self._uniform(n, 1 - c, 1 + c).float().view(n, 1, 1, 1)
        sat = self._uniform(n, 1 - 2 * c, 1 + 2 * c).float().view(n, 1, 1, 1)
        gray = img.mean(1, keepdim=True)
        img = gray + (img - gray) * sat
        mean = img.mean((1, 2, 3), keepdim=True)
        img = (img - mean) * contrast + mean
        return torch.clamp(img * bright, 0, 1)


def recalibrate_batchnorm(net, aug: Augmenter, device, batch: int, batches: int = 8) -> None:
    """Recompute BatchNorm statistics for the final weights from fresh augmented batches.

    The running statistics are averages over the whole (short) run with a slow momentum,
    so they still remember the random start and lag the averaged weights; in eval mode
    that shrinks every score. A few forward passes without gradients fix it.
    """
    import torch

    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    net.train()
    with torch.no_grad():
        for _ in range(batches):
            net(aug.batch(batch)["img"].to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    net.eval()


# -- the micro-model -----------------------------------------------------------------------

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
        ``weights_dir``), else train from scratch and warn once. A path: an mm_widgets model file or an
        ultralytics ``.pt`` to start from. ``None``: from scratch, silently.
    seed
        Seeds weight initialisation and augmentation: the same seed gives the same model.
    progress
        ``True`` (a tqdm line), ``False`` (silent), or a reporter with
        ``start``/``update``/``close`` (see :mod:`mm_widgets.models.progress`).
    init
        A fitted :class:`YoloMicroModel` to warm-start from (later retraining rounds).
    width
        Width multiplier of the network; ``"auto"``: 0.125 from scratch, 0.25 (YOLO11n)
        when starting from pretrained weights.
    batch, steps_per_epoch, lr
        Optimiser settings: AdamW with ``lr``, warm-up and cosine decay.
    patience
        Stop when the smoothed epoch loss has not improved by 1% for this many epochs.
    conf, iou, max_det
        Prediction defaults: confidence threshold, NMS IoU, boxes per frame. The NMS IoU
        is stricter than ultralytics' 0.7 because a micro-model's false positives are
        mostly second, looser boxes on the object it did find.
    callback
        Called as ``callback(model, epoch, loss)`` after every epoch (may raise
        ``KeyboardInterrupt`` to stop training, like Ctrl-C).
    """

    kind = "yolo"
    task = "boxes"

    def __init__(self, *, epochs="auto", imgsz="auto", device="auto", weights="auto", seed=0,
                 progress=True, init=None, width="auto", batch=16, steps_per_epoch=4,
                 lr=0.004, patience=8, conf=0.25, iou=0.5, max_det=100, callback=None):
        self.epochs = epochs
        self.imgsz = imgsz
        self.device = device
        self.weights = weights
        self.seed = seed
        self.progress = progress
        self.init = init
        self.width = width
        self.batch = batch
        self.steps_per_epoch = steps_per_epoch
        self.lr = lr
        self.patience = patience
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.callback = callback

    def __repr__(self) -> str:
        if not self.is_fitted:
            return "YoloMicroModel(unfitted)"
        w, h = self.input_size_
        return (f"YoloMicroModel(classes={self.classes_}, {w}x{h} input, {len(self.history_)} "
                f"epochs in {self.train_seconds_:.1f} s, trained on frames {self.domain_})")

    # -- fitting ------------------------------------------------------------------------------
    def _device(self):
        import torch

        if self.device in (None, "auto"):
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _training_set(self, frames, labels):
        """Looked-at frames and their boxes (frames without boxes are negatives)."""
        if getattr(labels, "task", "boxes") != "boxes":
            raise MMError("YoloMicroModel learns boxes; these labels hold frame classes")
        looked = sorted(set(labels.looked_at) | set(labels.frames))
        table = labels.df
        if table.empty:
            raise NoLabelsError(
                "no boxes to learn from: label at least one object (frames confirmed empty "
                "help only as negatives)"
            )
        classes = list(labels.classes)
        if self.init is not None:
            # Keep the old class ids stable so the warm-started head still means the same.
            classes = list(self.init.classes_) + [c for c in classes if c not in self.init.classes_]
        unknown = sorted(set(table["label"]) - set(classes))
        if unknown:
            raise UnknownClassError(f"labels use unknown class(es) {unknown}; known: {classes}")
        n = len(frames)
        outside = [f for f in looked if not 0 <= f < n]
        if outside:
            raise MMError(f"labelled frame(s) {outside[:5]} lie outside the {n} frames given")
        return looked, table, classes

    def _start_weights(self, nc: int):
        """(config, state dict or None, how it starts) for a new network with ``nc`` classes."""
        if self.init is not None:
            self.init.check_fitted()
            cfg = copy.deepcopy(self.init.cfg_)
            cfg["nc"] = nc
            return cfg, self.init.net_.state_dict(), "warm"
        weights = self.weights
        if weights is None or weights is False or weights == "scratch":
            return architecture(nc, 0.125 if self.width == "auto" else self.width), None, "scratch"
        if weights == "auto":
            found = find_pretrained()
            if found is None:
                warnings.warn(
                    "no pretrained YOLO weights on disk (and mm_widgets never downloads): "
                    "training a small YOLO from scratch. Pass weights='path/to/yolo11n.pt' to "
                    "start from pretrained weights, or weights=None to silence this.",
                    UserWarning, stacklevel=4)
                return architecture(nc, 0.125 if self.width == "auto" else self.width), None, "scratch"
            weights = found
        path = Path(weights)
        if not path.is_file():
            raise MMError(f"weights file not found: {path}")
        try:
            from ..checkpoints import read_checkpoint

            payload = read_checkpoint(path)
        except MMError:
            payload = None
        if payload is not None:
            if payload.get("kind") != "yolo":
                raise MMError(f"{path} is a {payload.get('kind')!r} model, not a YOLO one")
            cfg = copy.deepcopy(payload["cfg"])
            cfg["nc"] = nc
            return cfg, payload["state_dict"], "checkpoint"
        return architecture(nc, 0.25 if self.width == "auto" else self.width), pretrained_state(path), "pretrained"

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
        if self.init is not None and self.imgsz == "auto":
            size = tuple(self.init.input_size_)
            imgsz = max(size)
        else:
            imgsz = auto_imgsz(xyxy, frame_size) if self.imgsz == "auto" else int(self.imgsz)
            size = input_size(frame_size, imgsz)
        device = self._device()

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
            cfg, state, how = self._start_weights(len(classes))
            net = build_network(cfg)
            if state is not None:
                own = net.state_dict()
                usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
                net.load_state_dict(usable, strict=False)
            if how in ("scratch", "pretrained"):
                prior_for_input_size(net, size)
            net.to(device)
            g = torch.Generator().manual_seed(self.seed)
            tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
            aug = Augmenter(tensor, boxes, g)
            max_epochs = self._max_epochs(how)
            best_state, history, stop_reason = self._train(net, aug, device, max_epochs, how)

        net.load_state_dict(best_state)
        with torch.random.fork_rng(devices=[]):
            recalibrate_batchnorm(net, aug, device, self.batch)
        self.net_ = net
        self.cfg_ = cfg
        self.classes_ = classes
        self.history_ = history
        self.train_seconds_ = time.perf_counter() - started
        self.domain_ = list(looked)
        self.imgsz_ = int(max(size))
        self.input_size_ = (int(size[0]), int(size[1]))
        self.frame_size_ = (int(w), int(h))
        self.start_ = how
        self.stop_reason_ = stop_reason
        self.round_ = (self.init.round_ + 1) if self.init is not None else 0
        return self

    def _max_epochs(self, how: str) -> int:
        if self.epochs != "auto":
            if int(self.epochs) < 1:
                raise MMError(f"epochs must be >= 1, got {self.epochs}")
            return int(self.epochs)
        # Box edges keep sharpening long after the object is found: cap at 60 epochs from
        # scratch (the plateau rule stops earlier when the loss is flat).
        return {"scratch": 60, "pretrained": 30}.get(how, 20)

    def _train(self, net, aug, device, max_epochs: int, how: str):
        """The training loop: returns (best weights, loss per epoch, why it stopped)."""
        import torch

        decay, no_decay = [], []
        for name, p in net.named_parameters():
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
        lr = self.lr if how == "scratch" else self.lr / 2
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=lr, betas=(0.9, 0.999))
        total_steps = max_epochs * self.steps_per_epoch
        warmup = min(20, total_steps // 5) if how == "scratch" else 0

        def lr_at(step):
            if step < warmup:
                return lr * (step + 1) / warmup
            t = (step - warmup) / max(total_steps - warmup, 1)
            return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

        # An exponential moving average of the weights smooths out the noise of tiny
        # batches; it is what gets kept and used for prediction.
        ema = copy.deepcopy(net).eval()
        for p in ema.parameters():
            p.requires_grad_(False)

        reporter = as_progress(self.progress)
        reporter.start(max_epochs, "overfit YOLO")
        history: list[float] = []
        best_loss, best_state = math.inf, None
        smooth, best_smooth, since_best = None, math.inf, 0
        stop_reason = None
        started = time.perf_counter()
        step = 0
        try:
            with quiet_ultralytics():
                net.train()
                for epoch in range(1, max_epochs + 1):
                    total = 0.0
                    for _ in range(self.steps_per_epoch):
                        for group in opt.param_groups:
                            group["lr"] = lr_at(step)
                        batch = aug.batch(self.batch)
                        batch = {k: v.to(device) for k, v in batch.items()}
                        loss = self._step(net, opt, batch)
                        total += loss
                        step += 1
                        d = min(0.9, (1 + step) / (10 + step))
                        with torch.no_grad():
                            for e, v in zip(ema.state_dict().values(), net.state_dict().values()):
                                if e.dtype.is_floating_point:
                                    e.mul_(d).add_(v.detach(), alpha=1 - d)
                                else:
                                    e.copy_(v)
                    epoch_loss = total / self.steps_per_epoch
                    history.append(epoch_loss)
                    if epoch_loss < best_loss:
                        best_loss = epoch_loss
                        best_state = {k: v.detach().clone() for k, v in ema.state_dict().items()}
                    reporter.update(epoch, epoch_loss, time.perf_counter() - started)
                    if self.callback is not None:
                        self.callback(self, epoch, epoch_loss)
                    # Plateau: the smoothed loss has not improved by 1% for `patience` epochs.
                    smooth = epoch_loss if smooth is None else 0.7 * smooth + 0.3 * epoch_loss
                    if smooth < 0.99 * best_smooth:
                        best_smooth, since_best = smooth, 0
                    else:
                        since_best += 1
                    if self.epochs == "auto" and since_best >= self.patience:
                        stop_reason = f"loss plateaued after {epoch} epochs"
                        break
        except KeyboardInterrupt:
            stop_reason = f"interrupted after {len(history)} epochs"
            warnings.warn(f"training {stop_reason}: keeping the best model so far",
                          UserWarning, stacklevel=3)
        finally:
            reporter.close(stop_reason)
        if best_state is None:  # interrupted before one epoch finished
            best_state = {k: v.detach().clone() for k, v in ema.state_dict().items()}
        return best_state, history, stop_reason or "reached the epoch maximum"

    @staticmethod
    def _step(net, opt, batch) -> float:
        """One optimiser step; returns the loss per image."""
        import torch

        loss, _ = net.loss(batch)
        loss = loss.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=10.0)
        opt.step()
        return float(loss.detach()) / batch["img"].shape[0]

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, frames, indices: Sequence[int] | None = None, conf: float | None = None,
                *, batch: int = 32, temporal="auto") -> pd.DataFrame:
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

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, x1, y1, x2, y2, label, score, source, round``, ``source="model"``.
        """
        import torch

        self.check_fitted()
        conf = self.conf if conf is None else float(conf)
        indices = list(range(len(frames))) if indices is None else [int(i) for i in indices]
        rows: list[tuple] = []
        device = next(self.net_.parameters()).device
        with torch.inference_mode(), quiet_ultralytics():
            for start in range(0, len(indices), batch):
                chunk = indices[start:start + batch]
                arrays = [np.asarray(frames[i]) for i in chunk]
                x = torch.from_numpy(np.stack([resize(a, self.input_size_) for a in arrays]))
                x = x.to(device).permute(0, 3, 1, 2).float().div_(255)
                out = self.net_(x)
                out = out[0] if isinstance(out, (tuple, list)) else out
                for i, a, det in zip(chunk, arrays, self._nms(out, conf)):
                    sx, sy = a.shape[1] / self.input_size_[0], a.shape[0] / self.input_size_[1]
                    for x1, y1, x2, y2, score, k in det.tolist():
                        rows.append((i, max(x1 * sx, 0.0), max(y1 * sy, 0.0),
                                     min(x2 * sx, float(a.shape[1])),
                                     min(y2 * sy, float(a.shape[0])),
                                     self.classes_[int(k)], score, "model", self.round_))
        df = pd.DataFrame(rows, columns=BOX_COLUMNS)
        df = df.astype({"frame": np.int64, "x1": float, "y1": float, "x2": float, "y2": float,
                        "score": float, "round": np.int64, "label": object, "source": object})
        df = df[(df.x2 > df.x1) & (df.y2 > df.y1)].reset_index(drop=True)
        if temporal_wanted(temporal, frames):
            df = smooth_predictions(df, predicted=indices)
        return df

    def _nms(self, out, conf: float):
        """Per image: ``(n, 6)`` tensors of x1, y1, x2, y2, score, class after NMS.

        torchvision's NMS rather than ultralytics': the latter stops early under a time
        limit, which would make predictions depend on how busy the machine is.
        """
        import torch
        from torchvision.ops import batched_nms

        nc = len(self.classes_)
        results = []
        for p in out.transpose(1, 2):  # (anchors, 4 + nc)
            xywh, scores = p[:, :4], p[:, 4:4 + nc]
            score, k = scores.max(1)
            keep = score > conf
            xywh, score, k = xywh[keep], score[keep], k[keep]
            xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
            order = batched_nms(xyxy, score, k, self.iou)[: self.max_det]
            results.append(torch.cat([xyxy[order], score[order, None], k[order, None].float()], 1))
        return results

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write weights and plain data (no pickled code) to ``path``; see ``MicroModel.load``."""
        from ..checkpoints import write_checkpoint

        self.check_fitted()
        payload = {
            "kind": self.kind,
            "format": FORMAT_VERSION,
            "cfg": copy.deepcopy(self.cfg_),
            "state_dict": {k: v.detach().cpu() for k, v in self.net_.state_dict().items()},
            "classes": list(self.classes_),
            "history": [float(v) for v in self.history_],
            "train_seconds": float(self.train_seconds_),
            "domain": [int(f) for f in self.domain_],
            "imgsz": int(self.imgsz_),
            "input_size": list(self.input_size_),
            "frame_size": list(self.frame_size_),
            "start": self.start_,
            "stop_reason": self.stop_reason_,
            "round": int(self.round_),
            "settings": {"conf": float(self.conf), "iou": float(self.iou),
                         "max_det": int(self.max_det), "seed": int(self.seed)},
        }
        return write_checkpoint(path, payload)

    @classmethod
    def _from_checkpoint(cls, payload: dict) -> YoloMicroModel:
        if payload.get("format", 0) > FORMAT_VERSION:
            raise MMError(f"this YOLO model file is format {payload['format']}; this mm_widgets "
                          f"reads up to {FORMAT_VERSION}: upgrade mm_widgets")
        model = cls(progress=False, **payload.get("settings", {}))
        net = build_network(payload["cfg"])
        net.load_state_dict(payload["state_dict"])
        net.eval()
        model.net_ = net
        model.cfg_ = payload["cfg"]
        model.classes_ = list(payload["classes"])
        model.history_ = list(payload["history"])
        model.train_seconds_ = float(payload["train_seconds"])
        model.domain_ = list(payload["domain"])
        model.imgsz_ = int(payload["imgsz"])
        model.input_size_ = tuple(payload["input_size"])
        model.frame_size_ = tuple(payload["frame_size"])
        model.start_ = payload.get("start", "checkpoint")
        model.stop_reason_ = payload.get("stop_reason")
        model.round_ = int(payload.get("round", 0))
        return model
