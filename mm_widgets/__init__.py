"""mm_widgets: label five frames inline, ``overfit()`` a micro-model, review, repeat.

The public API lives here. Importing the package is cheap: torch, ultralytics and
ipywidgets load on first use of the parts that need them.
"""

from __future__ import annotations

import importlib

from .actions import ActionLog, ActionTimes, corrections, efficiency, labels_per_action
from .assembly import register_domain_widget
from .data import Frames
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
from .interpolate import interpolate
from .labels import Box, LabelSet
from .models.base import MicroModel
from .models.progress import register_display
from .overfit import overfit
from .project import Project
from .rounds import next_round
from .samples import load_sample, load_sample_truth
from .select import select_frames
from .simulate import simulate

__version__ = "0.2.0"


@register_display
def _notebook_progress():
    """In a Jupyter kernel with ipywidgets, ``progress=True`` shows a bar and a live loss
    curve in the cell. Wired here, at the top of the house, so that no lower layer imports
    a widget: training only calls the reporter it is given."""
    import importlib.util
    import sys

    if "IPython" not in sys.modules or importlib.util.find_spec("ipywidgets") is None:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from .widgets.progress import NotebookProgress

    # One display per cell: a second training or long call in the same cell reuses it.
    return NotebookProgress.for_cell(shell.execution_count)


@register_domain_widget("label")
def _label_domain(line, domain, **settings):
    """``line.label(domain)``: the notebook labeller on one domain (wired here, like progress)."""
    from .widgets.line import label_domain

    return label_domain(line, domain, **settings)


@register_domain_widget("review")
def _review_domain(line, domain, **settings):
    """``line.review(domain)``: the notebook review on one domain."""
    from .widgets.line import review_domain

    return review_domain(line, domain, **settings)


# Functions named like their own module (overfit, simulate, interpolate) are bound above:
# a lazy name would be replaced by the module itself as soon as anything imports it.
# Public names whose modules are heavy (ipywidgets, scipy, cv2): loaded on first use.
_LAZY = {
    "split_shots": ".assembly",
    "AssemblyLine": ".assembly",
    "curve_report": ".spline",
    "label": ".widgets.labeller",
    "review": ".widgets.review",
    "show": ".widgets.viewer",
    "SplineExplorer": ".widgets.spline_explorer",
}

__all__ = [
    "ActionLog", "ActionTimes", "Box", "FrameIndexError", "Frames", "LabelError", "LabelSet", "MMError",
    "NoLabelsError", "NotFittedError", "Project", "ProjectError", "UnknownClassError",
    "VideoError", "corrections", "efficiency", "labels_per_action", "load_sample", "load_sample_truth",
    "MicroModel", "interpolate", "next_round", "overfit", "select_frames", "simulate",
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
