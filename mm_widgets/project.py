"""A project folder: labels, action log, models and rounds, saved as they happen.

Layout of a project folder::

    project.json        schema version, classes, task, where the frames come from
    labels.npz          snapshot of the labels (numpy arrays, no pickles)
    labels.journal      one JSON line per changed frame since the snapshot
    *.prev.*            the version before the current one of each file above
    actions.journal     every human action, append-only (an undo appends a "retracted" line)
    rounds.json         one record per finished round
    models/             round_N.pt files
    writer.lock         held by the one process that writes (the system drops it on exit)

Every label change is appended to the journal (and flushed) before the call returns, so a
crash or a killed kernel loses nothing that was confirmed. Replaying a journal line sets a
frame's whole state, so replaying twice is harmless: the snapshot is written atomically
first, and only then is the journal emptied.

One process writes a project at a time (:class:`~mm_widgets.storage.WriteLock`); a second
one gets a :class:`~mm_widgets.errors.ProjectError` naming the holder, and may open it with
``read_only=True``. Openers in one process share the lock, and a snapshot taken while
another opener is alive is built from the files, so it holds that opener's changes too.

Recovery: if a file is ever damaged (a disk error, a hand edit), opening the project raises
:class:`~mm_widgets.errors.ProjectError` naming the file (and the line, in a journal);
``Project.recover(path)`` then rebuilds the labels from the previous snapshot and both
journals, keeping every line it can read, restores the other files from their previous
versions, and puts the damaged files aside as ``*.damaged``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import time
import weakref
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .actions import Action, ActionLog, ActionTimes, efficiency, format_seconds
from .errors import LabelError, MMError, ProjectError
from .labels import LABEL_TASKS, POLYGONS, SOURCES, TRACK, Box, LabelSet, Mask, name_problem
from .polygons import as_rings
from .storage import Journal, WriteLock, keep_previous, previous_version, write_atomic

SCHEMA = 1
COMPACT_EVERY = 5000  # journal lines before the labels are folded into a new snapshot
#: Reads a model file back (registered by the models layer: a project stores, it does not
#: know model kinds).
_model_readers: list = []


def register_model_reader(read) -> None:
    """Let :attr:`Project.model` read model files with ``read(path) -> model``."""
    _model_readers[:] = [read]


class Project:
    """A labelling project on disk; opening an existing folder resumes exactly where it was.

    Parameters
    ----------
    path
        The project folder (created if missing).
    classes
        Class names; required when creating, checked against the stored ones when reopening.
    frames
        The :class:`~mm_widgets.data.Frames` being labelled; remembered so that
        :attr:`frames` reopens them later (videos, folders and samples; not in-memory arrays).
    task
        ``"boxes"``, ``"masks"`` or ``"classes"``.
    read_only
        Read the project without writing it (and without the writer's lock): any change
        raises :class:`~mm_widgets.errors.ProjectError`. For a project another process has
        open for writing.
    """

    def __init__(self, path: str | Path, classes=None, *, frames=None, task: str = "boxes",
                 read_only: bool = False):
        self.path = Path(path)
        self._frames = frames
        self.read_only = bool(read_only)
        self._lock: WriteLock | None = None
        meta_file = self.path / "project.json"
        try:
            meta_file.exists()
        except OSError as e:  # a name too long, a file where a folder should be
            raise ProjectError(f"cannot open project folder {self.path}: {e.strerror or e}") from e
        if not read_only:
            creating = not meta_file.exists() and classes is not None
            if creating:
                LabelSet(classes, task)  # refuse bad classes before a folder is made
                problem = name_problem(self.path.name)
                if problem:  # the name exports give the clip (MOT seqinfo.ini, CVAT task)
                    raise ProjectError(f"project name {self.path.name!r:.60} is refused: "
                                       f"{problem}")
                self._make_folder()
            if creating or meta_file.exists():  # (no lock file left in a folder of other things)
                self._lock = WriteLock(self.path, hint=(
                    f", or open it read-only: mm.Project({str(self.path)!r}, read_only=True)"))
                weakref.finalize(self, self._lock.dropped)
        try:
            self._open(meta_file, classes, frames, task)
        except BaseException:
            self.close()
            raise

    def _make_folder(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "models").mkdir(exist_ok=True)
        except OSError as e:
            raise ProjectError(f"cannot create project folder {self.path}: {e}") from e

    def _open(self, meta_file: Path, classes, frames, task: str) -> None:
        if meta_file.exists():
            self.meta = self._read_meta(meta_file)
            if classes is not None and list(classes) != self.meta["classes"]:
                raise ProjectError(
                    f"{self.path} was created with classes {self.meta['classes']}, not {list(classes)}"
                )
            if frames is not None:
                self._check_same_frames(frames)
        else:
            if classes is None:
                raise ProjectError(f"no project at {self.path}; pass classes=[...] to create one")
            if self.read_only:
                raise ProjectError(f"no project at {self.path} to read")
            LabelSet(classes, task)  # validates classes and task before anything is written
            self.meta = {
                "schema": SCHEMA, "classes": list(classes), "task": task,
                "frames": getattr(frames, "origin", None),
                "size": list(frames.size) if frames is not None else None,
                "n_frames": len(frames) if frames is not None else None,
                "created": time.time(),
            }
            write_atomic(meta_file, json.dumps(self.meta, indent=1).encode())
            write_atomic(previous_version(meta_file), json.dumps(self.meta, indent=1).encode())
        if self._lock is not None:
            self._sweep()
        self._unsaved: set[int] = set()  # frames changed in memory whose write failed
        self._labels_journal = Journal(self.path / "labels.journal")
        self._actions_journal = Journal(self.path / "actions.journal")
        self.labels, self._journal_lines = self._load_labels()
        self.actions = ActionLog(self._load_actions(), sink=self._save_action,
                                 retract_sink=self._save_retraction)
        self.labels.on_change(self._save_frame)
        self.labels.project = self

    # -- reading ---------------------------------------------------------------------------
    def _read_meta(self, meta_file: Path) -> dict:
        try:
            meta = json.loads(meta_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as e:
            raise ProjectError(f"{meta_file} is unreadable ({e}); "
                               f"mm.Project.recover({str(self.path)!r}) restores it") from e
        if not isinstance(meta, dict) or "schema" not in meta:
            raise ProjectError(f"{meta_file} is not an mm_widgets project file")
        if meta["schema"] != SCHEMA:
            raise ProjectError(f"{meta_file} has schema version {meta['schema']!r}; this "
                               f"mm_widgets reads version {SCHEMA}")
        wrong = meta_problem(meta)
        if wrong:
            raise ProjectError(f"{meta_file}: {wrong}; mm.Project.recover({str(self.path)!r}) "
                               "restores its previous version")
        return meta

    def _sweep(self) -> None:
        """Remove the temporary files a killed writer left (``.name.PID.tmp`` and ``.link``):
        this process holds the lock, so their writers are gone (or are this process)."""
        for folder in (self.path, self.path / "models"):
            for f in [*folder.glob(".*.tmp"), *folder.glob(".*.link")]:
                pid = f.name.rsplit(".", 2)[-2]
                if pid != str(os.getpid()):
                    f.unlink(missing_ok=True)

    def _check_same_frames(self, frames) -> None:
        n, size = self.meta.get("n_frames"), self.meta.get("size")
        if n is not None and (len(frames) != n or list(frames.size) != list(size)):
            raise ProjectError(
                f"{self.path} labels {n} frames of {size[0]}x{size[1]}, but the frames given "
                f"are {len(frames)} of {frames.size[0]}x{frames.size[1]}"
            )

    def _empty_labels(self) -> LabelSet:
        size = tuple(self.meta["size"]) if self.meta.get("size") else None
        return LabelSet(self.meta["classes"], self.meta["task"], size=size,
                        n_frames=self.meta.get("n_frames"))

    def _load_labels(self) -> tuple[LabelSet, int]:
        """The labels on disk (snapshot + journal) and the journal's length. Read again if
        the writer took a snapshot meanwhile (a reader may share the folder with one)."""
        snapshot = self.path / "labels.npz"
        for _ in range(5):
            before = _identity(snapshot)
            labels = self._empty_labels()
            if snapshot.exists():
                read_snapshot(snapshot, labels)
            lines = replay(self._labels_journal, labels)
            if _identity(snapshot) == before:
                break
        return labels, lines

    def _load_actions(self) -> list[Action]:
        return read_actions(self._actions_journal)

    def _refuse_change(self, what: str) -> None:
        if self.read_only:
            raise ProjectError(f"{self.path} was opened read-only: {what} is not saved "
                               "(open it without read_only=True to write it)")
        if self._lock is None:
            raise ProjectError(f"{self.path} was closed: {what} is not saved (open it again)")

    # -- writing ---------------------------------------------------------------------------
    def _save_frame(self, frame: int) -> None:
        # A frame whose write failed (disk full, read-only) stays queued and is written
        # with the next change that succeeds; the in-memory labels keep it meanwhile.
        self._unsaved.add(frame)
        self._refuse_change(f"the change to frame {frame}")
        with self._lock.mutex:
            for f in sorted(self._unsaved):
                self._labels_journal.append(self.labels.frame_state(f))
                self._unsaved.discard(f)
                self._journal_lines += 1
        if self._journal_lines >= COMPACT_EVERY:
            self.save()

    @property
    def unsaved(self) -> list[int]:
        """Frames changed in memory but not yet on disk (only after a failed write)."""
        return sorted(self._unsaved)

    def _save_action(self, action: Action) -> None:
        self._refuse_change(f"the {action.kind} on frame {action.frame}")
        with self._lock.mutex:
            self._actions_journal.append(
                {"kind": action.kind, "frame": action.frame, "round": action.round,
                 "label": action.label, "time": action.time, **_since(action)})

    def _save_retraction(self, action: Action) -> None:
        self._refuse_change(f"the undo on frame {action.frame}")
        with self._lock.mutex:
            self._actions_journal.append(
                {"kind": action.kind, "frame": action.frame, "round": action.round,
                 "label": action.label, "time": action.time, **_since(action), "retracted": True})

    def save(self) -> None:
        """Fold the journal into a new snapshot (every change is already on disk without it).

        The snapshot and journal before it stay as ``labels.prev.npz`` and
        ``labels.prev.journal``: together they are the last good state. While another
        opener of this folder is alive in this process, the snapshot is built from the files
        (which hold its changes too), not from these labels alone.
        """
        self._refuse_change("a snapshot")
        snapshot = self.path / "labels.npz"
        with self._lock.mutex:
            labels = self.labels
            if self._lock.shared:
                labels, _ = self._load_labels()
                for f in self._unsaved:
                    labels.apply_frame_state(self.labels.frame_state(f), notify=False)
            keep_previous(self._labels_journal.path)
            write_snapshot(snapshot, labels, keep=True)
            self._labels_journal.reset()
            self._unsaved.clear()
            self._journal_lines = 0

    @classmethod
    def recover(cls, path: str | Path) -> Project:
        """Rebuild a damaged project from the previous versions of its files.

        Labels: the snapshot, or if it is damaged the previous snapshot and the previous
        journal; then the journal (each line sets a frame's whole state, so this replays
        every confirmed change), keeping every line that can be read. The action log keeps
        every line that can be read; ``project.json`` and ``rounds.json`` go back to their
        previous versions (rounds whose model file is there but whose record is not are
        recorded again). Damaged files are kept as ``*.damaged``; the result is opened.
        """
        path = Path(path)
        lock = WriteLock(path, hint="; recover() needs the project to itself")
        try:
            with lock.mutex:
                probe = cls.__new__(cls)
                probe.path = path
                probe.meta = _recover_meta(probe)
                _recover_labels(probe)
                _recover_actions(path)
                _recover_rounds(path)
        finally:
            lock.release()
        return cls(path)

    def close(self) -> None:
        """Close the journals and give the writer's lock back (reopen to write again)."""
        for journal in ("_labels_journal", "_actions_journal"):
            if hasattr(self, journal):
                getattr(self, journal).close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- frames, rounds, models -----------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def frames(self):
        """The frames this project labels (reopened from where they came from)."""
        if self._frames is None:
            origin = self.meta.get("frames")
            if origin is None:
                raise ProjectError(f"{self.path} does not know where its frames come from "
                                   "(they were in-memory arrays); pass frames=... when opening")
            from .samples import open_frames

            self._frames = open_frames(origin)
        return self._frames

    @property
    def rounds(self) -> pd.DataFrame:
        """One row per finished round."""
        return pd.DataFrame(self._read_rounds())

    @property
    def round(self) -> int:
        """The round now in progress (0 before the first model is trained)."""
        return len(self._read_rounds())

    def _read_rounds(self) -> list[dict]:
        f = self.path / "rounds.json"
        if not f.exists():
            return []
        try:
            rounds = json.loads(f.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError) as e:
            raise ProjectError(f"{f} is unreadable ({e}); "
                               f"mm.Project.recover({str(self.path)!r}) goes back to its previous version") from e
        if not isinstance(rounds, list) or not all(isinstance(r, dict) for r in rounds):
            raise ProjectError(f"{f} should hold a list of round records; mm.Project.recover("
                               f"{str(self.path)!r}) goes back to its previous version")
        return rounds

    def record_round(self, **info) -> dict:
        """Close the current round with its figures (labels, actions, seconds, model file)."""
        self._refuse_change("a round")
        with self._lock.mutex:
            rounds = self._read_rounds()
            record = {"round": len(rounds), "time": time.time(),
                      "labels": len(self.labels), "human_actions": self.actions.count(len(rounds)),
                      **info}
            data = json.dumps([*rounds, record], indent=1).encode()
            # The previous version is a copy of this one: rounds.json is small, and a
            # damaged copy then goes back to every round, the last one included.
            write_atomic(previous_version(self.path / "rounds.json"), data)
            write_atomic(self.path / "rounds.json", data)
            self.save()
        return record

    def model_path(self, round: int | None = None) -> Path:
        """Where the model of ``round`` (default: the current one) is stored."""
        return self.path / "models" / f"round_{self.round if round is None else round}.pt"

    def keep_model(self, model, **info) -> dict:
        """Save ``model`` (anything with ``save(path)``) as the current round's model and close
        the round with ``info``; :attr:`model` gives it back, also after a restart."""
        self._refuse_change("a model")
        path = Path(model.save(self.model_path()))
        return self.record_round(model_file=path.name, **info)

    @property
    def model_file(self) -> Path | None:
        """The model file of the latest round that kept one, or None."""
        for record in reversed(self._read_rounds()):
            name = record.get("model_file")
            if name and (self.path / "models" / name).exists():
                return self.path / "models" / name
        return None

    @property
    def model(self):
        """The latest round's model, read from its file (``None`` before the first one)."""
        path = self.model_file
        if path is None:
            return None
        if not _model_readers:
            raise ProjectError("no model reader registered: import mm_widgets first")
        return _model_readers[0](path)

    # -- taking the labels elsewhere -----------------------------------------------------
    def export(self, format: str, path: str | Path, *, images: bool = True, **options) -> Path:
        """Write the labels for another tool: ``project.export("cvat", "out/cvat")``.

        Parameters
        ----------
        format
            One of ``"coco"``, ``"yolo"``, ``"cvat"``, ``"mot"``, ``"label-studio"``
            (:mod:`mm_widgets.formats`).
        path
            The folder to write (created if missing): ``annotations.json`` and ``images/``
            (COCO), a YOLO dataset with ``data.yaml``, ``annotations.xml`` (CVAT for video
            1.1), a MOT sequence with ``gt/gt.txt``, ``tasks.json`` and ``config.xml``
            (Label Studio).
        images
            Decode the frames and write them as image files where the tool wants images
            (COCO, YOLO, Label Studio image tasks). ``False`` writes the labels alone.
        options
            Passed on to the format's writer (e.g. ``kind="video"`` for Label Studio).

        Returns the file or folder written.
        """
        from .formats import EXPORTS

        if format not in EXPORTS:
            raise ProjectError(f"unknown export format {format!r}; the formats are: "
                               f"{', '.join(map(repr, EXPORTS))}")
        self.labels.require("boxes")
        write, wants_images, file_name = EXPORTS[format]
        labels = self.labels.copy()
        if self.meta.get("size"):
            labels.size, labels.n_frames = tuple(self.meta["size"]), self.meta.get("n_frames")
        folder = Path(path)
        if wants_images and images:
            options.setdefault("frames", self.frames)
        if format in ("cvat", "mot"):
            options.setdefault("name", self.path.name)
        target = folder / file_name if file_name else folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write(labels, target, **options)
        except OSError as e:  # read-only, full, a name too long (write_atomic says which file)
            where = e.filename or folder
            raise ProjectError(f"cannot write the {format} export to {where}: "
                               f"{e.strerror or e}") from e
        return target

    def summary(self) -> pd.DataFrame:
        """The person's work here, one row per kind of event (draw, adjust, delete, class,
        accept): ``events``, ``timed``, ``median_seconds`` and ``total_seconds`` measured from
        the action log's timestamps (:meth:`~mm_widgets.actions.ActionLog.seconds`: the timed
        events' own seconds, waiting for the model and undone work left out, plus the
        published figure for each untimed one; an event added never lowers the total), and
        ``seconds``, the price ``simulate()`` would give one such event (the person's median
        once three are timed, else the published figure of
        :class:`~mm_widgets.actions.ActionTimes`)."""
        table = self.actions.seconds(task=self.task)
        times = ActionTimes(self.actions, task=self.task)
        table.insert(4, "seconds", [times[k] for k in table["kind"]])
        return table

    def _repr_html_(self) -> str:
        import html

        table = self.summary()
        labels, actions = len(self.labels), len(self.actions)
        head = (f"<b>{html.escape(self.path.name)}</b>: {labels} labels, {actions} human actions, "
                f"efficiency {efficiency(actions, labels):.3f}, round {self.round}; "
                f"human time about {format_seconds(float(table['total_seconds'].sum()))}")
        return f"<p>{head}</p>" + table.to_html(index=False, float_format=lambda v: f"{v:.1f}")

    def __repr__(self) -> str:
        return (f"Project({str(self.path)!r}, {self.task}, classes={self.classes}, "
                f"{len(self.labels)} labels, {len(self.actions)} actions, round {self.round})")


def write_snapshot(path: Path, labels: LabelSet, keep: bool = False) -> None:
    """Write ``labels`` as plain numpy arrays (no pickles) atomically."""
    import io

    df = labels.df
    codes = {c: i for i, c in enumerate(labels.classes)}
    arrays = {
        "frame": df["frame"].to_numpy(np.int64),
        "label": np.array([codes[c] for c in df["label"]], dtype=np.int32),
        "score": df["score"].to_numpy(np.float64),
        "source": np.array([SOURCES.index(s) for s in df["source"]], dtype=np.int8),
        "round": df["round"].to_numpy(np.int32),
        "looked_at": np.array(labels.looked_at, dtype=np.int64),
    }
    if labels.task == "boxes":
        arrays["xyxy"] = df[["x1", "y1", "x2", "y2"]].to_numpy(np.float64).reshape(-1, 4)
    if labels.task != "classes":
        arrays["track"] = df[TRACK].fillna(-1).to_numpy(np.int64)  # -1: no track
    if labels.task == "masks":  # each mask's rings as JSON text (a unicode array: no pickles)
        arrays["polygons"] = np.array([json.dumps([list(r) for r in p]) for p in df[POLYGONS]], dtype=str)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue(), keep=keep)


def read_snapshot(path: Path, labels: LabelSet) -> None:
    """Fill an empty ``labels`` from a snapshot written by :func:`write_snapshot`."""
    try:
        _check_sizes(path)
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, MemoryError) as e:
        raise ProjectError(f"{path} is unreadable ({e}); mm.Project.recover({str(path.parent)!r}) "
                           "rebuilds the labels from the previous snapshot and the journals") from e
    classes, task = labels.classes, labels.task
    if task == "boxes" and "track" not in data and "xyxy" in data:
        # snapshots written before tracks have no track array: their boxes have none
        data["track"] = np.full(len(data["xyxy"]), -1, dtype=np.int64)
    wrong = snapshot_problem(data, labels)
    if wrong:
        raise ProjectError(f"{path}: {wrong}; mm.Project.recover({str(path.parent)!r}) rebuilds "
                           "the labels from the previous snapshot and the journals")
    frames, codes, sources = data["frame"], data["label"], data["source"]
    # Validated above in bulk, so boxes are built without per-box checks (500k boxes < 1 s).
    scores = [None if s != s else s for s in data["score"].tolist()]
    names = [classes[k] for k in codes.tolist()]
    srcs = [SOURCES[k] for k in sources.tolist()]
    gc_was_on = gc.isenabled()
    gc.disable()  # half a million new objects, no cycles among them: skip the collector passes
    try:
        _fill_from_arrays(labels, task, frames, data, names, scores, srcs)
    finally:
        if gc_was_on:
            gc.enable()
    labels._looked_at = set(data["looked_at"].tolist())


def _check_sizes(path: Path) -> None:
    """Refuse an array whose header claims more values than its member of the file holds
    (numpy allocates what the header says before it reads)."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            with z.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read(fh)
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if claimed > info.file_size:
                    raise ValueError(f"its {info.filename} says it holds {claimed:,} bytes, "
                                     f"the file has {info.file_size:,}")


_INTEGER = ("frame", "label", "source", "round", "looked_at", "track")


def snapshot_problem(data: dict, labels: LabelSet) -> str | None:
    """What is wrong with a snapshot's arrays for ``labels`` (None: nothing)."""
    needed = ["frame", "label", "score", "source", "round", "looked_at"]
    if labels.task == "boxes":
        needed += ["xyxy", "track"]
    if labels.task == "masks":
        needed += ["polygons", "track"]
    missing = [k for k in needed if k not in data]
    if missing:
        return f"the {', '.join(missing)} array{'s are' if len(missing) > 1 else ' is'} missing"
    for k in needed:
        a = data[k]
        if k == "polygons":
            if a.dtype.kind != "U" or a.ndim != 1:
                return f"the polygons array holds {a.dtype} in {a.ndim} dimensions, not text"
            continue
        numeric = np.integer if k in _INTEGER else np.number
        if not np.issubdtype(a.dtype, numeric) or a.ndim != (2 if k == "xyxy" else 1):
            return f"the {k} array holds {a.dtype} in {a.ndim} dimensions"
    n = len(data["frame"])
    for k in needed:
        if k != "looked_at" and len(data[k]) != n:
            return f"the {k} array has {len(data[k])} rows, the frame array {n}"
    limit = labels.n_frames
    for k in ("frame", "looked_at"):
        a = data[k]
        if len(a) and (a.min() < 0 or (limit is not None and a.max() >= limit)):
            return (f"the {k} array holds frame {int(a.min() if a.min() < 0 else a.max())}, "
                    f"outside 0..{'' if limit is None else limit - 1}")
    if n == 0:
        return None
    ranges = {"label": len(labels.classes), "source": len(SOURCES)}
    for k, top in ranges.items():
        if data[k].min() < 0 or data[k].max() >= top:
            return f"the {k} array holds codes outside 0..{top - 1}"
    if labels.task == "boxes":
        xyxy = data["xyxy"]
        if xyxy.shape != (n, 4) or not np.isfinite(xyxy).all() or not (
                (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])).all():
            return "the xyxy array holds boxes that cannot be (not finite, or x2 <= x1)"
    if labels.task != "classes" and data["track"].min() < -1:
        return "the track array holds negative track ids"
    if labels.task == "masks":
        for k, text in enumerate(data["polygons"].tolist()):
            try:
                as_rings(json.loads(text))
            except (ValueError, RecursionError, LabelError) as e:
                return f"the polygons array's row {k} is no mask ({e})"
    return None


def meta_problem(meta: dict) -> str | None:
    """What is wrong with the fields of ``project.json`` (None: nothing)."""
    classes, task = meta.get("classes"), meta.get("task")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return f"classes should be a list of names, not {str(classes)[:80]}"
    if task not in LABEL_TASKS:
        return f"task should be one of {LABEL_TASKS}, not {str(task)[:80]}"
    try:
        LabelSet(classes, task)
    except MMError as e:
        return str(e)
    size, n = meta.get("size"), meta.get("n_frames")
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(
            type(v) is int and v > 0 for v in size)):
        return f"size should be [width, height] in pixels, not {str(size)[:80]}"
    if n is not None and not (type(n) is int and n > 0):
        return f"n_frames should be a positive whole number, not {str(n)[:80]}"
    if meta.get("frames") is not None and not isinstance(meta["frames"], dict):
        return f"frames should say where the frames come from, not {str(meta['frames'])[:80]}"
    return None


def replay(journal: Journal, labels: LabelSet, damaged: list[int] | None = None) -> int:
    """Apply every line of a labels journal to ``labels``; returns the number of lines.

    A line that cannot be applied raises :class:`ProjectError` naming the file and line,
    or with a ``damaged`` list is counted there and left out (recovery)."""
    lines = 0
    for number, record in journal.records(damaged):
        try:
            labels.apply_frame_state(record, notify=False)
        except (MMError, KeyError, TypeError, ValueError, IndexError) as e:
            if damaged is None:
                raise journal.damage(number, f"is not a frame's labels ({str(e)[:80]})") from e
            damaged.append(number)
        lines += 1
    return lines


def _since(action: Action) -> dict:
    """An action's ``since`` for its journal line (when the person could start on it,
    for human time), left out when it has none."""
    return {} if action.since is None else {"since": action.since}


def read_actions(journal: Journal, damaged: list[int] | None = None) -> list[Action]:
    """The actions of an action journal, undone ones taken back (errors as :func:`replay`)."""
    actions: list[Action] = []
    for number, r in journal.records(damaged):
        try:
            action = Action(r["kind"], r["frame"], r.get("round", 0), r.get("label"),
                            r.get("time", 0.0), r.get("since"))
        except (MMError, KeyError, TypeError, ValueError) as e:
            if damaged is None:
                raise journal.damage(number, f"is not an action ({str(e)[:80]})") from e
            damaged.append(number)
            continue
        if r.get("retracted"):  # an undo: the latest equal action is taken back
            k = next((k for k in range(len(actions) - 1, -1, -1) if actions[k] == action), None)
            if k is not None:
                del actions[k]
        else:
            actions.append(action)
    return actions


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _put_aside(path: Path) -> None:
    if path.exists():
        path.replace(path.with_name(f"{path.name}.damaged"))


def _recover_meta(probe: Project) -> dict:
    meta_file = probe.path / "project.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError, RecursionError):
        meta = None
    if isinstance(meta, dict) and isinstance(meta.get("schema"), int) and meta["schema"] != SCHEMA:
        return probe._read_meta(meta_file)  # another version's project, not a damaged one
    try:
        return probe._read_meta(meta_file)
    except ProjectError:
        backup = previous_version(meta_file)
        _put_aside(meta_file)
        try:
            write_atomic(meta_file, backup.read_bytes())
            return probe._read_meta(meta_file)
        except (OSError, ProjectError) as e:
            raise ProjectError(f"{meta_file} is damaged and its previous version {backup.name} "
                               f"cannot stand in ({e})") from None


def _recover_labels(probe: Project) -> None:
    snapshot, journal = probe.path / "labels.npz", probe.path / "labels.journal"
    labels, sources, rebuilt = probe._empty_labels(), [journal], False
    try:
        if snapshot.exists():
            read_snapshot(snapshot, labels)
    except ProjectError:
        _put_aside(snapshot)
        labels, rebuilt = probe._empty_labels(), True
        sources = [previous_version(journal), journal]
        try:
            if previous_version(snapshot).exists():
                read_snapshot(previous_version(snapshot), labels)
        except ProjectError:  # both snapshots damaged: the journals are what is left
            labels = probe._empty_labels()
    damaged: list[int] = []
    for source in sources:
        bad: list[int] = []
        replay(Journal(source), labels, damaged=bad)
        if bad and source == journal:
            write_atomic(journal.with_name(f"{journal.name}.damaged"), journal.read_bytes())
        damaged += bad
    if rebuilt or damaged:
        write_snapshot(snapshot, labels)
        Journal(journal).reset()


def _recover_actions(path: Path) -> None:
    journal = Journal(path / "actions.journal")
    bad: list[int] = []
    read_actions(journal, bad)
    if bad:
        skip = set(bad)
        kept = [r for n, r in journal.records([]) if n not in skip]
        write_atomic(journal.path.with_name("actions.journal.damaged"), journal.path.read_bytes())
        write_atomic(journal.path, b"".join(
            (json.dumps(r, separators=(",", ":")) + "\n").encode() for r in kept))


def _recover_rounds(path: Path) -> None:
    f = path / "rounds.json"
    probe = Project.__new__(Project)
    probe.path = path
    try:
        probe._read_rounds()
        return
    except ProjectError:
        _put_aside(f)
    rounds: list[dict] = []
    backup = previous_version(f)
    if backup.exists():
        write_atomic(f, backup.read_bytes())
        try:
            rounds = probe._read_rounds()
        except ProjectError:
            rounds = []
    # A round whose model file is there but whose record is not: recorded again, so the
    # round number and project.model come back and no model file is overwritten.
    numbers = [int(m.group(1)) for m in (re.fullmatch(r"round_(\d+)\.pt", p.name)
                                          for p in (path / "models").glob("round_*.pt")) if m]
    for k in range(len(rounds), max(numbers, default=-1) + 1):
        model = path / "models" / f"round_{k}.pt"
        rounds.append({"round": k, "recovered": True,
                       **({"model_file": model.name} if model.exists() else {})})
    write_atomic(f, json.dumps(rounds, indent=1).encode())


def _fill_from_arrays(labels, task, frames, data, names, scores, srcs) -> None:
    if task == "boxes":
        trusted = Box._trusted
        store = labels._boxes
        tracks = [None if t < 0 else t for t in data["track"].tolist()]
        for f, (x1, y1, x2, y2), name, s, src, r, t in zip(
                frames.tolist(), data["xyxy"].tolist(), names, scores, srcs, data["round"].tolist(),
                tracks, strict=True):
            entry = (trusted(x1, y1, x2, y2, name, s, src, t), r)
            if f in store:
                store[f].append(entry)
            else:
                store[f] = [entry]
    elif task == "masks":
        tracks = [None if t < 0 else t for t in data["track"].tolist()]
        for f, text, name, s, src, r, t in zip(frames.tolist(), data["polygons"].tolist(), names, scores,
                                               srcs, data["round"].tolist(), tracks, strict=True):
            labels._boxes.setdefault(f, []).append((Mask(json.loads(text), name, s, src, t), r))
    else:
        for f, name, s, src, r in zip(frames.tolist(), names, scores, srcs,
                                      data["round"].tolist(), strict=True):
            labels._frame_class[f] = (name, s, src, r)
