"""Training progress in a notebook cell: one progress bar and a live plotly loss curve.

Implements the reporter protocol of :mod:`mm_widgets.models.progress`
(``start``/``update``/``close``); :func:`mm_widgets.overfit` picks it when it runs in a
Jupyter kernel with ipywidgets installed.
"""

from __future__ import annotations

import html


class NotebookProgress:
    """A progress bar (epochs, loss, seconds left) above a loss curve that grows each epoch.

    Parameters
    ----------
    show
        Display the widgets in the current cell on ``start`` (tests pass ``False`` and
        look at :attr:`box`).
    """

    def __init__(self, show: bool = True):
        self.show = show
        self.box = None
        self.bar = None
        self.text = None
        self.figure = None
        self.total = 0
        self.epochs: list[int] = []
        self.losses: list[float] = []

    def start(self, total: int, desc: str = "") -> None:
        import ipywidgets as w

        self.total = int(total)
        self.desc = desc or "training"
        self.epochs, self.losses = [], []
        self.bar = w.IntProgress(value=0, min=0, max=max(self.total, 1), description="",
                                 bar_style="info", layout=w.Layout(width="60%"))
        self.text = w.HTML(value=f"{html.escape(self.desc)}: starting")
        self.notes = w.HTML(value="")
        parts = [w.HBox([self.bar, self.text]), self.notes]
        try:
            import plotly.graph_objects as go

            self.figure = go.FigureWidget(
                data=[go.Scatter(x=[], y=[], mode="lines+markers", name="loss")],
                layout=go.Layout(height=260, margin=dict(l=50, r=20, t=30, b=40),
                                 title="training loss", xaxis_title="epoch",
                                 yaxis_title="loss per image"))
            parts.append(self.figure)
        except (ImportError, ValueError):
            # FigureWidget needs anywidget/ipywidgets support in plotly; the bar is enough.
            self.figure = None
        self.box = w.VBox(parts)
        if self.show:
            from IPython.display import display

            display(self.box)

    def update(self, epoch: int, loss: float, elapsed: float) -> None:
        if self.bar is None:
            return
        self.epochs = [*self.epochs, int(epoch)]
        self.losses = [*self.losses, float(loss)]
        self.bar.value = min(int(epoch), self.bar.max)
        left = elapsed / max(epoch, 1) * max(self.total - epoch, 0)
        self.text.value = (f"{html.escape(self.desc)}: epoch {epoch}/{self.total} · loss "
                           f"{loss:.3f} · {elapsed:.0f} s, ≤{left:.0f} s left")
        if self.figure is not None:
            with self.figure.batch_update():
                self.figure.data[0].x = list(self.epochs)
                self.figure.data[0].y = list(self.losses)

    def note(self, text: str) -> None:
        """A plain line under the bar (what is trained and why, how long it takes)."""
        if self.bar is None:
            return
        line = f"<div>{html.escape(text)}</div>"
        self.notes.value = self.notes.value + line

    def close(self, message: str | None = None) -> None:
        if self.bar is None:
            return
        self.bar.max = max(self.bar.value, 1)
        self.bar.value = self.bar.max
        self.bar.bar_style = "warning" if message and "interrupt" in message else "success"
        last = f" · loss {self.losses[-1]:.3f}" if self.losses else ""
        self.text.value = (f"{html.escape(self.desc)}: done, {len(self.epochs)} epochs{last}"
                           + (f" ({html.escape(message)})" if message else ""))
