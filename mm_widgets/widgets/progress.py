"""Training progress in a notebook cell: one display with a progress bar and a live loss curve.

Implements the reporter protocol of :mod:`mm_widgets.models.progress`
(``start``/``update``/``close``, ``note``, ``stage``); :func:`mm_widgets.overfit` picks it
when it runs in a Jupyter kernel with ipywidgets installed. A long call (``simulate()``,
``AssemblyLine.fit()``) keeps one display for all its trainings: ``stage`` shows its steps
on a bar of their own, and each training's ``start`` resets the epoch bar and the curve in
the same display instead of adding another.
"""

from __future__ import annotations

import html
import time

from ..actions import format_seconds

_by_cell: dict = {}  # the display of the cell running now: {"cell": execution count, "display": ...}


class NotebookProgress:
    """A progress bar (epochs, loss, about how many seconds are left) above a loss curve
    that grows each epoch, a bar for the steps of a long call when there is one, and plain
    notice lines. The seconds left are an estimate from the pace so far, not a bound (a
    machine that gets busier takes longer); the finished bar says how long training took.

    Parameters
    ----------
    show
        Display the widgets in the current cell when first needed (tests pass ``False``
        and look at :attr:`box`).
    """

    def __init__(self, show: bool = True):
        self.show = show
        self.box = None
        self.bar = None
        self.text = None
        self.figure = None
        self.steps = None
        self.steps_text = None
        self.notes = None
        self.total = 0
        self.desc = "training"
        self.started = time.perf_counter()
        self.epochs: list[int] = []
        self.losses: list[float] = []
        self.said: list[str] = []  # notices, kept
        self.lines: list[str] = []  # notes about the training running now
        self.shown = 0  # how many times the display was put in the cell (one, at most)

    @classmethod
    def for_cell(cls, cell) -> NotebookProgress:
        """The display of the cell ``cell`` (an execution count): made once per cell, so
        several trainings or long calls in one cell share one display."""
        if _by_cell.get("cell") != cell or cell is None:
            _by_cell.update(cell=cell, display=cls())
        return _by_cell["display"]

    def _ensure_box(self) -> None:
        if self.box is not None:
            return
        import ipywidgets as w

        self.steps = w.IntProgress(value=0, min=0, max=1, bar_style="info",
                                   layout=w.Layout(width="60%", display="none"))
        self.steps_text = w.HTML(layout=w.Layout(display="none"))
        self.bar = w.IntProgress(value=0, min=0, max=1, description="", bar_style="info",
                                 layout=w.Layout(width="60%", display="none"))
        self.text = w.HTML(layout=w.Layout(display="none"))
        self.notes = w.HTML(layout=w.Layout(display="none"))
        self.box = w.VBox([w.HBox([self.steps, self.steps_text]), w.HBox([self.bar, self.text]),
                           self.notes])
        self.box.add_class("mm-progress")
        if self.show:
            from IPython.display import display

            display(self.box)
        self.shown += 1

    def _curve(self):
        if self.figure is None:
            try:
                import plotly.graph_objects as go

                self.figure = go.FigureWidget(
                    data=[go.Scatter(x=[], y=[], mode="lines+markers", name="loss")],
                    layout=go.Layout(height=260, margin=dict(l=50, r=20, t=30, b=40),
                                     title="training loss", xaxis_title="epoch",
                                     yaxis_title="loss per image"))
            except (ImportError, ValueError):
                # FigureWidget needs anywidget/ipywidgets support in plotly; the bar is enough.
                return None
            self.box.children = [*self.box.children[:2], self.figure, self.box.children[-1]]
        return self.figure

    # -- a long call's steps ------------------------------------------------------------------
    def stage(self, done: int, total: int, text: str) -> None:
        self._ensure_box()
        self.steps.layout.display = self.steps_text.layout.display = ""
        self.steps.max = max(int(total), 1)
        self.steps.value = min(int(done), self.steps.max)
        if done >= total:
            self.steps.bar_style = "success"
        self.steps_text.value = html.escape(text)

    def notice(self, text: str) -> None:
        """A plain line that stays for the whole display (the once-a-session notices)."""
        self._ensure_box()
        self.said = [*self.said, text]
        self._show_notes()

    def note(self, text: str) -> None:
        """A plain line about the training running now (what is trained and why, how long it
        takes); the next training's start clears them."""
        self._ensure_box()
        self.lines = [*self.lines, text]
        self._show_notes()

    def _show_notes(self) -> None:
        self.notes.layout.display = ""
        self.notes.value = "".join(f"<div style='color:#555'>{html.escape(t)}</div>"
                                   for t in [*self.said, *self.lines])

    # -- one training -------------------------------------------------------------------------
    def start(self, total: int, desc: str = "") -> None:
        self._ensure_box()
        self.total = int(total)
        self.desc = desc or "training"
        self.started = time.perf_counter()
        self.epochs, self.losses = [], []
        if self.lines:
            self.lines = []
            self._show_notes()
        self.bar.layout.display = self.text.layout.display = ""
        self.bar.max = max(self.total, 1)
        self.bar.value = 0
        self.bar.bar_style = "info"
        self.text.value = f"{html.escape(self.desc)}: starting"
        figure = self._curve()
        if figure is not None:
            with figure.batch_update():
                figure.data[0].x, figure.data[0].y = [], []

    def update(self, epoch: int, loss: float, elapsed: float) -> None:
        if self.bar is None:
            return
        self.epochs = [*self.epochs, int(epoch)]
        self.losses = [*self.losses, float(loss)]
        self.bar.value = min(int(epoch), self.bar.max)
        left = elapsed / max(epoch, 1) * max(self.total - epoch, 0)  # at the pace so far
        self.text.value = (f"{html.escape(self.desc)}: epoch {epoch}/{self.total} · loss "
                           f"{loss:.3f} · {elapsed:.0f} s, about {left:.0f} s left")
        if self.figure is not None:
            with self.figure.batch_update():
                self.figure.data[0].x = list(self.epochs)
                self.figure.data[0].y = list(self.losses)

    def close(self, message: str | None = None) -> None:
        if self.bar is None:
            return
        self.bar.max = max(self.bar.value, 1)
        self.bar.value = self.bar.max
        self.bar.bar_style = "warning" if message and "interrupt" in message else "success"
        last = f" · loss {self.losses[-1]:.3f}" if self.losses else ""
        took = time.perf_counter() - self.started
        self.text.value = (f"{html.escape(self.desc)}: done in {format_seconds(took)}, "
                           f"{len(self.epochs)} epochs{last}"
                           + (f" ({html.escape(message)})" if message else ""))
