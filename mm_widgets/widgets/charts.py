"""Plotly figures as live widgets in the cell.

The figures themselves are built in :mod:`mm_widgets.plots` (plotly only, usable from
scripts); this module only wraps them in a ``plotly.graph_objects.FigureWidget`` and
refreshes one in place when its numbers change, so a chart under a review widget follows
the review without being displayed again.
"""

from __future__ import annotations


def figure_widget(fig):
    """``fig`` (a plotly Figure) as a ``FigureWidget``, to display or keep updating."""
    import plotly.graph_objects as go

    return go.FigureWidget(fig)


def refresh(widget, fig) -> bool:
    """Copy the data of ``fig`` into the FigureWidget ``widget`` in place.

    Returns False (and changes nothing) when the two do not have the same traces, e.g. a
    column appeared; the caller then builds a new widget.
    """
    if len(widget.data) != len(fig.data) or any(
            a.type != b.type or a.name != b.name for a, b in zip(widget.data, fig.data, strict=True)):
        return False
    with widget.batch_update():
        for old, new in zip(widget.data, fig.data, strict=True):
            old.x, old.y = new.x, new.y
            if getattr(new, "text", None) is not None:
                old.text = new.text
    return True
