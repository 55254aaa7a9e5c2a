"""show(): a model's predictions drawn on the frames, scrubbed or played inside the cell.

The boxes are drawn onto the frame in Python (Pillow) and the result travels as one JPEG
at the size it is shown (:class:`~mm_widgets.widgets.labeller.DisplayScale`): nothing is
editable here, so a plain ``ipywidgets.Image`` is all the browser needs, and what a person
sees is exactly what a screenshot or a test sees.

Under the frame a strip has one coloured cell per frame (or per run of frames on long
clips): green where a box is at least ``low`` (or the threshold, when higher) sure, amber
where every box shown is less sure than that, grey where nothing reaches the threshold. It is redrawn when the
threshold moves; the current frame is marked by a small cursor under it.

Given a model, the viewer opens after predicting one block of frames around the first one
shown (:class:`~mm_widgets.predictions.Predictions`): a frame a person goes to is
predicted on demand, every other one in a background thread; frames not predicted yet
show grey in the strip.

A mask model's masks are drawn filled, outlined and tagged (:class:`MaskViewer`), a frame
classifier's class as a tag on each frame (:class:`ClassViewer`); :func:`show` picks the
viewer from what it is given (:func:`task_of`, :data:`VIEWERS`).
"""

from __future__ import annotations

import html
from collections import OrderedDict

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..data import Frames, frame_in_range
from ..errors import FrameIndexError, MMError
from ..labels import POLYGONS, Box, LabelSet, Mask
from ..metrics import boxes_by_frame, classes_by_frame, masks_by_frame
from ..predictions import Predictions
from .display import (
    CLASS_COLOURS,
    DisplayScale,
    Timeline,
    cached,
    draw_boxes,
    draw_class,
    draw_masks,
    pale,
)
from .labeller import KeyShortcuts

#: Keys the viewer answers to (while the keyboard focus is in it) and what they do.
VIEWER_KEYS = {"ArrowLeft": "previous frame", "ArrowRight": "next frame", " ": "play / pause"}
#: Keys answered in the browser by a click on one of the viewer's own buttons: Space is the
#: play/pause button's click (instant; a round trip through a kernel busy drawing frames
#: let playback run on for several frames, and a pause could be missed).
BROWSER_KEYS = {" ": ".widget-play > button"}

#: Strip colours by frame status.
STATUS_COLOURS = {"ok": "#2ca02c", "low": "#ffb000", "none": "#c8c8c8", "pending": "#f2f2f2"}
STATUS_TEXT = {"ok": "sure", "low": "low confidence", "none": "no prediction",
               "pending": "not predicted yet"}
#: Worst first: a strip cell covering several frames shows the worst of them (a frame not
#: predicted yet hides no known problem).
STATUS_RANK = {"none": 0, "low": 1, "pending": 2, "ok": 3}
#: While blocks arrive in the background, the strip is redrawn every this many blocks.
STRIP_EVERY_BLOCKS = 8
JPEG_CACHE = 64  # rendered frames kept, so scrubbing back and forth re-sends without redrawing


def task_of(predictions) -> str:
    """``"classes"`` for a frame classifier or its predictions (a class LabelSet, a table
    with ``label`` and no box columns), ``"masks"`` for a mask model or its predictions (a
    masks LabelSet, a table with a ``polygons`` column), else ``"boxes"``."""
    if hasattr(predictions, "predict") and hasattr(predictions, "classes_"):
        return getattr(predictions, "task", "boxes")
    if isinstance(predictions, LabelSet):
        return predictions.task
    if isinstance(predictions, pd.DataFrame) and POLYGONS in predictions:
        return "masks"
    if (isinstance(predictions, pd.DataFrame) and "label" in predictions
            and not {"x1", "y1", "x2", "y2"} & set(predictions.columns)):
        return "classes"
    return "boxes"


def _as_predictions(predictions) -> tuple[pd.DataFrame | LabelSet, list[str] | None]:
    """Predictions as a table (or LabelSet), and the class order when the source knows it."""
    if isinstance(predictions, LabelSet):
        return predictions, list(predictions.classes)
    if isinstance(predictions, pd.DataFrame) and task_of(predictions) == "classes":
        if "frame" not in predictions:
            raise MMError("class predictions need the columns frame, label (missing ['frame'])")
        return predictions, None
    if isinstance(predictions, pd.DataFrame) and task_of(predictions) == "masks":
        missing = [c for c in ("frame", "label") if c not in predictions]
        if missing:
            raise MMError(f"mask predictions need the columns frame, label, polygons (missing {missing})")
        return predictions, None
    if isinstance(predictions, pd.DataFrame):
        missing = [c for c in ("frame", "x1", "y1", "x2", "y2", "label") if c not in predictions]
        if missing:
            raise MMError(f"predictions need the columns frame, x1, y1, x2, y2, label "
                          f"(missing {missing})")
        return predictions, None
    raise MMError("show() needs predictions as a DataFrame (model.predict(frames)), a "
                  f"LabelSet or a fitted MicroModel, got {type(predictions).__name__}")


class Viewer(widgets.VBox):
    """A model's predictions on every frame: scrub, play, filter by confidence.

    Build it with :func:`show`. Every control has a Python method running the same code:
    :meth:`go_to` (the slider), :meth:`next` / :meth:`prev`, :meth:`set_conf` (the
    confidence slider), :meth:`play` / :meth:`stop` (the play button).

    Attributes
    ----------
    frame : int
        The frame shown (a traitlet: ``v.observe(fn, "frame")``).
    conf : float
        Boxes with a lower score are hidden (a traitlet).
    low : float
        Frames whose best shown box scores below this are marked low-confidence.
    predicted : Predictions or None
        Given a model: what it has predicted so far, block by block (``predicted.wait()``).
    classes : list of str
        Class names, in the order that gives them their colours.
    """

    frame = traitlets.Int(0, help="Index of the frame shown.")
    conf = traitlets.Float(0.25, help="Confidence threshold: boxes scoring lower are hidden.")
    #: What the viewer shows: ``"boxes"`` here, frame ``"classes"`` in :class:`ClassViewer`,
    #: ``"masks"`` in :class:`MaskViewer`.
    task = "boxes"
    #: What one and several of the shapes it draws are called.
    nouns = ("box", "boxes")

    def __init__(self, frames, predictions, *, conf: float = 0.25, width: int = 800,
                 height: int = 540, low: float = 0.5, interval: int = 100, background: bool = True):
        if isinstance(predictions, Frames) and not isinstance(frames, Frames):
            raise MMError("show(frames, predictions): the frames come first, then the model "
                          "or its predictions")
        if not isinstance(frames, Frames):
            if frames is None:
                raise MMError("show() needs the frames the predictions were made on")
            frames = Frames.from_arrays(frames)
        if len(frames) == 0:
            raise MMError("there are no frames to show")
        if task_of(predictions) != self.task:
            raise MMError(f"{type(self).__name__} shows {self.task}, but these predictions are "
                          f"{task_of(predictions)}: mm.show(frames, predictions) picks the viewer")
        if hasattr(predictions, "predict") and hasattr(predictions, "classes_"):
            self.predicted = Predictions(predictions, frames)
            table, classes = None, list(predictions.classes_)
        else:
            self.predicted = None
            table, classes = _as_predictions(predictions)
        self.frames = frames
        self._table = table
        self._load(table, classes)
        self.colours = {c: CLASS_COLOURS[k % len(CLASS_COLOURS)] for k, c in enumerate(self.classes)}
        self.low = float(low)
        # As label() and review() show them: small clips enlarged to fill the cell.
        self.scale = DisplayScale.fit(frames.size, width, height, enlarge=True)
        self._jpegs: OrderedDict[tuple[int, float], bytes] = OrderedDict()
        self.bytes_sent: list[int] = []
        if self.predicted is not None:
            self.predicted.on_block(self._block_arrived)
            self.predicted.ensure([0])
        self._build(interval)
        super().__init__(children=self._children)
        self.add_class("mm-viewer")
        self.set_conf(conf)
        self._render()
        if self.predicted is not None and background:
            self.predicted.start(near=self.frame)

    def _load(self, table, classes: list[str] | None) -> None:
        """Take the predictions given as a table (None: a model predicts them): the boxes of
        every frame, the classes, and each frame's best score."""
        n = len(self.frames)
        self.boxes_by_frame = self._by_frame(table)
        bad = sorted(f for f in self.boxes_by_frame if not 0 <= f < n)
        if bad:
            raise FrameIndexError(f"predictions name frame(s) {bad[:5]} outside the {n}-frame clip")
        if classes is None:
            classes = list(dict.fromkeys(b.label for f in sorted(self.boxes_by_frame)
                                         for b in self.boxes_by_frame[f]))
        self.classes = classes
        # Best score per frame (-1: no box; a box without a score is certain: 1; NaN: not
        # predicted yet).
        self._best = np.full(n, -1.0 if self.predicted is None else np.nan)
        for f, bs in self.boxes_by_frame.items():
            self._best[f] = max(1.0 if b.score is None else b.score for b in bs)

    def _by_frame(self, table) -> dict[int, list[Box]]:
        """The boxes of every frame in ``table`` (None: none yet)."""
        return boxes_by_frame(table)

    def close(self) -> None:
        """Stop predicting in the background (with a model), then close the widget."""
        predicted = getattr(self, "predicted", None)  # None too when __init__ refused its input
        if predicted is not None:
            predicted.stop()
        super().close()

    @property
    def predictions(self) -> pd.DataFrame | LabelSet:
        """The predictions shown: as given, or the model's so far."""
        return self._table if self.predicted is None else self.predicted.table()

    def _block_arrived(self, block: range) -> None:
        # From the thread that predicted the block (or this one, on demand).
        boxes = {f: self.predicted.known_boxes(f) for f in block}
        best = [max((1.0 if b.score is None else b.score for b in bs), default=-1.0)
                for bs in boxes.values()]
        self.boxes_by_frame.update({f: bs for f, bs in boxes.items() if bs})
        self._best[block.start:block.stop] = best
        self._redraw_after_block()

    def _redraw_after_block(self) -> None:
        # The strip and header, every few blocks and after the last (once they exist).
        if hasattr(self, "_strip") and (self.predicted.version % STRIP_EVERY_BLOCKS == 0
                                        or self.predicted.complete):
            self._render_strip()
            self._header.value = self._header_html()

    def _header_html(self) -> str:
        name = html.escape(self.frames.name or "frames")
        w, h = self.frames.size
        n = len(self.frames)
        # list() copies in one step: a background block may add frames meanwhile.
        total = sum(map(len, list(self.boxes_by_frame.values())))
        boxes = f"{total} predicted {self.nouns[total != 1]}"
        if self.predicted is not None and not self.predicted.complete:
            boxes += f" on the {int(np.isfinite(self._best).sum())} frames predicted so far"
        return f"<b>{name}</b> &middot; {n} frames &middot; {w}&times;{h} &middot; {boxes}"

    # -- construction ----------------------------------------------------------------------
    def _build(self, interval: int) -> None:
        n = len(self.frames)
        shown_w, shown_h = self.scale.shown
        self._header = widgets.HTML(self._header_html())
        self._image = widgets.Image(format="jpeg", width=shown_w, height=shown_h)
        self._timeline = Timeline(n, shown_w, self._strip_cells)
        self._strip, self._cursor = self._timeline.strip, self._timeline.cursor
        self._legend = widgets.HTML()
        self._status = widgets.HTML()
        self._play = widgets.Play(value=0, min=0, max=max(n - 1, 0), step=1, interval=int(interval),
                                  show_repeat=False, description="play",
                                  tooltip="play through the clip")
        self._slider = widgets.IntSlider(0, 0, max(n - 1, 0), description="frame",
                                         continuous_update=True,
                                         layout=widgets.Layout(width=f"{max(shown_w - 180, 300)}px",
                                                               flex="0 0 auto"))
        self._conf_slider = widgets.FloatSlider(
            value=0.25, min=0.0, max=1.0, step=0.05, description="confidence",
            continuous_update=False, readout_format=".2f",
            layout=widgets.Layout(width=f"{min(shown_w, 420)}px"),
            style={"description_width": "initial"})
        self._prev = widgets.Button(icon="chevron-left", tooltip="previous frame",
                                    layout=widgets.Layout(width="36px"))
        self._next = widgets.Button(icon="chevron-right", tooltip="next frame",
                                    layout=widgets.Layout(width="36px"))
        self._play.observe(self._on_play_value, names="value")
        self._slider.observe(lambda ch: self.go_to(ch["new"]), names="value")
        self._conf_slider.observe(lambda ch: self.set_conf(ch["new"]), names="value")
        self._prev.on_click(lambda _: self.prev())
        self._next.on_click(lambda _: self.next())
        controls = widgets.HBox([self._play, self._prev, self._next, self._slider])
        self._keys = KeyShortcuts(shortcuts=[k for k in VIEWER_KEYS if k not in BROWSER_KEYS],
                                  clicks=BROWSER_KEYS, root=".mm-viewer", wheel=False)
        self._keys.on_msg(self._on_key)
        kbd = "<kbd style='border:1px solid #bbb;border-radius:3px;padding:0 3px;background:#f6f6f6'>{}</kbd>"
        self._key_legend = widgets.HTML(
            "<div class='mm-key-legend' style='font-size:85%;color:#555'>"
            f"{kbd.format('←')} {kbd.format('→')} frame &nbsp; {kbd.format('Space')} play / pause "
            "(at the last frame: from the start) &nbsp; click the strip: go to that frame &nbsp; "
            "&#9632; stop keeps the frame &nbsp; <span style='color:#777'>keys work while the "
            "mouse is over the viewer (or after a click on it)</span></div>")
        self._children = [self._header, self._image, self._timeline, self._legend,
                          controls, self._conf_slider, self._status, self._key_legend, self._keys]

    # -- what is shown ---------------------------------------------------------------------
    def boxes(self, i: int) -> list[Box]:
        """The boxes shown on frame ``i``: those scoring at least :attr:`conf` (a frame not
        predicted yet is predicted first, with its block)."""
        return self._shown(self.boxes_by_frame, i)

    def _shown(self, by_frame: dict, i: int) -> list:
        """Frame ``i``'s shapes in ``by_frame`` scoring at least :attr:`conf` (its block
        predicted first when a model has not reached it)."""
        i = int(i)
        if self.predicted is not None and not self.predicted.is_predicted(i):
            self.predicted.ensure([i])
        return [b for b in by_frame.get(i, []) if b.score is None or b.score >= self.conf]

    def statuses(self) -> list[str]:
        """Per frame: ``"none"`` (nothing reaches the threshold), ``"low"`` (the best box
        shown scores below :attr:`low`), ``"ok"``, or ``"pending"`` (not predicted yet)."""
        best = self._best
        status = np.where(best < self.conf, "none", np.where(best < self.sure, "low", "ok"))
        return np.where(np.isnan(best), "pending", status).tolist()

    def status(self, i: int) -> str:
        """:meth:`statuses` of one frame."""
        return self.statuses()[self._check(i)]

    @property
    def sure(self) -> float:
        """The score a frame's best box needs to count as sure: :attr:`low`, or the
        confidence threshold when that is higher (a box shown is at least that sure)."""
        return max(self.low, self.conf)

    @property
    def empty_frames(self) -> list[int]:
        """Frames with no box at or above the threshold."""
        return [i for i, s in enumerate(self.statuses()) if s == "none"]

    @property
    def low_frames(self) -> list[int]:
        """Frames whose best box shown scores below :attr:`low`."""
        return [i for i, s in enumerate(self.statuses()) if s == "low"]

    def frame_jpeg(self, i: int) -> bytes:
        """Frame ``i`` as sent to the browser, with what the model says drawn on it (cached
        per frame and threshold)."""
        return cached(self._jpegs, (int(i), self.conf), lambda: self._draw(int(i)), JPEG_CACHE)

    def _draw(self, i: int) -> bytes:
        """Frame ``i`` with its shown boxes drawn, as JPEG."""
        return draw_boxes(self.frames[i], self.boxes(i), self.scale, self.colours)

    def _render(self) -> None:
        i = self.frame
        data = self.frame_jpeg(i)
        if self.predicted is not None and self.predicted.version != self._strip_version:
            self._render_strip()  # a block predicted on demand for this frame
            self._header.value = self._header_html()
        self.bytes_sent.append(len(data))
        self._image.value = data
        self._timeline.show_frame(i)
        self._status.value = " &middot; ".join([f"frame <b>{i}</b> of {len(self.frames)}",
                                                *self._status_parts(i)])

    def _status_parts(self, i: int) -> list[str]:
        """What the status line says of frame ``i`` after its number."""
        shown = self.boxes(i)
        parts = []
        if shown:
            scores = [b.score for b in shown if b.score is not None]
            parts.append(f"{len(shown)} {self.nouns[len(shown) != 1]}"
                         + (f", best score {max(scores):.2f}" if scores else ""))
        else:
            parts.append("<span style='color:#757575'>no prediction</span>")
        hidden = len(self.boxes_by_frame.get(i, [])) - len(shown)
        if hidden:
            parts.append(f"{hidden} below {self.conf:.2f} hidden")
        return parts

    def _strip_cells(self, runs: list[range]) -> tuple[list[str], list[str]]:
        status = self._statuses
        colours, titles = [], []
        for run in runs:
            worst = min((status[f] for f in run), key=STATUS_RANK.__getitem__)
            colours.append(STATUS_COLOURS[worst])
            where = f"frame {run[0]}" if len(run) == 1 else f"frames {run[0]}-{run[-1]}"
            titles.append(f"{where}: {STATUS_TEXT[worst]}")
        return colours, titles

    def _render_strip(self) -> None:
        self._strip_version = self.predicted.version if self.predicted is not None else 0
        status = self._statuses = self.statuses()
        self._timeline.redraw()
        counts = {s: status.count(s) for s in STATUS_COLOURS}
        swatch = ("<span style='display:inline-block;width:10px;height:10px;background:{};"
                  "margin:0 4px 0 10px;border-radius:2px'></span>")
        self._legend.value = (
            "<span style='font-size:90%'>"
            + swatch.format(STATUS_COLOURS["ok"]) + f"{counts['ok']} sure (&ge; {self.sure:.2f})"
            + swatch.format(STATUS_COLOURS["low"]) + f"{counts['low']} low confidence"
            + swatch.format(STATUS_COLOURS["none"])
            + f"{counts['none']} with no prediction &ge; {self.conf:.2f}"
            + (swatch.format(STATUS_COLOURS["pending"]) + f"{counts['pending']} not predicted yet"
               if counts["pending"] else "") + "</span>")

    # -- controls ------------------------------------------------------------------------
    def _on_play_value(self, change) -> None:
        # The Play widget's stop button pauses, then sends its first value: the frame
        # shown stays (a paused Play changes its value for nothing else).
        if not self._play.playing and change["new"] == self._play.min and self.frame != self._play.min:
            self._play.value = self.frame
            return
        self.go_to(change["new"])

    def _on_key(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "strip":
            self.stop()
            self.go_to(self._timeline.frame_at(content.get("fx")))
        elif content.get("type") == "key":
            key = content.get("key")
            if key == "ArrowRight":
                self.next()
            elif key == "ArrowLeft":
                self.prev()

    def _check(self, i) -> int:
        return frame_in_range(i, len(self.frames))

    def go_to(self, i: int) -> None:
        """Show frame ``i`` (what the slider and each play step do)."""
        i = self._check(i)
        if i == self.frame and self._image.value:
            return
        self.frame = i
        # Both controls follow; their observers call go_to(i) again, a no-op now.
        self._slider.value = i
        self._play.value = i
        self._render()

    def next(self) -> None:
        """Show the next frame (stays on the last one)."""
        self.go_to(min(self.frame + 1, len(self.frames) - 1))

    def prev(self) -> None:
        """Show the previous frame (stays on the first one)."""
        self.go_to(max(self.frame - 1, 0))

    def set_conf(self, conf: float) -> None:
        """Hide boxes scoring below ``conf`` (what the confidence slider does)."""
        try:
            conf = float(conf)
        except (TypeError, ValueError):
            raise MMError(f"conf must be a number in [0, 1], got {conf!r}") from None
        if not 0.0 <= conf <= 1.0:
            raise MMError(f"conf must be in [0, 1], got {conf}")
        self.conf = conf
        self._conf_slider.value = conf
        self._render_strip()
        if self._image.value:
            self._render()

    @property
    def playing(self) -> bool:
        """True while the clip plays (the browser steps the frames)."""
        return bool(self._play.playing)

    def play(self) -> None:
        """Start playing from the frame shown (from the start when at the end)."""
        if self.frame >= len(self.frames) - 1:
            self.go_to(0)
        self._play.playing = True
        self._play.send_state("playing")  # also when the kernel's copy was stale

    def stop(self) -> None:
        """Stop playing; the frame shown stays (the play widget's stop button does the same)."""
        self._play.playing = False
        self._play.send_state("playing")  # also when the kernel's copy was stale

    def __repr__(self) -> str:
        return (f"Viewer({self.frames.name!r}, frame {self.frame} of {len(self.frames)}, "
                f"conf {self.conf:.2f}, {len(self.empty_frames)} frames without a prediction)")


def show(frames, predictions, *, conf: float = 0.25, width: int = 800, height: int = 540,
         low: float = 0.5, interval: int = 100, background: bool = True) -> Viewer:
    """Predictions drawn on the frames, in the cell: scrub, play, filter by confidence.

    Boxes are drawn on the frames (:class:`Viewer`); masks filled in their class colour,
    outlined and tagged (:class:`MaskViewer`); a frame classifier's class is a tag on each
    frame and a colour per frame on the timeline (:class:`ClassViewer`).

    Parameters
    ----------
    frames
        The :class:`~mm_widgets.data.Frames` the predictions are for.
    predictions
        A fitted micro-model (it predicts the frames as they are shown, and the rest in the
        background), ``model.predict(frames)`` (a
        DataFrame with ``frame, x1, y1, x2, y2, label`` and optionally ``score``; for frame
        classes ``frame, label[, score]``; for masks ``frame, label, polygons[, score]``, as
        ``LabelSet(task="masks").df``), or a :class:`~mm_widgets.labels.LabelSet`.
    conf
        Confidence threshold: boxes (or frame classes) scoring lower are hidden (a slider
        changes it).
    width, height
        The box, in pixels, a frame is fitted into (and sent at); small clips are enlarged
        to fill it, as :func:`~mm_widgets.widgets.labeller.label` shows them.
    low
        Frames whose best shown box scores below this are marked amber in the strip.
    interval
        Milliseconds between frames while playing.
    background
        With a model: predict the frames not shown yet in a background thread (True), or
        only as they are shown (False).

    Returns
    -------
    Viewer, MaskViewer or ClassViewer
        The widget; display it as the cell's value.

    Examples
    --------
    >>> mm.show(frames, model)                               # doctest: +SKIP
    >>> mm.show(frames, model.predict(frames), conf=0.5)     # doctest: +SKIP
    """
    widget = VIEWERS.get(task_of(predictions), Viewer)
    return widget(frames, predictions, conf=conf, width=width, height=height, low=low,
                  interval=interval, background=background)


# -- frame classes ----------------------------------------------------------------------------
class ClassViewer(Viewer):
    """A frame classifier's class on every frame: a tag on the frame, a colour per frame on
    the timeline (paler where it is less sure than :attr:`low`, grey where it scores below
    the threshold), scrub and play.

    Build it with :func:`show`. The controls are :class:`Viewer`'s, with the same Python
    paths (:meth:`go_to`, :meth:`next`, :meth:`prev`, :meth:`set_conf`, :meth:`play`,
    :meth:`stop`). :meth:`frame_class` says what a frame shows.

    Attributes
    ----------
    class_by_frame : dict
        ``{frame: (class, score)}`` of the frames predicted so far.
    """

    task = "classes"

    def _load(self, table, classes: list[str] | None) -> None:
        n = len(self.frames)
        self.boxes_by_frame = {}
        self.class_by_frame = classes_by_frame(table)
        bad = sorted(f for f in self.class_by_frame if not 0 <= f < n)
        if bad:
            raise FrameIndexError(f"predictions name frame(s) {bad[:5]} outside the {n}-frame clip")
        if classes is None:
            classes = list(dict.fromkeys(c for _, (c, _) in sorted(self.class_by_frame.items())))
        self.classes = classes
        # The class's score per frame (-1: no class; no score is certain: 1; NaN: not
        # predicted yet): Viewer.statuses() reads it as it reads a best box's score.
        self._best = np.full(n, -1.0 if self.predicted is None else np.nan)
        for f, (_, score) in self.class_by_frame.items():
            self._best[f] = 1.0 if score is None else score

    def _block_arrived(self, block: range) -> None:
        # From the thread that predicted the block (or this one, on demand).
        found = {f: self.predicted.known_class(f) for f in block}
        self.class_by_frame.update({f: v for f, v in found.items() if v is not None and v[0] is not None})
        for f, (label, score) in found.items():
            self._best[f] = -1.0 if label is None else (1.0 if score is None else score)
        self._redraw_after_block()

    def _header_html(self) -> str:
        name = html.escape(self.frames.name or "frames")
        w, h = self.frames.size
        n = len(self.frames)
        known = list(self.class_by_frame.values())  # one step: a background block may add some
        counts = {c: sum(1 for label, _ in known if label == c) for c in self.classes}
        classes = ", ".join(f"{html.escape(c)} {k}" for c, k in counts.items() if k)
        where = ("" if self.predicted is None or self.predicted.complete
                 else f" on the {len(known)} frames predicted so far")
        return (f"<b>{name}</b> &middot; {n} frames &middot; {w}&times;{h} &middot; "
                f"classes{where}: {classes or 'none'}")

    # -- what is shown -----------------------------------------------------------------------
    def frame_class(self, i: int) -> tuple[str | None, float | None]:
        """Frame ``i``'s predicted ``(class, score)`` (``(None, None)``: no class), predicting
        its block first when a model has not reached it yet."""
        i = self._check(i)
        if self.predicted is not None and not self.predicted.is_predicted(i):
            self.predicted.ensure([i])
        return self.class_by_frame.get(i, (None, None))

    def shown_class(self, i: int) -> str | None:
        """The class frame ``i`` shows: its predicted class, or None when that scores below
        :attr:`conf`."""
        label, score = self.frame_class(i)
        return label if label is not None and (score is None or score >= self.conf) else None

    def boxes(self, i: int) -> list[Box]:
        """A classifier draws no boxes (see :meth:`frame_class`)."""
        return []

    def _draw(self, i: int) -> bytes:
        """Frame ``i`` with its class tagged (or "below the threshold"), as JPEG."""
        label, score = self.frame_class(i)
        shown = self.shown_class(i)
        note = "" if shown is not None or label is None else f"({label} {score:.2f}) below {self.conf:.2f}"
        return draw_class(self.frames[i], shown, score if shown else None, self.scale,
                          self.colours.get(shown, CLASS_COLOURS[0]), note)

    def _status_parts(self, i: int) -> list[str]:
        label, score = self.frame_class(i)
        parts = []
        if label is None:
            parts.append("<span style='color:#757575'>no prediction</span>")
        elif self.shown_class(i) is None:
            parts.append(f"{html.escape(label)} scores {score:.2f}, below {self.conf:.2f}: hidden")
        else:
            sure = score is None or score >= self.sure
            parts.append(f"class <b>{html.escape(label)}</b>"
                         + ("" if score is None else f", score {score:.2f}")
                         + ("" if sure else " (low confidence)"))
        return parts

    def _strip_cells(self, runs: list[range]) -> tuple[list[str], list[str]]:
        status = self._statuses
        classes = self.class_by_frame
        colours, titles = [], []
        for run in runs:
            worst = min((status[f] for f in run), key=STATUS_RANK.__getitem__)
            where = f"frame {run[0]}" if len(run) == 1 else f"frames {run[0]}-{run[-1]}"
            named = [classes[f] for f in run if f in classes and status[f] in ("ok", "low")]
            if worst in ("ok", "low") and named:
                labels = [c for c, _ in named]
                label = max(dict.fromkeys(labels), key=labels.count)  # the most frames; first on a tie
                colour = self.colours.get(label, CLASS_COLOURS[0])
                scores = [1.0 if s is None else s for _, s in named]
                colours.append(colour if worst == "ok" else pale(colour))
                others = len(set(labels)) - 1
                titles.append(f"{where}: {label}" + (f" (+{others} other class{'es' if others > 1 else ''})"
                                                     if others else "")
                              + f", score {min(scores):.2f}" + ("" if worst == "ok" else " (low confidence)"))
            else:
                colours.append(STATUS_COLOURS[worst])
                titles.append(f"{where}: " + ("class below the threshold" if worst == "none"
                                              else STATUS_TEXT[worst]))
        return colours, titles

    def _render_strip(self) -> None:
        self._strip_version = self.predicted.version if self.predicted is not None else 0
        status = self._statuses = self.statuses()
        self._timeline.redraw()
        shown = [self.class_by_frame[f][0] for f, s in enumerate(status)
                 if s in ("ok", "low") and f in self.class_by_frame]
        swatch = ("<span style='display:inline-block;width:10px;height:10px;background:{};"
                  "margin:0 4px 0 10px;border-radius:2px'></span>")
        counts = {s: status.count(s) for s in STATUS_COLOURS}
        items = [swatch.format(self.colours[c]) + f"{html.escape(c)} {shown.count(c)}"
                 for c in self.classes]
        items.append(swatch.format(pale("#808080")) + f"paler: {counts['low']} below {self.sure:.2f} sure")
        items.append(swatch.format(STATUS_COLOURS["none"]) + f"{counts['none']} below {self.conf:.2f}")
        if counts["pending"]:
            items.append(swatch.format(STATUS_COLOURS["pending"]) + f"{counts['pending']} not predicted yet")
        self._legend.value = "<span style='font-size:90%'>" + "".join(items) + "</span>"

    def __repr__(self) -> str:
        return (f"ClassViewer({self.frames.name!r}, frame {self.frame} of {len(self.frames)}, "
                f"conf {self.conf:.2f}, {len(self.empty_frames)} frames without a class shown)")


# -- masks ------------------------------------------------------------------------------------
class MaskViewer(Viewer):
    """A mask model's masks on every frame: each filled in its class colour, outlined and
    tagged with class and score (:func:`~mm_widgets.widgets.display.draw_masks`); scrub,
    play, filter by confidence, the strip and its colours as :class:`Viewer`'s (a frame's
    status is that of its best mask).

    Build it with :func:`show`. :meth:`masks` says what a frame shows (:meth:`boxes`: their
    boxes).

    Attributes
    ----------
    masks_by_frame : dict
        ``{frame: [Mask]}`` of the frames predicted so far.
    """

    task = "masks"
    nouns = ("mask", "masks")

    def _by_frame(self, table) -> dict[int, list[Box]]:
        self.masks_by_frame = masks_by_frame(table)
        return {f: [m.box for m in ms] for f, ms in self.masks_by_frame.items()}

    def _block_arrived(self, block: range) -> None:
        # From the thread that predicted the block (or this one, on demand): masks first,
        # so a frame the strip calls predicted has them.
        found = {f: self.predicted.known_masks(f) for f in block}
        self.masks_by_frame.update({f: ms for f, ms in found.items() if ms})
        super()._block_arrived(block)

    def masks(self, i: int) -> list[Mask]:
        """The masks shown on frame ``i``: those scoring at least :attr:`conf` (a frame not
        predicted yet is predicted first, with its block)."""
        return self._shown(self.masks_by_frame, i)

    def _draw(self, i: int) -> bytes:
        """Frame ``i`` with its shown masks drawn, as JPEG."""
        return draw_masks(self.frames[i], self.masks(i), self.scale, self.colours)

    def __repr__(self) -> str:
        return (f"MaskViewer({self.frames.name!r}, frame {self.frame} of {len(self.frames)}, "
                f"conf {self.conf:.2f}, {len(self.empty_frames)} frames without a prediction)")


#: The viewer of each task :func:`show` opens.
VIEWERS = {"boxes": Viewer, "classes": ClassViewer, "masks": MaskViewer}
