"""Model files that hold weights and plain data only: loading one never runs code from it."""

from __future__ import annotations

import io
from pathlib import Path

from .errors import ProjectError
from .storage import write_atomic


def write_checkpoint(path: str | Path, payload: dict) -> Path:
    """Save ``payload`` (tensors, numbers, strings, lists, dicts) atomically with torch."""
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    write_atomic(path, buffer.getvalue())
    return path


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint with ``weights_only=True``: a file that needs pickled code is refused."""
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise ProjectError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
        raise ProjectError(
            f"{path} is not a plain mm_widgets model file (refused to load it: {str(e)[:200]})"
        ) from e
    if not isinstance(payload, dict) or "kind" not in payload:
        raise ProjectError(f"{path} is not an mm_widgets model file (no 'kind' entry)")
    return payload
