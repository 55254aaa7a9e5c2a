"""The assembly line: one micro-model per narrow domain (a shot, a video, a class).

:func:`split_shots` finds hard cuts; :class:`AssemblyLine` trains one micro-model per
domain and routes every frame to the model that owns it (no averaging). Training and
prediction take any :class:`concurrent.futures.Executor` (a local process pool, or a Dask
cluster through ``distributed.Client(...).get_executor()``); work travels as plain data
(where the frames come from, the labels as records) and models come back as checkpoint
bytes, never as pickled live objects.

With a local process pool, start the workers with ``spawn`` once torch has run in the
parent (``ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))``): a
worker *forked* from a process whose torch thread pool is running can hang. Dask's
workers are separate processes already. ``MM_WIDGETS_WORKER_THREADS=1`` in the
environment gives each worker one torch thread (two workers on two cores).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .actions import ActionLog, efficiency
from .errors import MMError, NoLabelsError, warn
from .labels import LabelSet
from .models.base import MicroModel
from .models.progress import long_call
from .rounds import train_model

# -- shot splitting ---------------------------------------------------------------------------

GRID = 3  # the frame is cut into GRID x GRID cells; a cut changes most cells at once
THUMB_SIDE = 96


def shot_features(frames) -> np.ndarray:
    """Per frame and grid cell, a normalised HSV colour histogram: ``(n, GRID*GRID, 72)``.

    Written into one array made up front: thousands of small per-frame arrays, made
    between the large decoded frames, pin the C heap and a long clip's RSS grows by
    gigabytes (measured: 1.2 GB for 5,402 frames of 480x352; 14 MB of features).
    """
    import cv2

    feats = np.zeros((len(frames), GRID * GRID, 72), dtype=np.float32)
    for k, frame in enumerate(frames):
        h, w = frame.shape[:2]
        scale = THUMB_SIDE / max(h, w)
        small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1 else frame
        hsv = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2HSV)
        h, w = hsv.shape[:2]
        for a in range(GRID):
            for b in range(GRID):
                cell = hsv[a * h // GRID:(a + 1) * h // GRID, b * w // GRID:(b + 1) * w // GRID]
                hist = cv2.calcHist([cell], [0, 1, 2], None, [8, 3, 3],
                                    [0, 180, 0, 256, 0, 256]).ravel()
                feats[k, a * GRID + b] = hist / max(hist.sum(), 1.0)
    return feats


def cut_scores(frames) -> np.ndarray:
    """Score of a cut before each frame ``t >= 1`` (index ``t - 1``), in [0, 1].

    The median over grid cells of the histogram change: a hard cut changes nearly every
    cell, an object passing close to the camera changes only the cells it covers.
    """
    f = shot_features(frames)
    if len(f) < 2:
        return np.zeros(0)
    return np.median(0.5 * np.abs(f[1:] - f[:-1]).sum(-1), axis=1)


def split_shots(frames, *, threshold: float | str = "auto", min_shot: int = 3) -> list[range]:
    """Split a clip into shots at hard cuts.

    Parameters
    ----------
    frames
        The clip.
    threshold
        ``"auto"``: a cut is a change score of at least 0.15 (a sixth of the colour mass
        moved in most of the frame) and at least 2.5 times any change within two frames of
        it: an isolated spike. Fast motion and pans change every frame alike, so they are
        not cut; a cut between two shots of one room (an over-the-shoulder dialogue, score
        ~0.25) is. A number: a fixed threshold on the score (local peaks only).
    min_shot
        Shots shorter than this are merged into the previous one (flashes, fades).

    Returns
    -------
    list of range
        Consecutive frame ranges covering the clip.
    """
    n = len(frames)
    if n == 0:
        raise MMError("cannot split an empty clip into shots")
    scores = cut_scores(frames)
    cuts = []
    for i, s in enumerate(scores):
        t = i + 1  # cut before frame t
        if threshold == "auto":
            # A hard cut is an isolated spike; fast motion and pans change every frame alike.
            near = np.concatenate([scores[max(0, i - 2):i], scores[i + 1:i + 3]])
            is_cut = s >= 0.15 and s >= 2.5 * (near.max() if len(near) else 0.0)
        else:
            lo, hi = max(0, i - 2), min(len(scores), i + 3)
            is_cut = s >= float(threshold) and s >= scores[lo:hi].max()
        if is_cut and t - (cuts[-1] if cuts else 0) >= min_shot:
            cuts.append(t)
    bounds = [0, *cuts, n]
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


# -- domains and the line -------------------------------------------------------------------
#: The widgets a line opens on one domain (``"label"``, ``"review"``): ``make(line, domain,
#: **settings)``, registered by the package root. The face sits above the loop: the line
#: never imports a widget, it calls what was registered.
DOMAIN_WIDGETS: dict[str, Callable] = {}


def register_domain_widget(name: str) -> Callable[[Callable], Callable]:
    """Decorator: make ``fn(line, domain, **settings)`` the line's ``name`` widget."""

    def wrap(fn: Callable) -> Callable:
        DOMAIN_WIDGETS[name] = fn
        return fn

    return wrap



@dataclass
class Domain:
    """What one micro-model is responsible for: some frames of a clip, maybe one class."""

    name: str
    frames: object  # Frames
    indices: list[int]  # frame indices (of ``frames``) this domain owns
    label_class: str | None = None  # a class domain: this model only answers for one class
    labels: LabelSet | None = None
    actions: ActionLog | None = None
    model: object = None
    model_bytes: bytes | None = field(default=None, repr=False)
    train_seconds: float = 0.0

    def domain_labels(self) -> LabelSet:
        """The domain's own labels (its frames, its class), with at least one label."""
        if self.labels is None:
            raise NoLabelsError(f"domain {self.name!r} has no labels: line.add(domain, labels) first")
        own = self.labels.subset(self.indices)
        if self.label_class is not None:
            own = _only_class(own, self.label_class)
        if not own.looked_at:
            raise NoLabelsError(f"domain {self.name!r} has zero labelled frames; label a few of "
                                f"its frames ({self.indices[0]}..{self.indices[-1]}) first")
        return own


def _only_class(labels: LabelSet, label: str) -> LabelSet:
    out = LabelSet([label], labels.task, size=labels.size, n_frames=labels.n_frames)
    for f in labels.looked_at:
        if labels.task == "boxes":
            out.set_boxes(f, [b for b in labels.boxes(f) if b.label == label])
        elif labels.frame_class(f) is not None:
            out.set_class(f, labels.frame_class(f))
    return out


class AssemblyLine:
    """Many micro-models, each with its own domain, working side by side.

    Parameters
    ----------
    kind
        The micro-model kind for every station (``"auto"``, a registered kind, or
        ``"interpolate"``).
    **fit_settings
        Passed to :func:`mm_widgets.overfit` for every domain (epochs, imgsz, seed, ...).
    """

    def __init__(self, kind: str = "auto", **fit_settings):
        self.kind = kind
        self.fit_settings = fit_settings
        self.domains: list[Domain] = []

    def add(self, domain, labels: LabelSet | None = None, *, frames=None, name: str | None = None,
            actions: ActionLog | None = None) -> Domain:
        """Add a domain: a ``range``/list of frame indices of ``frames``, a whole ``Frames``
        (a video), or a class name (one model for that class over ``frames``)."""
        from .data import Frames

        if isinstance(domain, Frames):
            frames, indices, cls = domain, list(range(len(domain))), None
            name = name or domain.name or f"video {len(self.domains)}"
        elif isinstance(domain, str):
            if frames is None:
                raise MMError(f"class domain {domain!r} needs frames=...")
            indices, cls = list(range(len(frames))), domain
            name = name or f"class {domain}"
        elif isinstance(domain, (range, Sequence)) and not isinstance(domain, str):
            if frames is None:
                raise MMError("a frame-range domain needs frames=...")
            indices, cls = [int(i) for i in domain], None
            if not indices:
                raise MMError("a domain needs at least one frame")
            name = name or f"frames {indices[0]}-{indices[-1]}"
        else:
            raise MMError(f"a domain is a range of frames, a Frames video or a class name; "
                          f"got {type(domain).__name__}")
        if any(not 0 <= i < len(frames) for i in indices):
            raise MMError(f"domain {name!r} has frames outside the clip (0..{len(frames) - 1})")
        if cls is not None and labels is not None and labels.task == "classes":
            raise MMError(f"a class domain ({cls!r}) keeps one class's boxes; frame classes are "
                          "split by frames: add a range of frames or a video instead")
        if cls is not None and labels is not None and cls not in labels.classes:
            raise MMError(f"class domain {cls!r} is not among the labels' classes {labels.classes}")
        d = Domain(name, frames, indices, cls, labels, actions)
        self.domains.append(d)
        return d

    def __len__(self) -> int:
        return len(self.domains)

    def __repr__(self) -> str:
        return f"AssemblyLine({[d.name for d in self.domains]})"

    def domain(self, which) -> Domain:
        """One domain: by name, by position in the line, or the :class:`Domain` itself."""
        if isinstance(which, Domain) and which in self.domains:
            return which
        if isinstance(which, str):
            for d in self.domains:
                if d.name == which:
                    return d
        elif (isinstance(which, (int, np.integer)) and not isinstance(which, bool)
              and -len(self.domains) <= which < len(self.domains)):
            return self.domains[which]
        raise MMError(f"no domain {which!r} in this line; its domains: "
                      f"{[d.name for d in self.domains]}")

    # -- a person on one domain -------------------------------------------------------------
    def label(self, domain, **settings):
        """A labeller on one domain's frames (``mm.label`` there, frames numbered from 0):
        what a person labels goes into the domain's labels and actions, in the clip's frame
        numbers, so :meth:`fit` learns from it. ``classes=`` is needed when the domain has
        no labels yet; other settings are ``mm.label``'s."""
        return self._domain_widget("label", domain, **settings)

    def review(self, domain, **settings):
        """A review of one domain's frames with the domain's own model (after :meth:`fit`):
        accepted and corrected boxes go into the domain's labels, every edit is counted in
        its actions. Settings are ``mm.review``'s."""
        return self._domain_widget("review", domain, **settings)

    def _domain_widget(self, name: str, domain, **settings):
        make = DOMAIN_WIDGETS.get(name)
        if make is None:
            raise MMError(f"line.{name}() needs the notebook widgets: import mm_widgets (with ipywidgets installed)")
        return make(self, self.domain(domain), **settings)

    # -- training ---------------------------------------------------------------------------
    def fit(self, executor: Executor | None = None, *, progress=True) -> AssemblyLine:
        """Train one micro-model per domain (in parallel on ``executor`` when given).

        ``progress``: one display for the whole line (domains trained, and each training's
        epochs when they run in this process); False: silent.

        One Ctrl-C (Kernel -> Interrupt) stops the whole line, not just the training running
        then: every domain trained so far keeps its new model (the one being trained keeps
        the epochs it finished, as :func:`~mm_widgets.overfit` does, when it finished one),
        the others keep what they had, and a warning names both.
        """
        jobs = [fit_job(d, self.kind, self.fit_settings) for d in self.domains]
        trained: list[str] = []
        interrupted = False
        with long_call(progress, len(jobs), "domain") as call:
            try:
                if executor is None:
                    for k, job in enumerate(jobs):
                        call.step(k, f"training {job['name']}")
                        if "progress" not in job["settings"] and progress is not False:
                            job = {**job, "settings": {**job["settings"], "progress": True}}
                        interrupted = self._keep(self.domains[k], run_fit_job(job), trained)
                        if interrupted:
                            break
                else:
                    call.step(0, f"training {len(jobs)} domains on {type(executor).__name__}")
                    for k, result in enumerate(executor.map(run_fit_job, jobs)):
                        interrupted = self._keep(self.domains[k], result, trained)
                        call.step(k + 1, f"{jobs[k]['name']} trained")
                        if interrupted:
                            break
            except KeyboardInterrupt:
                interrupted = True
            if interrupted:
                call.stop(f"interrupted: {len(trained)} of {len(jobs)} domains trained")
        if interrupted:
            rest = [d.name for d in self.domains if d.name not in trained]
            warn(f"line.fit() interrupted: {_names(trained) or 'no domain'} trained; "
                 f"{_names(rest)} not (they keep the model they had)")
        return self

    @staticmethod
    def _keep(d: Domain, result: tuple[bytes, float, str | None], trained: list[str]) -> bool:
        """Give ``d`` the model a fit job made; True when its training was interrupted."""
        blob, seconds, stop_reason = result
        d.model_bytes, d.train_seconds = blob, seconds
        d.model = model_from_bytes(blob, MicroModel)
        trained.append(d.name)
        return (stop_reason or "").startswith("interrupted")

    # -- prediction -------------------------------------------------------------------------
    def predict(self, frames=None, executor: Executor | None = None) -> pd.DataFrame:
        """Predictions for every domain's frames, each from the domain's own model, with a
        ``domain`` column. ``frames`` defaults to each domain's own frames."""
        for d in self.domains:
            if d.model_bytes is None:
                raise MMError(f"domain {d.name!r} has no model yet: call line.fit() first")
        jobs = [predict_job(d, frames) for d in self.domains]
        if executor is None:
            parts = [run_predict_job(j) for j in jobs]
        else:
            parts = list(executor.map(run_predict_job, jobs))
        out = []
        for d, (columns, records) in zip(self.domains, parts, strict=True):
            df = pd.DataFrame.from_records(records, columns=columns)
            df["domain"] = d.name
            out.append(df)
        table = pd.concat([df for df in out if len(df)] or out, ignore_index=True)
        return table.sort_values(["frame", "domain"], kind="stable").reset_index(drop=True)

    def owner(self, frame: int) -> list[str]:
        """Names of the domains that own ``frame``."""
        return [d.name for d in self.domains if frame in set(d.indices)]

    # -- coverage ---------------------------------------------------------------------------
    def coverage(self, truth: LabelSet | None = None, predictions: pd.DataFrame | None = None,
                 *, match_iou: float = 0.5, tight_iou: float = 0.75) -> pd.DataFrame:
        """One row per domain: frames, human labels, predicted labels, human actions,
        first-pass efficiency, and (with ``truth``) the true boxes, recall, precision and
        tight rate on the frames a person did not label. A share with nothing to count
        (recall of a shot with no object, efficiency with no labels) is NaN. With frame-class
        truth: ``accuracy`` on those frames and ``wrong`` (one class action each) in place of
        the box figures."""
        from .metrics import evaluate

        if predictions is None and all(d.model_bytes is not None for d in self.domains):
            predictions = self.predict()
        rows = []
        for d in self.domains:
            own = d.labels.subset(d.indices) if d.labels is not None else None
            if own is not None and d.label_class is not None:
                own = _only_class(own, d.label_class)
            looked = set(own.looked_at) if own is not None else set()
            human = len(own) if own is not None else 0
            actions = (sum(1 for a in d.actions if a.frame in set(d.indices))
                       if d.actions is not None else human)
            row = {"domain": d.name, "frames": len(d.indices), "looked_at": len(looked),
                   "human_labels": human, "human_actions": actions,
                   "train_seconds": round(d.train_seconds, 2)}
            if predictions is not None:
                mine = predictions[(predictions["domain"] == d.name)
                                   & ~predictions["frame"].isin(looked)]
                row["predicted"] = len(mine)
                unseen = [f for f in d.indices if f not in looked]
                if truth is not None and truth.task == "classes":
                    row.update(_class_coverage(mine, truth, unseen, human, actions))
                elif truth is not None:
                    t = truth if d.label_class is None else _only_class(truth, d.label_class)
                    q = evaluate(mine, t, unseen, match_iou=match_iou, tight_iou=tight_iou)
                    labels = human + q["truth"]
                    # Nothing to find (a shot with no object), nothing proposed, nothing
                    # to label: the share is undefined (NaN), not a perfect 1 or a 0.
                    nan = float("nan")
                    row.update(true_boxes=q["truth"],
                               recall=q["recall"] if q["truth"] else nan,
                               precision=q["precision"] if q["predicted"] else nan,
                               tight_rate=q["tight_rate"] if q["truth"] else nan,
                               efficiency=efficiency(actions + q["actions"], labels) if labels else nan)
            rows.append(row)
        return pd.DataFrame(rows)


def _class_coverage(predictions: pd.DataFrame, truth: LabelSet, unseen: list[int], human: int,
                    actions: int) -> dict:
    """One domain's first-pass figures on frame classes: accuracy on its unseen frames,
    and efficiency with one class action for each wrong one."""
    from .metrics import evaluate_classes

    q = evaluate_classes(predictions, truth, unseen)
    labels = human + q["frames"]
    return {"accuracy": q["accuracy"], "wrong": q["wrong"],
            "efficiency": efficiency(actions + q["actions"], labels) if labels else float("nan")}


# -- jobs that travel to executors as plain data ---------------------------------------------


def frames_spec(frames, indices: Sequence[int]) -> dict:
    """How a worker gets ``frames[indices]``: the origin to reopen, or the arrays themselves."""
    if frames.origin is not None:
        return {"origin": frames.origin, "n": len(frames)}
    return {"arrays": {int(i): frames[int(i)] for i in indices}, "n": len(frames),
            "fps": frames.fps, "name": frames.name}


def open_spec(spec: dict):
    from .data import Frames
    from .samples import open_frames

    if "origin" in spec:
        return open_frames(spec["origin"])
    arrays = spec["arrays"]
    # Frames a worker was not sent are never asked for; a black frame keeps the indices.
    filler = np.zeros_like(next(iter(arrays.values())))
    return Frames.from_arrays([arrays.get(i, filler) for i in range(spec["n"])],
                              fps=spec["fps"], name=spec["name"])


def labels_spec(labels: LabelSet) -> dict:
    return {"classes": labels.classes, "task": labels.task, "size": labels.size,
            "n_frames": labels.n_frames, "records": labels.df.to_dict("records"),
            "looked_at": labels.looked_at}


def open_labels(spec: dict) -> LabelSet:
    df = pd.DataFrame.from_records(spec["records"])
    if not len(df):
        out = LabelSet(spec["classes"], spec["task"], size=spec["size"], n_frames=spec["n_frames"])
        for f in spec["looked_at"]:
            if spec["task"] == "boxes":
                out.set_boxes(f, [])
        return out
    return LabelSet.from_df(df, spec["classes"], looked_at=spec["looked_at"], size=spec["size"],
                            n_frames=spec["n_frames"])


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def fit_job(d: Domain, kind: str, settings: dict) -> dict:
    own = d.domain_labels()
    return {"frames": frames_spec(d.frames, own.looked_at), "labels": labels_spec(own),
            "kind": kind, "settings": dict(settings), "name": d.name}


def run_fit_job(job: dict) -> tuple[bytes, float, str | None]:
    """Train one domain's micro-model; returns its checkpoint bytes, training seconds and
    why its training stopped (``"interrupted after ..."`` on Ctrl-C; None when it trains
    nothing)."""
    # One thread per worker: several workers on few cores must not oversubscribe them.
    if os.environ.get("MM_WIDGETS_WORKER_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["MM_WIDGETS_WORKER_THREADS"]))
    frames = open_spec(job["frames"])
    labels = open_labels(job["labels"])
    start = time.perf_counter()
    settings = {"progress": False, **job["settings"]}
    model = train_model(frames, labels, job["kind"], **settings)
    seconds = time.perf_counter() - start
    return model_to_bytes(model), seconds, getattr(model, "stop_reason_", None)


def predict_job(d: Domain, frames=None) -> dict:
    frames = d.frames if frames is None else frames
    indices = [i for i in d.indices if i < len(frames)]
    return {"frames": frames_spec(frames, indices), "indices": indices, "model": d.model_bytes,
            "label_class": d.label_class}


def run_predict_job(job: dict) -> tuple[list[str], list[dict]]:
    """Predict one domain's frames; returns the table's columns and its rows as plain data."""

    frames = open_spec(job["frames"])
    model = model_from_bytes(job["model"], MicroModel)
    df = model.predict(frames, indices=job["indices"])
    if job["label_class"] is not None:
        df = df[df["label"] == job["label_class"]]
    return list(df.columns), df.to_dict("records")


def model_to_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(os.path.join(tmp, "model.pt"))
        with open(path, "rb") as fh:
            return fh.read()


def model_from_bytes(blob: bytes, base):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pt")
        with open(path, "wb") as fh:
            fh.write(blob)
        return base.load(path)

