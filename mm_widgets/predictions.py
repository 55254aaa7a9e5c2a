"""A model's boxes (or frame classes) on a clip, predicted a block of frames at a time,
when first asked for.

A widget over a long scene must open before the model has seen every frame: 5,402 frames
at 100 frames/s are a minute. :class:`Predictions` predicts the block of frames around
the one a person looks at when it is asked for (:meth:`Predictions.boxes`), and, once
started (:meth:`Predictions.start`), every other block in a background thread, reading the
frames through a decoder of its own so it never moves the one that shows frames.

Blocks are fixed runs of :data:`BLOCK` frames, each predicted in one call of
``model.predict(frames, indices=..., temporal=False)``: every frame on its own, so the
boxes are the same whichever order the blocks come in and wherever they are cut. What
makes them consistent in time is :class:`mm_widgets.propagate.Proposer`, which fuses them
with the boxes people confirmed.

A frame classifier's predictions (``model.task == "classes"``) are kept the same way, one
``(class, score)`` per frame: :meth:`Predictions.known_class`, :meth:`Predictions.frame_class`;
a mask model's (``model.task == "masks"``) as masks, :meth:`Predictions.known_masks`,
:meth:`Predictions.masks`, beside their boxes (each mask's box: :meth:`Predictions.boxes`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from .data import release_freed_memory
from .errors import MMError
from .labels import BOX_COLUMNS, CLASS_COLUMNS, POLYGONS, TRACK, Box, Mask
from .metrics import boxes_by_frame, classes_by_frame, masks_by_frame
from .temporal import predict_settings

#: Frames predicted in one call of the model: about half a second on a 2-core CPU.
BLOCK = 64


class Predictions:
    """A model's boxes on ``frames``, made a block at a time.

    Parameters
    ----------
    model
        A fitted micro-model (``model.predict(frames, indices=...)`` returning a table with
        LabelSet columns).
    frames
        The clip.
    skip
        Frames never to predict (already labelled by a person).
    first_track
        The first track id to give out (e.g. the labels' ``next_track``): each block's
        tracks get ids after the ones given out before, so no two blocks share one.
    block
        Frames per block.

    Attributes
    ----------
    frames_predicted : int
        Frames the model has been run on so far.
    version : int
        Grows by one every time a block lands (a cheap "anything new?" check).
    error : Exception or None
        What stopped the background thread, if anything did.
    """

    def __init__(self, model, frames, *, skip: Iterable[int] = (), block: int = BLOCK,
                 first_track: int = 0):
        if int(block) < 1:
            raise MMError(f"block must be >= 1 frame, got {block}")
        self.model = model
        self.frames = frames
        #: ``"boxes"``, ``"classes"`` or ``"masks"``: what the model predicts
        self.task = getattr(model, "task", "boxes")
        self.block = int(block)
        self.skip = frozenset(int(f) for f in skip)
        n = len(frames)
        self._blocks = (n + self.block - 1) // self.block
        self._done = np.zeros(self._blocks, dtype=bool)
        self._parts: dict[int, pd.DataFrame] = {}
        self._boxes: dict[int, list[Box]] = {}
        self._masks: dict[int, list[Mask]] = {}
        self._classes: dict[int, tuple[str, float | None]] = {}
        self._lock = threading.Lock()  # guards the state above
        self._model_lock = threading.Lock()  # one prediction at a time, whoever asks
        # Requests from a person go first: the background thread waits while any is open
        # (a plain lock is not fair: the thread would take it back block after block).
        self._asking = 0
        self._turn = threading.Condition()
        self._listeners: list[Callable[[range], None]] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._table: tuple[int, pd.DataFrame] | None = None
        self.frames_predicted = 0
        self.version = 0
        # each predict call numbers its tracks from 0: blocks get ids after those given out
        self._next_track = int(first_track)
        self.error: BaseException | None = None

    # -- what is known ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frames)

    def block_of(self, i: int) -> range:
        """The block of frames predicted together with frame ``i``."""
        b = int(i) // self.block
        return range(b * self.block, min((b + 1) * self.block, len(self.frames)))

    def is_predicted(self, i: int) -> bool:
        """True once frame ``i``'s block has been predicted (a skipped frame never is)."""
        return bool(self._done[int(i) // self.block]) and int(i) not in self.skip

    @property
    def predicted(self) -> list[int]:
        """Frames predicted so far, in clip order."""
        done = np.flatnonzero(self._done)
        return [f for b in done for f in self.block_of(b * self.block) if f not in self.skip]

    @property
    def complete(self) -> bool:
        """True when every block has been predicted."""
        return bool(self._done.all())

    def known_boxes(self, i: int) -> list[Box] | None:
        """Frame ``i``'s predicted boxes, or None when it has not been predicted yet
        (never predicts)."""
        if not self.is_predicted(i):
            return None
        return self._boxes.get(int(i), [])

    def boxes(self, i: int) -> list[Box]:
        """Frame ``i``'s predicted boxes, predicting its block first if needed."""
        self.ensure([i])
        return self._boxes.get(int(i), [])

    def known_masks(self, i: int) -> list[Mask] | None:
        """Frame ``i``'s predicted masks (a mask model's), or None when it has not been
        predicted yet (never predicts)."""
        if not self.is_predicted(i):
            return None
        return self._masks.get(int(i), [])

    def masks(self, i: int) -> list[Mask]:
        """Frame ``i``'s predicted masks, predicting its block first if needed."""
        self.ensure([i])
        return self._masks.get(int(i), [])

    def known_class(self, i: int) -> tuple[str | None, float | None] | None:
        """Frame ``i``'s predicted ``(class, score)`` (a classifier's), ``(None, None)`` when
        the model gave it none, or None when it has not been predicted yet (never predicts)."""
        if not self.is_predicted(i):
            return None
        return self._classes.get(int(i), (None, None))

    def frame_class(self, i: int) -> tuple[str | None, float | None]:
        """Frame ``i``'s predicted ``(class, score)``, predicting its block first if needed."""
        self.ensure([i])
        return self._classes.get(int(i), (None, None))

    @property
    def columns(self) -> list[str]:
        return {"classes": CLASS_COLUMNS, "masks": [*BOX_COLUMNS, TRACK, POLYGONS]}.get(
            self.task, BOX_COLUMNS)

    def table(self) -> pd.DataFrame:
        """Every prediction so far, one row per box, sorted by frame. ``attrs["not_predicted"]``
        lists the frames not predicted yet (neither predicted nor skipped): they are unknown,
        not empty (see :func:`mm_widgets.select.frame_uncertainty`)."""
        with self._lock:
            if self._table is not None and self._table[0] == self.version:
                return self._table[1]
            parts = [self._parts[b] for b in sorted(self._parts) if len(self._parts[b])]
            version = self.version
            done = self._done.copy()
        table = (pd.concat(parts, ignore_index=True) if parts
                 else pd.DataFrame(columns=self.columns))
        table = table.sort_values("frame", kind="stable").reset_index(drop=True)
        table.attrs["not_predicted"] = [
            f for b in np.flatnonzero(~done) for f in self.block_of(b * self.block)
            if f not in self.skip]
        with self._lock:
            self._table = (version, table)
        return table

    # -- predicting -------------------------------------------------------------------------
    def on_block(self, fn: Callable[[range], None]) -> Callable[[range], None]:
        """Call ``fn(block)`` after each block lands (from the thread that predicted it);
        returns ``fn``."""
        self._listeners.append(fn)
        return fn

    def ensure(self, frames: Iterable[int]) -> None:
        """Predict the blocks holding ``frames`` that are not predicted yet."""
        wanted = [b for b in sorted({int(i) // self.block for i in frames}) if not self._done[b]]
        if not wanted:
            return
        with self._turn:
            self._asking += 1
        try:
            for b in wanted:
                self._predict_block(b, self.frames)
        finally:
            with self._turn:
                self._asking -= 1
                self._turn.notify_all()

    def predict_all(self) -> pd.DataFrame:
        """Predict every block not predicted yet (here, now); returns :meth:`table`."""
        self.ensure(range(len(self.frames)))
        return self.table()

    def _predict_block(self, b: int, frames) -> None:
        with self._model_lock:
            if self._done[b]:
                return  # the other thread got there first
            block = self.block_of(b * self.block)
            wanted = [i for i in block if i not in self.skip]
            if wanted:
                # each frame on its own, so the boxes do not depend on where the blocks are
                # cut; consistency in time comes from propagation (mm_widgets.propagate)
                table = self.model.predict(frames, indices=wanted,
                                           **predict_settings(self.model, False))
                table = table[table["frame"].isin(wanted)]
                if TRACK in table.columns and table[TRACK].notna().any():
                    ids = table[TRACK].astype("Int64")
                    table = table.assign(**{TRACK: ids - ids.min() + self._next_track})
                    self._next_track = int(table[TRACK].max()) + 1
            else:
                table = pd.DataFrame(columns=self.columns)
            classes = self.task == "classes"
            # a mask table's box columns are each mask's box (LabelSet(task="masks").df)
            found = classes_by_frame(table) if classes else boxes_by_frame(table)
            masks = masks_by_frame(table) if self.task == "masks" else {}
            with self._lock:
                self._parts[b] = table
                (self._classes if classes else self._boxes).update(found)
                self._masks.update(masks)
                self._done[b] = True
                self.frames_predicted += len(wanted)
                self.version += 1
            release_freed_memory()  # the block's frames and tensors, freed in pieces
        for fn in list(self._listeners):
            fn(block)

    def start(self, near: int = 0) -> None:
        """Predict every block not predicted yet in a background thread: the blocks from
        frame ``near`` to the end first, then those before it. Idempotent."""
        if self._thread is not None or self.complete:
            return
        reader = self.frames.reopened() if hasattr(self.frames, "reopened") else self.frames
        first = int(near) // self.block
        order = [*range(first, self._blocks), *range(first)]

        def run() -> None:
            try:
                for b in order:
                    with self._turn:
                        self._turn.wait_for(lambda: not self._asking or self._stop.is_set())
                    if self._stop.is_set():
                        return
                    if not self._done[b]:
                        self._predict_block(b, reader)
            except BaseException as e:  # kept for wait(); the person's own requests still run
                self.error = e
            finally:
                if reader is not self.frames:
                    reader.close()

        self._thread = threading.Thread(target=run, name="mm_widgets predictions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread after the block it is predicting."""
        self._stop.set()
        with self._turn:
            self._turn.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background thread; True when every block is predicted. Raises what
        stopped the thread, if anything did."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.complete

    def __repr__(self) -> str:
        return (f"Predictions({len(self.predicted)} of {len(self.frames) - len(self.skip)} frames "
                f"predicted, {int(self._done.sum())} of {self._blocks} blocks)")
