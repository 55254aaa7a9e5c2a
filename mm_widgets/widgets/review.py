"""review(): a model's boxes pre-filled on the frames, corrected by a person, every edit counted.

:class:`Review` is the labeller (:class:`~mm_widgets.widgets.labeller.Labeller`) with one
change of substance: on a frame nobody has looked at yet it shows the model's boxes
(:meth:`Review.shown_boxes`). Everything else is the labeller's: an edit is the difference
between what was shown and what the person left, counted by
:func:`~mm_widgets.actions.diff_boxes` (the one counting rule), so

- accepting a frame as shown (the "Accept frame" button, Enter, :meth:`Review.accept`) is
  free, and the model's boxes become labels with ``source="model"``;
- moving or resizing a box is one ``adjust`` (the box becomes ``"corrected"``), changing its
  class too; deleting one is one ``delete``; drawing one is one ``draw``.

Frames are offered in the order of a selection strategy (by default in clip order, each
frame next to one just confirmed, so the boxes confirmed there are carried to it at once:
:class:`~mm_widgets.propagate.Proposer`; the least sure first for frame classes), computed from the model's predictions. The counter shows the measured label
efficiency, ``1 - human actions / labels``, over everything labelled so far, the human time
so far (the person's own seconds per event, waiting for the model and undone work left
out: :meth:`~mm_widgets.actions.ActionLog.seconds`) and their medians per kind;
:meth:`Review.efficiency_curve` charts efficiency per round.

Long scenes open at once: the model predicts a block of frames around the first frame
shown before the widget appears (:class:`~mm_widgets.predictions.Predictions`), every
other block in a background thread, and any frame a person goes to first on demand. The
review order ranks the frames predicted so far and is brought up to date, as blocks
arrive, each time the person moves on; frames not predicted yet follow in clip order and
show grey in the strip.

A mask model's masks are reviewed the same way (:class:`MaskReview`): the review above on
the mask labeller's polygon canvas (:class:`~mm_widgets.widgets.masks.MaskLabeller`),
counted by :func:`~mm_widgets.actions.diff_masks`; a frame classifier's classes by
:class:`ClassReview`. :func:`review` picks the one that fits the model (:data:`REVIEWS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from ..actions import efficiency, format_seconds
from ..data import Frames
from ..errors import LabelError, MMError
from ..labels import Box, LabelSet, Mask
from ..predictions import Predictions
from ..project import Project
from ..propagate import Proposer
from ..select import rank_frames, review_order, strategy_function
from .display import CLASS_COLOURS, Timeline, cached, draw_class, pale
from .labeller import JPEG_CACHE, Labeller, as_project_argument, key_legend
from .masks import MaskLabeller, inside_frame

#: Strip colours by review state.
REVIEW_COLOURS = {"reviewed": "#2ca02c", "boxes": "#1f77b4", "empty": "#d0d0d0",
                  "pending": "#f2f2f2"}
REVIEW_TEXT = {"reviewed": "reviewed", "boxes": "to review: model {shapes}",
               "empty": "to review: model found nothing", "pending": "not predicted yet"}
#: A strip cell covering several frames shows the state a person most needs to see.
REVIEW_RANK = {"pending": 0, "empty": 1, "boxes": 2, "reviewed": 3}
#: While blocks arrive in the background, the strip is redrawn every this many blocks.
STRIP_EVERY_BLOCKS = 8
ACCEPT_KEY = "Enter"


class Review(Labeller):
    """Correct a model's boxes frame by frame; every human action is counted.

    Build it with :func:`review`. Python paths for every control: :meth:`accept`,
    :meth:`go_to`, :meth:`next_suggested` ("Next to review"), :meth:`set_boxes` (any edit,
    counted as the browser's would be), :meth:`set_conf`, plus the labeller's.

    Attributes
    ----------
    model
        The micro-model whose boxes are shown.
    predictions : pandas.DataFrame
        Its predictions so far on the frames not looked at when the widget opened (all of
        them once :meth:`predict_all` or the background thread is done).
    predicted : Predictions
        What the model has predicted, block by block (``predicted.frames_predicted``,
        ``predicted.wait()``).
    order : list of int
        Frames in review order: the strategy's ranking of the frames predicted so far, then
        the frames not predicted yet in clip order.
    conf : float
        Predictions scoring lower are not pre-filled.
    labels, actions, project
        As for :class:`~mm_widgets.widgets.labeller.Labeller`.
    """

    drawn_source = "human"
    #: What it corrects: boxes here, frame classes in :class:`ClassReview`, masks in
    #: :class:`MaskReview`.
    task = "boxes"
    #: What one and several of the shapes it shows are called.
    nouns = ("box", "boxes")
    #: Where the frame strip starts, under the frame's view (the bbox widget pads its image).
    strip_indent = "5px"

    def __init__(self, frames: Frames | None, model=None, *,
                 project: Project | str | Path | None = None, strategy: str | Callable = "auto",
                 conf: float = 0.25, labels: LabelSet | None = None, round: int | None = None,
                 width: int = 800, height: int = 540, seed: int = 0, background: bool = True):
        if hasattr(frames, "predict") and not hasattr(model, "predict"):
            raise MMError("review(frames, model): the frames come first, then the model")
        project = as_project_argument(project)  # False: no project folder, as in overfit()
        if model is None and project is not None:
            if not isinstance(project, Project):
                project = Project(project, frames=frames, task="boxes")
            model = project.model
            if model is None:
                raise MMError(f"{project.path} keeps no model yet: train one with "
                              "mm.overfit(frames, labels, project=...) or mm.next_round(project)")
        if not hasattr(model, "predict"):
            raise MMError(f"review() needs a fitted micro-model, got {type(model).__name__}")
        if hasattr(model, "check_fitted"):
            model.check_fitted()
        classes = list(getattr(model, "classes_", None) or (labels.classes if labels else []))
        task = getattr(model, "task", "boxes")
        if task != self.task:
            raise MMError(f"{type(self).__name__} corrects {self.task}, but this model labels "
                          f"{'frame classes' if task == 'classes' else task}: mm.review(frames, "
                          "model) opens the review that fits the model")
        if project is not None and labels is not None:
            raise LabelError("pass labels=... or project=..., not both: a project keeps its own labels")
        if frames is not None and not isinstance(frames, Frames):
            frames = Frames.from_arrays(frames)
        if project is not None and not isinstance(project, Project):
            project = Project(project, classes or None, frames=frames, task=task)
        if frames is None:
            if project is None:
                raise LabelError("review() needs frames (or a project that knows its frames)")
            frames = project.frames
        if labels is not None:
            if labels.task != task:
                raise LabelError(f"this model labels {task}, but these labels hold {labels.task}")
            base = labels.copy()  # the caller's labels stay as they were
            base.size, base.n_frames = frames.size, len(frames)
        elif project is not None:
            base = project.labels
        else:
            base = LabelSet(classes, task, size=frames.size, n_frames=len(frames))
        unknown = [c for c in classes if c not in base.classes]
        if unknown:
            raise LabelError(f"the model knows classes {unknown} that the labels do not "
                             f"({base.classes})")
        if not 0.0 <= float(conf) <= 1.0:
            raise MMError(f"conf must be in [0, 1], got {conf}")
        if round is not None and int(round) < 0:
            raise MMError(f"round must be >= 0, got {round}")

        self.frames = frames  # the labeller sets it again; ranking needs it first
        self.model = model
        self.strategy = strategy = review_order(strategy, self.task)
        self.conf = float(conf)
        self._round = None if round is None else int(round)
        self._seed = int(seed)
        self.predicted = Predictions(model, frames, skip=base.looked_at, first_track=base.next_track)
        self._clipped: dict[int, list[Box]] = {}
        # what each frame shows before anyone looks at it: the model's boxes fused with the
        # boxes carried from the frames confirmed so far (recomputed after every edit)
        self._proposer: Proposer | None = None
        self._proposals: dict[int, list[Box]] = {}
        self._first_shown: dict[int, list[Box]] = {}
        # Rank once for strategies that ignore predictions; with predictions, the first
        # block to review is predicted before anything is ranked.
        self._reranks = getattr(strategy_function(strategy), "uses_predictions", True)
        first = next((i for i in range(len(frames)) if i not in base), None)
        if first is not None and self._reranks:
            self.predicted.ensure([first])
        self._rank(base)
        self._strip_key = None
        super().__init__(frames, base.classes, project=project, first_labels=[], task=task,
                         width=width, height=height)
        self.add_class("mm-review")
        if labels is not None:
            # The labeller starts from empty labels without a project; review continues the
            # caller's (a copy), so their looked-at frames are not offered again.
            self.labels = base
            self._rendered = False
            self.go_to(self._resume_frame())
        self.predicted.on_block(self._block_arrived)
        if background:
            self.predicted.start(near=self.frame)

    @property
    def predictions(self) -> pd.DataFrame:
        """The model's predictions so far (see :attr:`predicted`)."""
        return self.predicted.table()

    def predict_all(self) -> pd.DataFrame:
        """Predict every frame not predicted yet, here and now; returns :attr:`predictions`."""
        table = self.predicted.predict_all()
        self._refresh_text()
        return table

    def close(self) -> None:
        """Stop predicting in the background, then close the widget."""
        predicted = getattr(self, "predicted", None)  # None too when __init__ refused its input
        if predicted is not None:
            predicted.stop()
        super().close()

    def _rank(self, labels: LabelSet | None = None) -> None:
        """Bring :attr:`order` up to date with the predictions made so far."""
        labels = self.labels if labels is None else labels
        done = set(labels.looked_at)
        predicted = self.predicted
        self._order_version = predicted.version
        if not self._reranks:  # the strategy ignores predictions: its ranking stands
            if not hasattr(self, "order"):
                self.order = rank_frames(self.frames, self.strategy, seed=self._seed,
                                         predictions=self.predictions, labels=labels)
            return
        ranked = rank_frames(self.frames, self.strategy, seed=self._seed,
                             predictions=self.predictions, labels=labels)
        self.order = ([f for f in ranked if predicted.is_predicted(f)]
                      + [f for f in range(len(self.frames))
                         if f not in done and not predicted.is_predicted(f)])

    @property
    def proposer(self) -> Proposer:
        """What frames not reviewed yet show (:class:`~mm_widgets.propagate.Proposer`): the
        model's boxes fused with the boxes carried from every frame confirmed so far, the
        same proposals :func:`mm_widgets.simulate` shows its oracle."""
        if self._proposer is None or self._proposer.labels is not self.labels:
            self._proposer = Proposer(self.frames, self.labels, self._model_boxes)
            self._proposals.clear()
        return self._proposer

    def _block_arrived(self, block: range) -> None:
        # Called from the thread that predicted the block: only the strip is redrawn here.
        predicted = self.predicted
        if predicted.version % STRIP_EVERY_BLOCKS == 0 or predicted.complete:
            # The frames looked at as of the last redraw: the labels belong to the kernel's
            # thread (the next redraw there brings the strip up to date).
            self._strip_key = None
            self._render_strip(getattr(self, "_looked", set()))

    def _model_boxes(self, i: int) -> list[Box]:
        """Frame ``i``'s predicted boxes cut to the frame (predicting its block if needed)."""
        boxes = self._clipped.get(i)
        if boxes is None:
            # A model may reach a pixel past the border; a label may not.
            kept = [c for c in (b.clipped(self.frames.size) for b in self.predicted.boxes(i))
                    if c is not None]
            boxes = self._clipped[i] = [Box(*c.xyxy, c.label, c.score, "model", c.track) for c in kept]
        return boxes

    # -- construction: the labeller's controls, renamed for review ------------------------
    def _build(self) -> None:
        super()._build()
        self._confirm.description = "Accept frame"
        self._confirm.icon = "check"
        self._confirm.button_style = "success"
        self._confirm.tooltip = f"the {self.nouns[1]} shown are right: keep them (free) and go on (Enter)"
        self._confirm.layout.width = "130px"
        self._next_sugg.description = "Next to review"
        self._next_sugg.tooltip = "next frame in review order not reviewed yet (n)"
        self._keys.shortcuts = [*self._keys.shortcuts, ACCEPT_KEY]
        self._key_legend.value = key_legend(self.task, len(self.classes), [(ACCEPT_KEY, "accept frame")],
                                            next_name="next to review")
        import ipywidgets as widgets

        width = self.scale.shown[0]
        # Indented like the image inside the frame's view, so cells line up with it.
        self._timeline = Timeline(len(self.frames), width, self._strip_cells, indent=self.strip_indent)
        self._review_strip, self._review_cursor = self._timeline.strip, self._timeline.cursor
        self._legend = widgets.HTML()
        at = self._children.index(self._view) + 1
        self._children[at:at] = [self._timeline, self._legend]

    # -- what is shown ---------------------------------------------------------------------
    def shown_boxes(self, i: int) -> list[Box]:
        """Frame ``i``'s labels once looked at; before that the model's boxes scoring at
        least :attr:`conf` (``source="model"``)."""
        if i in self.labels:
            return self.labels.boxes(i)
        proposer = self.proposer
        boxes = self._proposals.get(i)
        if boxes is None:
            boxes = self._proposals[i] = proposer.propose(i)
            self._first_shown.setdefault(i, boxes)
        return [b for b in boxes if b.score is None or b.score >= self.conf]

    @property
    def round(self) -> int:
        """The round actions are counted in: as given, else the project's current round, and
        at least 1 (round 0 is the first frames labelled by hand, before any model)."""
        return self._round if self._round is not None else max(super().round, 1)

    @property
    def queue(self) -> list[int]:
        """Frames still to review, in review order."""
        looked = set(self.labels.looked_at)
        return [f for f in self.order if f not in looked]

    @property
    def reviewed(self) -> int:
        """Frames looked at (labelled by hand or reviewed)."""
        return len(self.labels.looked_at)

    @property
    def efficiency(self) -> float:
        """Measured label efficiency so far: ``1 - human actions / labels``."""
        return efficiency(len(self.actions), len(self.labels))

    def _refresh_text(self) -> None:
        super()._refresh_text()
        i, n = self.frame, len(self.frames)
        looked = set(self.labels.looked_at)
        labels, actions = len(self.labels), len(self.actions)
        eff = f"{efficiency(actions, labels):.1%}" if labels else "&ndash;"
        self._counter.value = (
            f"<b>{len(looked)} of {n}</b> frames reviewed &middot; <b>{actions}</b> human "
            f"action{'s' if actions != 1 else ''} &middot; {labels} label{'s' if labels != 1 else ''}"
            f" &middot; efficiency <b>{eff}</b> &middot; {self._time_html()}")
        self._status.value = " &middot; ".join(self._frame_parts(i, looked))
        self._confirm.disabled = False
        key = (len(looked), self.conf, self.predicted.version)
        if key != self._strip_key:
            self._strip_key = key
            self._timeline.frame = i
            self._render_strip(looked)
        self._timeline.show_frame(i)

    def _frame_parts(self, i: int, looked: set[int]) -> list[str]:
        """The status line's parts for frame ``i``: what it shows, its place in review
        order, and the actions so far."""
        n = len(self.frames)
        shown = self.shown_boxes(i)
        parts = [f"frame <b>{i}</b> of {n}"]
        if i in looked:
            sources = {s: sum(b.source == s for b in shown)
                       for s in ("model", "carried", "corrected", "human")}
            detail = ", ".join(f"{v} {k}" for k, v in sources.items() if v)
            parts.append(f"reviewed: {len(shown)} {self.nouns[len(shown) != 1]}"
                         + (f" ({detail})" if detail else ""))
        else:
            parts.append(self._proposal_text(i, shown))
            queue = self.queue
            if i in queue:
                parts.append(f"#{queue.index(i) + 1} of {len(queue)} in review order")
        kinds = {k: self.actions.count(kind=k) for k in ("draw", "adjust", "delete")}
        detail = ", ".join(f"{v} {k}" for k, v in kinds.items() if v)
        if detail:
            parts.append(detail)
        return parts

    def _proposal_text(self, i: int, shown: list[Box]) -> str:
        """What the status line says of the proposals on frame ``i``, not reviewed yet."""
        carried = sum(b.source == "carried" for b in shown)
        before, after = self.proposer.neighbours(i)
        near = " and ".join(str(g) for g in (before, after) if g is not None)
        return (f"to review: {len(shown) - carried} model {self.nouns[len(shown) - carried != 1]}"
                f" (score &ge; {self.conf:.2f})"
                + (f", {carried} carried from frame {near} (the model missed them)" if carried else ""))

    def _time_html(self) -> str:
        """Human time so far and the person's own median seconds per kind, measured from the
        timestamps (:meth:`~mm_widgets.actions.ActionLog.seconds`)."""
        seconds = self.actions.seconds(task=self.labels.task)
        mine = [f"{k} {s:.1f} s" for k, n, s in zip(seconds["kind"], seconds["timed"],
                                                  seconds["median_seconds"], strict=True) if n]
        text = f"human time &asymp; <b>{format_seconds(float(seconds['total_seconds'].sum()))}</b>"
        return text + (f" (your median: {', '.join(mine)})" if mine else "")

    def _render_strip(self, looked: set[int]) -> None:
        self._looked = looked
        self._timeline.redraw()
        swatch = ("<span style='display:inline-block;width:10px;height:10px;background:{};"
                  "margin:0 4px 0 10px;border-radius:2px'></span>")
        # "not predicted yet" only while some frames are (a finished clip has none).
        shown = [k for k in REVIEW_COLOURS if k != "pending" or not self.predicted.complete]
        self._legend.value = "<span style='font-size:90%'>" + "".join(
            swatch.format(REVIEW_COLOURS[k]) + self._review_text(k) for k in shown) + "</span>"

    def _review_text(self, state: str) -> str:
        """What a strip state says (:data:`REVIEW_TEXT`, in this widget's words)."""
        return REVIEW_TEXT[state].format(shapes=self.nouns[1])

    def _strip_cells(self, runs: list[range]) -> tuple[list[str], list[str]]:
        predicted, conf = self.predicted, self.conf
        looked = getattr(self, "_looked", set())

        def state(f: int) -> str:
            if f in looked:
                return "reviewed"
            boxes = predicted.known_boxes(f)
            if boxes is None:
                return "pending"
            return "boxes" if any(b.score is None or b.score >= conf for b in boxes) else "empty"

        colours, titles = [], []
        for run in runs:
            worst = min((state(f) for f in run), key=REVIEW_RANK.__getitem__)
            colours.append(REVIEW_COLOURS[worst])
            where = f"frame {run[0]}" if len(run) == 1 else f"frames {run[0]}-{run[-1]}"
            titles.append(f"{where}: {self._review_text(worst)}")
        return colours, titles

    # -- review order ---------------------------------------------------------------------
    def _resume_frame(self) -> int:
        """The first frame in review order not looked at yet."""
        queue = self.queue if hasattr(self, "order") else []
        return queue[0] if queue else super()._resume_frame()

    def next_suggested(self) -> None:
        """Show the next frame in review order not reviewed yet (after the current one,
        wrapping around); with none left, the next frame."""
        looked = set(self.labels.looked_at)
        # an order that ignores predictions (clip order, say) stands as blocks arrive
        reranked = self._reranks and self.predicted.version != self._order_version
        if reranked:
            self._rank()
        order = self.order
        if self._reranks and not any(self.predicted.is_predicted(f) for f in order
                                     if f not in looked and f != self.frame):
            # Everything predicted is reviewed: predict the next block on demand.
            after = [f for f in order if f not in looked and f != self.frame]
            if after:
                self.predicted.ensure([after[0]])
                self._rank()
                order, reranked = self.order, True
        # In a new ranking the place of the frame shown means nothing: start from the top.
        if self.frame in order and not (reranked and self.frame in looked):
            k = order.index(self.frame)
            order = order[k + 1:] + order[:k]
        todo = [f for f in order if f not in looked and f != self.frame]
        if todo:
            self.go_to(todo[0])
        else:
            self.next()

    def _advance(self) -> None:
        if self.queue:
            self.next_suggested()
        else:
            self.next()

    # -- edits ---------------------------------------------------------------------------------
    def accept(self, i: int | None = None) -> list:
        """Accept frame ``i`` (default: the one shown) as it is shown: the model's boxes become
        labels (``source="model"``), free of any human action; then go on in review order.
        Returns the actions recorded (none, unless the frame was edited in between)."""
        before = len(self.actions)
        self.confirm(i)
        return list(self.actions)[before:]

    def _notify(self, frame: int) -> None:
        self._proposals_changed(frame)
        if frame != self.frame:
            self._refresh_text()  # the counter and strip count every frame, not only the one shown
        super()._notify(frame)

    def _proposals_changed(self, frame: int) -> None:
        """A frame confirmed (or given back by an undo) changes what its neighbours show."""
        self._proposals.clear()
        if frame in self.labels:
            self.proposer.confirmed(frame, self._first_shown.get(frame, []),
                                    self.labels.boxes(frame))
        else:
            self.proposer.rejected.pop(frame, None)
            self._first_shown.pop(frame, None)

    def set_conf(self, conf: float) -> None:
        """Pre-fill only predictions scoring at least ``conf`` (frames not reviewed yet)."""
        conf = float(conf)
        if not 0.0 <= conf <= 1.0:
            raise MMError(f"conf must be in [0, 1], got {conf}")
        self.conf = conf
        self._render()

    def _on_key(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "key" and content.get("key") == ACCEPT_KEY:
            self.accept()
            return
        super()._on_key(widget, content, buffers)

    # -- the efficiency curve -----------------------------------------------------------------
    def efficiency_table(self) -> pd.DataFrame:
        """Per round: actions by kind, human actions, cumulative actions, labels at the end of
        the round, efficiency and labels per action (cumulative), from the action log and
        the labels' rounds."""
        df = self.labels.df
        rounds = sorted({int(r) for r in df["round"]} | {a.round for a in self.actions} | {self.round})
        by_round = {r: int((df["round"] <= r).sum()) for r in rounds}
        return self.actions.summary(by_round)

    def efficiency_figure(self):
        """The plotly figure of :meth:`efficiency_table` (``mm_widgets.plots.efficiency_figure``)."""
        from ..plots import efficiency_figure

        name = self.frames.name or "frames"
        return efficiency_figure(self.efficiency_table(), title=f"Label efficiency per round: {name}",
                                 task=self.task)

    def efficiency_curve(self):
        """Label efficiency and human actions per round, as a chart in the cell that follows
        the review as it goes (a plotly ``FigureWidget``)."""
        from .charts import figure_widget, refresh

        chart = figure_widget(self.efficiency_figure())

        def follow(_frame: int) -> None:
            if not refresh(chart, self.efficiency_figure()):
                self._listeners.remove(follow)  # a new column: the old chart stops following

        self.on_change(follow)
        return chart

    def __repr__(self) -> str:
        eff = f"{self.efficiency:.1%}" if len(self.labels) else "-"
        return (f"{type(self).__name__}({self.frames.name!r}, frame {self.frame}, {self.reviewed} of "
                f"{len(self.frames)} reviewed, {len(self.actions)} actions, {len(self.labels)} "
                f"labels, efficiency {eff})")


def review(frames: Frames | Sequence | None, model=None, *,
           project: Project | str | Path | None = None, strategy: str | Callable = "auto",
           conf: float = 0.25, labels: LabelSet | None = None, round: int | None = None,
           width: int = 800, height: int = 540, seed: int = 0, background: bool = True) -> Review:
    """Review a micro-model's boxes inline: accept what is right, correct what is not.

    A frame classifier's class per frame is reviewed the same way (:class:`ClassReview`):
    the model's class is pre-filled, Enter accepts it (free), a class key 1-9 (or button)
    changes it (one class action). A mask model's masks too (:class:`MaskReview`): they are
    pre-filled as polygons, Enter accepts them (free), a mask whose points are dragged or
    whose class is changed is one adjust, one deleted one delete, one drawn one draw.

    Parameters
    ----------
    frames
        The clip; ``None`` when ``project`` knows its frames.
    model
        A fitted micro-model (``model.predict(frames, indices=...)``, ``model.classes_``;
        ``model.task`` says what it labels: ``"boxes"``, ``"classes"`` or ``"masks"``);
        ``None``: the model the project keeps (``project.model``, the latest round's).
    project
        A :class:`~mm_widgets.project.Project` or a folder: every accepted frame and every
        counted action is written to it at once; reopening resumes where the person left.
    strategy
        Review order: ``"auto"`` (boxes: ``"sequential"``, the clip in order, each frame
        getting the boxes confirmed on the one before carried to it; frame classes:
        ``"uncertain"``), ``"uncertain"``, ``"diverse"``, ``"spaced"``, ``"random"`` (see
        :data:`mm_widgets.select.STRATEGIES`) or a callable strategy.
    conf
        Predictions scoring lower are not pre-filled.
    labels
        Labels made so far without a project (e.g. ``lab.labels``): their frames count as
        looked at and are not offered again. Copied, not changed.
    round
        The round the actions are counted in (default: the project's current round, and at
        least 1: round 0 is the first frames labelled by hand, before any model).
    width, height
        The box, in pixels, the whole frame is fitted into; zoom in from there with the
        wheel, ``+``/``-`` or :meth:`Review.set_zoom`.
    seed
        Makes strategies with a random part repeatable.
    background
        Predict the frames not predicted at opening in a background thread (True), or only
        when the review reaches them (False). Either way the widget opens after predicting
        one block of frames (:data:`mm_widgets.predictions.BLOCK`), not the whole clip.

    Returns
    -------
    Review, ClassReview or MaskReview
        The widget; ``rev.labels`` and ``rev.actions`` hold the results,
        ``rev.efficiency_curve()`` charts them.

    Examples
    --------
    >>> rev = mm.review(frames, model, project="bunny_project")   # doctest: +SKIP
    >>> rev                                                        # doctest: +SKIP
    >>> rev.efficiency_curve()                                     # doctest: +SKIP
    """
    if model is None and project is not None and not isinstance(project, Project):
        project = Project(project, frames=frames if isinstance(frames, Frames) else None)
    task = getattr(model, "task", None) or (project.task if project is not None else "boxes")
    widget = REVIEWS.get(task, Review)  # an unknown task: Review says what it corrects
    return widget(frames, model, project=project, strategy=strategy, conf=conf, labels=labels,
                  round=round, width=width, height=height, seed=seed, background=background)


# -- frame classes ----------------------------------------------------------------------------
#: Timeline states of a frame in a class review, and what each says.
CLASS_REVIEW_TEXT = {"reviewed": "reviewed", "proposed": "to review: the model's class",
                     "unsure": "to review: the model is unsure", "pending": "not predicted yet"}
CLASS_REVIEW_RANK = {"pending": 0, "unsure": 1, "proposed": 2, "reviewed": 3}


class ClassReview(Review):
    """Correct a frame classifier's class frame by frame; every change is counted.

    Build it with :func:`review` (it picks this one for a model with ``task="classes"``).
    Each frame not looked at yet shows the model's class, pre-filled (the class scoring at
    least :attr:`conf`; below that, none): :meth:`accept` (Enter, "Accept frame") keeps it,
    free, with ``source="model"`` and the model's score; :meth:`set_class` (a class key 1-9,
    or its button) sets another, one class action counted by
    :func:`~mm_widgets.actions.diff_class`, as for a person labelling by hand. The
    timeline shows every frame's class: full colour once reviewed, pale while it is the
    model's proposal, grey where the model is unsure, lighter grey before it is predicted.
    """

    task = "classes"

    def _build(self) -> None:
        super()._build()
        import ipywidgets as widgets

        # A class labeller moves on with each class picked and has no "confirm" button; a
        # review accepts the class shown with it.
        nav = next(c for c in self._children if isinstance(c, widgets.HBox) and self._prev in c.children)
        kids = list(nav.children)
        kids.insert(kids.index(self._next_sugg) + 1, self._confirm)
        nav.children = tuple(kids)
        self._confirm.tooltip = "the class shown is right: keep it (free) and go on (Enter)"
        self._key_legend.value = key_legend(self.task, len(self.classes),
                                            [(ACCEPT_KEY, "accept the class shown")],
                                            next_name="next to review")
        self.colours = {c: CLASS_COLOURS[k % len(CLASS_COLOURS)] for k, c in enumerate(self.classes)}
        self._tag_key = None

    # -- what is shown ---------------------------------------------------------------------
    def model_class(self, i: int) -> tuple[str | None, float | None]:
        """The model's ``(class, score)`` for frame ``i`` (its block predicted first if needed)."""
        return self.predicted.frame_class(i)

    def shown_class(self, i: int) -> str | None:
        """Frame ``i``'s class once looked at; before that the model's class when it scores
        at least :attr:`conf`, else None (nothing pre-filled)."""
        if i in self.labels:
            return self.labels.frame_class(i)
        label, score = self.model_class(i)
        return label if label is not None and (score is None or score >= self.conf) else None

    def shown_boxes(self, i: int) -> list[Box]:
        """A class review shows no boxes."""
        return []

    def class_origin(self, i: int, label: str) -> tuple[str, float | None]:
        """The model's class accepted keeps ``source="model"`` and its score; a class kept on
        a reviewed frame keeps what it had; a class changed from a proposal is
        ``"corrected"``, one set where nothing was proposed ``"human"``."""
        if i in self.labels:
            old, score, source, _ = self.labels.frame_state(i)["class"] or (None, None, "human", 0)
            if old == label:
                return source, score
            return ("corrected" if source == "model" else source), None
        shown = self.shown_class(i)
        if shown is not None and shown == label:
            return "model", self.model_class(i)[1]
        return ("corrected" if shown is not None else "human"), None

    def frame_jpeg(self, i: int) -> bytes:
        """Frame ``i`` with the class it shows as a tag (the model's, or the one reviewed)."""
        key = self._tag(i)
        _, label, score, note = key
        return cached(self._jpegs, key,
                      lambda: draw_class(self.frames[i], label, score, self.scale,
                                         self.colours.get(label, CLASS_COLOURS[0]), note),
                      JPEG_CACHE)

    def _tag(self, i: int) -> tuple:
        if i in self.labels:
            return (i, self.labels.frame_class(i), None, "reviewed")
        label, score = self.model_class(i)
        if self.shown_class(i) is None:
            return (i, None, None, "the model is unsure: pick a class")
        return (i, label, score, "(the model's)")

    # -- edits -----------------------------------------------------------------------------
    def accept(self, i: int | None = None) -> list:
        """Accept the class frame ``i`` (default: the one shown) shows: the model's class
        becomes a label (``source="model"``, its score), free of any human action; then go
        on in review order. With no class shown (the model is unsure) nothing is accepted
        and the person is told to pick one. Returns the actions recorded (none)."""
        i = self.frame if i is None else self.labels.check_frame(i)
        shown = self.shown_class(i)
        if shown is None:
            self._say(f"frame {i}: the model's class scores below {self.conf:.2f}, so there is "
                      "nothing to accept: pick a class (keys 1-9)", error=True)
            return []
        recorded = self._commit_class(i, shown)
        if not self._acted_on(i):
            # Free, but timed: how long a person looks before accepting (ActionLog.seconds).
            self.actions.record("accept", i, self.round)
        if i == self.frame:
            self._advance()
        return recorded

    def confirm(self, i: int | None = None) -> None:
        """What the "Accept frame" button does: :meth:`accept`."""
        self.accept(i)

    def pick_class(self, label: str) -> None:
        """A class key or button: the class shown on a frame not reviewed yet is accepted
        (:meth:`accept`: free, logged as an ``accept``); another class is set (one action)."""
        if self.frame not in self.labels and label == self.shown_class(self.frame):
            self.accept()
        else:
            super().pick_class(label)

    # -- the status line and the timeline ----------------------------------------------------
    def _refresh_text(self) -> None:
        super()._refresh_text()
        i = self.frame
        if i not in self.labels:
            shown = self.shown_class(i)
            for c, b in zip(self.classes, self._class_buttons, strict=True):
                b.button_style = "info" if c == shown else ""
        tag = self._tag(i)
        if tag != self._tag_key and self._image.value:
            self._tag_key = tag
            self._image.value = self.frame_jpeg(i)  # the class on the frame follows the edit

    def _render(self) -> None:
        self._tag_key = self._tag(self.frame)
        super()._render()

    def _frame_parts(self, i: int, looked: set[int]) -> list[str]:
        import html

        parts = [f"frame <b>{i}</b> of {len(self.frames)}"]
        if i in looked:
            label, _, source, _ = self.labels.frame_state(i)["class"] or (None, None, "", 0)
            parts.append(f"reviewed: <b>{html.escape(label)}</b> ({source})" if label
                         else "reviewed: no class")
        else:
            label, score = self.model_class(i)
            if self.shown_class(i) is not None:
                parts.append(f"to review: the model says <b>{html.escape(label)}</b>"
                             + ("" if score is None else f" ({score:.2f})"))
            elif label is not None:
                parts.append(f"to review: the model is unsure ({html.escape(label)} "
                             f"{score:.2f} &lt; {self.conf:.2f}): pick a class")
            else:
                parts.append("to review: no class from the model: pick one")
            queue = self.queue
            if i in queue:
                parts.append(f"#{queue.index(i) + 1} of {len(queue)} in review order")
        k = self.actions.count(kind="class")
        if k:
            parts.append(f"{k} class{'es' if k != 1 else ''} set")
        return parts

    def _state(self, f: int, looked: set[int]) -> tuple[str, str | None]:
        if f in looked:
            return "reviewed", self.labels.frame_class(f)
        known = self.predicted.known_class(f)
        if known is None:
            return "pending", None
        label, score = known
        if label is None or (score is not None and score < self.conf):
            return "unsure", label
        return "proposed", label

    def _strip_cells(self, runs: list[range]) -> tuple[list[str], list[str]]:
        looked = getattr(self, "_looked", set())
        colours, titles = [], []
        for run in runs:
            states = [self._state(f, looked) for f in run]
            worst = min((s for s, _ in states), key=CLASS_REVIEW_RANK.__getitem__)
            where = f"frame {run[0]}" if len(run) == 1 else f"frames {run[0]}-{run[-1]}"
            labels = [c for s, c in states if s == worst and c is not None]
            if worst in ("reviewed", "proposed") and labels:
                label = max(dict.fromkeys(labels), key=labels.count)  # the most frames; first on a tie
                colour = self.colours.get(label, CLASS_COLOURS[0])
                colours.append(colour if worst == "reviewed" else pale(colour))
                titles.append(f"{where}: {label} ({CLASS_REVIEW_TEXT[worst]})")
            else:
                colours.append(REVIEW_COLOURS["empty" if worst == "unsure" else "pending"])
                titles.append(f"{where}: {CLASS_REVIEW_TEXT[worst]}")
        return colours, titles

    def _render_strip(self, looked: set[int]) -> None:
        import html

        self._looked = looked
        self._timeline.redraw()
        swatch = ("<span style='display:inline-block;width:10px;height:10px;background:{};"
                  "margin:0 4px 0 10px;border-radius:2px'></span>")
        first = self.colours[self.classes[0]]
        classes = "".join(swatch.format(self.colours[c]) + html.escape(c) for c in self.classes)
        states = (swatch.format(first) + "reviewed" + swatch.format(pale(first))
                  + "the model's class, to review" + swatch.format(REVIEW_COLOURS["empty"])
                  + "the model is unsure"
                  + ("" if self.predicted.complete
                     else swatch.format(REVIEW_COLOURS["pending"]) + "not predicted yet"))
        self._legend.value = (f"<div style='font-size:90%'>{classes}</div>"
                              f"<div style='font-size:90%'>{states}</div>")

    def __repr__(self) -> str:
        eff = f"{self.efficiency:.1%}" if len(self.labels) else "-"
        return (f"ClassReview({self.frames.name!r}, frame {self.frame}, {self.reviewed} of "
                f"{len(self.frames)} reviewed, {len(self.actions)} actions, {len(self.labels)} "
                f"labels, efficiency {eff})")


# -- masks -----------------------------------------------------------------------------------
class MaskReview(Review, MaskLabeller):
    """Correct a mask model's masks frame by frame; every human action is counted.

    Build it with :func:`review` (it picks this one for a model with ``task="masks"``): the
    queue, strip, counter, project journal and resume of :class:`Review` on the polygon
    canvas of :class:`~mm_widgets.widgets.masks.MaskLabeller` (its keys, zoom and undo). A
    frame not looked at yet shows the model's masks scoring at least :attr:`conf`
    (``source="model"``); :meth:`accept` (Enter, "Accept frame") keeps them, free. Every
    edit is counted against what was shown by :func:`~mm_widgets.actions.diff_masks`, the
    rule ``simulate()``'s mask oracle counts with: a mask whose points are dragged (however
    many drags in one visit) or whose class is changed (C) is one ``adjust`` and becomes
    ``"corrected"``; a mask deleted one ``delete``; one drawn one ``draw``. Python paths:
    :meth:`accept`, :meth:`set_masks` (any edit, counted as the browser's), the rest as
    :class:`Review`.

    The model's masks alone are proposed: nothing is carried from confirmed frames.
    """

    task = "masks"
    tasks = ("masks",)
    nouns = ("mask", "masks")
    strip_indent = "0"

    def shown_masks(self, i: int) -> list[Mask]:
        """Frame ``i``'s masks once looked at; before that the model's masks scoring at
        least :attr:`conf` (``source="model"``, points inside the frame)."""
        if i in self.labels:
            return self.labels.masks(i)
        return [m for m in self._model_masks(i) if m.score is None or m.score >= self.conf]

    def shown_boxes(self, i: int) -> list[Box]:
        """The boxes of the masks frame ``i`` shows."""
        return [m.box for m in self.shown_masks(i)]

    def _model_masks(self, i: int) -> list[Mask]:
        """Frame ``i``'s predicted masks with their points put inside the frame (predicting
        its block if needed); a mask left with no area there is dropped."""
        masks = self._clipped.get(i)
        if masks is None:
            masks = []
            for m in self.predicted.masks(i):
                try:  # a model may reach a pixel past the border; a label may not
                    masks.append(Mask(inside_frame(m.polygons, self.frames.size), m.label, m.score,
                                      "model", m.track))
                except LabelError:
                    continue
            self._clipped[i] = masks
        return masks

    def _proposal_text(self, i: int, shown: list[Box]) -> str:
        return (f"to review: {len(shown)} model {self.nouns[len(shown) != 1]} "
                f"(score &ge; {self.conf:.2f})")

    def _proposals_changed(self, frame: int) -> None:
        """Nothing: a frame's proposals are the model's masks alone."""


#: The review widget of each task :func:`review` opens.
REVIEWS = {"boxes": Review, "classes": ClassReview, "masks": MaskReview}
