"""The 1-D analogy core: curves with costed labels, fitters, errors, strategies, reports."""

from __future__ import annotations

import numpy as np
import pytest

from mm_widgets import NoLabelsError, NotFittedError, spline


def cubic(x):
    return x**3 - 0.5 * x + 0.2


def runge(x):
    return 1.0 / (1.0 + 25.0 * x**2)


def fitted(name, xs, ys, **params):
    return spline.make_fitter(name, domain=(-1.0, 1.0), **params).fit(xs, ys)


# ------------------------------------------------------------------ fits


@pytest.mark.parametrize("name, params", [("global_poly", {}), ("local", {}),
                                          ("local", {"regions": 3})])
def test_a_cubic_is_fit_exactly(name, params):
    curve = spline.HiddenCurve(cubic)
    xs = np.linspace(-1, 1, 41)
    model = fitted(name, xs, curve.sample(xs), **params)
    error = spline.fit_error(model, curve)
    assert error.max_error < 1e-10


def test_runge_breaks_the_global_polynomial_not_the_local_fits():
    curve = spline.HiddenCurve(runge)
    xs = np.linspace(-1, 1, 41)
    ys = curve.sample(xs)
    local_error = spline.fit_error(fitted("local", xs, ys), curve)
    global_error = spline.fit_error(fitted("global_poly", xs, ys), curve)
    # Interpolating 15 even labels with one polynomial: the Runge phenomenon.
    few = np.linspace(-1, 1, 15)
    interpolating = spline.fit_error(fitted("global_poly", few, runge(few), degree=14), curve)
    assert local_error.relative_rmse < 0.01
    assert global_error.relative_rmse > 0.03
    assert interpolating.max_error > 1.0
    assert global_error.rmse > 10 * local_error.rmse


@pytest.mark.parametrize("new_x", [-0.93, -0.5, -0.25, 0.013, 0.4, 0.999, 1.0])
def test_a_new_label_changes_only_its_own_regions_fit(new_x):
    curve = spline.make_curve("wiggly")
    xs = np.linspace(-0.97, 0.97, 33)
    ys = curve.sample(xs)
    grid = curve.grid(801)
    before = fitted("local", xs, ys)
    after = fitted("local", np.r_[xs, new_x], np.r_[ys, curve.sample(new_x)])
    own = int(spline.region_of(new_x, before.edges_))
    for k in range(8):
        moved = np.max(np.abs(after.predict_region(k, grid) - before.predict_region(k, grid)))
        assert (moved > 1e-9) == (k == own), f"region {k} moved by {moved}"
    # ... while the global polynomial moves everywhere.
    old_global = fitted("global_poly", xs, ys)
    new_global = fitted("global_poly", np.r_[xs, new_x], np.r_[ys, curve.truth(new_x)])
    moved = np.abs(new_global.predict(grid) - old_global.predict(grid))
    assert all(moved[spline.region_of(grid, before.edges_) == k].max() > 1e-9 for k in range(8))


def test_an_empty_region_answers_with_the_nearest_label_and_region_fits_stay_local():
    model = fitted("local", [-0.9, -0.8, 0.9], [1.0, 2.0, 5.0])
    assert model.fits_[3] is None and np.isnan(model.predict_region(3, [0.0])).all()
    assert model.predict([0.5, -0.3]).tolist() == [5.0, 2.0]
    assert model.predict([-0.85])[0] == pytest.approx(1.5)


def test_repeated_looks_at_one_x_are_averaged():
    model = fitted("local", [0.1, 0.1, 0.5], [1.0, 3.0, 2.0])
    assert model.predict([0.1])[0] == pytest.approx(2.0)
    assert fitted("global_poly", [0.2, 0.2], [1.0, 2.0]).predict([0.7])[0] == pytest.approx(1.5)


def test_fitters_refuse_no_labels_and_predict_before_fit():
    for name in spline.FITTERS:
        with pytest.raises(NoLabelsError):
            spline.make_fitter(name).fit([], [])
        with pytest.raises(NotFittedError):
            spline.make_fitter(name).predict([0.0])


def test_make_fitter_names_the_known_fitters():
    with pytest.raises(KeyError, match="global_poly"):
        spline.make_fitter("spline9000")
    model = spline.global_poly(3)
    assert spline.make_fitter(model) is model
    assert spline.local(regions=4).regions == 4


# ------------------------------------------------------------------ curves and costs


def test_every_label_costs_one_and_reset_forgets_them():
    curve = spline.make_curve("kink")
    assert curve.cost == 0
    assert isinstance(curve.sample(0.3), float)
    assert curve.cost == 1
    assert curve.sample([0.1, -0.2, 0.5]).shape == (3,)
    assert curve.cost == 4
    assert curve.xs.tolist() == [0.3, 0.1, -0.2, 0.5]
    with pytest.raises(ValueError, match="outside"):
        curve.sample([0.0, 1.5])
    assert curve.cost == 4  # a refused look-up costs nothing
    curve.reset()
    assert curve.cost == 0 and curve.xs.size == 0


def test_noisy_labels_repeat_with_the_seed_and_errors_use_the_clean_curve():
    first = spline.make_curve("smooth", noise=0.05, seed=3)
    labels = first.sample(np.linspace(-1, 1, 9))
    assert not np.allclose(labels, first.truth(np.linspace(-1, 1, 9)))
    assert np.array_equal(first.reset().sample(np.linspace(-1, 1, 9)), labels)
    other = spline.make_curve("smooth", noise=0.05, seed=4).sample(np.linspace(-1, 1, 9))
    assert not np.array_equal(other, labels)
    assert spline.make_curve("noisy").noise > 0


@pytest.mark.parametrize("name", sorted(spline.CURVES))
def test_built_in_curves_are_finite_and_named(name):
    curve = spline.make_curve(name)
    assert curve.name == name and curve.value_range > 0
    assert np.isfinite(curve.truth(curve.grid())).all()


def test_user_callables_and_bad_curves():
    curve = spline.make_curve(np.cos, domain=(0.0, 6.0))
    assert curve.name == "cos" and curve.domain == (0.0, 6.0)
    with pytest.raises(KeyError, match="wiggly"):
        spline.make_curve("nope")
    with pytest.raises(ValueError, match="domain"):
        spline.HiddenCurve(np.sin, domain=(1.0, 1.0))
    with pytest.raises(ValueError, match="finite"):
        spline.HiddenCurve(lambda x: np.full_like(x, np.nan))


# ------------------------------------------------------------------ strategies


def run_strategy(name, seed, labels=20, curve="flat"):
    curve = spline.make_curve(curve, seed=seed)
    rng = np.random.default_rng(seed)
    return [spline.next_label(curve, name, rng) for _ in range(labels)]


@pytest.mark.parametrize("name", sorted(spline.STRATEGIES))
def test_strategies_are_deterministic_with_a_seed_and_stay_in_the_domain(name):
    first = run_strategy(name, seed=7)
    assert first == run_strategy(name, seed=7)
    assert all(-1.0 <= x <= 1.0 for x in first)


def test_random_changes_with_the_seed_and_uniform_fills_an_even_grid():
    assert run_strategy("random", seed=1) != run_strategy("random", seed=2)
    assert sorted(run_strategy("uniform", seed=0, labels=9)) == pytest.approx(
        np.linspace(-1, 1, 9).tolist())


def test_active_spends_few_labels_where_the_curve_is_flat():
    xs = np.array(run_strategy("active", seed=0, labels=40, curve="flat"))
    # Two per region to start (16 labels), then only where the fits disagree: not on
    # the flat half, except right at its border with the bump.
    assert (xs[16:] < -0.25).sum() == 0
    assert (xs[16:] >= 0).sum() >= 20


def test_a_callable_is_a_strategy():
    def always_middle(xs, ys, domain, rng):
        return 0.0

    assert run_strategy(always_middle, seed=0, labels=3) == [0.0, 0.0, 0.0]
    with pytest.raises(KeyError, match="active"):
        spline.make_strategy("clever")
    with pytest.raises(ValueError, match="outside"):
        run_strategy(lambda *args: 3.0, seed=0, labels=1)


# ------------------------------------------------------------------ report


def test_curve_report_tracks_error_per_fitter_and_strategy():
    report = spline.curve_report("runge", budget=30, strategies=("uniform", "active"))
    assert list(report.columns) == ["curve", "strategy", "fitter", "labels", "rmse",
                                    "max_error", "relative_rmse"]
    assert len(report) == 30 * 2 * 2
    assert report.groupby(["strategy", "fitter"]).labels.max().eq(30).all()
    last = report[report.labels == 30].set_index(["strategy", "fitter"]).relative_rmse
    assert last["active", "local"] < 0.01 < last["active", "global_poly"]
    needed = spline.labels_to_reach(report, 0.01)
    assert needed["local", "active"] <= 30 and needed["global_poly", "uniform"] is None
    figure = spline.plot_curve_report(report)
    assert len(figure.data) == 4
