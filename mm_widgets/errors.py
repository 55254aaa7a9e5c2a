"""The package's own error types: every bad input raises a subclass of :class:`MMError`."""

from __future__ import annotations


class MMError(Exception):
    """Base class of every error mm_widgets raises on purpose."""


class VideoError(MMError):
    """A video or image source is missing, unreadable, corrupt or inconsistent."""


class FrameIndexError(MMError, IndexError):
    """A frame index outside the sequence."""


class LabelError(MMError, ValueError):
    """A box or frame class that cannot be right (outside the frame, x2 <= x1, ...)."""


class UnknownClassError(LabelError):
    """A label names a class the label set does not know."""


class NoLabelsError(MMError, ValueError):
    """Training or evaluation was asked for with nothing labelled."""


class NotFittedError(MMError, RuntimeError):
    """A micro-model was used before it was trained or loaded."""


class ProjectError(MMError):
    """A project folder is unreadable, or cannot be written."""


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn at the first caller outside mm_widgets (the user's cell or script), however
    deep in the package the warning is raised, so the warning names the line that asked
    for the work (``warnings.warn``'s ``skip_file_prefixes`` does this from Python 3.12)."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
