"""The MicroModel protocol and the registry of model kinds.

A micro-model follows scikit-learn's manners: settings in ``__init__`` stored as given,
data in :meth:`MicroModel.fit` which returns ``self``, learned state with a trailing
underscore, and :meth:`MicroModel.predict` refusing a model that was never fitted.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from ..errors import MMError, NotFittedError, ProjectError
from ..project import register_model_reader

#: name -> "module:Class" (imported on first use, so registering costs nothing)
MODEL_KINDS: dict[str, str | type] = {
    "yolo": "mm_widgets.models.detector:YoloMicroModel",
    "timm": "mm_widgets.models.classifier:TimmMicroModel",
    "yolo-seg": "mm_widgets.models.segmenter:YoloMaskMicroModel",
    "interpolate": "mm_widgets.interpolate:InterpolationModel",
}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator: make a MicroModel kind available by ``name``."""

    def wrap(cls: type) -> type:
        MODEL_KINDS[name] = cls
        cls.kind = name
        return cls

    return wrap


def model_class(name: str) -> type:
    entry = MODEL_KINDS.get(name)
    if entry is None:
        raise MMError(f"unknown model kind {name!r}; known: {sorted(MODEL_KINDS)}")
    if isinstance(entry, str):
        module, cls_name = entry.split(":")
        entry = getattr(importlib.import_module(module), cls_name)
        MODEL_KINDS[name] = entry
    return entry


#: What ``weights=`` may say besides a file path, for every model kind.
WEIGHTS_CHOICES = ("auto", "pretrained", "scratch", "headstart")


def weights_choice(weights) -> str | Path:
    """``weights=`` normalised: ``"auto"``, ``"pretrained"``, ``"scratch"`` (``None`` says the
    same), ``"headstart"`` (box models: the package's own pretrained start, see
    :mod:`~mm_widgets.models.headstart`) or a ``Path`` to a weights file."""
    if weights is None or weights is False:
        return "scratch"
    if isinstance(weights, str) and weights in WEIGHTS_CHOICES:
        return weights
    if isinstance(weights, (str, Path)):
        return Path(weights)
    raise MMError(f"weights must be one of {WEIGHTS_CHOICES}, None or a file path; got {weights!r}")


def make_model(name: str, **settings) -> MicroModel:
    """A new, unfitted micro-model of the kind registered as ``name``."""
    return model_class(name)(**settings)


class MicroModel:
    """Base of every micro-model kind.

    Learned attributes (set by ``fit`` or ``load``): ``classes_`` (class names),
    ``history_`` (training loss per epoch), ``train_seconds_``, ``domain_`` (the frame
    indices it was trained for, or a description of them).
    """

    kind = "base"
    task = "boxes"  # or "classes"
    #: What ``_from_checkpoint`` gets a model file's tensors as: ``"torch"`` tensors, or
    #: ``"numpy"`` arrays (the file is then read without importing torch).
    file_tensors = "torch"

    def fit(self, frames, labels) -> MicroModel:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, frames, indices: Sequence[int] | None = None) -> pd.DataFrame:  # pragma: no cover
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path) -> MicroModel:
        """Load any registered kind from a file written by ``save`` (weights only, no code)."""
        from ..checkpoints import read_checkpoint, torch_tensors

        payload = read_checkpoint(path, tensors="numpy")
        kind = payload.get("kind")
        maker = model_class(kind)
        if maker.file_tensors == "torch":
            payload = torch_tensors(payload)
        try:
            return maker._from_checkpoint(payload)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            raise ProjectError(f"{path} is not a whole {kind!r} model file ({type(e).__name__}: "
                               f"{str(e)[:120]})") from e
        except MMError as e:  # a refusal that could not name the file: only this knows it
            raise type(e)(f"{path}: {e}") from e

    @classmethod
    def _from_checkpoint(cls, payload: dict) -> MicroModel:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "classes_")

    def check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not trained yet: call fit(frames, labels) "
                "or MicroModel.load(path) first"
            )


# A project folder reads its models back through this (it sits below the models layer).
register_model_reader(MicroModel.load)
