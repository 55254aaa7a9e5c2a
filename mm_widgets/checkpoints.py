"""Model files that hold weights and plain data only: loading one never runs code from it."""

from __future__ import annotations

import io
import pickle
import zipfile
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
    import torch

    path = Path(path)
    if not path.exists():
        raise ProjectError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, KeyError,
            TypeError, AttributeError, IndexError, UnicodeDecodeError, zipfile.BadZipFile) as e:
        # (a text file reaches torch's legacy reader, which fails with KeyError on its bytes)
        raise ProjectError(
            f"{path} is not a plain mm_widgets model file (refused to load it: {str(e)[:200]})"
        ) from e
    if not isinstance(payload, dict) or "kind" not in payload:
        raise ProjectError(f"{path} is not an mm_widgets model file (no 'kind' entry)")
    return payload


class _Anything:
    """Stands in for every class and function a pickle names while it is only inspected."""

    def __init__(self, *args, **kw):
        pass

    def __call__(self, *args, **kw):
        return _Anything()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


class _Inspector(pickle.Unpickler):
    """Walks a pickle without importing or calling anything it names: only records the
    names."""

    def __init__(self, file):
        super().__init__(file)
        self.names: set[tuple[str, str]] = set()

    def find_class(self, module, name):
        self.names.add((module, name))
        return type(name, (_Anything,), {})

    def persistent_load(self, pid):
        return None


def pickled_names(path: str | Path) -> set[tuple[str, str]]:
    """Every ``(module, name)`` the pickles in a torch file (the zip format torch writes
    since 1.6) would import. Read by walking them with stand-ins: nothing named in them is
    imported or run."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            members = [i for i in z.infolist() if i.filename.endswith(".pkl")]
            if sum(i.file_size for i in members) > 2**28:
                raise ValueError("its pickles unpack to more than 256 MB")
            pickles = [z.read(i) for i in members]
        names: set[tuple[str, str]] = set()
        for data in pickles:
            inspector = _Inspector(io.BytesIO(data))
            try:
                inspector.load()
            finally:
                names |= inspector.names
        return names
    except Exception as e:  # noqa: BLE001 - any failure to walk it is a refusal
        raise ProjectError(f"{path} is not a model file that can be read safely "
                           f"({type(e).__name__}: {str(e)[:120]})") from None


def refuse_code(path: str | Path, allowed) -> None:
    """Raise :class:`ProjectError` naming ``path`` when its pickle names anything for which
    ``allowed(module, name)`` is false: whatever torch or ultralytics would then do with it,
    nothing is loaded."""
    bad = sorted(f"{m}.{n}" for m, n in pickled_names(path) if not allowed(m, n))
    if bad:
        raise ProjectError(f"{path} holds pickled code ({', '.join(bad[:3])}"
                           f"{', ...' if len(bad) > 3 else ''}): refused, never run")
