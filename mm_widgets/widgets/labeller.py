"""label(): draw boxes (or pick a class) on a few suggested frames, inline in a notebook.

The widget is composed, not written: jupyter-bbox-widget draws and edits boxes on the
current frame, ipywidgets give the navigation, the suggested-frames filmstrip and the
counter, and a tiny anywidget (``static/keys.js``) adds keyboard shortcuts.

Every edit goes through one place, :meth:`Labeller._commit_boxes` (or
:meth:`Labeller._commit_class`): the box lists before and after are compared by
:func:`~mm_widgets.actions.diff_boxes` (the one counting rule), the new boxes go into the :class:`~mm_widgets.labels.LabelSet` (and so
into the project folder, at once), and each difference is counted as one human action.
A review widget reuses all of this by subclassing and overriding :meth:`Labeller.shown_boxes`.

Edits of one box in one visit of a frame count once: a box drawn and then nudged or
resized is one ``draw``; a box moved, nudged and resized is one ``adjust`` (also with
edits of other boxes in between: draw A, draw B, nudge A is two draws). Ctrl+Z
(:meth:`Labeller.undo`) puts the frame back as it was and takes the edit's actions back
from the count; Ctrl+Shift+Z (:meth:`Labeller.redo`) does it again and counts it again.

Frames travel to the browser as JPEG at the size they are shown (:class:`DisplayScale`):
the whole frame fitted to ``width x height`` (small clips enlarged), or, zoomed in with the
wheel or ``+``/``-``, the region on show; box coordinates are converted between shown and
full-frame pixels only at that edge, in floating point.
"""

from __future__ import annotations

import html
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets
from jupyter_bbox_widget import BBoxWidget

from ..actions import (
    ACTION_KINDS,
    WAIT_SECONDS,
    Action,
    diff_boxes,
    diff_class,
    same_box,
    same_boxes,
)
from ..data import Frames, frame_in_range
from ..errors import FrameIndexError, LabelError, MMError
from ..labels import TASKS, Box, LabelSet
from ..project import Project
from ..select import select_frames
from .display import DisplayScale, cached, encode_jpeg

#: Frames kept as JPEG, so going back and forth re-sends without encoding again.
JPEG_CACHE = 32

MAX_FRAME_BYTES = 150_000  # budget for one frame sent to the browser
JPEG_QUALITIES = (85, 75, 65, 55, 45)  # tried in turn until a frame fits the budget
THUMB_SIDE = 96
STATIC = Path(__file__).parent / "static"
ZOOM_STEP = 1.25  # one wheel notch or one +/- key
MAX_ZOOM = 16.0
PAN_STEP = 0.25  # Shift+arrow pans by this share of the region shown
UNDO_KEYS = ("Ctrl+z",)
REDO_KEYS = ("Ctrl+Shift+z", "Ctrl+y")
PAN_KEYS = {"Shift+ArrowLeft": (-1, 0), "Shift+ArrowRight": (1, 0), "Shift+ArrowUp": (0, -1),
            "Shift+ArrowDown": (0, 1)}


@dataclass
class Edit:
    """One undoable edit of one frame: its state before and after, and what it counted.

    ``boxes`` are the boxes the edit drew or moved, as they are after it: a further move of
    one of them in the same visit continues this edit instead of counting a new adjust.
    """

    frame: int
    before: dict
    after: dict
    actions: list[Action]
    visit: int
    boxes: list[Box] = field(default_factory=list)


# -- small pieces ----------------------------------------------------------------------------
class KeyShortcuts(anywidget.AnyWidget):
    """Invisible helper inside a labeller (or viewer): forwards the listed keys, the mouse
    wheel over the frame and clicks on the frame strip to Python, finishes a drag released
    outside the frame at its edge (the bbox widget only hears the mouse over the image),
    makes a drag that starts inside a box draw a new box (Shift+drag moves the box), and
    gives the widget the keyboard focus when it appears and when the mouse enters it."""

    _esm = STATIC / "keys.js"
    root = traitlets.Unicode(".mm-label", help="CSS selector of the widget it serves (its "
                             "nearest ancestor matching it).").tag(sync=True)
    shortcuts = traitlets.List(traitlets.Unicode(), help="Keys to forward: KeyboardEvent.key "
                               "values, with 'Ctrl+' and 'Shift+' before them where held "
                               "('Ctrl+z', 'Shift+ArrowLeft'; 'Shift+' only for named keys).").tag(sync=True)
    wheel = traitlets.Bool(True, help="Forward the mouse wheel over the frame (zoom).").tag(sync=True)
    clicks = traitlets.Dict(value_trait=traitlets.Unicode(), help="Keys answered in the browser "
                            "by clicking the element the CSS selector names inside the widget "
                            "(no round trip to the kernel).").tag(sync=True)
    focus = traitlets.Bool(True, help="Take the keyboard focus when the widget first appears "
                           "and when the mouse enters it.").tag(sync=True)
    draw_inside = traitlets.Bool(True, help="A drag that starts inside a box draws a new box "
                                 "(Shift+drag moves the box; its edges and corners resize it)."
                                 ).tag(sync=True)


def key_legend(task: str, n_classes: int, extra: Sequence[tuple[str, str]] = (),
               next_name: str = "next suggested") -> str:
    """The always-visible key legend of a labeller, as HTML: what each key does
    (``next_name``: what the "next" button is called, ``n`` does the same)."""
    kbd = ("<kbd style='border:1px solid #bbb;border-radius:3px;padding:0 3px;background:#f6f6f6;"
           "font-family:inherit'>{}</kbd>")

    def item(keys: str, what: str) -> str:
        return ("<span style='white-space:nowrap;margin-right:12px'>"
                + " ".join(kbd.format(html.escape(k)) for k in keys.split(" ")) + f" {what}</span>")

    digits = f"1-{min(9, n_classes)}" if n_classes > 1 else "1"
    items = [("← →", "frame"), ("n", next_name)]
    if task == "boxes":
        items += [("drag", "draw a box (inside boxes too)"), ("Shift+drag", "move a box"),
                  ("drag edge/corner", "resize"), ("click", "select a box"),
                  ("Tab", "select next box"), ("Delete", "remove selected"),
                  ("W A S D", "move it (Shift: x10)"), ("Q E R F", "resize it"),
                  ("C", "give it the chosen class"), (digits, "choose class"),
                  ("wheel + -", "zoom"), ("0", "fit"), ("Shift+arrows", "pan")]
    elif task == "masks":
        items += [("click", "add a point (on the first point: close)"), ("Enter", "close the polygon"),
                  ("Backspace", "drop the last point"), ("Esc", "cancel the polygon"),
                  ("drag", "a box, made a 4-point polygon"), ("drag point", "move it"),
                  ("click mask", "select it (again: draw inside it)"), ("Delete", "remove selected"),
                  ("C", "give it the chosen class"), (digits, "choose class"),
                  ("wheel + -", "zoom"), ("0", "fit"), ("Shift+arrows", "pan")]
    else:
        items += [(digits, "label the frame")]
    items += [*extra, ("Ctrl+Z", "undo"), ("Ctrl+Shift+Z", "redo")]
    return ("<div class='mm-key-legend' style='font-size:85%;color:#555;line-height:1.9;"
            "white-space:normal;display:flex;flex-wrap:wrap'>"
            + "".join(item(k, w) for k, w in items)
            + "<span style='white-space:nowrap;color:#777'>keys work while the mouse is over "
              "the widget (or after a click on it)</span></div>")


def as_project_argument(project):
    """A widget's ``project=``: a Project or a folder as given; None or False (as in
    :func:`~mm_widgets.overfit`): no project folder, None."""
    if project is None or project is False:
        return None
    if not isinstance(project, (Project, str, os.PathLike)):
        raise LabelError(f"project must be a Project, a folder, None or False, got {project!r}")
    return project


def suggest_frames(frames: Frames, first_labels: int | Iterable[int]) -> list[int]:
    """The frames to suggest: ``first_labels`` of them chosen by :func:`mm_widgets.select.select_frames`
    ("diverse"), or the given frame indices."""
    n = len(frames)
    if isinstance(first_labels, (int, np.integer)) and not isinstance(first_labels, bool):
        if first_labels < 0:
            raise LabelError(f"first_labels must be >= 0 or a list of frame indices, got {first_labels}")
        return sorted({int(i) for i in select_frames(frames, int(first_labels), strategy="diverse",
                                                     seed=0)})
    try:
        chosen = sorted({int(i) for i in first_labels})
    except (TypeError, ValueError):
        raise LabelError(f"first_labels must be a number of frames or a list of frame indices, "
                         f"got {first_labels!r}") from None
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise FrameIndexError(f"suggested frames {bad} are out of range ({n} frames)")
    return chosen


def _thumbnail_jpeg(frames: Frames, i: int) -> bytes:
    thumb = frames.thumbnail(i, THUMB_SIDE)
    return encode_jpeg(thumb, (thumb.shape[1], thumb.shape[0]))


# -- the widget --------------------------------------------------------------------------------
class Labeller(widgets.VBox):
    """Label frames inline: boxes drawn with the mouse, or one class per frame.

    Build it with :func:`label`. Every UI event has a Python method that runs the same
    code: :meth:`go_to`, :meth:`next`, :meth:`prev`, :meth:`next_suggested`,
    :meth:`set_boxes`, :meth:`set_class`, :meth:`confirm`, :meth:`undo`, :meth:`redo`,
    :meth:`set_zoom`, :meth:`pan`.

    Attributes
    ----------
    labels : LabelSet
        The labels (the project's, when there is one: every change is on disk at once).
    actions : ActionLog
        Every counted human action (draw, adjust, delete, class), and the free ``accept``
        of each frame accepted as shown, timed (:meth:`~mm_widgets.actions.ActionLog.seconds`).
    project : Project or None
    suggested : list of int
        The frames suggested for labelling, highlighted in the filmstrip.
    frame : int
        The frame shown (a traitlet: ``w.observe(fn, "frame")``).

    Notes
    -----
    A widget that pre-fills boxes (review of model predictions) subclasses this one and
    overrides :meth:`shown_boxes`: edits are then counted against what was shown, by the
    same :func:`diff_boxes` (an untouched prediction is free and keeps ``source="model"``;
    a moved one is an ``adjust`` and becomes ``"corrected"``), and :meth:`confirm` accepts
    the frame as shown.
    """

    frame = traitlets.Int(0, help="Index of the frame shown.")
    #: Source given to boxes a person draws in this widget.
    drawn_source = "human"
    #: A frame strip whose clicks go to a frame (review has one; the label widget does not).
    _timeline = None
    #: The tasks this widget labels (the mask labeller, a subclass, labels masks).
    tasks = TASKS

    def __init__(self, frames: Frames, classes: Sequence[str] | None = None, *,
                 project: Project | str | Path | None = None,
                 first_labels: int | Iterable[int] = 5, task: str = "boxes", width: int = 800,
                 height: int = 540):
        if task not in self.tasks:
            raise LabelError(f"task must be one of {self.tasks}, got {task!r}")
        if not isinstance(frames, Frames):
            frames = Frames.from_arrays(frames) if frames is not None else None
        project = as_project_argument(project)
        if frames is None and project is None:
            raise LabelError("label() needs frames (or a project that knows its frames)")
        if project is not None and not isinstance(project, Project):
            project = Project(project, classes, frames=frames, task=task)
        if project is not None:
            if project.task != task:
                raise LabelError(f"{project.path} holds {project.task}; open it with task={project.task!r}")
            if frames is None:
                frames = project.frames
            labels, actions = project.labels, project.actions
        else:
            from ..actions import ActionLog

            if classes is None:
                raise LabelError("label() needs classes=[...] (or a project that has them)")
            labels = LabelSet(classes, task, size=frames.size, n_frames=len(frames))
            actions = ActionLog()
        if len(frames) == 0:
            raise LabelError("there are no frames to label")

        self.frames = frames
        self.project = project
        self.labels = labels
        self.actions = actions
        self.task = task
        self.classes = list(labels.classes)
        self._fit = DisplayScale.fit(frames.size, width, height, enlarge=True)
        self.scale = self._fit
        self._scales: OrderedDict[int, DisplayScale] = OrderedDict({0: self.scale})
        self._view_id = 0  # tags the boxes sent, so a late edit maps through the zoom it was made at
        self.suggested = suggest_frames(frames, first_labels)
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []
        self._visit = 0  # counts frame changes: edits of one box in one visit are one adjust
        self._listeners: list[Callable[[int], None]] = []
        self._jpegs: OrderedDict[int, bytes] = OrderedDict()
        self._shown: list[Box] = []  # the boxes the browser was last told about (full frame)
        self._updating = False  # True while Python itself writes the bbox widget's traits
        self.bytes_sent: list[int] = []  # JPEG sizes of the frames sent, for measurements
        self._rendered = False

        self._build()
        super().__init__(children=self._children)
        self.add_class("mm-label")
        self.go_to(self._resume_frame())

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        name = html.escape(self.frames.name or "frames")
        # The folder's name is enough to recognise it; the full path is in the tooltip.
        where = (f" &middot; project <code title='{html.escape(str(self.project.path.resolve()))}'>"
                 f"{html.escape(self.project.path.name)}</code>" if self.project is not None else "")
        w, h = self.frames.size
        self._header = widgets.HTML(
            f"<b>{name}</b> &middot; {len(self.frames)} frames &middot; {w}&times;{h}{where}")
        self._counter = widgets.HTML()
        self._status = widgets.HTML()
        self._message = widgets.HTML()
        shown_w, shown_h = self.scale.shown
        self._build_view(shown_w, shown_h)
        self._prev = widgets.Button(description="Prev", icon="chevron-left", tooltip="previous frame (←)",
                                    layout=widgets.Layout(width="80px"))
        self._next = widgets.Button(description="Next", icon="chevron-right", tooltip="next frame (→)",
                                    layout=widgets.Layout(width="80px"))
        self._next_sugg = widgets.Button(description="Next suggested", icon="forward",
                                         tooltip="next suggested frame not labelled yet (n)",
                                         button_style="primary", layout=widgets.Layout(width="150px"))
        self._confirm = widgets.Button(description="Nothing here", icon="check",
                                       tooltip="this frame has no objects: count it as labelled",
                                       layout=widgets.Layout(width="130px"))
        self._undo_button = widgets.Button(description="Undo", icon="undo", tooltip="undo the last edit (Ctrl+Z)",
                                           layout=widgets.Layout(width="80px"))
        self._redo_button = widgets.Button(description="Redo", icon="repeat",
                                           tooltip="redo the edit undone last (Ctrl+Shift+Z)",
                                           layout=widgets.Layout(width="80px"))
        self._undo_button.on_click(lambda _: self.undo())
        self._redo_button.on_click(lambda _: self.redo())
        self._prev.on_click(lambda _: self.prev())
        self._next.on_click(lambda _: self.next())
        self._next_sugg.on_click(lambda _: self.next_suggested())
        self._confirm.on_click(lambda _: self.confirm())
        self._slider = widgets.IntSlider(0, 0, max(len(self.frames) - 1, 0), description="frame",
                                         continuous_update=False,
                                         layout=widgets.Layout(width=f"{max(shown_w - 40, 200)}px"))
        self._slider.observe(lambda ch: self.go_to(ch["new"]), names="value")
        self._strip_buttons: dict[int, widgets.Button] = {}
        cells = []
        for i in self.suggested:
            b = widgets.Button(description=str(i), tooltip=f"go to suggested frame {i}",
                               layout=widgets.Layout(width=f"{THUMB_SIDE}px"))
            b.on_click(lambda _, i=i: self.go_to(i))
            self._strip_buttons[i] = b
            thumb = widgets.Image(value=_thumbnail_jpeg(self.frames, i), format="jpeg",
                                  layout=widgets.Layout(width=f"{THUMB_SIDE}px"))
            cells.append(widgets.VBox([thumb, b], layout=widgets.Layout(margin="0 4px 0 0")))
        self._strip = widgets.HBox(cells, layout=widgets.Layout(overflow="auto"))
        keys = ["ArrowLeft", "ArrowRight", "n", *UNDO_KEYS, *REDO_KEYS]
        keys += [str(k + 1) for k in range(min(9, len(self.classes)))]
        if self.draws:
            keys += ["+", "=", "-", "0", *PAN_KEYS]
        self._keys = KeyShortcuts(shortcuts=keys, wheel=self.task == "boxes")
        self._keys.on_msg(self._on_key)
        self._key_legend = widgets.HTML(key_legend(self.task, len(self.classes)),
                                        layout=widgets.Layout(width=f"{max(shown_w + 12, 400)}px"))

        nav = [self._prev, self._next, self._next_sugg] + ([self._confirm] if self.draws else [])
        nav += [self._undo_button, self._redo_button]
        if self.draws:
            self._zoom_label = widgets.HTML(layout=widgets.Layout(margin="0 0 0 8px"))
            zoom_out = widgets.Button(icon="search-minus", tooltip="zoom out (-, wheel)",
                                      layout=widgets.Layout(width="36px"))
            zoom_in = widgets.Button(icon="search-plus", tooltip="zoom in (+, wheel)",
                                     layout=widgets.Layout(width="36px"))
            zoom_fit = widgets.Button(description="fit", tooltip="whole frame (0)",
                                      layout=widgets.Layout(width="44px"))
            zoom_out.on_click(lambda _: self.set_zoom(self.zoom / ZOOM_STEP))
            zoom_in.on_click(lambda _: self.set_zoom(self.zoom * ZOOM_STEP))
            zoom_fit.on_click(lambda _: self.set_zoom(1.0))
            nav += [self._zoom_label, zoom_out, zoom_fit, zoom_in]
        rows = [self._header, self._counter]
        if self.suggested:
            rows.append(self._strip)
        rows.append(self._view)
        if self._class_buttons:
            rows.append(widgets.HBox(self._class_buttons, layout=widgets.Layout(flex_flow="row wrap")))
        rows += [widgets.HBox(nav, layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
                 self._slider, self._status, self._message, self._key_legend, self._keys]
        self._children = rows

    def _build_view(self, shown_w: int, shown_h: int) -> None:
        """The frame's view (``self._view``: the bbox widget, or an image) and the class
        buttons under it; the mask labeller shows its own widget here."""
        if self.task == "boxes":
            self._bbox = BBoxWidget(classes=self.classes, hide_buttons=True,
                                    layout=widgets.Layout(width=f"{shown_w + 12}px"))
            self._bbox.observe(self._on_widget_boxes, names="bboxes")
            self._view = self._bbox
            self._class_buttons = []
        else:
            self._bbox = None
            self._image = widgets.Image(format="jpeg", width=shown_w, height=shown_h)
            self._view = self._image
            self._class_buttons = []
            for k, c in enumerate(self.classes):
                # Button descriptions are rendered as text nodes: names need no escaping.
                button = widgets.Button(description=f"{k + 1}  {c}" if k < 9 else c,
                                        tooltip=f"label this frame {c!r} and go on" +
                                        (f" (key {k + 1})" if k < 9 else ""),
                                        layout=widgets.Layout(width="auto", min_width="120px"))
                button.on_click(lambda _, c=c: self.pick_class(c))
                self._class_buttons.append(button)

    def _resume_frame(self) -> int:
        """Where a person left off: the first suggested frame not labelled yet."""
        looked = set(self.labels.looked_at)
        todo = [i for i in self.suggested if i not in looked]
        if todo:
            return todo[0]
        if looked:
            return min(max(looked), len(self.frames) - 1)
        return self.suggested[0] if self.suggested else 0

    @property
    def draws(self) -> bool:
        """Whether shapes are drawn on the frame (boxes, masks: zoom, pan, "Nothing here"),
        rather than one class picked per frame."""
        return self.task != "classes"

    # -- what is shown ---------------------------------------------------------------------
    def shown_boxes(self, i: int) -> list[Box]:
        """The boxes to show on frame ``i`` (a review widget shows predictions here)."""
        return self.labels.boxes(i)

    def shown_class(self, i: int) -> str | None:
        """The class shown on frame ``i`` (a class review shows the model's here)."""
        return self.labels.frame_class(i)

    def class_origin(self, i: int, label: str) -> tuple[str, float | None]:
        """The ``source`` and ``score`` a class the person leaves on frame ``i`` is stored
        with (here: drawn by hand, no score; a review keeps the model's for a class accepted)."""
        return self.drawn_source, None

    def frame_jpeg(self, i: int) -> bytes:
        """Frame ``i`` as sent to the browser: JPEG of the region shown, at the shown size (cached)."""
        return cached(self._jpegs, (i, self.scale.view),
                      lambda: encode_jpeg(self.frames[i], self.scale.shown, region=self.scale.view),
                      JPEG_CACHE)

    def _show_boxes(self, boxes: list[Box]) -> None:
        self._shown = list(boxes)
        if self._bbox is None:
            return
        # Each dict carries its frame, so a late message about another frame is recognised,
        # and the zoom it was sent at, so a late edit maps back through that zoom.
        dicts = [{**self.scale.to_widget(b), "frame": self.frame, "view": self._view_id} for b in boxes]
        self._updating = True
        try:
            self._bbox.bboxes = dicts
        finally:
            self._updating = False

    def _render(self) -> None:
        i = self.frame
        data = self.frame_jpeg(i)
        self.bytes_sent.append(len(data))
        if self._bbox is not None:
            with self._bbox.hold_sync():
                self._bbox.image_bytes = data
                self._bbox.selected_index = -1
                self._show_boxes(self.shown_boxes(i))
        else:
            self._image.value = data
            self._shown = []
        self._refresh_text()

    def _refresh_text(self) -> None:
        i, n = self.frame, len(self.frames)
        looked = set(self.labels.looked_at)
        done = sum(1 for s in self.suggested if s in looked)
        if self.suggested:
            self._counter.value = (f"<b>{done} of {len(self.suggested)}</b> suggested frames labelled"
                                   + (" &#10003;" if done == len(self.suggested) else ""))
        else:
            self._counter.value = f"<b>{len(looked)}</b> frames labelled"
        parts = [f"frame <b>{i}</b> of {n}"]
        if i in self.suggested:
            parts.append("suggested")
        if self.draws:
            k = len(self.labels.boxes(i))  # (of masks: their boxes)
            noun = ("mask" if k == 1 else "masks") if self.task == "masks" else ("box" if k == 1 else "boxes")
            parts.append(f"{k} {noun}" + (" (looked at)" if i in looked else ""))
        else:
            c = self.labels.frame_class(i)
            parts.append(f"class <b>{html.escape(c)}</b>" if c else "no class yet")
        kinds = {k: self.actions.count(kind=k) for k in ACTION_KINDS}
        total = sum(kinds.values())
        detail = ", ".join(f"{v} {k}" for k, v in kinds.items() if v)
        parts.append(f"{total} human action{'s' if total != 1 else ''}" + (f" ({detail})" if detail else ""))
        self._status.value = " &middot; ".join(parts)
        for s, b in self._strip_buttons.items():
            b.button_style = "info" if s == i else ("success" if s in looked else "")
            b.icon = "check" if s in looked else ""
        self._prev.disabled = i == 0
        self._next.disabled = i == n - 1
        self._undo_button.disabled = not self._undo
        self._redo_button.disabled = not self._redo
        if self.draws:
            self._zoom_label.value = f"zoom <b>{self.zoom:.2g}&times;</b>"
            self._confirm.disabled = bool(self.labels.boxes(i))
        else:
            current = self.labels.frame_class(i)
            for c, b in zip(self.classes, self._class_buttons, strict=True):
                b.button_style = "success" if c == current else ""

    def _say(self, text: str = "", error: bool = False) -> None:
        text = html.escape(text)
        self._message.value = f"<span style='color:#c62828'>{text}</span>" if error else text

    # -- navigation ------------------------------------------------------------------------
    def go_to(self, i: int) -> None:
        """Show frame ``i``."""
        i = frame_in_range(i, len(self.frames))
        if i == self.frame and self._rendered:
            return
        first, self._rendered = not self._rendered, True
        self._visit += 1
        self.frame = i
        self._slider.value = i  # its observer calls go_to(i) again: a no-op now
        self._say()
        with self.actions.waiting(0.0 if first else WAIT_SECONDS):  # human time: waiting is no work
            self._render()

    def next(self) -> None:
        """Show the next frame (stays on the last one)."""
        self.go_to(min(self.frame + 1, len(self.frames) - 1))

    def prev(self) -> None:
        """Show the previous frame (stays on the first one)."""
        self.go_to(max(self.frame - 1, 0))

    def next_suggested(self) -> None:
        """Show the next suggested frame not labelled yet (after the current one, wrapping
        around); when all are labelled, the next suggested frame; without any, the next frame."""
        if not self.suggested:
            self.next()
            return
        looked = set(self.labels.looked_at)
        after = [s for s in self.suggested if s > self.frame] + [s for s in self.suggested if s <= self.frame]
        todo = [s for s in after if s not in looked and s != self.frame]
        self.go_to(todo[0] if todo else after[0])

    def _advance(self) -> None:
        """Move on after a frame is done: to unlabelled suggested frames first."""
        looked = set(self.labels.looked_at)
        if any(s not in looked for s in self.suggested):
            self.next_suggested()
        else:
            self.next()

    # -- zoom ------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        """How many times the whole-frame fit the frame is shown (1: the whole frame)."""
        return self.scale.zoom

    def set_zoom(self, zoom: float, at: tuple[float, float] | None = None,
                 where: tuple[float, float] = (0.5, 0.5)) -> None:
        """Show ``zoom`` times less of the frame, as large (1 to 16; 1 fits the whole frame).

        ``at`` is a full-frame point kept at the fraction ``where`` of the image (what the
        wheel does under the mouse); default: the centre of what is shown now.
        """
        if not self.draws:
            raise LabelError("zoom is for drawing boxes; this labeller labels frame classes")
        zoom = min(max(float(zoom), 1.0), MAX_ZOOM)
        self._set_scale(self.scale.zoomed(zoom, at, where))

    def pan(self, dx: float, dy: float) -> None:
        """Move the region shown by ``dx, dy`` full-frame pixels (it stays inside the frame)."""
        if not self.draws:
            raise LabelError("pan is for drawing boxes; this labeller labels frame classes")
        self._set_scale(self.scale.panned(dx, dy))

    def _set_scale(self, scale: DisplayScale) -> None:
        if scale == self.scale:
            return
        self.scale = scale
        self._view_id += 1
        self._scales[self._view_id] = scale
        while len(self._scales) > 16:
            self._scales.popitem(last=False)
        self._render()

    def _wheel(self, content: dict) -> None:
        try:
            fx = min(max(float(content.get("fx", 0.5)), 0.0), 1.0)
            fy = min(max(float(content.get("fy", 0.5)), 0.0), 1.0)
            steps = float(content.get("dy", 0))
        except (TypeError, ValueError):
            return
        if steps == 0:
            return
        at = self.scale.to_frame(fx * self.scale.shown[0], fy * self.scale.shown[1])
        self.set_zoom(self.zoom * ZOOM_STEP ** (-1 if steps > 0 else 1), at, (fx, fy))

    # -- undo ------------------------------------------------------------------------------
    def undo(self) -> Edit | None:
        """Undo the last edit made in this widget (Ctrl+Z): its frame's labels go back to
        what they were and its actions are taken back from the count
        (:meth:`~mm_widgets.actions.ActionLog.retract`); shows that frame. Returns the edit."""
        if not self._undo:
            self._say("nothing to undo")
            return None
        edit = self._undo.pop()
        self.labels.apply_frame_state(edit.before)  # journaled before the count changes
        self.actions.retract(edit.actions)
        self._redo.append(edit)
        self._after_undo(edit)
        return edit

    def redo(self) -> Edit | None:
        """Redo the edit undone last (Ctrl+Shift+Z): its labels come back and its actions are
        counted again. Returns the edit."""
        if not self._redo:
            self._say("nothing to redo")
            return None
        edit = self._redo.pop()
        self.labels.apply_frame_state(edit.after)
        self.actions.restore(edit.actions)  # with the times they were made: the undo was no work
        edit.boxes = []  # a later move of these boxes is a new adjust
        self._undo.append(edit)
        self._after_undo(edit)
        return edit

    def _after_undo(self, edit: Edit) -> None:
        if edit.frame != self.frame:
            self.go_to(edit.frame)
        else:
            self._visit += 1  # a move after an undo is a new adjust
            if self._bbox is not None:
                self._show_boxes(self.shown_boxes(edit.frame))
            self._refresh_text()
        self._notify(edit.frame)

    #: Whether two objects this labeller draws are the same object, as drawn.
    _same = staticmethod(same_box)

    def _edit_of(self, i: int, box: Box) -> Edit | None:
        """The edit of this visit of frame ``i`` that drew or moved ``box`` (as it is now), if any."""
        for edit in reversed(self._undo):
            if edit.visit != self._visit or edit.frame != i:
                return None
            if any(self._same(box, b) for b in edit.boxes):
                return edit
        return None

    def _remember(self, i: int, before: dict, recorded: list[Action], touched: list[Box]) -> None:
        after = self.labels.frame_state(i)
        if after == before and not recorded:
            return  # nothing changed: nothing to undo
        self._undo.append(Edit(i, before, after, recorded, self._visit, touched))
        self._redo.clear()

    # -- edits: every path ends in _commit_boxes / _commit_class ---------------------------
    @property
    def round(self) -> int:
        """The round edits are counted in (the project's current round; 0 without one)."""
        return self.project.round if self.project is not None else 0

    def on_change(self, fn: Callable[[int], None]) -> Callable[[int], None]:
        """Call ``fn(frame)`` after every edit made in this widget (labels and actions
        already saved); returns ``fn``."""
        self._listeners.append(fn)
        return fn

    def _notify(self, frame: int) -> None:
        for fn in list(self._listeners):
            fn(frame)

    def _commit_boxes(self, i: int, new: Sequence[Box], before: Sequence[Box] | None = None,
                      displayed: Sequence[Box] | None = None) -> list:
        """Store ``new`` as frame ``i``'s boxes and count the difference from ``before``
        (default: what the frame shows) as human actions; ``displayed`` is what the browser
        already shows (None: nothing yet). Returns the recorded actions."""
        before = self.shown_boxes(i) if before is None else before
        boxes, edits, recorded = self._count_edit(i, before, new, diff_boxes,
                                                  self.labels.set_boxes)
        if i == self.frame:
            # Resent after a real edit (so every box carries its frame tag, and boxes cut to
            # the frame show as saved), never after a no-op such as the 0 x 0 box of a
            # mouse-down: resending then would cut short the drag the person just started.
            if displayed is None or edits or not same_boxes(boxes, displayed):
                self._show_boxes(boxes)
            self._shown = list(boxes)
        # The counter and filmstrip marks cover every frame, not just the one shown.
        self._refresh_text()
        self._notify(i)
        return recorded

    def _count_edit(self, i: int, before: Sequence, new: Sequence, diff: Callable,
                    store: Callable) -> tuple[list, list, list[Action]]:
        """The one step every box or mask edit takes: ``diff(before, new)`` names the
        actions, ``store(i, objects, round=)`` journals the frame's objects, then the
        actions are counted and the edit is remembered for undo. Returns the stored
        objects, the edits and the recorded actions.

        One more nudge of an object drawn or moved in this visit counts nothing more (a run
        of nudges on one object is one adjust, or part of its draw)."""
        objects, edits = diff(before, new)
        state = self.labels.frame_state(i)
        r = self.round
        touched = [b for b in objects if not any(b is o for o in before)]  # drawn or moved
        gone = [o for o in before if not any(o is b for b in objects)]
        owner = (self._edit_of(i, gone[0])
                 if [k for k, _ in edits] == ["adjust"] and len(gone) == 1 else None)
        store(i, objects, round=r)  # journaled before any action is counted
        if owner is not None:
            owner.boxes = [b for b in owner.boxes if not self._same(b, gone[0])] + touched
            recorded: list[Action] = []
            if owner is self._undo[-1]:  # the same edit
                owner.after = self.labels.frame_state(i)
                self._redo.clear()
            else:  # other edits since (draw A, draw B, nudge A): Ctrl+Z undoes the nudge, not B
                self._remember(i, state, recorded, touched)
        else:
            recorded = [self.actions.record(kind, i, r, label) for kind, label in edits]
            self._remember(i, state, recorded, touched)
        return objects, edits, recorded

    def _commit_class(self, i: int, label: str) -> list:
        self.labels.check_class(label)
        r = self.round
        state = self.labels.frame_state(i)
        edits = diff_class(self.shown_class(i), label)
        source, score = self.class_origin(i, label)
        self.labels.set_class(i, label, score=score, source=source, round=r)
        recorded = [self.actions.record(kind, i, r, name) for kind, name in edits]
        self._remember(i, state, recorded, [])
        self._refresh_text()
        self._notify(i)
        return recorded

    def set_boxes(self, i: int, boxes: Iterable[Box | dict]) -> list:
        """Make ``boxes`` (full-frame :class:`Box` es, or dicts of Box fields) the boxes of
        frame ``i``, counted as the person's edits; returns the recorded actions."""
        if self.task != "boxes":
            raise LabelError("this labeller labels frame classes; use set_class()")
        i = self.labels.check_frame(i)
        boxes = [b if isinstance(b, Box) else Box(**b) for b in boxes]
        return self._commit_boxes(i, boxes)

    def set_class(self, i: int, label: str) -> list:
        """Give frame ``i`` the class ``label`` (one ``class`` action when it changes)."""
        if self.task != "classes":
            raise LabelError("this labeller labels boxes; use set_boxes()")
        return self._commit_class(self.labels.check_frame(i), label)

    def pick_class(self, label: str) -> None:
        """What a class button (or its key) does: label the current frame, then move on."""
        try:
            self.set_class(self.frame, label)
        except MMError as e:
            self._say(str(e), error=True)
            return
        self._advance()

    def confirm(self, i: int | None = None) -> None:
        """Count frame ``i`` (default: the current one) as labelled as it is: with no boxes
        it becomes a negative ("nothing here"). Free: no human action. Then move on."""
        i = self.frame if i is None else self.labels.check_frame(i)
        if self.draws:
            self._keep_shown(i)
        else:
            state = self.labels.frame_state(i)
            self.labels.mark_looked_at(i)
            self._remember(i, state, [], [])
            self._notify(i)
        if not self._acted_on(i):
            # Free, but timed: how long a person looks before accepting (ActionLog.seconds).
            self.actions.record("accept", i, self.round)
        if i == self.frame:
            self._advance()

    def _keep_shown(self, i: int) -> None:
        """Store what frame ``i`` shows as its labels, counted against itself (untouched:
        free; a review's predictions keep ``source="model"``)."""
        self._commit_boxes(i, self.shown_boxes(i))

    def _acted_on(self, i: int) -> bool:
        """Whether frame ``i`` got a counted action in this visit (then accepting it is no
        pure verification, and is not logged as one)."""
        for edit in reversed(self._undo):
            if edit.visit != self._visit:
                return False
            if edit.frame == i and edit.actions:
                return True
        return False

    def select_class(self, label: str) -> None:
        """Choose the class new boxes get (what the class buttons over the image do)."""
        self.labels.check_class(label)
        if self._bbox is not None:
            self._bbox.label = label

    # -- front-end events ------------------------------------------------------------------
    def _on_widget_boxes(self, change) -> None:
        if self._updating:
            return
        dicts = change["new"]
        if any(d.get("frame", self.frame) != self.frame for d in dicts):
            return  # a late message about a frame no longer shown
        boxes, displayed = [], []
        for d in dicts:
            scale = self._scales.get(d.get("view"), self.scale)
            try:
                raw = scale.from_widget(d, self.drawn_source, clip=False)
                box = scale.from_widget(d, self.drawn_source)
            except LabelError:
                continue  # a box being started (0 x 0) or dragged off the frame: not a box yet
            if not any(same_box(box, s) for s in self._shown):
                box = scale.snapped(box)  # drawn or moved to the edge: on the edge
            boxes.append(box)
            displayed.append(raw)
        if not diff_boxes(self._shown, boxes)[1] and same_boxes(boxes, displayed):
            return  # nothing changed (a re-sync, or the 0 x 0 box of a mouse-down)
        try:
            self._commit_boxes(self.frame, boxes, before=self._shown, displayed=displayed)
        except MMError as e:
            # Nothing is lost: the saved boxes are shown again and the person is told why.
            self._show_boxes(self.labels.boxes(self.frame))
            self._say(f"not saved: {e}", error=True)

    def _on_key(self, _widget, content, _buffers) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "wheel" and self.task == "boxes":
            self._wheel(content)
            return
        if content.get("type") == "strip":
            if self._timeline is not None:  # review's frame strip
                self.go_to(self._timeline.frame_at(content.get("fx")))
            return
        if content.get("type") != "key":
            return
        key = content.get("key")
        if key in UNDO_KEYS:
            self.undo()
        elif key in REDO_KEYS:
            self.redo()
        elif key in PAN_KEYS and self.draws:
            x1, y1, x2, y2 = self.scale.region
            dx, dy = PAN_KEYS[key]
            self.pan(dx * PAN_STEP * (x2 - x1), dy * PAN_STEP * (y2 - y1))
        elif key in ("+", "=") and self.draws:
            self.set_zoom(self.zoom * ZOOM_STEP)
        elif key == "-" and self.draws:
            self.set_zoom(self.zoom / ZOOM_STEP)
        elif key == "0" and self.draws:
            self.set_zoom(1.0)
        elif key == "ArrowRight":
            self.next()
        elif key == "ArrowLeft":
            self.prev()
        elif key == "n":
            self.next_suggested()
        elif isinstance(key, str) and key.isdigit() and 1 <= int(key) <= min(9, len(self.classes)):
            c = self.classes[int(key) - 1]
            if self.task == "classes":
                self.pick_class(c)
            else:
                self.select_class(c)

    def __repr__(self) -> str:
        return (f"Labeller({self.frames.name!r}, task={self.task!r}, frame {self.frame}, "
                f"{len(self.labels)} labels, {len(self.actions)} actions)")


def label(frames: Frames | None, classes: Sequence[str] | None = None, *,
          project: Project | str | Path | None = None, first_labels: int | Iterable[int] = 5,
          task: str = "boxes", width: int = 800, height: int = 540) -> Labeller:
    """Label frames inline: a widget that suggests frames and records every edit.

    Parameters
    ----------
    frames
        The :class:`~mm_widgets.data.Frames` to label (or a list of images); ``None`` when
        ``project`` already knows its frames.
    classes
        Class names; may be omitted when reopening a project.
    project
        A :class:`~mm_widgets.project.Project` or a folder: created with ``classes`` if
        missing, reopened otherwise (labels, actions and the place to resume come back).
        Every edit is written to it at once. None or False: no folder, the labels and
        actions live in the widget only.
    first_labels
        How many frames to suggest labelling first (chosen by ``select_frames``), or the
        frame indices.
    task
        ``"boxes"``: draw boxes with the mouse. ``"classes"``: one button per class (keys
        1-9); one click labels the frame and moves on. ``"masks"``: draw polygons by clicks
        (:class:`~mm_widgets.widgets.masks.MaskLabeller`).
    width, height
        The box, in pixels, the whole frame is fitted into (enlarged when it is smaller, so
        a 176x144 clip is not tiny); the wheel, ``+``/``-`` and :meth:`Labeller.set_zoom`
        zoom in from there, and boxes map back to full-frame pixels exactly at every zoom.

    Returns
    -------
    Labeller
        The widget; display it as the cell's value. ``w.labels`` and ``w.actions`` hold
        the results.

    Examples
    --------
    >>> frames = mm.load_sample("bunny")                                # doctest: +SKIP
    >>> w = mm.label(frames, ["bunny"], project="bunny_project")         # doctest: +SKIP
    >>> w                                                                # doctest: +SKIP
    """
    if task == "masks":
        from .masks import MaskLabeller

        return MaskLabeller(frames, classes, project=project, first_labels=first_labels,
                            width=width, height=height)
    return Labeller(frames, classes, project=project, first_labels=first_labels, task=task,
                    width=width, height=height)
