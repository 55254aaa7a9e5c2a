"""Plotly figures of the loop's figures (plotly only: usable from scripts, reports and widgets).

The grey reference lines are the published marks of the micro-model method, from its
worked example, one scene of a Batman film (Eric Landau, "Introduction to micro-models",
Cord/Encord blog, 2021): about 70% recall on the first pass from five labels, and label
efficiency over 95% after one more loop. They are that scene's figures, shown for
comparison, not a target this clip must meet.
"""

from __future__ import annotations

import pandas as pd

FIRST_PASS_RECALL_MARK = 0.70
EFFICIENCY_MARK = 0.95
#: Where the marks come from, said once on a chart (in the first mark's legend entry).
MARK_SOURCE = "micro-models, Landau 2021"

COLOURS = {"efficiency": "#1f77b4", "accuracy": "#2ca02c", "recall": "#2ca02c", "precision": "#9467bd",
           "tight_rate": "#8c564b", "actions": "#d62728"}


def efficiency_figure(table: pd.DataFrame, title: str = "Label efficiency per round", *,
                      task: str = "boxes", baseline: str = "interpolation"):
    """Efficiency, recall and precision (frame classes: accuracy) per round (solid:
    micro-model; dotted: ``baseline``, interpolation from the same frames), human actions as
    bars on a second axis, the method's published marks in grey (the recall mark only for
    ``task="boxes"``)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    rounds = table["round"].tolist()
    if "human_actions" in table:
        fig.add_trace(go.Bar(x=rounds, y=table["human_actions"], name="human actions",
                             marker_color=COLOURS["actions"], opacity=0.25), secondary_y=True)
    for col in ("efficiency", "accuracy", "recall", "precision"):
        if col in table:
            # precision drawn thinner and dashed: where it equals recall both stay visible
            line = dict(color=COLOURS[col], width=2, dash="dash") if col == "precision" else \
                dict(color=COLOURS[col], width=3)
            fig.add_trace(go.Scatter(x=rounds, y=table[col], name=col, mode="lines+markers",
                                     line=line), secondary_y=False)
        if f"interp_{col}" in table and table[f"interp_{col}"].notna().any():
            fig.add_trace(go.Scatter(x=rounds, y=table[f"interp_{col}"], mode="lines+markers",
                                     name=f"{col} ({baseline})",
                                     line=dict(color=COLOURS[col], dash="dot", width=1.5)),
                          secondary_y=False)
    # The published marks, named as what they are: figures of the method's own example
    # scene, not of this clip. Legend entries, not text on the plot, so no curve ever runs
    # through their words; the source is named once.
    span = [min(rounds), max(rounds)] if rounds else [0, 1]
    marks = [(EFFICIENCY_MARK, "dash", f"published mark ({MARK_SOURCE}): efficiency "
                                       f"{EFFICIENCY_MARK:.2f} after a second loop")]
    if task == "boxes":  # frame classes have no recall to compare with it
        marks.append((FIRST_PASS_RECALL_MARK, "dot", f"published mark: recall "
                                                     f"{FIRST_PASS_RECALL_MARK:.2f} on the first "
                                                     "pass from 5 labels"))
    for y, dash, text in marks:
        fig.add_trace(go.Scatter(x=span, y=[y, y], mode="lines", name=text, hoverinfo="name",
                                 line=dict(color="grey", dash=dash, width=1)), secondary_y=False)
    fig.update_yaxes(title_text="share", range=[0, 1.05], secondary_y=False)
    # Whole numbers from 0, placed on their own: synced to the share axis they read 5.01, 10.02.
    # A few actions get a tick per action: "auto" ticks at halves read 0, 1, 1, 2, 2 as whole numbers.
    few = "human_actions" in table and len(table) and table["human_actions"].max() <= 10
    fig.update_yaxes(title_text="human actions", secondary_y=True, showgrid=False,
                     tickmode="linear" if few else "auto", dtick=1 if few else None,
                     rangemode="tozero", tickformat="d")
    fig.update_xaxes(title_text="round", dtick=1)
    fig.update_layout(title=title, template="plotly_white", height=520,
                      legend=dict(orientation="h", y=-0.16))
    return fig


def labels_per_action_figure(table: pd.DataFrame):
    """Cumulative labels against cumulative human actions: the steeper, the more automated."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=table["cumulative_actions"], y=table["labels"],
                             mode="lines+markers+text", text=[f"round {r}" for r in table["round"]],
                             textposition="top left", name="micro-model loop"))
    top = max(float(table["cumulative_actions"].max()), 1.0)
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="labelling by hand",
                             line=dict(color="grey", dash="dash")))
    fig.update_layout(title="Labels per human action", xaxis_title="cumulative human actions",
                      yaxis_title="labels", template="plotly_white", height=380)
    return fig


def loss_figure(history, title: str = "Training loss"):
    """Training loss per epoch."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=list(range(1, len(history) + 1)), y=list(history),
                               mode="lines+markers", name="loss"))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="loss",
                      template="plotly_white", height=320)
    return fig
