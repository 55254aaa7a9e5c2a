"""mm_widgets: label five frames inline, ``overfit()`` a micro-model, review, repeat.

The public API lives here. Importing the package is cheap: torch, ultralytics and
ipywidgets load on first use of the parts that need them.
"""

from __future__ import annotations

import importlib

from .actions import ActionLog, corrections, efficiency, labels_per_action
from .data import Frames, load_sample, load_sample_truth
from .errors import (
    FrameIndexError,
    LabelError,
    MMError,
    NoLabelsError,
    NotFittedError,
    ProjectError,
    UnknownClassError,
    VideoError,
)
from .labels import Box, LabelSet
from .project import Project

__version__ = "0.1.0"

# Public names whose modules are heavy (torch, ultralytics, ipywidgets): loaded on first use.
_LAZY = {
    "MicroModel": ".models.base",
    "overfit": ".overfit",
    "select_frames": ".select",
    "interpolate": ".interpolate",
    "simulate": ".simulate",
    "split_shots": ".assembly",
    "AssemblyLine": ".assembly",
    "curve_report": ".spline",
    "label": ".widgets.labeller",
    "review": ".widgets.review",
    "show": ".widgets.viewer",
    "SplineExplorer": ".widgets.spline_explorer",
}

__all__ = [
    "ActionLog", "Box", "FrameIndexError", "Frames", "LabelError", "LabelSet", "MMError",
    "NoLabelsError", "NotFittedError", "Project", "ProjectError", "UnknownClassError",
    "VideoError", "corrections", "efficiency", "labels_per_action", "load_sample", "load_sample_truth",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mm_widgets' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
