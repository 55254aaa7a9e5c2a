"""Frame-classification micro-model: a small timm backbone trained with plain torch.

The labelled frames are decoded once, downscaled and cached as tensors; an epoch repeats
them (class-balanced, lightly augmented) so the optimiser takes several steps even with
five labels, and training stops when the loss plateaus. BatchNorm statistics are then
re-estimated on the labelled frames as they are (each once, unaugmented). Nothing touches the network:
pretrained weights are used only when they already sit in a local cache, otherwise the
backbone is trained from scratch and a plain line says so, once per session.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LabelError, MMError, NoLabelsError, UnknownClassError
from ..labels import CLASS_COLUMNS, LabelSet
from .base import MicroModel, register_model, weights_choice
from .progress import notice
from .training import Plateau, copy_weights, resolve_device, train

#: Backbone used for ``backbone="auto"``: the smallest timm ResNet, which learns a scene
#: from a handful of frames from scratch in seconds on two CPU cores.
DEFAULT_BACKBONE = "resnet10t"
#: Longer side, in pixels, of the frames fed to the network for ``imgsz="auto"``; whole
#: frame scene classes need layout and colour, not fine detail.
DEFAULT_IMGSZ = 128
MAX_AUTO_EPOCHS = 60
MIN_AUTO_EPOCHS = 3
#: ``epochs="auto"`` stops once the epoch loss is below this ...
LOSS_FLOOR = 0.02
#: ... or has not improved by ``PLATEAU_GAIN`` (relative) for ``PATIENCE`` epochs.
PATIENCE = 5
PLATEAU_GAIN = 0.05
#: Every epoch shows the network at least this many (augmented) samples.
MIN_SAMPLES_PER_EPOCH = 64
PREDICT_BATCH = 64
# ImageNet statistics: what pretrained timm weights expect; harmless from scratch.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CHECKPOINT_FORMAT = 1


@register_model("timm")
class TimmMicroModel(MicroModel):
    """Classify whole frames with a small timm backbone overfit to a few labelled frames.

    Parameters
    ----------
    backbone
        A timm model name, or ``"auto"`` (``resnet10t``).
    epochs
        Number of epochs, or ``"auto"``: up to 60, stopping when the loss plateaus.
    imgsz
        Longer side of the network input in pixels (the frame's aspect ratio is kept),
        or ``"auto"`` (128; a warm start keeps the size of the model it starts from).
    batch_size
        Samples per optimiser step, or ``"auto"`` (16).
    lr
        AdamW learning rate, or ``"auto"`` (2e-3 from scratch, 1e-3 when starting from
        pretrained or previous weights).
    device
        ``"cpu"``, ``"cuda"``, ... or ``"auto"`` (CUDA when available, else CPU).
    weights
        ``"auto"``: pretrained timm weights if already cached on disk, otherwise from
        scratch (said once per session); ``"scratch"`` or ``None``: from scratch, no
        warning; ``"pretrained"``: cached pretrained weights or an error; a path: an
        mm_widgets model file written by :meth:`save`, or a timm/torch weights file.
    seed
        Seeds weight initialisation, sampling and augmentation: same seed, same model.
    progress
        ``True``: one tqdm progress line while training; ``False``: silent; or a reporter
        with ``start(total, desc)``, ``update(epoch, loss, seconds)`` and
        ``close(message)`` (see :mod:`mm_widgets.models.progress`).
    warm_start
        A fitted :class:`TimmMicroModel` to start from (its backbone weights, and its
        classifier rows for the classes both models share).
    on_epoch
        Called as ``on_epoch(epoch, loss)`` after every epoch (``epoch`` counts from 1);
        the hook for notebook progress displays. Raising ``KeyboardInterrupt`` in it
        stops training like Ctrl-C does.

    Attributes
    ----------
    classes_ : list of str
        Class names, in the order of the network's outputs.
    history_ : list of float
        Mean training loss of every finished epoch.
    train_seconds_ : float
        Wall-clock seconds ``fit`` took, decoding the labelled frames included.
    domain_ : list of int
        Indices of the frames the model was trained on.
    """

    task = "classes"

    def __init__(self, backbone: str = "auto", epochs: int | str = "auto",
                 imgsz: int | str = "auto", batch_size: int | str = "auto",
                 lr: float | str = "auto", device: str = "auto", weights: str | Path | None = "auto",
                 seed: int = 0, progress: bool = True, warm_start: TimmMicroModel | None = None,
                 on_epoch: Callable[[int, float], object] | None = None):
        self.backbone = backbone
        self.epochs = epochs
        self.imgsz = imgsz
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.weights = weights
        self.seed = seed
        self.progress = progress
        self.warm_start = warm_start
        self.on_epoch = on_epoch

    # -- training --------------------------------------------------------------------------
    def fit(self, frames, labels: LabelSet | pd.DataFrame) -> TimmMicroModel:
        """Train on the frames of ``labels`` that have a class.

        Parameters
        ----------
        frames
            A :class:`~mm_widgets.data.Frames` (anything indexable giving RGB arrays).
        labels
            A :class:`~mm_widgets.labels.LabelSet` with ``task="classes"`` (or a table
            with ``frame, label`` columns).

        Returns
        -------
        TimmMicroModel
            ``self``, trained. Ctrl-C (``KeyboardInterrupt``) after the first epoch stops
            training with a warning and keeps the lowest-loss weights so far.

        Raises
        ------
        NoLabelsError
            No frame has a class.
        UnknownClassError
            A frame's class is not one of ``labels.classes``.
        """
        import torch

        start = time.perf_counter()
        labels = self._check_labels(labels)
        classes = list(labels.classes)
        domain = labels.frames
        targets = [classes.index(labels.frame_class(f)) for f in domain]
        device = resolve_device(self.device)
        warm_payload = self._warm_payload()
        backbone = self._resolve_backbone(warm_payload)
        size = self._resolve_size(frames, warm_payload)

        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG alone
            torch.manual_seed(int(self.seed))
            net, started_from = _build_net(backbone, len(classes), self.weights, warm_payload,
                                           classes)
        net.to(device)
        images = _frames_to_tensor(frames, domain, size)  # uint8, N x 3 x H x W, on CPU
        y = torch.as_tensor(targets, dtype=torch.long)

        batch = 16 if self.batch_size == "auto" else int(self.batch_size)
        lr = (2e-3 if started_from == "scratch" else 1e-3) if self.lr == "auto" else float(self.lr)
        auto = self.epochs == "auto"
        max_epochs = MAX_AUTO_EPOCHS if auto else int(self.epochs)
        if max_epochs < 1:
            raise MMError(f"epochs must be >= 1 or 'auto', got {self.epochs!r}")
        samples = max(MIN_SAMPLES_PER_EPOCH, len(domain))
        samples = math.ceil(samples / batch) * batch
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
        gen = torch.Generator().manual_seed(int(self.seed))
        mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
        std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255

        def batches(epoch):
            order = _balanced_order(targets, len(classes), samples, gen)
            for s in range(0, samples, batch):
                idx = order[s:s + batch]
                xb = (_augment(images[idx], gen).to(device).float() - mean) / std
                yield xb, y[idx].to(device)

        def loss(net, batch):
            xb, yb = batch
            value = torch.nn.functional.cross_entropy(net(xb), yb)
            return value, float(value.detach())

        def bn_batches():
            # BatchNorm statistics of the kept weights, re-estimated on the labelled frames
            # themselves, each once, unaugmented. The running statistics of class-balanced,
            # augmented batches (a one-frame class is a quarter of every batch) misled the
            # predictions: megamind's warm-started round 2 classified its own training frames
            # 63% right and unseen ones 65%; re-estimated, 100% and 100%.
            for s in range(0, len(domain), batch):
                yield (images[s:s + batch].to(device).float() - mean) / std

        result = train(
            net, opt, batches=batches, loss=loss, epochs=max_epochs,
            plateau=Plateau(patience=PATIENCE, min_gain=PLATEAU_GAIN, smoothing=1.0,
                            min_epochs=MIN_AUTO_EPOCHS, floor=LOSS_FLOOR) if auto else None,
            bn_batches=bn_batches, progress=self.progress, on_epoch=self.on_epoch,
            desc=f"training {backbone} on {len(domain)} frames")

        self.net_ = net
        self.backbone_ = backbone
        self.input_size_ = size
        self.started_from_ = started_from
        self.stop_reason_ = result.stop_reason
        self.classes_ = classes
        self.history_ = result.history
        self.domain_ = list(domain)
        self.train_seconds_ = time.perf_counter() - start
        return self

    def _check_labels(self, labels) -> LabelSet:
        if isinstance(labels, pd.DataFrame):
            labels = LabelSet.from_df(labels)
        if not isinstance(labels, LabelSet):
            raise LabelError(f"labels must be a LabelSet or a DataFrame, got {type(labels).__name__}")
        if labels.task != "classes":
            raise LabelError(
                f"a timm micro-model classifies whole frames, but these labels are {labels.task!r}; "
                "use model kind 'yolo' for boxes")
        if not labels.frames:
            raise NoLabelsError(
                "no frame has a class yet: label at least one frame (set_class) before training")
        for f in labels.frames:
            name = labels.frame_class(f)
            if name not in labels.classes:
                raise UnknownClassError(
                    f"frame {f} has class {name!r}, which is not one of the label set's "
                    f"classes {labels.classes}")
        return labels

    def _warm_payload(self) -> dict | None:
        """Weights to start from: ``warm_start``, or an mm_widgets file given as ``weights``."""
        if self.warm_start is not None:
            if not isinstance(self.warm_start, TimmMicroModel):
                raise MMError(f"warm_start must be a fitted TimmMicroModel, got "
                              f"{type(self.warm_start).__name__}")
            self.warm_start.check_fitted()
            return self.warm_start._payload()
        if isinstance(weights_choice(self.weights), Path):
            from ..checkpoints import read_checkpoint

            path = Path(self.weights)
            if not path.exists():
                raise MMError(f"weights file not found: {path}")
            try:
                payload = read_checkpoint(path)
            except MMError:
                return None  # not ours: a plain timm/torch weights file, loaded by timm
            if payload.get("kind") != "timm":
                raise MMError(f"{path} holds a {payload.get('kind')!r} model, not a timm classifier")
            return payload
        return None

    def _resolve_backbone(self, warm_payload: dict | None) -> str:
        if warm_payload is not None:
            if self.backbone not in ("auto", warm_payload["backbone"]):
                raise MMError(
                    f"cannot warm-start a {self.backbone!r} backbone from a "
                    f"{warm_payload['backbone']!r} model")
            return warm_payload["backbone"]
        return DEFAULT_BACKBONE if self.backbone == "auto" else str(self.backbone)

    def _resolve_size(self, frames, warm_payload: dict | None) -> tuple[int, int]:
        """Network input ``(height, width)``: aspect ratio kept, multiples of 8, >= 32."""
        if self.imgsz == "auto" and warm_payload is not None:
            return tuple(warm_payload["input_size"])
        side = DEFAULT_IMGSZ if self.imgsz == "auto" else int(self.imgsz)
        if side < 32:
            raise MMError(f"imgsz must be at least 32 pixels, got {self.imgsz!r}")
        w, h = _frame_size(frames)
        scale = side / max(w, h)
        return (max(32, round(h * scale / 8) * 8), max(32, round(w * scale / 8) * 8))

    # -- prediction ----------------------------------------------------------------------
    def predict_proba(self, frames, indices: Sequence[int] | None = None) -> pd.DataFrame:
        """Class probabilities: one row per frame (index ``frame``), one column per class.

        Parameters
        ----------
        frames
            The frames to classify.
        indices
            Which frames; default all of them.
        """
        self.check_fitted()
        idx, probs = self._probabilities(frames, indices)
        df = pd.DataFrame(probs, columns=list(self.classes_),
                          index=pd.Index(np.asarray(idx, dtype=np.int64), name="frame"))
        return df

    def predict(self, frames, indices: Sequence[int] | None = None) -> pd.DataFrame:
        """The most probable class of each frame, as LabelSet columns.

        Parameters
        ----------
        frames
            The frames to classify.
        indices
            Which frames; default all of them.

        Returns
        -------
        pandas.DataFrame
            Columns ``frame, label, score, source, round``; ``score`` is the softmax
            probability of ``label``, ``source`` is ``"model"``, ``round`` is 0.
        """
        self.check_fitted()
        idx, probs = self._probabilities(frames, indices)
        best = probs.argmax(axis=1) if len(idx) else np.zeros(0, dtype=np.int64)
        df = pd.DataFrame({
            "frame": np.asarray(idx, dtype=np.int64),
            "label": [self.classes_[k] for k in best],
            "score": probs[np.arange(len(idx)), best].astype(float),
            "source": "model",
            "round": np.zeros(len(idx), dtype=np.int64),
        }, columns=CLASS_COLUMNS)
        return df

    def _probabilities(self, frames, indices) -> tuple[list[int], np.ndarray]:
        import torch

        idx = list(range(len(frames))) if indices is None else [int(i) for i in indices]
        net = self.net_
        device = next(net.parameters()).device
        mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
        std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
        out = []
        net.eval()
        with torch.inference_mode():
            for s in range(0, len(idx), PREDICT_BATCH):
                xb = _frames_to_tensor(frames, idx[s:s + PREDICT_BATCH], self.input_size_)
                xb = (xb.to(device).float() - mean) / std
                out.append(torch.softmax(net(xb).float(), dim=1).cpu().numpy())
        probs = np.concatenate(out) if out else np.zeros((0, len(self.classes_)), np.float32)
        return idx, probs

    # -- files ---------------------------------------------------------------------------
    def _payload(self) -> dict:
        """Plain data only (tensors, numbers, strings, lists, dicts): loads with weights_only."""
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in self._plain_settings().items()}
        return {
            "kind": "timm",
            "format": CHECKPOINT_FORMAT,
            "settings": settings,
            "backbone": self.backbone_,
            "input_size": list(self.input_size_),
            "classes": list(self.classes_),
            "history": [float(v) for v in self.history_],
            "train_seconds": float(self.train_seconds_),
            "domain": [int(f) for f in self.domain_],
            "started_from": self.started_from_,
            "stop_reason": self.stop_reason_,
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.net_.state_dict().items()},
        }

    def _plain_settings(self) -> dict:
        # warm_start, on_epoch and a progress reporter are live Python objects: a file keeps only
        # what it can hold.
        keys = ("backbone", "epochs", "imgsz", "batch_size", "lr", "device", "weights", "seed")
        return {**{k: getattr(self, k) for k in keys}, "progress": self.progress not in (False, None)}

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` (weights and plain data; no pickled code).

        Parameters
        ----------
        path
            File to write (atomically); read it back with ``MicroModel.load(path)``.
        """
        from ..checkpoints import write_checkpoint

        self.check_fitted()
        return write_checkpoint(path, self._payload())

    @classmethod
    def _from_checkpoint(cls, payload: dict) -> TimmMicroModel:
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise MMError(f"unsupported timm model file format {payload.get('format')!r}")
        model = cls(**payload.get("settings", {}))
        net = _create_net(payload["backbone"], len(payload["classes"]))
        net.load_state_dict(payload["state_dict"])
        net.eval()
        model.net_ = net
        model.backbone_ = payload["backbone"]
        model.input_size_ = tuple(payload["input_size"])
        model.started_from_ = {"init": "warm_start"}.get(payload.get("started_from"),
                                                         payload.get("started_from", "scratch"))
        model.stop_reason_ = payload.get("stop_reason")
        model.classes_ = list(payload["classes"])
        model.history_ = list(payload["history"])
        model.train_seconds_ = float(payload["train_seconds"])
        model.domain_ = list(payload["domain"])
        return model

    def __repr__(self) -> str:
        state = (f"{len(self.classes_)} classes, {len(self.domain_)} frames, "
                 f"{len(self.history_)} epochs" if self.is_fitted else "not fitted")
        return f"TimmMicroModel({self.backbone!r}, {state})"


# -- private pieces ------------------------------------------------------------------------
def _frame_size(frames) -> tuple[int, int]:
    if hasattr(frames, "size") and not callable(frames.size):
        return tuple(frames.size)
    h, w = np.asarray(frames[0]).shape[:2]
    return (w, h)


def _frames_to_tensor(frames, indices: Sequence[int], size: tuple[int, int]):
    """Decode ``indices`` and resize (antialiased) to ``size``: a uint8 N x 3 x H x W tensor."""
    import torch

    out = torch.empty((len(indices), 3, *size), dtype=torch.uint8)
    for k, i in enumerate(indices):
        x = torch.from_numpy(np.ascontiguousarray(frames[int(i)])).permute(2, 0, 1)[None].float()
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True,
                                            align_corners=False)
        out[k] = x[0].round_().clamp_(0, 255).to(torch.uint8)
    return out


def _balanced_order(targets: Sequence[int], n_classes: int, samples: int, gen):
    """``samples`` training indices, each labelled class equally often, shuffled."""
    import torch

    by_class = [[i for i, t in enumerate(targets) if t == c] for c in range(n_classes)]
    by_class = [m for m in by_class if m]
    per_class = math.ceil(samples / len(by_class))
    picks = []
    for members in by_class:
        reps = math.ceil(per_class / len(members))
        pool = torch.as_tensor(members * reps)
        picks.append(pool[torch.randperm(len(pool), generator=gen)[:per_class]])
    order = torch.cat(picks)
    return order[torch.randperm(len(order), generator=gen)][:samples]


def _augment(x, gen):
    """Light augmentation of a uint8 batch: shift (reflect-padded), mirror, brightness, contrast."""
    import torch

    n, _, h, w = x.shape
    pad = max(2, min(h, w) // 12)
    padded = torch.nn.functional.pad(x.float(), (pad, pad, pad, pad), mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.stack([padded[k, :, dy[k]:dy[k] + h, dx[k]:dx[k] + w] for k in range(n)])
    out[flip] = out[flip].flip(-1)
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.4   # contrast +-20%
    bias = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.2 * 255  # brightness +-10%
    mid = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mid) * gain + mid + bias).clamp(0, 255)


def _create_net(backbone: str, n_classes: int, **kwargs):
    import timm

    try:
        return timm.create_model(backbone, pretrained=kwargs.pop("pretrained", False),
                                 num_classes=n_classes, **kwargs)
    except RuntimeError as e:
        if "Unknown model" in str(e):
            raise MMError(f"unknown timm backbone {backbone!r}") from None
        raise


def _cached_pretrained_file(backbone: str) -> str | None:
    """The backbone's pretrained weights if a previous download left them on disk, else None.

    Looks in the Hugging Face hub cache and torch hub's checkpoint folder only; never
    downloads.
    """
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(backbone)
    except RuntimeError:
        return None
    if cfg is None:
        return None
    cfg = cfg.to_dict()
    if cfg.get("hf_hub_id"):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            names = [cfg["hf_hub_filename"]] if cfg.get("hf_hub_filename") else [
                "model.safetensors", "pytorch_model.bin"]
            for name in names:
                found = try_to_load_from_cache(cfg["hf_hub_id"], name)
                if isinstance(found, str) and os.path.exists(found):
                    return found
    if cfg.get("url"):
        import torch

        found = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(cfg["url"]))
        if os.path.exists(found):
            return found
    return None


def _build_net(backbone: str, n_classes: int, weights, warm_payload: dict | None,
               classes: list[str]):
    """The network to train and where its starting weights came from."""
    if warm_payload is not None:
        net = _create_net(backbone, n_classes)
        head = net.get_classifier()
        head_names = tuple(n + "." for n, m in net.named_modules() if m is head)
        copy_weights(net, warm_payload["state_dict"], old_classes=list(warm_payload["classes"]),
                     classes=classes, is_head=lambda name: name.startswith(head_names))
        return net, "warm_start"
    weights = weights_choice(weights)
    if isinstance(weights, Path):  # a timm/torch weights file (ours were handled above)
        return _create_net(backbone, n_classes, pretrained=True,
                           pretrained_cfg_overlay={"file": str(weights)}), "file"
    if weights == "scratch":
        return _create_net(backbone, n_classes), "scratch"
    cached = _cached_pretrained_file(backbone)
    if cached is not None:
        return _create_net(backbone, n_classes, pretrained=True,
                           pretrained_cfg_overlay={"file": cached}), "pretrained"
    if weights == "pretrained":
        raise MMError(f"no pretrained weights for {backbone!r} in the local cache, and "
                      "mm_widgets never downloads at run time; pass weights='scratch' or a file")
    notice(f"No pretrained {backbone!r} weights on this machine (mm_widgets never downloads): "
           "training the classifier from scratch.")
    return _create_net(backbone, n_classes), "scratch"
