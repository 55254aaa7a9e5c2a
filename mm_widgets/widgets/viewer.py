"""show(): a model's predictions drawn on the frames, scrubbed or played inside the cell.

The boxes are drawn onto the frame in Python (Pillow) and the result travels as one JPEG
at the size it is shown (:class:`~mm_widgets.widgets.labeller.DisplayScale`): nothing is
editable here, so a plain ``ipywidgets.Image`` is all the browser needs, and what a person
sees is exactly what a screenshot or a test sees.

Under the frame a strip has one coloured cell per frame (or per run of frames on long
clips): green where a box is at least ``low`` sure, amber where every box shown is less
sure than that, red where nothing reaches the confidence threshold. It is redrawn when the
threshold moves; the current frame is marked by a small cursor under it.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..data import Frames, frame_in_range
from ..errors import FrameIndexError, MMError
from ..labels import Box, LabelSet
from ..metrics import boxes_by_frame
from .labeller import DisplayScale, encode_jpeg

#: Box colours by class index: the bbox widget's own default palette (matplotlib's tab10),
#: so a class has the same colour in show(), label() and review().
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")
#: Strip colours by frame status.
STATUS_COLOURS = {"ok": "#2ca02c", "low": "#ffb000", "none": "#d62728"}
STATUS_TEXT = {"ok": "sure", "low": "low confidence", "none": "no prediction"}
#: Worst first: a strip cell covering several frames shows the worst of them.
STATUS_RANK = {"none": 0, "low": 1, "ok": 2}
MAX_STRIP_CELLS = 400  # longer clips share cells, so the strip stays a few kB
STRIP_HEIGHT = 14
JPEG_CACHE = 64  # rendered frames kept, so scrubbing back and forth re-sends without redrawing


def strip_html(colours: Sequence[str], titles: Sequence[str], width: int) -> str:
    """One row of coloured cells ``width`` pixels wide; ``titles`` become their tooltips.

    The titles are escaped here; colours must be CSS colours chosen by the code, never
    user text.
    """
    cells = "".join(
        f"<div title='{html.escape(t, quote=True)}' style='flex:1 1 0;min-width:0;"
        f"background:{c};border-right:1px solid rgba(255,255,255,{0.6 if len(colours) < 200 else 0})'></div>"
        for c, t in zip(colours, titles, strict=True))
    return (f"<div class='mm-strip' style='display:flex;width:{width}px;height:{STRIP_HEIGHT}px;"
            f"border-radius:3px;overflow:hidden;outline:1px solid #ccc'>{cells}</div>")


def cursor_html(i: int, n: int, width: int) -> str:
    """A small marker under the strip, at frame ``i`` of ``n``."""
    left = (i + 0.5) / max(n, 1) * width
    return (f"<div class='mm-strip-cursor' style='position:relative;width:{width}px;height:9px'>"
            f"<div style='position:absolute;left:{left - 5:.1f}px;top:0;width:0;height:0;"
            "border-left:5px solid transparent;border-right:5px solid transparent;"
            "border-bottom:8px solid #333'></div></div>")


def bins(n: int, cells: int = MAX_STRIP_CELLS) -> list[range]:
    """Frames ``0..n-1`` cut into at most ``cells`` consecutive runs of nearly equal length."""
    edges = np.linspace(0, n, min(n, cells) + 1).round().astype(int)
    return [range(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def draw_boxes(frame: np.ndarray, boxes: Sequence[Box], scale: DisplayScale,
               colours: dict[str, str]) -> bytes:
    """``frame`` shown at ``scale.shown`` with ``boxes`` drawn on it (class and score), as JPEG.

    The most confident box is drawn last, so its label is never hidden by a weaker one.
    """
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    if image.size != tuple(scale.shown):
        image = image.resize(tuple(scale.shown), Image.BILINEAR, reducing_gap=2.0)
    draw = ImageDraw.Draw(image)
    (w, h), (sw, sh) = scale.size, scale.shown
    font = _font(max(12, min(16, sw // 50)))
    line = max(2, round(sw / 300))
    for box in sorted(boxes, key=lambda b: -1.0 if b.score is None else b.score):
        colour = colours.get(box.label, CLASS_COLOURS[0])
        x1, y1, x2, y2 = box.x1 * sw / w, box.y1 * sh / h, box.x2 * sw / w, box.y2 * sh / h
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        text = box.label if box.score is None else f"{box.label} {box.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top
        # The tag sits on the box's top edge, inside the image even for boxes at its border.
        tx = min(max(x1 - line / 2, 0), max(sw - tw - 6, 0))
        ty = y1 - th - 6 if y1 - th - 6 >= 0 else y1
        draw.rectangle((tx, ty, tx + tw + 6, ty + th + 6), fill=colour)
        draw.text((tx + 3 - left, ty + 3 - top), text, fill="white", font=font)
    return encode_jpeg(np.asarray(image), scale.shown)


def _as_predictions(predictions, frames) -> tuple[pd.DataFrame | LabelSet, list[str] | None]:
    """Predictions as a table (or LabelSet), and the class order when the source knows it."""
    if hasattr(predictions, "predict") and hasattr(predictions, "classes_"):
        return predictions.predict(frames), list(predictions.classes_)
    if isinstance(predictions, LabelSet):
        return predictions, list(predictions.classes)
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
    classes : list of str
        Class names, in the order that gives them their colours.
    """

    frame = traitlets.Int(0, help="Index of the frame shown.")
    conf = traitlets.Float(0.25, help="Confidence threshold: boxes scoring lower are hidden.")

    def __init__(self, predictions, frames, *, conf: float = 0.25, width: int = 800,
                 low: float = 0.5, interval: int = 100):
        if not isinstance(frames, Frames):
            if frames is None:
                raise MMError("show() needs the frames the predictions were made on")
            frames = Frames.from_arrays(frames)
        if len(frames) == 0:
            raise MMError("there are no frames to show")
        predictions, classes = _as_predictions(predictions, frames)
        self.frames = frames
        self.predictions = predictions
        self.boxes_by_frame = {f: bs for f, bs in boxes_by_frame(predictions).items()}
        n = len(frames)
        bad = sorted(f for f in self.boxes_by_frame if not 0 <= f < n)
        if bad:
            raise FrameIndexError(f"predictions name frame(s) {bad[:5]} outside the {n}-frame clip")
        if classes is None:
            classes = list(dict.fromkeys(b.label for f in sorted(self.boxes_by_frame)
                                         for b in self.boxes_by_frame[f]))
        self.classes = classes
        self.colours = {c: CLASS_COLOURS[k % len(CLASS_COLOURS)] for k, c in enumerate(classes)}
        self.low = float(low)
        self.scale = DisplayScale.fit(frames.size, width)
        # Best score per frame (-1: no box; a box without a score is certain: 1).
        self._best = np.full(n, -1.0)
        for f, bs in self.boxes_by_frame.items():
            self._best[f] = max(1.0 if b.score is None else b.score for b in bs)
        self._jpegs: OrderedDict[tuple[int, float], bytes] = OrderedDict()
        self.bytes_sent: list[int] = []
        self._build(interval)
        super().__init__(children=self._children)
        self.add_class("mm-viewer")
        self.set_conf(conf)
        self._render()

    # -- construction ----------------------------------------------------------------------
    def _build(self, interval: int) -> None:
        n = len(self.frames)
        shown_w, shown_h = self.scale.shown
        name = html.escape(self.frames.name or "frames")
        w, h = self.frames.size
        total = sum(len(bs) for bs in self.boxes_by_frame.values())
        self._header = widgets.HTML(
            f"<b>{name}</b> &middot; {n} frames &middot; {w}&times;{h} &middot; "
            f"{total} predicted box{'es' if total != 1 else ''}")
        self._image = widgets.Image(format="jpeg", width=shown_w, height=shown_h)
        self._strip = widgets.HTML(layout=widgets.Layout(margin="4px 0 0 0"))
        self._cursor = widgets.HTML(layout=widgets.Layout(margin="0"))
        self._legend = widgets.HTML()
        self._status = widgets.HTML()
        self._play = widgets.Play(value=0, min=0, max=max(n - 1, 0), step=1, interval=int(interval),
                                  show_repeat=False, description="play",
                                  tooltip="play through the clip")
        self._slider = widgets.IntSlider(0, 0, max(n - 1, 0), description="frame",
                                         continuous_update=True,
                                         layout=widgets.Layout(width=f"{max(shown_w - 120, 200)}px"))
        self._conf_slider = widgets.FloatSlider(
            value=0.25, min=0.0, max=1.0, step=0.05, description="confidence",
            continuous_update=False, readout_format=".2f",
            layout=widgets.Layout(width=f"{min(shown_w, 420)}px"),
            style={"description_width": "initial"})
        self._prev = widgets.Button(icon="chevron-left", tooltip="previous frame",
                                    layout=widgets.Layout(width="36px"))
        self._next = widgets.Button(icon="chevron-right", tooltip="next frame",
                                    layout=widgets.Layout(width="36px"))
        self._play.observe(lambda ch: self.go_to(ch["new"]), names="value")
        self._slider.observe(lambda ch: self.go_to(ch["new"]), names="value")
        self._conf_slider.observe(lambda ch: self.set_conf(ch["new"]), names="value")
        self._prev.on_click(lambda _: self.prev())
        self._next.on_click(lambda _: self.next())
        controls = widgets.HBox([self._play, self._prev, self._next, self._slider])
        self._children = [self._header, self._image, self._strip, self._cursor, self._legend,
                          controls, self._conf_slider, self._status]

    # -- what is shown ---------------------------------------------------------------------
    def boxes(self, i: int) -> list[Box]:
        """The boxes shown on frame ``i``: those scoring at least :attr:`conf`."""
        return [b for b in self.boxes_by_frame.get(int(i), [])
                if b.score is None or b.score >= self.conf]

    def statuses(self) -> list[str]:
        """Per frame: ``"none"`` (nothing reaches the threshold), ``"low"`` (the best box
        shown scores below :attr:`low`) or ``"ok"``."""
        best = self._best
        status = np.where(best < self.conf, "none", np.where(best < self.low, "low", "ok"))
        return status.tolist()

    def status(self, i: int) -> str:
        """:meth:`statuses` of one frame."""
        return self.statuses()[self._check(i)]

    @property
    def empty_frames(self) -> list[int]:
        """Frames with no box at or above the threshold."""
        return [i for i, s in enumerate(self.statuses()) if s == "none"]

    @property
    def low_frames(self) -> list[int]:
        """Frames whose best box shown scores below :attr:`low`."""
        return [i for i, s in enumerate(self.statuses()) if s == "low"]

    def frame_jpeg(self, i: int) -> bytes:
        """Frame ``i`` with its shown boxes drawn, as sent to the browser (cached)."""
        key = (int(i), self.conf)
        data = self._jpegs.get(key)
        if data is None:
            data = draw_boxes(self.frames[int(i)], self.boxes(i), self.scale, self.colours)
            self._jpegs[key] = data
            while len(self._jpegs) > JPEG_CACHE:
                self._jpegs.popitem(last=False)
        else:
            self._jpegs.move_to_end(key)
        return data

    def _render(self) -> None:
        i = self.frame
        data = self.frame_jpeg(i)
        self.bytes_sent.append(len(data))
        self._image.value = data
        self._cursor.value = cursor_html(i, len(self.frames), self.scale.shown[0])
        shown = self.boxes(i)
        parts = [f"frame <b>{i}</b> of {len(self.frames)}"]
        if shown:
            scores = [b.score for b in shown if b.score is not None]
            parts.append(f"{len(shown)} box{'es' if len(shown) != 1 else ''}"
                         + (f", best score {max(scores):.2f}" if scores else ""))
        else:
            parts.append("<span style='color:#c62828'>no prediction</span>")
        hidden = len(self.boxes_by_frame.get(i, [])) - len(shown)
        if hidden:
            parts.append(f"{hidden} below {self.conf:.2f} hidden")
        self._status.value = " &middot; ".join(parts)

    def _render_strip(self) -> None:
        status = self.statuses()
        colours, titles = [], []
        for run in bins(len(status)):
            worst = min((status[f] for f in run), key=STATUS_RANK.__getitem__)
            colours.append(STATUS_COLOURS[worst])
            where = f"frame {run[0]}" if len(run) == 1 else f"frames {run[0]}-{run[-1]}"
            titles.append(f"{where}: {STATUS_TEXT[worst]}")
        self._strip.value = strip_html(colours, titles, self.scale.shown[0])
        counts = {s: status.count(s) for s in STATUS_COLOURS}
        swatch = ("<span style='display:inline-block;width:10px;height:10px;background:{};"
                  "margin:0 4px 0 10px;border-radius:2px'></span>")
        self._legend.value = (
            "<span style='font-size:90%'>"
            + swatch.format(STATUS_COLOURS["ok"]) + f"{counts['ok']} sure (&ge; {self.low:.2f})"
            + swatch.format(STATUS_COLOURS["low"]) + f"{counts['low']} low confidence"
            + swatch.format(STATUS_COLOURS["none"])
            + f"{counts['none']} with no prediction &ge; {self.conf:.2f}</span>")

    # -- controls ------------------------------------------------------------------------
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

    def stop(self) -> None:
        """Pause playing; the frame shown stays."""
        self._play.playing = False

    def __repr__(self) -> str:
        return (f"Viewer({self.frames.name!r}, frame {self.frame} of {len(self.frames)}, "
                f"conf {self.conf:.2f}, {len(self.empty_frames)} frames without a prediction)")


def show(predictions, frames, *, conf: float = 0.25, width: int = 800, low: float = 0.5,
         interval: int = 100) -> Viewer:
    """Predictions drawn on the frames, in the cell: scrub, play, filter by confidence.

    Parameters
    ----------
    predictions
        ``model.predict(frames)`` (a DataFrame with ``frame, x1, y1, x2, y2, label`` and
        optionally ``score``), a :class:`~mm_widgets.labels.LabelSet`, or a fitted model.
    frames
        The :class:`~mm_widgets.data.Frames` the predictions are for.
    conf
        Confidence threshold: boxes scoring lower are hidden (a slider changes it).
    width
        Largest width, in pixels, a frame is shown (and sent) at.
    low
        Frames whose best shown box scores below this are marked amber in the strip.
    interval
        Milliseconds between frames while playing.

    Returns
    -------
    Viewer
        The widget; display it as the cell's value.

    Examples
    --------
    >>> model.show(frames)                                   # doctest: +SKIP
    >>> mm.show(model.predict(frames), frames, conf=0.5)     # doctest: +SKIP
    """
    return Viewer(predictions, frames, conf=conf, width=width, low=low, interval=interval)
