"""SplineExplorer: buy labels of a hidden curve and watch local fits beat a global one.

A thin layer over :mod:`mm_widgets.spline`: a plotly ``FigureWidget`` for the curve and
fits, a second one for error against labels spent, and a few ipywidgets controls. Every
control runs a public method (``buy``, ``buy_next``, ``auto_sample``, ``reset``,
``set_curve``, ``set_noise``, ``set_strategy``), so anything a click does a script or a
test can do too.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from .. import spline
from .labeller import KeyShortcuts

#: One colour per region (cycled), faint enough that the fits drawn on top stay readable.
REGION_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                  "#e377c2", "#bcbd22"]
GLOBAL_COLOUR = "#d62728"
#: Points per region on which fits are drawn.
DRAW_POINTS_PER_REGION = 40
#: Columns of the invisible heatmap that turns a click anywhere on the plot into an x.
CLICK_COLUMNS = 400


class SplineExplorer(widgets.VBox):
    """Teaching widget: one global polynomial against stitched local fits, label by label.

    Click on the plot to buy the label at that ``x`` (or use the buttons). The global
    polynomial (red) and the local fits (one colour per shaded region) are refitted at
    once; the region whose fit changed is highlighted and its old fit is drawn dotted,
    while the global polynomial's old curve shows that it moved everywhere. The lower
    chart tracks the error of both against labels spent.

    Parameters
    ----------
    curve : str, callable or spline.HiddenCurve
        A registered curve name (see ``mm_widgets.spline.CURVES``) or your own ``f(x)``.
    strategy : str or callable
        Where "Buy next label" and "Auto-sample" look: ``"active"``, ``"uniform"``,
        ``"random"`` or ``f(xs, ys, domain, rng) -> x``.
    regions : int
        Number of local regions (the micro-models' domains).
    degree : int
        Degree of the global polynomial.
    noise : float, optional
        Label noise as a fraction of the curve's range; default: the curve's own.
    seed : int
        Seed of the label noise and of the random strategy.

    Examples
    --------
    >>> explorer = SplineExplorer("runge")
    >>> xs = explorer.auto_sample(20)
    >>> y = explorer.buy(0.05)      # what a click at x = 0.05 does
    >>> explorer.curve.cost
    21
    """

    def __init__(self, curve="wiggly", *, strategy="active", regions: int = 8,
                 degree: int = 10, noise: float | None = None, seed: int = 0, **kwargs):
        self.regions = int(regions)
        self.degree = int(degree)
        self.seed = seed
        self._curve_specs = {name: name for name in spline.CURVES}
        if not isinstance(curve, str):
            custom = spline.make_curve(curve, noise=noise, seed=seed)
            self._curve_specs[custom.name] = custom
            curve = custom.name
        strategy_names = list(spline.STRATEGIES)
        self._strategy = spline.make_strategy(strategy)
        if not isinstance(strategy, str):
            strategy_names.append(getattr(strategy, "__name__", "custom"))
            self._custom_strategy = (strategy_names[-1], strategy)

        self.curve_picker = widgets.Dropdown(options=list(self._curve_specs), value=curve,
                                             description="curve", layout={"width": "200px"})
        self.strategy_picker = widgets.Dropdown(
            options=strategy_names, value=strategy if isinstance(strategy, str) else strategy_names[-1],
            description="strategy", layout={"width": "210px"})
        self.noise_slider = widgets.FloatSlider(
            value=0.0, min=0.0, max=0.05, step=0.001, readout_format=".1%",
            description="label noise", continuous_update=False, layout={"width": "300px"})
        self.buy_button = widgets.Button(description="Buy next label", icon="plus",
                                         tooltip="buy one label where the strategy says")
        self.auto_count = widgets.BoundedIntText(value=10, min=1, max=500,
                                                 layout={"width": "70px"})
        self.auto_button = widgets.Button(description="Auto-sample N", icon="forward",
                                          tooltip="buy N labels, one by one, with the strategy")
        self.reset_button = widgets.Button(description="Reset", icon="undo",
                                           tooltip="forget every label bought")
        self.status = widgets.HTML()
        self.figure = go.FigureWidget()
        self.error_figure = go.FigureWidget()

        # The same methods a script calls are the handlers: one code path for both.
        self.buy_button.on_click(lambda _button: self.buy_next())
        self.auto_button.on_click(lambda _button: self.auto_sample())
        self.reset_button.on_click(lambda _button: self.reset())
        self.curve_picker.observe(lambda change: self._load_curve(change["new"]), "value")
        self._quiet = False
        self.noise_slider.observe(self._on_noise, "value")
        self.strategy_picker.observe(lambda change: self._pick_strategy(change["new"]), "value")

        controls = widgets.VBox([
            widgets.HBox([self.curve_picker, self.strategy_picker, self.noise_slider]),
            widgets.HBox([self.buy_button, self.auto_count, self.auto_button,
                          self.reset_button]),
        ])
        # A click anywhere on the plot area is sent as where it landed (keys.js), so the label
        # is bought at the x clicked, not at the nearest point plotly has drawn.
        self._clicks = KeyShortcuts(shortcuts=[], root=".mm-spline", wheel=False)
        self._clicks.on_msg(self._on_msg)
        super().__init__([controls, self.status, self.figure, self.error_figure, self._clicks],
                         **kwargs)
        self.add_class("mm-spline")
        self._load_curve(curve, noise=noise)

    # ------------------------------------------------------------------ Python paths

    def buy(self, x: float) -> float:
        """Buy the label at ``x``: what a click on the plot at ``x`` does.

        Returns the label (the noisy curve value). Raises ``ValueError`` for an ``x``
        outside the curve's domain.
        """
        y = self.curve.sample(float(x))
        self._after_labels(1)
        return y

    def buy_next(self) -> float:
        """Buy one label where the strategy says ("Buy next label" button); returns its x."""
        x = spline.next_label(self.curve, self._strategy, self._rng)
        self._after_labels(1)
        return x

    def auto_sample(self, n: int | None = None) -> list[float]:
        """Buy ``n`` labels one by one with the strategy ("Auto-sample N"; default: N box)."""
        n = self.auto_count.value if n is None else int(n)
        xs = [spline.next_label(self.curve, self._strategy, self._rng) for _ in range(n)]
        self._after_labels(n)
        return xs

    def reset(self) -> None:
        """Forget every label bought (the "Reset" button); keeps curve, noise and strategy."""
        self.curve.reset()
        self._rng = np.random.default_rng(self.seed)
        self.history = []
        self._global = spline.GlobalPoly(self.degree, domain=self.curve.domain)
        self._local = spline.LocalFits(self.regions, domain=self.curve.domain)
        self._fitted = False
        self.changed_regions: tuple[int, ...] = ()
        self._redraw(previous=None, message="No labels yet: click on the plot to buy one.")

    def set_curve(self, name: str) -> None:
        """Switch to another curve (the curve picker); starts over with no labels."""
        if self.curve_picker.value == name:
            self._load_curve(name)
        else:
            self.curve_picker.value = name  # the picker's observer loads it

    def set_noise(self, noise: float) -> None:
        """Set the label noise (the slider; fraction of the range). The labels bought are
        kept: the same x's, their labels drawn again with the new noise, the fits redone."""
        if self.noise_slider.value == float(noise):
            self._load_curve(self.curve_picker.value, noise=float(noise))
        else:
            self.noise_slider.value = float(noise)  # the slider's observer reloads

    def set_strategy(self, name: str) -> None:
        """Pick the sampling strategy by name (the strategy picker)."""
        self.strategy_picker.value = name

    @property
    def labels(self) -> int:
        """Labels bought so far."""
        return self.curve.cost

    # ------------------------------------------------------------------ handlers

    def _pick_strategy(self, name):
        custom = getattr(self, "_custom_strategy", None)
        if custom and name == custom[0]:
            self._strategy = custom[1]
        else:
            self._strategy = spline.make_strategy(
                name, **({"regions": self.regions} if name == "active" else {}))

    def _load_curve(self, name, noise=None):
        """Start over on curve ``name``; ``noise=None`` means the curve's own default."""
        self.curve = spline.make_curve(self._curve_specs[name], noise=noise, seed=self.seed)
        self._quiet = True  # showing the curve's noise on the slider must not reload it
        try:
            self.noise_slider.value = self.curve.noise
        finally:
            self._quiet = False
        self._pick_strategy(self.strategy_picker.value)
        self._build_figures()
        self.reset()

    def _on_noise(self, change):
        if self._quiet:
            return
        bought = [float(x) for x in self.curve.xs]
        self._load_curve(self.curve_picker.value, noise=change["new"])
        if bought:
            for x in bought:
                self.curve.sample(x)
            self._after_labels(len(bought), message=(
                f"Label noise now {change['new']:.1%}: the {len(bought)} label"
                f"{'s' if len(bought) != 1 else ''} bought were kept, their values drawn again "
                "with the new noise."))

    def _on_msg(self, _widget, content, _buffers):
        """A click on the plot area, at the fraction ``fx`` of its width: buy the label there."""
        if not isinstance(content, dict) or content.get("type") != "plot":
            return
        try:
            fx = min(max(float(content["fx"]), 0.0), 1.0)
        except (KeyError, TypeError, ValueError):
            return
        low, high = self.curve.domain
        self.buy(low + fx * (high - low))

    def _after_labels(self, count, message=None):
        """Refit after ``count`` new labels, extend the error history, redraw."""
        xs, ys = self.curve.xs, self.curve.ys
        previous = self._snapshot() if self._fitted else None
        first = len(xs) - count
        for n in range(first + 1, len(xs) + 1):
            self._global.fit(xs[:n], ys[:n])
            self._local.fit(xs[:n], ys[:n])
            self.history.append({
                "labels": n,
                "global": spline.fit_error(self._global, self.curve, self._error_grid),
                "local": spline.fit_error(self._local, self.curve, self._error_grid),
            })
        self._fitted = True
        self._redraw(previous=previous, message=message)

    # ------------------------------------------------------------------ drawing

    def _snapshot(self):
        return {
            "global": self._global.predict(self._draw_x),
            "local": [self._local.predict_region(k, self._draw_x) for k in range(self.regions)],
        }

    def _build_figures(self):
        """Create every trace once; later updates only replace their data."""
        curve = self.curve
        low, high = curve.domain
        self._edges = spline.region_edges(curve.domain, self.regions)
        self._draw_x = np.linspace(low, high, DRAW_POINTS_PER_REGION * self.regions + 1)
        self._draw_region = spline.region_of(self._draw_x, self._edges)
        self._error_grid = curve.grid()
        truth = curve.truth(self._draw_x)
        pad = 0.25 * curve.value_range
        self._y_range = (float(truth.min() - pad), float(truth.max() + pad))
        click_x = np.linspace(low, high, CLICK_COLUMNS)

        fig = self.figure
        with fig.batch_update():
            fig.data = []
            fig.add_heatmap(
                x=click_x, y=list(self._y_range), z=np.zeros((2, CLICK_COLUMNS)),
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]], showscale=False,
                hoverinfo="none", name="click to buy a label", showlegend=False)
            fig.add_scatter(x=self._draw_x, y=truth, mode="lines", name="hidden curve",
                            line={"color": "#999", "dash": "dash", "width": 1.5})
            for k in range(self.regions):
                fig.add_scatter(
                    x=[], y=[], mode="lines", legendgroup="local", showlegend=k == 0,
                    name="local fits (one per region)", hoverinfo="skip",
                    line={"color": REGION_COLOURS[k % len(REGION_COLOURS)], "width": 3})
            fig.add_scatter(x=[], y=[], mode="lines", name="changed fit, outside its region",
                            hoverinfo="skip", line={"color": "#555", "dash": "dot", "width": 1.5})
            fig.add_scatter(x=[], y=[], mode="lines", name="changed fit, before",
                            hoverinfo="skip", line={"color": "#555", "dash": "dash", "width": 1})
            fig.add_scatter(x=[], y=[], mode="lines", name="global polynomial, before",
                            hoverinfo="skip",
                            line={"color": GLOBAL_COLOUR, "dash": "dot", "width": 1.5},
                            opacity=0.6)
            fig.add_scatter(x=[], y=[], mode="lines", name=f"global polynomial (degree {self.degree})",
                            hoverinfo="skip", line={"color": GLOBAL_COLOUR, "width": 2.5})
            fig.add_scatter(x=[], y=[], mode="markers", name="labels bought",
                            marker={"color": "black", "size": 7})
            fig.add_scatter(x=[], y=[], mode="markers", name="newest label", hoverinfo="skip",
                            marker={"color": "rgba(0,0,0,0)", "size": 15,
                                    "line": {"color": "black", "width": 2}})
            fig.update_layout(
                template="plotly_white", height=430, margin={"l": 50, "r": 20, "t": 40, "b": 40},
                title={"text": f"Hidden curve “{html.escape(curve.name)}”: click anywhere to buy a label",
                       "font": {"size": 15}},
                xaxis={"range": [low, high], "title": "x", "fixedrange": True},
                yaxis={"range": list(self._y_range), "title": "y", "fixedrange": True},
                hovermode="closest", dragmode=False,
                legend={"orientation": "h", "y": -0.15, "x": 0, "font": {"size": 11}},
            )
            # Shapes are a trace-independent layer; below traces so fits stay on top.
            fig.layout.shapes = [
                {"type": "rect", "xref": "x", "yref": "paper", "x0": float(a), "x1": float(b),
                 "y0": 0, "y1": 1, "layer": "below",
                 "line": {"width": 0, "color": REGION_COLOURS[k % len(REGION_COLOURS)]},
                 "fillcolor": REGION_COLOURS[k % len(REGION_COLOURS)], "opacity": 0.06}
                for k, (a, b) in enumerate(zip(self._edges[:-1], self._edges[1:], strict=True))
            ]
        names = ["catcher", "truth", *[f"local{k}" for k in range(self.regions)], "outside",
                 "local_before", "global_before", "global", "labels", "newest"]
        self._trace = {name: i for i, name in enumerate(names)}
        self._trace["local"] = [self._trace[f"local{k}"] for k in range(self.regions)]

        errors = self.error_figure
        with errors.batch_update():
            errors.data = []
            errors.add_scatter(x=[], y=[], mode="lines+markers", name="global polynomial",
                               line={"color": GLOBAL_COLOUR}, marker={"size": 4})
            errors.add_scatter(x=[], y=[], mode="lines+markers", name="local fits",
                               line={"color": REGION_COLOURS[0]}, marker={"size": 4})
            errors.update_layout(
                template="plotly_white", height=260, margin={"l": 50, "r": 20, "t": 35, "b": 40},
                title={"text": "Error against labels spent (RMSE, % of the curve's range)",
                       "font": {"size": 13}},
                xaxis={"title": "labels bought", "rangemode": "tozero"},
                # One tick per decade: the 2s and 5s between them only clutter a small chart.
                yaxis={"type": "log", "title": "RMSE %", "dtick": 1},
                legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02,
                        "yanchor": "bottom"},
                shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
                         "line": {"color": "#999", "dash": "dot", "width": 1}}],
                annotations=[{"xref": "paper", "x": 0, "xanchor": "left", "y": 0,
                              "yanchor": "bottom", "text": "1 % of the range", "showarrow": False,
                              "font": {"size": 10, "color": "#777"}}],
            )

    def _clip(self, values):
        low, high = self._y_range
        span = high - low
        # Far-off values become gaps, not giant spikes that stretch the browser's canvas.
        return np.where((values < low - span) | (values > high + span), np.nan, values)

    def _redraw(self, previous, message=None):
        fig, trace = self.figure, self._trace
        regions = range(self.regions)
        if self._fitted:
            now = self._snapshot()
            changed = self._changed(previous, now)
        else:
            now, changed = None, ()
        self.changed_regions = changed
        highlight = changed[0] if len(changed) == 1 else None

        with fig.batch_update():
            for k in regions:
                inside = self._draw_region == k
                if now is None or not np.isfinite(now["local"][k]).any():
                    fig.data[trace["local"][k]].update(x=[], y=[])
                else:
                    fig.data[trace["local"][k]].update(
                        x=self._draw_x[inside], y=self._clip(now["local"][k][inside]))
            if highlight is not None:
                fig.data[trace["outside"]].update(
                    x=self._draw_x, y=self._clip(np.where(self._draw_region == highlight, np.nan,
                                                          now["local"][highlight])))
                old = previous["local"][highlight] if previous else None
                if old is not None and np.isfinite(old).any():
                    inside = self._draw_region == highlight
                    fig.data[trace["local_before"]].update(x=self._draw_x[inside],
                                                           y=self._clip(old[inside]))
                else:
                    fig.data[trace["local_before"]].update(x=[], y=[])
            else:
                for name in ("outside", "local_before"):
                    fig.data[trace[name]].update(x=[], y=[])
            if now is None:
                for name in ("global", "global_before", "labels", "newest"):
                    fig.data[trace[name]].update(x=[], y=[])
            else:
                fig.data[trace["global"]].update(x=self._draw_x, y=self._clip(now["global"]))
                if previous is not None:
                    fig.data[trace["global_before"]].update(
                        x=self._draw_x, y=self._clip(previous["global"]))
                else:
                    fig.data[trace["global_before"]].update(x=[], y=[])
                xs, ys = self.curve.xs, self.curve.ys
                fig.data[trace["labels"]].update(x=xs, y=ys)
                fig.data[trace["newest"]].update(x=xs[-1:], y=ys[-1:])
            shapes = list(fig.layout.shapes)
            for k in regions:
                opacity, border = (0.13, 2) if k in changed else (0.06, 0)
                if shapes[k].opacity != opacity:
                    shapes[k].opacity = opacity
                    shapes[k].line.width = border
            # Name the changed region above the plot (only when one region changed: after
            # an auto-sample run several have, and the shading says which).
            fig.layout.annotations = [] if highlight is None else [{
                "x": float(self._edges[highlight:highlight + 2].mean()), "xref": "x",
                "y": 1.0, "yref": "paper", "yanchor": "bottom", "showarrow": False,
                "text": f"region {highlight + 1} changed", "font": {"size": 11, "color": "#333"},
            }]

        labels = [h["labels"] for h in self.history]
        with self.error_figure.batch_update():
            for i, name in enumerate(("global", "local")):
                self.error_figure.data[i].update(
                    x=labels, y=[100 * h[name].relative_rmse for h in self.history])
        self.status.value = message if message is not None else self._describe(previous, now)

    def _changed(self, previous, now):
        """Regions whose fit moved (measured on the drawing grid, not assumed)."""
        if previous is None:
            return tuple(k for k in range(self.regions) if np.isfinite(now["local"][k]).any())
        changed = []
        for k in range(self.regions):
            before, after = previous["local"][k], now["local"][k]
            if np.isfinite(before).any() != np.isfinite(after).any() or (
                    np.isfinite(after).any() and np.max(np.abs(after - before)) > 1e-12):
                changed.append(k)
        return tuple(changed)

    def _describe(self, previous, now):
        last = self.history[-1]
        x = self.curve.xs[-1]
        region = int(spline.region_of(x, self._edges))
        if previous is None:
            moved = ""
        else:
            shift = float(np.max(np.abs(now["global"] - previous["global"])))
            moved = (f"; the global polynomial moved everywhere, by up to {shift:.3g}"
                     if shift > 1e-12 else "; the global polynomial did not move")
        changed = ", ".join(str(k + 1) for k in self.changed_regions) or "none"
        return html.escape(
            f"{self.curve.cost} labels bought · newest at x = {x:.3f} (region {region + 1}) · "
            f"local fits changed: {changed}{moved}."
        ) + "<br>" + html.escape(
            f"RMSE: global {100 * last['global'].relative_rmse:.2f} %, "
            f"local {100 * last['local'].relative_rmse:.2f} % of the curve's range "
            f"(max error: global {last['global'].max_error:.3g}, "
            f"local {last['local'].max_error:.3g})."
        )
