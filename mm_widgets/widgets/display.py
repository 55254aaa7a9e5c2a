"""What every widget shows the same way: frames sent as JPEG at the size they are shown,
boxes converted between shown and full-frame pixels at that edge, boxes drawn on a frame,
and the one-row frame strip with its cursor."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import LabelError
from ..labels import Box

MAX_FRAME_BYTES = 150_000  # budget for one frame sent to the browser
JPEG_QUALITIES = (85, 75, 65, 55, 45)  # tried in turn until a frame fits the budget
#: Box colours by class index: the bbox widget's own default palette (matplotlib's tab10),
#: so a class has the same colour in show(), label() and review().
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")
MAX_STRIP_CELLS = 400  # longer clips share cells, so the strip stays a few kB
STRIP_HEIGHT = 14


# -- the widget edge: shown pixels <-> full-frame pixels ------------------------------------
@dataclass(frozen=True)
class DisplayScale:
    """A frame of ``size`` pixels shown as an image of ``shown`` pixels (both ``(w, h)``).

    jupyter-bbox-widget reports boxes in pixels of the image it was sent, so the only
    conversion needed is the ratio of the two sizes, per axis.
    """

    size: tuple[int, int]
    shown: tuple[int, int]

    @classmethod
    def fit(cls, size: tuple[int, int], max_width: int, max_height: int | None = None) -> DisplayScale:
        """The largest shown size within ``max_width x max_height``, never enlarged.

        Where the frame's aspect ratio allows it the shown size keeps it exactly (both axes
        share one scale, e.g. 1280x720 -> 800x450), so a box keeps its shape on screen.
        """
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0:
            raise LabelError(f"frame size must be positive, got {size}")
        if max_width <= 0 or (max_height is not None and max_height <= 0):
            raise LabelError(f"display size must be positive, got {max_width}x{max_height}")
        s = min(1.0, max_width / w, (max_height / h) if max_height else 1.0)
        g = math.gcd(w, h)
        unit_w, unit_h = w // g, h // g
        k = math.floor(g * s + 1e-9)
        if k >= 1 and k * unit_w >= 0.9 * s * w:
            return cls((w, h), (k * unit_w, k * unit_h))
        return cls((w, h), (max(1, round(w * s)), max(1, round(h * s))))

    @property
    def uniform(self) -> bool:
        """True when both axes are scaled by the same factor."""
        return self.shown[0] * self.size[1] == self.shown[1] * self.size[0]

    def to_widget(self, box: Box) -> dict:
        """A bbox-widget dict in shown pixels for a full-frame ``box``."""
        (w, h), (sw, sh) = self.size, self.shown
        return {"x": box.x1 * sw / w, "y": box.y1 * sh / h, "width": box.width * sw / w,
                "height": box.height * sh / h, "label": box.label}

    def from_widget(self, d: dict, source: str = "human", *, clip: bool = True) -> Box:
        """A full-frame :class:`Box` from a bbox-widget dict in shown pixels.

        With ``clip`` the box is cut to the frame (a drag may end outside the image).
        Raises :class:`~mm_widgets.errors.LabelError` for a dict that is not a box or has no
        area inside the frame (a click without a drag makes a 0 x 0 box).
        """
        (w, h), (sw, sh) = self.size, self.shown
        try:
            full = {"x": float(d["x"]) * w / sw, "y": float(d["y"]) * h / sh,
                    "width": float(d["width"]) * w / sw, "height": float(d["height"]) * h / sh,
                    "label": d.get("label", "")}
        except (KeyError, TypeError, ValueError) as e:
            raise LabelError(f"not a bounding-box dict: {d!r}") from e
        box = Box.from_widget(full, 1.0, source)
        if not clip:
            return box
        clipped = box.clipped(self.size)
        if clipped is None:
            raise LabelError(f"box {d!r} lies outside the {w}x{h} frame")
        return clipped


def encode_jpeg(frame: np.ndarray, shown: tuple[int, int], max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """``frame`` resized to ``shown`` ``(w, h)`` as JPEG, at the best quality within ``max_bytes``."""
    import io

    from PIL import Image

    image = Image.fromarray(frame)
    if image.size != tuple(shown):
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
