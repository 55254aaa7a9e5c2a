"""Ultralytics' YOLO network, imported offline and quiet, built from plain config data.

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
from contextlib import contextmanager
from pathlib import Path

from ..errors import MMError

LOSS_GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}  # ultralytics' default loss weights
PRETRAINED_NAMES = ("yolo11n.pt",)


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

#: Ultralytics' YOLO11 config file for each task a YOLO micro-model learns.
CONFIGS = {"boxes": "yolo11.yaml", "masks": "yolo11-seg.yaml"}


def architecture(nc: int, width: float = 0.25, depth: float = 0.5, task: str = "boxes") -> dict:
    """The YOLO11 config for ``task`` (detection for boxes, segmentation for masks) as
    plain data, scaled to ``width`` x ``depth``.

    Width 0.25 is YOLO11n; from scratch on a few frames 0.125 learns as well and trains
    about twice as fast on a CPU.
    """
    import yaml

    import_ultralytics()
    import ultralytics

    if task not in CONFIGS:
        raise MMError(f"no YOLO network for task {task!r}; known: {sorted(CONFIGS)}")
    path = Path(ultralytics.__file__).parent / "cfg" / "models" / "11" / CONFIGS[task]
    cfg = yaml.safe_load(path.read_text())
    cfg["scales"] = {"n": [float(depth), float(width), 1024]}
    cfg["scale"] = "n"
    cfg["nc"] = int(nc)
    return cfg


def is_segmentation(cfg: dict) -> bool:
    """Whether a YOLO config's last layer is a ``Segment`` head (masks), not ``Detect``."""
    return cfg["head"][-1][2] == "Segment"


def build_network(cfg: dict):
    """An ultralytics ``DetectionModel`` from a config dict (a ``SegmentationModel`` when
    its head is ``Segment``), with loss gains attached."""
    from types import SimpleNamespace

    tasks = import_ultralytics()
    kind = tasks.SegmentationModel if is_segmentation(cfg) else tasks.DetectionModel
    with quiet_ultralytics():
        net = kind(copy.deepcopy(cfg), nc=cfg["nc"], verbose=False)
    # v8DetectionLoss reads its gains from model.args (the Trainer puts its settings there);
    # v8SegmentationLoss also whether masks come one per instance (False: what we give it,
    # (instances, h, w) in batch order) or as one index image per image.
    net.args = SimpleNamespace(**LOSS_GAINS, overlap_mask=False)
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


def _yolo_classes(module: str, name: str) -> bool:
    """What a YOLO checkpoint may name: torch's modules, tensors and storages, ultralytics'
    network blocks and model classes, an ordered dict and a set (never a function that
    loads, imports or runs something)."""
    if module == "collections":
        return name == "OrderedDict"
    if module in ("builtins", "__builtin__"):
        return name in ("set", "frozenset", "slice")
    if module == "torch._utils":
        return name.startswith("_rebuild_")
    if module == "torch":
        return name.endswith("Storage") or name in ("Size", "device", "dtype") or name in _dtype_names()
    if module.startswith(("torch.nn.modules.", "ultralytics.nn.modules.")):
        return name[:1].isupper()
    if module == "torch.nn.parameter":
        return name == "Parameter"
    if module == "ultralytics.nn.tasks":
        return name.endswith("Model")
    return False


def _dtype_names() -> set[str]:
    import torch

    return {k for k, v in vars(torch).items() if isinstance(v, torch.dtype)}


def pretrained_state(path: Path) -> dict:
    """The float weights of an ultralytics ``.pt`` file, loaded without running its code.

    Whatever the torch and ultralytics versions: the file's pickle is first walked without
    loading anything and refused if it names more than network classes and tensors; then
    ultralytics loads it with ``weights_only`` (an ultralytics or torch too old for that is
    refused, not used to load it another way)."""
    from ..checkpoints import refuse_code

    refuse_code(path, _yolo_classes)
    tasks = import_ultralytics()
    safe = getattr(tasks, "_SafeLoad", None)
    if safe is None or not getattr(safe, "SUPPORTED", False):
        raise MMError(f"{path}: this ultralytics or torch cannot load YOLO weights without "
                      "running code from the file; refused (upgrade them, or start from scratch)")
    try:
        with quiet_ultralytics():
            ckpt, _ = tasks.torch_safe_load(str(path), safe_only=True)
    except Exception as e:  # noqa: BLE001 - ultralytics says TypeError, torch UnpicklingError...
        raise MMError(f"{path} is not a YOLO weights file ultralytics can read safely "
                      f"({type(e).__name__}: {str(e)[:150]})") from e
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else None
    if model is None:
        raise MMError(f"{path} holds no YOLO model weights")
    return {k: v.float() for k, v in model.state_dict().items()}
