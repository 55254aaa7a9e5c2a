"""The 1-D analogy for micro-models: a hidden curve, labels that cost, local vs global fits.

Every label is one look-up of the hidden curve at an ``x``. A *global* model is one
polynomial fitted to every label; *local* models are one small fit per region of the
domain, each trained only on the labels inside its region and overfit to them on purpose
(an interpolating cubic spline), then stitched together. A new label changes only the fit
of its own region, exactly as a new labelled frame changes only the micro-model of its
own scene.

Core module: numpy and scipy only (pandas and plotly are imported inside the two
functions that return a table and a figure).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline

from .errors import NoLabelsError, NotFittedError

Domain = tuple[float, float]
#: ``strategy(xs, ys, domain, rng) -> x``: where to buy the next label.
Strategy = Callable[[np.ndarray, np.ndarray, Domain, np.random.Generator], float]

#: Points on which a fit is compared with the hidden curve.
ERROR_GRID_SIZE = 2001

CURVES: dict[str, Callable[..., HiddenCurve]] = {}
FITTERS: dict[str, Callable[..., object]] = {}
STRATEGIES: dict[str, Strategy] = {}


# --------------------------------------------------------------------------- curves


@dataclass
class HiddenCurve:
    """A hidden 1-D curve you can only learn by buying labels, one look-up each.

    Parameters
    ----------
    function : callable
        Vectorised ``f(x) -> y``, the truth that the fits try to recover.
    domain : (float, float)
        Where labels may be bought and where errors are measured.
    noise : float
        Standard deviation of the label noise, as a fraction of the curve's range
        (``0.02`` = 2 % of max - min). Errors are always measured against the clean curve.
    seed : int
        Seed of the label noise; :meth:`reset` replays the same noise.
    name : str
        Shown in tables and widgets.

    Examples
    --------
    >>> curve = HiddenCurve(np.sin, domain=(0.0, 3.0), name="sine")
    >>> y = curve.sample(1.0)
    >>> curve.cost
    1
    """

    function: Callable[[np.ndarray], np.ndarray]
    domain: Domain = (-1.0, 1.0)
    noise: float = 0.0
    seed: int = 0
    name: str = "custom"
    _xs: list[float] = field(default_factory=list, init=False, repr=False)
    _ys: list[float] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self):
        a, b = (float(v) for v in self.domain)
        if not (np.isfinite(a) and np.isfinite(b) and a < b):
            raise ValueError(f"domain must be (low, high) with low < high, got {self.domain!r}")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise!r}")
        if not callable(self.function):
            raise TypeError(f"function must be callable, got {type(self.function).__name__}")
        self.domain = (a, b)
        grid = self.grid()
        values = self.truth(grid)
        if values.shape != grid.shape or not np.all(np.isfinite(values)):
            raise ValueError(f"curve {self.name!r} must return one finite y per x on its domain")
        self.value_range = float(values.max() - values.min()) or 1.0
        self.reset()

    def grid(self, size: int = ERROR_GRID_SIZE) -> np.ndarray:
        """``size`` evenly spaced points over the domain, ends included."""
        return np.linspace(self.domain[0], self.domain[1], size)

    def truth(self, x) -> np.ndarray:
        """The clean hidden values at ``x`` (free: for measuring errors, not for learning)."""
        x = np.asarray(x, dtype=float)
        return np.asarray(self.function(x), dtype=float) * np.ones_like(x)

    def sample(self, x):
        """Buy labels: the (noisy) curve value at each ``x``; every ``x`` costs one label.

        Parameters
        ----------
        x : float or array_like
            Where to look; must lie inside the domain.

        Returns
        -------
        float or numpy.ndarray
            The label(s), same shape as ``x``.
        """
        xs = np.atleast_1d(np.asarray(x, dtype=float))
        low, high = self.domain
        outside = xs[~((xs >= low) & (xs <= high))]
        if outside.size:
            raise ValueError(f"x={outside[0]!r} is outside the curve's domain [{low}, {high}]")
        ys = self.truth(xs)
        if self.noise:
            ys = ys + self._noise.normal(0.0, self.noise * self.value_range, size=xs.shape)
        self._xs.extend(xs.tolist())
        self._ys.extend(ys.tolist())
        return float(ys[0]) if np.ndim(x) == 0 else ys.reshape(np.shape(x))

    @property
    def cost(self) -> int:
        """Labels bought since the last :meth:`reset`."""
        return len(self._xs)

    @property
    def xs(self) -> np.ndarray:
        """Where labels were bought, in buying order (a copy)."""
        return np.array(self._xs, dtype=float)

    @property
    def ys(self) -> np.ndarray:
        """The labels bought, in buying order (a copy)."""
        return np.array(self._ys, dtype=float)

    def reset(self) -> HiddenCurve:
        """Forget every label and restart the noise, so the same x's buy the same labels."""
        self._xs, self._ys = [], []
        self._noise = np.random.default_rng(self.seed)
        return self


def register_curve(name: str):
    """Register a built-in curve factory under ``name`` (decorator)."""

    def register(factory):
        CURVES[name] = factory
        return factory

    return register


@register_curve("smooth")
def _smooth_curve(noise=0.0, seed=0):
    # One gentle shape everywhere: the case where one global model is enough.
    return HiddenCurve(lambda x: np.sin(np.pi * x) + 0.3 * x, noise=noise, seed=seed, name="smooth")


@register_curve("runge")
def _runge_curve(noise=0.0, seed=0):
    # Smooth, yet the textbook curve that breaks high-degree global polynomials.
    return HiddenCurve(lambda x: 1.0 / (1.0 + 25.0 * x**2), noise=noise, seed=seed, name="runge")


@register_curve("wiggly")
def _wiggly_curve(noise=0.0, seed=0):
    # A chirp: calm on the left, fast on the right, like scenes of different difficulty.
    return HiddenCurve(
        lambda x: np.sin(2.5 * np.pi * (x + 1.0) ** 2), noise=noise, seed=seed, name="wiggly"
    )


@register_curve("kink")
def _kink_curve(noise=0.0, seed=0):
    # The kink sits off every dyadic grid point so no strategy hits it by luck.
    return HiddenCurve(
        lambda x: np.abs(x - 0.23) + 0.2 * np.sin(3.0 * x), noise=noise, seed=seed, name="kink"
    )


@register_curve("flat")
def _flat_curve(noise=0.0, seed=0):
    # Nothing happens on the left half: labels spent there are wasted.
    return HiddenCurve(
        lambda x: np.where(x < 0.0, 0.0, x * np.sin(3.0 * np.pi * x)),
        noise=noise,
        seed=seed,
        name="flat",
    )


@register_curve("noisy")
def _noisy_curve(noise=0.005, seed=0):
    # The wiggly chirp again, now with noisy labels (0.5 % of the range, a careful
    # annotator): the same hard truth, but a fit that passes through every label
    # also copies its noise.
    curve = _wiggly_curve(noise=noise, seed=seed)
    curve.name = "noisy"
    return curve


def make_curve(spec="smooth", *, noise: float | None = None, seed: int = 0, domain=None):
    """A :class:`HiddenCurve` from a registered name, a callable or a curve.

    Parameters
    ----------
    spec : str, callable or HiddenCurve
        A name from :data:`CURVES` (``"smooth"``, ``"runge"``, ``"wiggly"``, ``"kink"``,
        ``"flat"``, ``"noisy"``), a vectorised ``f(x)``, or a curve (returned reset).
    noise : float, optional
        Label noise as a fraction of the curve's range; ``None`` keeps the curve's default.
    seed : int
        Seed of the label noise.
    domain : (float, float), optional
        Domain of a callable (default ``(-1, 1)``).

    Returns
    -------
    HiddenCurve
    """
    if isinstance(spec, HiddenCurve):
        if noise is not None:
            spec.noise = float(noise)
        return spec.reset()
    if isinstance(spec, str):
        if spec not in CURVES:
            raise KeyError(f"unknown curve {spec!r}; known curves: {sorted(CURVES)}")
        kwargs = {"seed": seed} if noise is None else {"seed": seed, "noise": float(noise)}
        return CURVES[spec](**kwargs)
    if callable(spec):
        name = getattr(spec, "__name__", "custom")
        return HiddenCurve(
            spec, domain=domain or (-1.0, 1.0), noise=noise or 0.0, seed=seed, name=name
        )
    raise TypeError(f"curve must be a name, a callable or a HiddenCurve, got {spec!r}")


# --------------------------------------------------------------------------- fitters


def register_fitter(name: str):
    """Register a fitter class under ``name`` (decorator)."""

    def register(cls):
        FITTERS[name] = cls
        return cls

    return register


def _unique_mean(x, y):
    """Sorted unique x, with the mean label of repeated looks at the same x."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.size} vs {y.size}")
    ux, inverse = np.unique(x, return_inverse=True)
    if ux.size == x.size:
        order = np.argsort(x)
        return x[order], y[order]
    return ux, np.bincount(inverse, weights=y) / np.bincount(inverse)


def interpolate_overfit(x, y):
    """The fit a micro-model makes of its own labels: it passes through every one.

    Sorted unique ``x``: 1 label gives a constant, 2 a line, 3 a parabola, 4 or more a
    not-a-knot cubic spline (which reproduces any cubic exactly). Returns a callable.
    """
    if x.size == 1:
        value = float(y[0])
        return lambda t: np.full(np.shape(t), value)
    if x.size == 2:
        slope = (y[1] - y[0]) / (x[1] - x[0])
        return lambda t: y[0] + slope * (np.asarray(t, dtype=float) - x[0])
    return CubicSpline(x, y, bc_type="not-a-knot", extrapolate=True)


def region_edges(domain: Domain, regions: int) -> np.ndarray:
    """The ``regions + 1`` edges of equal-width regions over ``domain``."""
    if int(regions) < 1:
        raise ValueError(f"regions must be >= 1, got {regions!r}")
    return np.linspace(domain[0], domain[1], int(regions) + 1)


def region_of(x, edges: np.ndarray) -> np.ndarray:
    """Index of the region holding each ``x``; regions are ``[lo, hi)``, the last one closed."""
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)


@register_fitter("global_poly")
class GlobalPoly:
    """One polynomial of a fixed degree, least-squares fitted to every label.

    Parameters
    ----------
    degree : int
        Degree of the polynomial; with fewer than ``degree + 1`` distinct labels it
        interpolates them with the highest degree they allow.
    domain : (float, float)
        Scales the Chebyshev basis, which keeps high degrees well conditioned.

    Attributes
    ----------
    polynomial_ : numpy.polynomial.Chebyshev
        The fitted polynomial.
    n_labels_ : int
        Labels it was fitted to.
    """

    def __init__(self, degree: int = 10, domain: Domain = (-1.0, 1.0)):
        self.degree = degree
        self.domain = domain

    def fit(self, x, y) -> GlobalPoly:
        """Fit the polynomial to labels ``y`` at ``x``; returns ``self``."""
        x, y = _unique_mean(x, y)
        if x.size == 0:
            raise NoLabelsError("global_poly needs at least one label")
        degree = min(int(self.degree), x.size - 1)
        self.polynomial_ = np.polynomial.Chebyshev.fit(x, y, degree, domain=list(self.domain))
        self.n_labels_ = x.size
        return self

    def predict(self, x) -> np.ndarray:
        """The fitted polynomial at ``x``."""
        if not hasattr(self, "polynomial_"):
            raise NotFittedError("GlobalPoly.predict called before fit()")
        return self.polynomial_(np.asarray(x, dtype=float))


@register_fitter("local")
class LocalFits:
    """Stitched local fits: one interpolating fit per equal-width region of the domain.

    Each region's fit sees only the labels inside its region (``[lo, hi)``) and passes
    through all of them; outside its region it is not used. A region without labels
    falls back to the value of the nearest label (nothing is known there).

    Parameters
    ----------
    regions : int
        Number of regions; the region size is ``(high - low) / regions``.
    domain : (float, float)
        The domain the regions tile.

    Attributes
    ----------
    edges_ : numpy.ndarray
        Region edges, ``regions + 1`` of them.
    fits_ : list
        Per region: a callable fit, or ``None`` for a region with no labels.
    region_labels_ : list of tuple
        Per region: the (sorted) label x's its fit was trained on.
    """

    def __init__(self, regions: int = 8, domain: Domain = (-1.0, 1.0)):
        self.regions = regions
        self.domain = domain

    def fit(self, x, y) -> LocalFits:
        """Fit every region to its own labels; returns ``self``."""
        x, y = _unique_mean(x, y)
        if x.size == 0:
            raise NoLabelsError("local fits need at least one label")
        self.edges_ = region_edges(self.domain, self.regions)
        owner = region_of(x, self.edges_)
        self.fits_, self.region_labels_ = [], []
        for k in range(len(self.edges_) - 1):
            inside = owner == k
            self.region_labels_.append(tuple(x[inside]))
            self.fits_.append(interpolate_overfit(x[inside], y[inside]) if inside.any() else None)
        self._x, self._y = x, y
        return self

    def predict_region(self, k: int, x) -> np.ndarray:
        """Region ``k``'s own fit at ``x`` (also outside its region, to show it is bad there)."""
        self._check_fitted()
        x = np.asarray(x, dtype=float)
        if self.fits_[k] is None:
            return np.full(x.shape, np.nan)
        return np.asarray(self.fits_[k](x), dtype=float)

    def predict(self, x) -> np.ndarray:
        """The stitched prediction: each ``x`` is answered by its own region's fit."""
        self._check_fitted()
        x = np.asarray(x, dtype=float)
        flat = x.ravel()
        out = np.empty(flat.shape)
        owner = region_of(flat, self.edges_)
        for k in np.unique(owner):
            at = owner == k
            if self.fits_[k] is not None:
                out[at] = self.fits_[k](flat[at])
            else:
                nearest = np.abs(flat[at, None] - self._x[None, :]).argmin(axis=1)
                out[at] = self._y[nearest]
        return out.reshape(x.shape)

    def _check_fitted(self):
        if not hasattr(self, "fits_"):
            raise NotFittedError("LocalFits used before fit()")


def make_fitter(spec="local", *, domain: Domain = (-1.0, 1.0), **params):
    """A fitter from a registered name (``"global_poly"``, ``"local"``), a class or an instance.

    Parameters
    ----------
    spec : str, type or object
        A name from :data:`FITTERS`, a fitter class, or an object with ``fit``/``predict``
        (returned as is).
    domain : (float, float)
        The curve's domain, given to a new fitter.
    **params
        Settings of a new fitter, e.g. ``degree=12`` or ``regions=4``.
    """
    if isinstance(spec, str):
        if spec not in FITTERS:
            raise KeyError(f"unknown fitter {spec!r}; known fitters: {sorted(FITTERS)}")
        return FITTERS[spec](domain=domain, **params)
    if isinstance(spec, type):
        return spec(domain=domain, **params)
    if hasattr(spec, "fit") and hasattr(spec, "predict"):
        return spec
    raise TypeError(f"fitter must be a name, a class or an object with fit/predict, got {spec!r}")


def global_poly(degree: int = 10, domain: Domain = (-1.0, 1.0)) -> GlobalPoly:
    """A :class:`GlobalPoly` of ``degree`` (shorthand for ``make_fitter("global_poly")``)."""
    return GlobalPoly(degree=degree, domain=domain)


def local(regions: int = 8, domain: Domain = (-1.0, 1.0)) -> LocalFits:
    """A :class:`LocalFits` with ``regions`` regions (shorthand for ``make_fitter("local")``)."""
    return LocalFits(regions=regions, domain=domain)


@dataclass(frozen=True)
class FitError:
    """Error of a fit against the hidden curve over the whole domain."""

    rmse: float
    max_error: float
    value_range: float

    @property
    def relative_rmse(self) -> float:
        """RMSE as a fraction of the curve's range (0.01 = 1 %)."""
        return self.rmse / self.value_range


def fit_error(fitter, curve: HiddenCurve, grid: np.ndarray | None = None) -> FitError:
    """RMSE and max error of a fitted ``fitter`` against the clean ``curve``.

    Parameters
    ----------
    fitter : object
        Anything with ``predict(x)``, already fitted.
    curve : HiddenCurve
        The truth.
    grid : numpy.ndarray, optional
        Where to compare; default :data:`ERROR_GRID_SIZE` even points over the domain.
    """
    grid = curve.grid() if grid is None else grid
    residual = fitter.predict(grid) - curve.truth(grid)
    return FitError(
        rmse=float(np.sqrt(np.mean(residual**2))),
        max_error=float(np.max(np.abs(residual))),
        value_range=curve.value_range,
    )


# --------------------------------------------------------------------------- strategies


def register_strategy(name: str):
    """Register ``strategy(xs, ys, domain, rng) -> x`` under ``name`` (decorator)."""

    def register(fn):
        STRATEGIES[name] = fn
        return fn

    return register


def _midpoint_of_widest_gap(points: np.ndarray) -> float:
    widths = np.diff(points)
    i = int(np.argmax(widths))  # argmax takes the leftmost of equal gaps: deterministic
    return float(points[i] + widths[i] / 2.0)


@register_strategy("uniform")
def uniform(xs, ys, domain, rng) -> float:
    """Both ends first, then the middle of the widest gap: an even grid at 2**k + 1 labels."""
    low, high = domain
    seen = set(np.asarray(xs, dtype=float).tolist())
    for end in (low, high):
        if end not in seen:
            return float(end)
    return _midpoint_of_widest_gap(np.unique(np.r_[low, xs, high]))


@register_strategy("random")
def random(xs, ys, domain, rng) -> float:
    """Anywhere in the domain with equal chance (the seed's generator decides)."""
    return float(rng.uniform(domain[0], domain[1]))


@register_strategy("active")
def active(xs, ys, domain, rng, regions: int = 8, probes: int = 8) -> float:
    """Buy the next label where the local models disagree most.

    Each region first gets two labels (one label cannot tell you anything about error).
    Then every region's fit is compared with a small committee of rival fits: the fits
    that leave one of its labels out, and the fit that also sees the nearest label
    across each of its borders. Where they all agree, one more label would change
    nothing; where they disagree, the fit hangs on a single label, or extrapolates
    towards its edge, and the curve is not yet pinned down there. Each gap between
    neighbouring labels (and between a region edge and its outermost label) is scored by
    its width times the mean squared disagreement on it, an estimate of the squared
    error it adds to the RMSE; the next label bisects the gap with the largest score.

    Parameters
    ----------
    xs, ys : array_like
        Labels bought so far.
    domain : (float, float)
        Where labels may be bought.
    rng : numpy.random.Generator
        Unused: the choice is deterministic given the labels.
    regions : int
        Regions of the local fits (use the same number as the ``local`` fitter).
    probes : int
        Points per gap on which disagreement is measured.
    """
    edges = region_edges(domain, regions)
    x, y = _unique_mean(xs, ys)
    owner = region_of(x, edges)
    counts = np.bincount(owner, minlength=regions)
    if counts.min() < 2:
        k = int(np.argmin(counts))
        return _midpoint_of_widest_gap(np.r_[edges[k], x[owner == k], edges[k + 1]])

    best_score, best_x = -1.0, float(edges[0])
    for k in range(regions):
        first, stop = np.searchsorted(owner, k), np.searchsorted(owner, k, side="right")
        bridged = slice(max(first - 1, 0), min(stop + 1, x.size))
        score, at = _widest_disagreement(
            x[bridged].tobytes(), y[bridged].tobytes(), int(first > 0), int(stop < x.size),
            float(edges[k]), float(edges[k + 1]), int(probes))
        if score > best_score:
            best_score, best_x = score, at
    return best_x


@functools.lru_cache(maxsize=4096)
def _widest_disagreement(x_bytes, y_bytes, has_left, has_right, low, high, probes):
    """Score of the worst gap of one region and its midpoint (see :func:`active`).

    Takes the region's labels plus (flagged) the nearest label across each border, as
    bytes so that an unchanged region is answered from the cache: a new label only
    rescores its own region and its two neighbours.
    """
    bx, by = np.frombuffer(x_bytes), np.frombuffer(y_bytes)
    own = slice(has_left, bx.size - has_right)
    rx, ry = bx[own], by[own]
    bounds = np.unique(np.r_[low, rx, high])
    lefts, widths = bounds[:-1], np.diff(bounds)
    offsets = (np.arange(probes) + 0.5) / probes
    probe_x = lefts[:, None] + widths[:, None] * offsets[None, :]
    own_fit = interpolate_overfit(rx, ry)(probe_x)
    # The committee: the region's fit without each one of its labels (is the fit
    # hanging on a single label?), and with the nearest label across each border
    # (would the fit change if it could see past its edge, where it extrapolates?).
    committee = [(np.delete(rx, j), np.delete(ry, j)) for j in range(rx.size)]
    if has_left or has_right:
        committee.append((bx, by))
    squared = np.zeros_like(probe_x)
    for member_x, member_y in committee:
        squared = np.maximum(squared, (interpolate_overfit(member_x, member_y)(probe_x)
                                       - own_fit) ** 2)
    scores = widths * squared.mean(axis=1)
    i = int(np.argmax(scores))
    return float(scores[i]), float(lefts[i] + widths[i] / 2.0)


def make_strategy(spec="active", **params) -> Strategy:
    """A strategy from a registered name (``"uniform"``, ``"random"``, ``"active"``) or a callable.

    Parameters
    ----------
    spec : str or callable
        A name from :data:`STRATEGIES`, or ``f(xs, ys, domain, rng) -> x``.
    **params
        Extra settings bound to a registered strategy, e.g. ``regions=4`` for ``"active"``.
    """
    if isinstance(spec, str):
        if spec not in STRATEGIES:
            raise KeyError(f"unknown strategy {spec!r}; known strategies: {sorted(STRATEGIES)}")
        fn = STRATEGIES[spec]
        return functools.partial(fn, **params) if params else fn
    if callable(spec):
        return spec
    raise TypeError(f"strategy must be a name or a callable, got {spec!r}")


def next_label(curve: HiddenCurve, strategy, rng: np.random.Generator) -> float:
    """Ask ``strategy`` where to look next, buy that label, and return its ``x``."""
    x = float(make_strategy(strategy)(curve.xs, curve.ys, curve.domain, rng))
    low, high = curve.domain
    if not low <= x <= high:
        raise ValueError(f"strategy returned x={x!r}, outside the domain [{low}, {high}]")
    curve.sample(x)
    return x


# --------------------------------------------------------------------------- reports


def curve_report(
    curve="wiggly",
    budget: int = 60,
    strategies: Sequence = ("uniform", "random", "active"),
    fitters: Sequence = ("global_poly", "local"),
    *,
    regions: int = 8,
    degree: int = 10,
    seed: int = 0,
):
    """Error against labels spent, for every fitter and sampling strategy.

    Each strategy buys ``budget`` labels one at a time from a fresh copy of the curve
    (same noise seed for all); after every label each fitter is refitted and compared
    with the hidden curve.

    Parameters
    ----------
    curve : str, callable or HiddenCurve
        See :func:`make_curve`.
    budget : int
        Labels each strategy may buy.
    strategies : sequence of str or callable
        Registered names or callables ``f(xs, ys, domain, rng) -> x``.
    fitters : sequence of str or object
        Registered names or fitter objects.
    regions, degree : int
        Settings of the ``"local"`` fitter / ``"active"`` strategy and of ``"global_poly"``.
    seed : int
        Seed of the label noise and of the random strategy.

    Returns
    -------
    pandas.DataFrame
        Columns ``curve, strategy, fitter, labels, rmse, max_error, relative_rmse``.
        Draw it with :func:`plot_curve_report`.
    """
    import pandas as pd

    if int(budget) < 1:
        raise ValueError(f"budget must be >= 1, got {budget!r}")
    curve = make_curve(curve, seed=seed)
    rows = []
    for strategy_spec in strategies:
        strategy_name = _name_of(strategy_spec)
        params = {"regions": regions} if strategy_spec == "active" else {}
        strategy = make_strategy(strategy_spec, **params)
        curve.reset()
        rng = np.random.default_rng(seed)
        grid = curve.grid()
        truth = curve.truth(grid)
        fitter_objects = []
        for spec in fitters:
            settings = {"local": {"regions": regions}, "global_poly": {"degree": degree}}
            params = settings.get(spec, {}) if isinstance(spec, str) else {}
            fitter_objects.append((_name_of(spec), make_fitter(spec, domain=curve.domain, **params)))
        for labels in range(1, int(budget) + 1):
            next_label(curve, strategy, rng)
            for fitter_name, fitter in fitter_objects:
                residual = fitter.fit(curve.xs, curve.ys).predict(grid) - truth
                rmse = float(np.sqrt(np.mean(residual**2)))
                rows.append((curve.name, strategy_name, fitter_name, labels, rmse,
                             float(np.abs(residual).max()), rmse / curve.value_range))
    curve.reset()
    return pd.DataFrame(rows, columns=["curve", "strategy", "fitter", "labels", "rmse",
                                       "max_error", "relative_rmse"])


def _name_of(spec) -> str:
    if isinstance(spec, str):
        return spec
    return getattr(spec, "__name__", type(spec).__name__)


def plot_curve_report(report, *, log: bool = True):
    """A plotly figure of :func:`curve_report`'s table: RMSE (% of range) against labels.

    One line per fitter and strategy; colour is the fitter, dash the strategy.
    """
    import plotly.graph_objects as go

    colours = {"global_poly": "#d62728", "local": "#1f77b4"}
    dashes = ["solid", "dot", "dash", "dashdot", "longdash"]
    strategy_names = list(dict.fromkeys(report["strategy"]))
    fig = go.Figure()
    for (fitter, strategy), part in report.groupby(["fitter", "strategy"], sort=False):
        fig.add_scatter(
            x=part["labels"], y=100 * part["relative_rmse"], mode="lines",
            name=f"{fitter} · {strategy}",
            line={"color": colours.get(fitter), "dash": dashes[strategy_names.index(strategy) % 5]},
        )
    fig.add_hline(y=1.0, line={"color": "grey", "dash": "dot"}, annotation_text="1 % of range")
    title = ", ".join(dict.fromkeys(report["curve"]))
    fig.update_layout(
        title=f"Error against labels spent ({title})", xaxis_title="labels bought",
        yaxis_title="RMSE, % of the curve's range", template="plotly_white",
        yaxis_type="log" if log else "linear", height=380,
    )
    return fig


def labels_to_reach(report, target: float = 0.01):
    """Per fitter and strategy: the first label count whose relative RMSE is <= ``target``
    and stays there until the end of the report (``None`` if never)."""
    needed = {}
    for (fitter, strategy), part in report.groupby(["fitter", "strategy"], sort=False):
        above = np.flatnonzero(part["relative_rmse"].to_numpy() > target)
        labels = part["labels"].to_numpy()
        if above.size == 0:
            needed[(fitter, strategy)] = int(labels[0])
        elif above[-1] + 1 < labels.size:
            needed[(fitter, strategy)] = int(labels[above[-1] + 1])
        else:
            needed[(fitter, strategy)] = None
    return needed
