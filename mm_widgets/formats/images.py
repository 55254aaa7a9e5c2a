"""Which frames an export covers, and frames written as image files for tools that want them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import LabelError
from ..labels import LabelSet
from ..storage import write_atomic


def exported_frames(labels: LabelSet) -> list[int]:
    """The frames an export covers: every looked-at frame and every frame holding a label."""
    return sorted(set(labels.looked_at) | set(labels.frames))


def image_name(frame: int, ext: str = ".jpg") -> str:
    """The file name of frame ``frame`` in every export (``000042.jpg``)."""
    return f"{int(frame):06d}{ext}"


def write_images(frames, indices: Iterable[int], folder: str | Path, *, quality: int = 95) -> Path:
    """Decode ``frames[i]`` for each index and write it as ``folder/NNNNNN.jpg``."""
    from io import BytesIO

    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i in indices:
        if not 0 <= int(i) < len(frames):
            raise LabelError(f"frame {i} is not in the {len(frames)} frames given")
        buffer = BytesIO()
        Image.fromarray(frames[int(i)]).save(buffer, format="JPEG", quality=quality)
        write_atomic(folder / image_name(i), buffer.getvalue(), fsync=False)  # an export, rewritable
    return folder


def read_text(path: Path, what: str) -> str:
    """The text of a label file, or a :class:`LabelError` naming it."""
    if not path.exists():
        raise LabelError(f"{what} not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(f"cannot read {what} {path}: {e}") from e
