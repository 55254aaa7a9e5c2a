"""What every widget shows the same way: frames sent as JPEG at the size they are shown,
boxes converted between shown and full-frame pixels at that edge, boxes and masks drawn on a frame,
and the timeline: a one-row frame strip with its cursor, zoomable on long clips."""

from __future__ import annotations

import html
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import ipywidgets as widgets
import numpy as np

from ..errors import LabelError
from ..labels import Box, Mask

MAX_FRAME_BYTES = 150_000  # budget for one frame sent to the browser
JPEG_QUALITIES = (85, 75, 65, 55, 45)  # tried in turn until a frame fits the budget
#: Box colours by class index: the bbox widget's own default palette (matplotlib's tab10),
#: so a class has the same colour in show(), label() and review().
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")
MAX_STRIP_CELLS = 400  # longer clips share cells, so the strip stays a few kB
STRIP_HEIGHT = 14
MIN_SPAN = 50  # zooming in stops when the strip shows this many frames


# -- the widget edge: shown pixels <-> full-frame pixels ------------------------------------
@dataclass(frozen=True)
class DisplayScale:
    """A region of a frame of ``size`` pixels shown as an image of ``shown`` pixels (``(w, h)``).

    ``view`` is the region of the frame on show, ``(x1, y1, x2, y2)`` in full-frame pixels
    (``None``: the whole frame); zooming in shows a smaller region at the same ``shown`` size.
    jupyter-bbox-widget reports boxes in pixels of the image it was sent, so the only
    conversion needed is the region's offset and the ratio of the two sizes, per axis, in
    floating point: a box maps back exactly at every zoom.
    """

    size: tuple[int, int]
    shown: tuple[int, int]
    view: tuple[float, float, float, float] | None = None

    @classmethod
    def fit(cls, size: tuple[int, int], max_width: int, max_height: int | None = None, *,
            enlarge: bool = False) -> DisplayScale:
        """The largest shown size within ``max_width x max_height``; larger than the frame
        itself only with ``enlarge`` (a 176x144 clip is hard to label at its own size).

        Where the frame's aspect ratio allows it the shown size keeps it exactly (both axes
        share one scale, e.g. 1280x720 -> 800x450), so a box keeps its shape on screen.
        """
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0:
            raise LabelError(f"frame size must be positive, got {size}")
        if max_width <= 0 or (max_height is not None and max_height <= 0):
            raise LabelError(f"display size must be positive, got {max_width}x{max_height}")
        s = min(max_width / w, (max_height / h) if max_height else math.inf)
        if not enlarge:
            s = min(s, 1.0)
        g = math.gcd(w, h)
        unit_w, unit_h = w // g, h // g
        k = math.floor(g * s + 1e-9)
        if k >= 1 and k * unit_w >= 0.9 * s * w:
            return cls((w, h), (k * unit_w, k * unit_h))
        return cls((w, h), (max(1, round(w * s)), max(1, round(h * s))))

    @property
    def region(self) -> tuple[float, float, float, float]:
        """The region shown, ``(x1, y1, x2, y2)`` in full-frame pixels."""
        return self.view if self.view is not None else (0.0, 0.0, float(self.size[0]), float(self.size[1]))

    @property
    def zoom(self) -> float:
        """How many times larger than the whole-frame fit the frame is shown (1: all of it)."""
        x1, _, x2, _ = self.region
        return self.size[0] / (x2 - x1)

    def zoomed(self, zoom: float, at: tuple[float, float] | None = None,
               where: tuple[float, float] = (0.5, 0.5)) -> DisplayScale:
        """The same shown size with ``zoom`` times less of the frame in it (``zoom >= 1``).

        The full-frame point ``at`` (default: the centre of the region shown now) lands at
        the fraction ``where`` of the shown image; the region never leaves the frame.
        """
        zoom = max(1.0, float(zoom))
        (w, h) = self.size
        vw, vh = w / zoom, h / zoom
        if at is None:
            x1, y1, x2, y2 = self.region
            at = ((x1 + x2) / 2, (y1 + y2) / 2)
        left = min(max(at[0] - where[0] * vw, 0.0), w - vw)
        top = min(max(at[1] - where[1] * vh, 0.0), h - vh)
        if zoom == 1.0:
            return DisplayScale(self.size, self.shown)
        return DisplayScale(self.size, self.shown, (left, top, left + vw, top + vh))

    def panned(self, dx: float, dy: float) -> DisplayScale:
        """The region moved by ``dx, dy`` full-frame pixels (kept inside the frame)."""
        x1, y1, x2, y2 = self.region
        return self.zoomed(self.zoom, ((x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy))

    @property
    def uniform(self) -> bool:
        """True when both axes are scaled by the same factor."""
        x1, y1, x2, y2 = self.region
        return math.isclose(self.shown[0] * (y2 - y1), self.shown[1] * (x2 - x1))

    def to_shown(self, x: float, y: float) -> tuple[float, float]:
        """A full-frame point in shown pixels (outside ``0..shown`` when out of the region)."""
        x1, y1, x2, y2 = self.region
        return (x - x1) * self.shown[0] / (x2 - x1), (y - y1) * self.shown[1] / (y2 - y1)

    def to_frame(self, x: float, y: float) -> tuple[float, float]:
        """A point in shown pixels in full-frame pixels."""
        x1, y1, x2, y2 = self.region
        return x1 + x * (x2 - x1) / self.shown[0], y1 + y * (y2 - y1) / self.shown[1]

    def to_widget(self, box: Box) -> dict:
        """A bbox-widget dict in shown pixels for a full-frame ``box``."""
        x1, y1 = self.to_shown(box.x1, box.y1)
        x2, y2 = self.to_shown(box.x2, box.y2)
        return {"x": x1, "y": y1, "width": x2 - x1, "height": y2 - y1, "label": box.label}

    def from_widget(self, d: dict, source: str = "human", *, clip: bool = True) -> Box:
        """A full-frame :class:`Box` from a bbox-widget dict in shown pixels.

        With ``clip`` the box is cut to the frame (a drag may end outside the image).
        Raises :class:`~mm_widgets.errors.LabelError` for a dict that is not a box or has no
        area inside the frame (a click without a drag makes a 0 x 0 box).
        """
        w, h = self.size
        try:
            x, y = float(d["x"]), float(d["y"])
            x1, y1 = self.to_frame(x, y)
            x2, y2 = self.to_frame(x + float(d["width"]), y + float(d["height"]))
            full = {"x": x1, "y": y1, "width": x2 - x1, "height": y2 - y1, "label": d.get("label", "")}
        except (KeyError, TypeError, ValueError) as e:
            raise LabelError(f"not a bounding-box dict: {d!r}") from e
        box = Box.from_widget(full, 1.0, source)
        if not clip:
            return box
        clipped = box.clipped(self.size)
        if clipped is None:
            raise LabelError(f"box {d!r} lies outside the {w}x{h} frame")
        return clipped

    def snapped(self, box: Box) -> Box:
        """``box`` with each side within one shown pixel of a frame edge put on that edge.

        The bbox widget rounds a drawn or moved box to whole shown pixels, so a drag to the
        very edge of an enlarged 176-px frame ended at ``x2=175.73``; a person who drags to
        the edge means the edge. (For boxes a person drew or moved only: a box shown and
        left as it was keeps its coordinates.)
        """
        w, h = self.size
        x1, y1, x2, y2 = self.region
        px, py = (x2 - x1) / self.shown[0], (y2 - y1) / self.shown[1]  # one shown pixel
        sides = (0.0 if box.x1 <= px else box.x1, 0.0 if box.y1 <= py else box.y1,
                 float(w) if box.x2 >= w - px else box.x2, float(h) if box.y2 >= h - py else box.y2)
        if sides == box.xyxy:
            return box
        return replace(box, x1=sides[0], y1=sides[1], x2=sides[2], y2=sides[3])


def encode_jpeg(frame: np.ndarray, shown: tuple[int, int], max_bytes: int = MAX_FRAME_BYTES,
                region: tuple[float, float, float, float] | None = None) -> bytes:
    """``frame`` (or its ``region``, ``(x1, y1, x2, y2)`` in pixels, fractions allowed) resized
    to ``shown`` ``(w, h)`` as JPEG, at the best quality within ``max_bytes``."""
    import io

    from PIL import Image

    image = Image.fromarray(frame)
    if region is not None:
        image = image.resize(tuple(shown), Image.BILINEAR, box=tuple(float(v) for v in region))
    elif image.size != tuple(shown):
        image = image.resize(tuple(shown), Image.BILINEAR, reducing_gap=2.0)
    data = b""
    for quality in JPEG_QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        data = buffer.getvalue()
        if len(data) <= max_bytes:
            break
    return data


def strip_html(colours: Sequence[str], titles: Sequence[str], width: int) -> str:
    """One row of coloured cells ``width`` pixels wide; ``titles`` become their tooltips.

    The titles are escaped here; colours must be CSS colours chosen by the code, never
    user text.
    """
    cells = "".join(
        f"<div title='{html.escape(t, quote=True)}' style='flex:1 1 0;min-width:0;"
        f"background:{c};border-right:1px solid rgba(255,255,255,{0.6 if len(colours) < 200 else 0})'></div>"
        for c, t in zip(colours, titles, strict=True))
    return (f"<div class='mm-strip' style='display:flex;width:{width}px;height:{STRIP_HEIGHT}px;cursor:pointer;"
            f"border-radius:3px;overflow:hidden;outline:1px solid #ccc'>{cells}</div>")


def cursor_html(i: int, n: int, width: int) -> str:
    """A small marker under the strip, at frame ``i`` of ``n``."""
    left = (i + 0.5) / max(n, 1) * width
    return (f"<div class='mm-strip-cursor' style='position:relative;width:{width}px;height:9px'>"
            f"<div style='position:absolute;left:{left - 5:.1f}px;top:0;width:0;height:0;"
            "border-left:5px solid transparent;border-right:5px solid transparent;"
            "border-bottom:8px solid #333'></div></div>")


def bins(frames: int | range, cells: int = MAX_STRIP_CELLS) -> list[range]:
    """Frames ``0..n-1`` (or the frames of a range) cut into at most ``cells`` consecutive
    runs of nearly equal length."""
    span = range(frames) if isinstance(frames, int) else frames
    n = len(span)
    edges = span.start + np.linspace(0, n, min(n, cells) + 1).round().astype(int)
    return [range(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def strip_span(n: int, frame: int, zoom: int) -> range:
    """The frames a timeline shows at ``zoom`` (1: all ``n``; 2: half of them; 4: a quarter,
    ...), centred on ``frame`` and kept inside the clip."""
    length = min(n, max(MIN_SPAN, -(-n // max(int(zoom), 1))))
    start = min(max(int(frame) - length // 2, 0), n - length)
    return range(start, start + length)


class Timeline(widgets.VBox):
    """The frame strip under a frame, its cursor, and zoom buttons for long clips.

    Each cell is one frame, or a run of frames when the frames shown outnumber
    :data:`MAX_STRIP_CELLS`; ``cells(runs)`` gives each run's colour and tooltip (the widget
    decides what a cell says, typically the worst state among its frames). Zooming in
    (:meth:`zoom_in`) halves the frames shown, around the frame shown, down to
    :data:`MIN_SPAN` frames: on a 5,000-frame clip that is one cell per frame. The span
    follows the frame shown (:meth:`show_frame`) when it leaves it.
    """

    def __init__(self, n: int, width: int, cells: Callable[[list[range]], tuple[list[str], list[str]]],
                 *, indent: str = "0"):
        self.n, self.width, self._cells = int(n), int(width), cells
        self.zoom = 1
        self.frame = 0
        self.span = range(self.n)
        self.strip = widgets.HTML(layout=widgets.Layout(margin=f"4px 0 0 {indent}"))
        self.cursor = widgets.HTML(layout=widgets.Layout(margin=f"0 0 0 {indent}"))
        # Plain minus/plus with a "timeline" word: the frame's own zoom has the magnifiers.
        self._out = widgets.Button(icon="minus", tooltip="timeline: show more of the clip",
                                   layout=widgets.Layout(width="36px", padding="0"))
        self._in = widgets.Button(icon="plus", tooltip="timeline: zoom in around the frame shown",
                                  layout=widgets.Layout(width="36px", padding="0"))
        self._name = widgets.HTML("<span style='font-size:90%;color:#555'>timeline</span>",
                                  layout=widgets.Layout(margin="0 4px 0 0"))
        self._where = widgets.HTML()
        self._out.on_click(lambda _: self.zoom_out())
        self._in.on_click(lambda _: self.zoom_in())
        rows = [self.strip, self.cursor]
        if self.n > MIN_SPAN:  # a short clip shows every frame already
            rows.append(widgets.HBox([self._name, self._out, self._in, self._where],
                                     layout=widgets.Layout(margin=f"0 0 0 {indent}")))
        super().__init__(children=rows)
        self.add_class("mm-timeline")

    @property
    def max_zoom(self) -> int:
        """The deepest zoom: the largest power of two that still shows :data:`MIN_SPAN` frames."""
        zoom = 1
        while -(-self.n // (zoom * 2)) >= MIN_SPAN:
            zoom *= 2
        return zoom

    def set_zoom(self, zoom: int) -> None:
        """Show ``n / zoom`` frames around the frame shown (``zoom`` is clamped to
        ``1..max_zoom``)."""
        self.zoom = int(min(max(int(zoom), 1), self.max_zoom))
        self.span = strip_span(self.n, self.frame, self.zoom)
        self.redraw()

    def zoom_in(self) -> None:
        """Half as many frames, around the frame shown (the + button)."""
        self.set_zoom(self.zoom * 2)

    def zoom_out(self) -> None:
        """Twice as many frames (the - button)."""
        self.set_zoom(self.zoom // 2)

    def show_frame(self, i: int) -> None:
        """Move the cursor to frame ``i``; the span follows when ``i`` leaves it."""
        self.frame = int(i)
        if self.frame not in self.span:
            self.span = strip_span(self.n, self.frame, self.zoom)
            self.redraw()
        else:
            self.cursor.value = cursor_html(self.frame - self.span.start, len(self.span), self.width)

    def frame_at(self, fx) -> int:
        """The frame under a click at the fraction ``fx`` (0..1) of the strip's width: a
        frame of the span shown (garbage reads as the span's first frame)."""
        try:
            fx = float(fx)
        except (TypeError, ValueError):
            fx = 0.0
        if not np.isfinite(fx):
            fx = 0.0
        return self.span.start + min(max(int(fx * len(self.span)), 0), len(self.span) - 1)

    def redraw(self) -> None:
        """Ask for every cell again and draw the strip (after the states changed)."""
        colours, titles = self._cells(bins(self.span))
        self.strip.value = strip_html(colours, titles, self.width)
        self.cursor.value = (cursor_html(self.frame - self.span.start, len(self.span), self.width)
                             if self.frame in self.span else "")
        self._where.value = (f"<span style='font-size:90%;color:#555'>frames {self.span.start}"
                             f"&ndash;{self.span.stop - 1} of {self.n}</span>")
        self._in.disabled = self.zoom >= self.max_zoom
        self._out.disabled = self.zoom <= 1


def cached(cache: OrderedDict, key, make: Callable[[], bytes], limit: int) -> bytes:
    """``cache[key]``, made by ``make()`` when missing; the least recently used entries go
    once more than ``limit`` are kept (the frames a widget sends, scrubbing back and forth)."""
    data = cache.get(key)
    if data is None:
        data = cache[key] = make()
        while len(cache) > limit:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return data


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
    font, line = _font(max(12, min(16, sw // 50))), max(2, round(sw / 300))
    for box in _weakest_first(boxes):
        colour = colours.get(box.label, CLASS_COLOURS[0])
        x1, y1, x2, y2 = box.x1 * sw / w, box.y1 * sh / h, box.x2 * sw / w, box.y2 * sh / h
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        _draw_tag(draw, box, x1, y1, colour, font, line, sw)
    return encode_jpeg(np.asarray(image), scale.shown)


#: How much of a mask's class colour covers the pixels it fills in show().
MASK_FILL = 0.4


def draw_masks(frame: np.ndarray, masks: Sequence[Mask], scale: DisplayScale,
               colours: dict[str, str]) -> bytes:
    """``frame`` shown at ``scale.shown`` with ``masks`` drawn on it, as JPEG: each filled in
    its class colour (:data:`MASK_FILL` of it over the frame), outlined, and tagged with
    class and score at the top-left of its box, as :func:`draw_boxes` tags a box. The most
    confident mask is drawn last."""
    from PIL import Image, ImageColor, ImageDraw

    image = Image.fromarray(frame)
    if image.size != tuple(scale.shown):
        image = image.resize(tuple(scale.shown), Image.BILINEAR, reducing_gap=2.0)
    (w, h), (sw, sh) = scale.size, scale.shown
    font, line = _font(max(12, min(16, sw // 50))), max(2, round(sw / 300))
    masks = _weakest_first(masks)
    shown = [[[(r[k] * sw / w, r[k + 1] * sh / h) for k in range(0, len(r), 2)] for r in m.polygons]
             for m in masks]
    fill = Image.new("RGBA", image.size, (0, 0, 0, 0))
    paint = ImageDraw.Draw(fill)
    alpha = round(255 * MASK_FILL)
    for m, rings in zip(masks, shown, strict=True):
        rgb = ImageColor.getrgb(colours.get(m.label, CLASS_COLOURS[0]))
        for ring in rings:  # a mask covers the union of its rings
            paint.polygon(ring, fill=(*rgb, alpha))
    image = Image.alpha_composite(image.convert("RGBA"), fill).convert("RGB")
    draw = ImageDraw.Draw(image)
    for m, rings in zip(masks, shown, strict=True):
        colour = colours.get(m.label, CLASS_COLOURS[0])
        for ring in rings:
            draw.line([*ring, ring[0]], fill=colour, width=line, joint="curve")
        x1, y1, _, _ = m.xyxy
        _draw_tag(draw, m, x1 * sw / w, y1 * sh / h, colour, font, line, sw)
    return encode_jpeg(np.asarray(image), scale.shown)


def _weakest_first(shapes):
    """Boxes or masks in drawing order: the most confident last, so its tag is never hidden."""
    return sorted(shapes, key=lambda b: -1.0 if b.score is None else b.score)


def _draw_tag(draw, shape, x1: float, y1: float, colour: str, font, line: int, sw: int) -> None:
    """The class (and score) of ``shape`` on a tag at shown point ``(x1, y1)``, its top-left:
    on the top edge, inside the image even for shapes at its border."""
    text = shape.label if shape.score is None else f"{shape.label} {shape.score:.2f}"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left, bottom - top
    tx = min(max(x1 - line / 2, 0), max(sw - tw - 6, 0))
    ty = y1 - th - 6 if y1 - th - 6 >= 0 else y1
    draw.rectangle((tx, ty, tx + tw + 6, ty + th + 6), fill=colour)
    draw.text((tx + 3 - left, ty + 3 - top), text, fill="white", font=font)


# -- frame classes ----------------------------------------------------------------------------
def pale(colour: str, amount: float = 0.6) -> str:
    """``colour`` (``#rrggbb``) mixed with ``amount`` of white: the same class, less sure."""
    rgb = [int(colour[k:k + 2], 16) for k in (1, 3, 5)]
    return "#" + "".join(f"{round(v + (255 - v) * amount):02x}" for v in rgb)


def draw_class(frame: np.ndarray, label: str | None, score: float | None, scale: DisplayScale,
               colour: str, note: str = "") -> bytes:
    """``frame`` shown at ``scale.shown`` with its class as a tag in the top-left corner
    (``label score``, then ``note``), as JPEG; no tag without a class."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    if image.size != tuple(scale.shown):
        image = image.resize(tuple(scale.shown), Image.BILINEAR, reducing_gap=2.0)
    if label is not None or note:
        draw = ImageDraw.Draw(image)
        sw = scale.shown[0]
        font = _font(max(9, min(24, sw // 32)))
        text = " ".join(t for t in (label, None if score is None else f"{score:.2f}", note) if t)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        pad = 6
        draw.rectangle((0, 0, right - left + 2 * pad, bottom - top + 2 * pad),
                       fill=colour if label is not None else "#757575")
        draw.text((pad - left, pad - top), text, fill="white", font=font)
    return encode_jpeg(np.asarray(image), scale.shown)
