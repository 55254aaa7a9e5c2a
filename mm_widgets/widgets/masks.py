"""label(task="masks"): draw instance masks as polygons by clicks, inline in a notebook.

The box labeller's widget (jupyter-bbox-widget) draws rectangles only, so the frame is
shown here by a small anywidget of our own (:class:`PolygonCanvas`, ``static/masks.js``):
the frame as an image and an SVG over it. Click to add points, click the first point (or
Enter) to close the polygon, Escape cancels it; drag a point to move it; click a mask to
select it, Delete removes it; a drag on the frame makes a box, kept as a 4-point polygon
(a quick start for a blobby object, refined by dragging its points). Everything else
(frame navigation, suggested frames, zoom, undo, the project journal, the counter) is the
box labeller's: :class:`MaskLabeller` is a :class:`~mm_widgets.widgets.labeller.Labeller`.

The browser speaks in shown pixels (whole shown pixels, as the bbox widget does) of the
view it was sent; :func:`mask_from_shown` undoes that view's :class:`DisplayScale` in one
place, in floating point, so a polygon lands in full-frame pixels exactly. A mask the
person did not touch comes back by its index: it stays the very mask shown.

Counting is the box rule's (:func:`~mm_widgets.actions.diff_masks`, the code of
:func:`~mm_widgets.actions.diff_boxes` with mask IoU): a mask drawn is one ``draw``, a
mask whose points were dragged one ``adjust`` (however many points, however many drags in
one visit of the frame), a mask removed one ``delete``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import anywidget
import traitlets

from ..actions import Action, diff_masks, same_mask
from ..errors import LabelError, MMError
from ..labels import Mask
from .display import CLASS_COLOURS, DisplayScale
from .labeller import STATIC, Edit, Labeller


def mask_to_shown(mask: Mask, scale: DisplayScale) -> list[list[float]]:
    """A full-frame mask's rings in shown pixels of ``scale``, flat ``[x1, y1, x2, y2, ...]``."""
    rings = []
    for ring in mask.polygons:
        flat: list[float] = []
        for k in range(0, len(ring), 2):
            flat.extend(scale.to_shown(ring[k], ring[k + 1]))
        rings.append(flat)
    return rings


def inside_frame(rings, size: tuple[int, int]) -> list[list[float]]:
    """Flat rings with every point past the edge of a ``(width, height)`` frame put on it."""
    w, h = float(size[0]), float(size[1])
    return [[min(max(float(v), 0.0), w if k % 2 == 0 else h) for k, v in enumerate(ring)]
            for ring in rings]


def mask_from_shown(rings, label: str, scale: DisplayScale, source: str = "human") -> Mask:
    """A full-frame :class:`Mask` from rings in shown pixels of ``scale``: the one place the
    display scale is undone. Points dragged past the frame's edge are put on it. Raises
    :class:`LabelError` for rings that are no polygon (fewer than 3 points, no area)."""
    full = []
    try:
        for ring in rings:
            values = [float(v) for v in ring]
            flat: list[float] = []
            for k in range(0, len(values) - 1, 2):
                flat += scale.to_frame(values[k], values[k + 1])
            full.append(flat)
    except (TypeError, ValueError):
        raise LabelError(f"not a list of rings of numbers: {rings!r:.80}") from None
    return Mask(inside_frame(full, scale.size), label, source=source)


class PolygonCanvas(anywidget.AnyWidget):
    """The frame and its masks, drawn and edited with the mouse (``static/masks.js``).

    Python sends the frame (JPEG at the shown size) and the masks in shown pixels, with a
    ``version`` counting what it sent; the browser sends each finished edit as a message
    ``{type: "edit", frame, view, version, masks}``: every mask on the frame as ``{id,
    rings, label, edited}`` (``id``: its index in the masks of that version; None for one
    drawn), and the wheel as ``{type: "wheel", dy, fx, fy}``.
    """

    _esm = STATIC / "masks.js"
    image = traitlets.Bytes(b"", help="The frame, JPEG at the shown size.").tag(sync=True)
    shown_width = traitlets.Int(1).tag(sync=True)
    shown_height = traitlets.Int(1).tag(sync=True)
    masks = traitlets.List(traitlets.Dict(), help="The masks shown: {rings (shown pixels), "
                           "label}.").tag(sync=True)
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colours = traitlets.List(traitlets.Unicode(), list(CLASS_COLOURS)).tag(sync=True)
    label = traitlets.Unicode("", help="The class a new mask gets.").tag(sync=True)
    frame = traitlets.Int(-1, help="The frame shown, echoed in each edit.").tag(sync=True)
    view = traitlets.Int(0, help="The zoom the masks were sent at, echoed in each edit.").tag(sync=True)
    version = traitlets.Int(0, help="Counts what Python sent: the browser redraws from "
                            "``masks`` at each, even when they are the same as before.").tag(sync=True)


class MaskLabeller(Labeller):
    """Label instance masks inline: polygons drawn by clicks (see the module docstring).

    Build it with ``label(frames, classes, task="masks")``. Python methods do what the
    mouse does: :meth:`set_masks` (an edit of a frame, counted), :meth:`select_class`,
    and the labeller's navigation, zoom, :meth:`confirm`, :meth:`undo`, :meth:`redo`.
    """

    tasks = ("masks",)

    def __init__(self, frames, classes: Sequence[str] | None = None, *, task: str = "masks", **kw):
        self._shown_masks: list[Mask] = []  # the masks the browser was last told about
        super().__init__(frames, classes, task=task, **kw)

    # -- the view --------------------------------------------------------------------------
    def _build_view(self, shown_w: int, shown_h: int) -> None:
        self._bbox = None
        self._class_buttons = []
        self._canvas = PolygonCanvas(shown_width=shown_w, shown_height=shown_h,
                                     classes=self.classes, label=self.classes[0])
        self._canvas.on_msg(self._on_canvas)
        self._view = self._canvas

    def shown_masks(self, i: int) -> list[Mask]:
        """The masks to show on frame ``i`` (:class:`~mm_widgets.widgets.review.MaskReview`
        shows the model's here)."""
        return self.labels.masks(i)

    def _show_masks(self, masks: Sequence[Mask]) -> None:
        self._shown_masks = list(masks)
        with self._canvas.hold_sync():
            self._canvas.masks = [{"rings": mask_to_shown(m, self.scale), "label": m.label}
                                  for m in masks]
            self._canvas.version += 1

    def _render(self) -> None:
        i = self.frame
        data = self.frame_jpeg(i)
        self.bytes_sent.append(len(data))
        with self._canvas.hold_sync():
            self._canvas.image = data
            self._canvas.frame = i
            self._canvas.view = self._view_id
            self._show_masks(self.shown_masks(i))
        self._refresh_text()

    def _after_undo(self, edit: Edit) -> None:
        super()._after_undo(edit)
        if edit.frame == self.frame:
            self._show_masks(self.shown_masks(self.frame))

    def select_class(self, label: str) -> None:
        """Choose the class new masks get (the class buttons over the frame, keys 1-9)."""
        self.labels.check_class(label)
        self._canvas.label = label

    # -- edits -----------------------------------------------------------------------------
    def set_masks(self, i: int, masks: Iterable[Mask | dict]) -> list[Action]:
        """Make ``masks`` (full-frame :class:`Mask` s, or dicts of Mask fields) the masks of
        frame ``i``, counted as the person's edits; returns the recorded actions."""
        i = self.labels.check_frame(i)
        masks = [m if isinstance(m, Mask) else Mask(**m) for m in masks]
        return self._commit_masks(i, masks)

    def set_boxes(self, i, boxes):
        raise LabelError("this labeller labels masks; use set_masks()")

    def _keep_shown(self, i: int) -> None:
        """Store the masks frame ``i`` shows (what accepting a frame does)."""
        self._commit_masks(i, self.shown_masks(i))

    _same = staticmethod(same_mask)

    def _commit_masks(self, i: int, new: Sequence[Mask], before: Sequence[Mask] | None = None
                      ) -> list[Action]:
        """Store ``new`` as frame ``i``'s masks and count the difference from ``before``
        (default: what the frame shows), as :meth:`Labeller._commit_boxes` does for boxes:
        further drags of a mask drawn or moved in this visit count nothing more."""
        before = self.shown_masks(i) if before is None else list(before)
        masks, _edits, recorded = self._count_edit(i, before, new, diff_masks,
                                                   self.labels.set_masks)
        if i == self.frame:
            self._show_masks(masks)
        self._refresh_text()
        self._notify(i)
        return recorded

    # -- front-end events ------------------------------------------------------------------
    def _on_canvas(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "wheel":
            self._wheel(content)
            return
        if content.get("type") != "edit" or content.get("frame") != self.frame:
            return  # a late message about a frame no longer shown
        scale = self._scales.get(content.get("view"), self.scale)
        shown = self._shown_masks
        current = content.get("version") == self._canvas.version  # else ids are of older masks
        try:
            masks = []
            for d in content.get("masks") or []:
                k = d.get("id")
                if current and not d.get("edited") and isinstance(k, int) and 0 <= k < len(shown):
                    masks.append(shown[k])  # untouched: the very mask shown
                else:
                    masks.append(mask_from_shown(d["rings"], str(d.get("label", "")), scale))
            self._commit_masks(self.frame, masks, before=shown)
        except (MMError, KeyError, TypeError, AttributeError) as e:
            # Nothing is lost: the saved masks are shown again and the person is told why.
            self._show_masks(self.labels.masks(self.frame))
            self._say(f"not saved: {e}", error=True)
