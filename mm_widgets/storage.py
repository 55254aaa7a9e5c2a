"""Crash-safe files: atomic replacement, append-only JSON-lines journals, one writer.

A reader always sees a whole old file or a whole new one (temp file + fsync + rename).
A journal line is appended and flushed before the call returns; a line torn by a crash is
the last one, never confirmed, and is dropped (any other unreadable line is an error
naming the file and the line). A folder is written by one process at a time
(:class:`WriteLock`).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProjectError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here; one writer is then the user's care
    fcntl = None


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


@dataclass
class _Holding:
    fd: int
    pid: int
    count: int = 0
    mutex: threading.RLock = field(default_factory=threading.RLock)


class WriteLock:
    """The right to write ``folder``, held by one process at a time.

    An exclusive ``flock`` on ``folder/writer.lock``: the system drops it when the process
    ends, however it ends, so a killed kernel never locks anyone out. Another process
    asking for it gets a :class:`ProjectError` naming the holder (pid, host, since when).
    Every opener in the holding process shares the one lock (``mutex`` orders their
    writes); it is given back when the last of them calls :meth:`release`.
    """

    FILE = "writer.lock"
    _held: dict[tuple[int, int], _Holding] = {}
    _guard = threading.Lock()
    #: Shares dropped by the garbage collector while ``_guard`` was held (a collection can
    #: run inside any allocation, also one under the guard): given back at the next chance.
    _dropped: list[WriteLock] = []

    def __init__(self, folder: str | Path, *, hint: str = ""):
        self.folder = Path(folder)
        self.file = self.folder / self.FILE
        try:
            st = os.stat(self.folder)
        except OSError as e:
            raise ProjectError(f"cannot open {self.folder}: {e.strerror or e}") from e
        self._key = (st.st_dev, st.st_ino)
        with self._guard:
            self._settle()
            holding = self._held.get(self._key)
            if holding is None or holding.pid != os.getpid():  # (a forked child takes its own)
                holding = _Holding(self._take(hint), os.getpid())
                self._held[self._key] = holding
            holding.count += 1
        self.mutex = holding.mutex
        self._holding: _Holding | None = holding

    def _take(self, hint: str) -> int:
        try:
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ProjectError(f"cannot open {self.file}: {e.strerror or e}") from e
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._holder(fd)
            os.close(fd)
            raise ProjectError(f"{self.folder} is open for writing in another process "
                               f"({holder}); close it there (project.close(), or shut that "
                               f"kernel down){hint}") from None
        me = {"pid": os.getpid(), "host": platform.node(), "since": time.time()}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except OSError:
            pass  # who holds it is only said to others; the lock itself is held
        return fd

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            who = json.loads(os.pread(fd, 4096, 0))
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(who["since"])))
            return f"pid {int(who['pid'])} on {str(who['host'])[:100]}, since {since}"
        except (OSError, ValueError, TypeError, KeyError):
            return "the holder did not say who it is"

    @property
    def shared(self) -> bool:
        """Whether another opener in this process holds the lock too."""
        return self._holding is not None and self._holding.count > 1

    def release(self) -> None:
        """Give this opener's share back (idempotent); the last one unlocks the folder."""
        with self._guard:
            self._give_back()
            self._settle()

    def dropped(self) -> None:
        """:meth:`release` for a finalizer: never waits (it may run inside the guard)."""
        if self._guard.acquire(blocking=False):
            try:
                self._give_back()
                self._settle()
            finally:
                self._guard.release()
        else:
            self._dropped.append(self)

    @classmethod
    def _settle(cls) -> None:
        while cls._dropped:
            cls._dropped.pop()._give_back()

    def _give_back(self) -> None:
        holding, self._holding = self._holding, None
        if holding is None:
            return
        holding.count -= 1
        if holding.count == 0 and self._held.get(self._key) is holding:
            del self._held[self._key]
            os.close(holding.fd)  # closing the descriptor drops the flock


class Journal:
    """An append-only JSON-lines file."""

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self._fh = None

    def append(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            if self._fh is not None and self._replaced():
                self.close()  # another opener in this process emptied the journal: follow it
            if self._fh is None:
                self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open across appends
                self._repair_tail()
            self._fh.write(line)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
        except OSError as e:
            fh, self._fh = self._fh, None
            if fh is not None:
                with contextlib.suppress(OSError):  # its flush fails again: the error is e's
                    fh.close()
            raise ProjectError(f"cannot append to {self.path}: {e.strerror or e}") from e

    def _replaced(self) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(self._fh.fileno()).st_ino
        except OSError:
            return True

    def _repair_tail(self) -> None:
        # A crash can leave a torn last line without its newline: its call never returned
        # (the newline is the last byte written), so it was never confirmed; cut it off so
        # the next record starts a line of its own.
        with open(self.path, "rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            if end == 0 or (fh.seek(end - 1), fh.read(1))[1] == b"\n":
                return
            fh.seek(0)
            keep = fh.read().rfind(b"\n") + 1
        os.truncate(self.path, keep)

    def records(self, damaged: list[int] | None = None) -> Iterator[tuple[int, dict]]:
        """``(line number, record)`` for every line, from 1.

        A last line without its newline was torn by a crash before its call returned: it
        is left out. Any other line that is not a JSON object raises :class:`ProjectError`
        naming the file and the line; with a ``damaged`` list, its number is appended there
        instead and the reading goes on (what recovery keeps is every line it can read).
        """
        if not self.path.exists():
            return
        try:
            with open(self.path, "rb") as fh:
                lines = fh.readlines()
        except OSError as e:
            raise ProjectError(f"cannot read {self.path}: {e.strerror or e}") from e
        for number, raw in enumerate(lines, 1):
            if not raw.endswith(b"\n"):
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
                record = e
            if isinstance(record, dict):
                yield number, record
            elif damaged is not None:
                damaged.append(number)
            else:
                raise self.damage(number, "is not a JSON object" if not isinstance(
                    record, Exception) else f"is not JSON ({str(record)[:80]})")

    def read(self) -> Iterator[dict]:
        """Every record (see :meth:`records`)."""
        for _, record in self.records():
            yield record

    def damage(self, number: int, what: str) -> ProjectError:
        """The error for line ``number`` of this journal, and how to recover."""
        return ProjectError(f"{self.path} line {number} {what}; mm.Project.recover("
                            f"{str(self.path.parent)!r}) keeps every line it can read")

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
