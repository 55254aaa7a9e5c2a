"""Crash-safe files: atomic replacement and append-only JSON-lines journals.

A reader always sees a whole old file or a whole new one (temp file + fsync + rename).
A journal line is appended and flushed before the call returns; a line torn by a crash is
the last one and is skipped when the journal is read back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import ProjectError


def previous_version(path: str | Path) -> Path:
    """Where :func:`write_atomic` keeps the version before the current one
    (``labels.npz`` -> ``labels.prev.npz``)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def keep_previous(path: Path) -> None:
    """Keep the current ``path`` as its previous version (a hard link: no copy, atomic)."""
    if not path.exists():
        return
    link = path.with_name(f".{path.name}.{os.getpid()}.link")
    try:
        link.unlink(missing_ok=True)
        os.link(path, link)
        os.replace(link, previous_version(path))
    except OSError as e:
        link.unlink(missing_ok=True)
        raise ProjectError(f"cannot keep the previous version of {path}: {e.strerror or e}") from e


def write_atomic(path: str | Path, data: bytes, *, fsync: bool = True,
                 keep: bool = False) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    With ``keep``, the file being replaced stays as :func:`previous_version` (the last
    good state to go back to if the new one is ever damaged).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if keep:
        keep_previous(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ProjectError(f"cannot write {path}: {e.strerror or e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Journal:
    """An append-only JSON-lines file."""

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self._fh = None

    def append(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            if self._fh is None:
                self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open across appends
                self._repair_tail()
            self._fh.write(line)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
        except OSError as e:
            self.close()
            raise ProjectError(f"cannot append to {self.path}: {e.strerror or e}") from e

    def _repair_tail(self) -> None:
        # A crash can leave a torn last line without its newline; start on a fresh line so
        # the next record is not glued to it.
        size = self.path.stat().st_size
        if size:
            with open(self.path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    self._fh.write(b"\n")

    def read(self) -> Iterator[dict]:
        """Every whole record; torn or garbled lines (from a crash mid-write) are skipped."""
        if not self.path.exists():
            return
        try:
            with open(self.path, "rb") as fh:
                lines = fh.readlines()
        except OSError as e:
            raise ProjectError(f"cannot read {self.path}: {e.strerror or e}") from e
        for raw in lines:
            if not raw.endswith(b"\n"):
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                yield record

    def reset(self, keep: bool = False) -> None:
        """Empty the journal atomically (after its records went into a snapshot); with
        ``keep`` the old records stay in the journal's previous version."""
        self.close()
        write_atomic(self.path, b"", keep=keep)

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            finally:
                self._fh = None
