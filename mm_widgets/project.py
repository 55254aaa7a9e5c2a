"""A project folder: labels, action log, models and rounds, saved as they happen.

Layout of a project folder::

    project.json        schema version, classes, task, where the frames come from
    labels.npz          snapshot of the labels (numpy arrays, no pickles)
    labels.journal      one JSON line per changed frame since the snapshot
    *.prev.*            the version before the current one of each file above
    actions.journal     every human action, append-only (an undo appends a "retracted" line)
    rounds.json         one record per finished round
    models/             round_N.pt files

Every label change is appended to the journal (and flushed) before the call returns, so a
crash or a killed kernel loses nothing that was confirmed. Replaying a journal line sets a
frame's whole state, so replaying twice is harmless: the snapshot is written atomically
first, and only then is the journal emptied.

Recovery: if a file is ever damaged (a disk error, a hand edit), opening the project raises
:class:`~mm_widgets.errors.ProjectError` naming the file; ``Project.recover(path)`` then
rebuilds the labels from the previous snapshot and both journals (nothing confirmed is
lost) and puts the damaged files aside as ``*.damaged``.
"""

from __future__ import annotations

import gc
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .actions import Action, ActionLog, ActionTimes, efficiency, format_seconds
from .errors import MMError, ProjectError
from .labels import SOURCES, TRACK, Box, LabelSet
from .storage import Journal, keep_previous, previous_version, write_atomic

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
        ``"boxes"`` or ``"classes"``.
    """

    def __init__(self, path: str | Path, classes=None, *, frames=None, task: str = "boxes"):
        self.path = Path(path)
        self._frames = frames
        meta_file = self.path / "project.json"
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
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                (self.path / "models").mkdir(exist_ok=True)
            except OSError as e:
                raise ProjectError(f"cannot create project folder {self.path}: {e}") from e
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
        self._unsaved: set[int] = set()  # frames changed in memory whose write failed
        self._labels_journal = Journal(self.path / "labels.journal")
        self._actions_journal = Journal(self.path / "actions.journal")
        self.labels = self._load_labels()
        self.actions = ActionLog(self._load_actions(), sink=self._save_action,
                                 retract_sink=self._save_retraction)
        self.labels.on_change(self._save_frame)
        self.labels.project = self
        self._journal_lines = sum(1 for _ in self._labels_journal.read())

    # -- reading ---------------------------------------------------------------------------
    def _read_meta(self, meta_file: Path) -> dict:
        try:
            meta = json.loads(meta_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
            raise ProjectError(f"{meta_file} is unreadable ({e}); "
                               f"mm.Project.recover({str(self.path)!r}) restores it") from e
        if not isinstance(meta, dict) or "schema" not in meta:
            raise ProjectError(f"{meta_file} is not an mm_widgets project file")
        if meta["schema"] != SCHEMA:
            raise ProjectError(f"{meta_file} has schema version {meta['schema']!r}; this "
                               f"mm_widgets reads version {SCHEMA}")
        return meta

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

    def _load_labels(self) -> LabelSet:
        labels = self._empty_labels()
        snapshot = self.path / "labels.npz"
        if snapshot.exists():
            read_snapshot(snapshot, labels)
        for record in self._labels_journal.read():
            try:
                labels.apply_frame_state(record, notify=False)
            except (MMError, KeyError, TypeError, ValueError):
                continue  # a garbled line from a crash: the frame's previous state stands
        return labels

    def _load_actions(self) -> list[Action]:
        actions = []
        for r in self._actions_journal.read():
            try:
                action = Action(r["kind"], r["frame"], r.get("round", 0), r.get("label"),
                                r.get("time", 0.0))
            except (MMError, KeyError, TypeError, ValueError):
                continue
            if r.get("retracted"):  # an undo: the latest equal action is taken back
                k = next((k for k in range(len(actions) - 1, -1, -1) if actions[k] == action), None)
                if k is not None:
                    del actions[k]
            else:
                actions.append(action)
        return actions

    # -- writing ---------------------------------------------------------------------------
    def _save_frame(self, frame: int) -> None:
        # A frame whose write failed (disk full, read-only) stays queued and is written
        # with the next change that succeeds; the in-memory labels keep it meanwhile.
        self._unsaved.add(frame)
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
        self._actions_journal.append(
            {"kind": action.kind, "frame": action.frame, "round": action.round,
             "label": action.label, "time": action.time}
        )

    def _save_retraction(self, action: Action) -> None:
        self._actions_journal.append(
            {"kind": action.kind, "frame": action.frame, "round": action.round,
             "label": action.label, "time": action.time, "retracted": True}
        )

    def save(self) -> None:
        """Fold the journal into a new snapshot (every change is already on disk without it).

        The snapshot and journal before it stay as ``labels.prev.npz`` and
        ``labels.prev.journal``: together they are the last good state.
        """
        snapshot = self.path / "labels.npz"
        keep_previous(self._labels_journal.path)
        write_snapshot(snapshot, self.labels, keep=True)
        self._labels_journal.reset()
        self._unsaved.clear()
        self._journal_lines = 0

    @classmethod
    def recover(cls, path: str | Path) -> Project:
        """Rebuild a damaged project from the previous versions of its files.

        Labels: the previous snapshot, then the previous journal, then the current journal
        (each line sets a frame's whole state, so this replays every confirmed change).
        Damaged files are renamed ``*.damaged``; the recovered state is saved and opened.
        """
        path = Path(path)
        meta_file = path / "project.json"
        try:
            json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            backup = previous_version(meta_file)
            if not backup.exists():
                raise ProjectError(f"{meta_file} is damaged and no {backup.name} exists") from None
            if meta_file.exists():
                meta_file.replace(meta_file.with_name("project.json.damaged"))
            write_atomic(meta_file, backup.read_bytes())
        snapshot = path / "labels.npz"
        probe = cls.__new__(cls)
        probe.path, probe.meta = path, probe._read_meta(meta_file)
        try:
            if snapshot.exists():
                read_snapshot(snapshot, probe._empty_labels())
        except ProjectError:
            snapshot.replace(snapshot.with_name("labels.npz.damaged"))
            prev = previous_version(snapshot)
            labels = probe._empty_labels()
            if prev.exists():
                read_snapshot(prev, labels)
            for journal in (previous_version(path / "labels.journal"), path / "labels.journal"):
                for record in Journal(journal).read():
                    try:
                        labels.apply_frame_state(record, notify=False)
                    except (MMError, KeyError, TypeError, ValueError):
                        continue
            write_snapshot(snapshot, labels)
            Journal(path / "labels.journal").reset()
        for name in ("rounds.json",):
            f = path / name
            try:
                if f.exists():
                    json.loads(f.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                f.replace(f.with_name(f"{name}.damaged"))
                if previous_version(f).exists():
                    write_atomic(f, previous_version(f).read_bytes())
        return cls(path)

    def close(self) -> None:
        self._labels_journal.close()
        self._actions_journal.close()

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
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ProjectError(f"{f} is unreadable ({e}); "
                               f"mm.Project.recover({str(self.path)!r}) goes back to its previous version") from e
        if not isinstance(rounds, list):
            raise ProjectError(f"{f} should hold a list of rounds")
        return rounds

    def record_round(self, **info) -> dict:
        """Close the current round with its figures (labels, actions, seconds, model file)."""
        rounds = self._read_rounds()
        record = {"round": len(rounds), "time": time.time(),
                  "labels": len(self.labels), "human_actions": self.actions.count(len(rounds)),
                  **info}
        write_atomic(self.path / "rounds.json", json.dumps([*rounds, record], indent=1).encode(),
                     keep=True)
        self.save()
        return record

    def model_path(self, round: int | None = None) -> Path:
        """Where the model of ``round`` (default: the current one) is stored."""
        return self.path / "models" / f"round_{self.round if round is None else round}.pt"

    def keep_model(self, model, **info) -> dict:
        """Save ``model`` (anything with ``save(path)``) as the current round's model and close
        the round with ``info``; :attr:`model` gives it back, also after a restart."""
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
        folder.mkdir(parents=True, exist_ok=True)
        if wants_images and images:
            options.setdefault("frames", self.frames)
        if format in ("cvat", "mot"):
            options.setdefault("name", self.path.name)
        target = folder / file_name if file_name else folder
        write(labels, target, **options)
        return target

    def summary(self) -> pd.DataFrame:
        """The person's work here, one row per kind of event (draw, adjust, delete, class,
        accept): ``events``, ``timed`` and ``median_seconds`` measured from the action log's
        timestamps (:meth:`~mm_widgets.actions.ActionLog.seconds`), ``seconds`` the price of
        one such event (the person's median once three are timed, else the published figure
        of :class:`~mm_widgets.actions.ActionTimes`) and ``total_seconds`` = events x seconds."""
        table = self.actions.seconds()
        times = ActionTimes(self.actions)
        table["seconds"] = [times[k] for k in table["kind"]]
        table["total_seconds"] = table["events"] * table["seconds"]
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
        arrays["track"] = df[TRACK].fillna(-1).to_numpy(np.int64)  # -1: no track
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue(), keep=keep)


def read_snapshot(path: Path, labels: LabelSet) -> None:
    """Fill an empty ``labels`` from a snapshot written by :func:`write_snapshot`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ProjectError(f"{path} is unreadable ({e}); mm.Project.recover({str(path.parent)!r}) "
                           "rebuilds the labels from the previous snapshot and the journals") from e
    classes, task = labels.classes, labels.task
    frames, codes, sources = data["frame"], data["label"], data["source"]
    n = len(frames)
    ok = (len(codes) == n and len(sources) == n and len(data["score"]) == n
          and len(data["round"]) == n and (n == 0 or (codes.min() >= 0 and codes.max() < len(classes)
                                                      and sources.min() >= 0
                                                      and sources.max() < len(SOURCES))))
    if task == "boxes":
        xyxy = data["xyxy"]
        ok = ok and xyxy.shape == (n, 4) and bool(np.isfinite(xyxy).all()) and bool(
            ((xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])).all())
        # snapshots written before tracks have no track array: their boxes have none
        track = data.get("track", np.full(n, -1, dtype=np.int64))
        ok = ok and track.shape == (n,) and (n == 0 or track.min() >= -1)
        data["track"] = track
    if not ok:
        raise ProjectError(f"{path} holds inconsistent label arrays; mm.Project.recover("
                           f"{str(path.parent)!r}) rebuilds the labels from the previous snapshot")
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
    else:
        for f, name, s, src, r in zip(frames.tolist(), names, scores, srcs,
                                      data["round"].tolist(), strict=True):
            labels._frame_class[f] = (name, s, src, r)
