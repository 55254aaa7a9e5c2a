"""Labels needed to learn each built-in hidden curve, and the explorer's update time.

Run: .venv/bin/python benchmarks/spline.py [--budget 250] [--quick]

Table 1: for every built-in curve, the labels each fitter needs before its RMSE over the
domain falls to <= 1 % of the curve's range and stays there (within the budget), for
uniform and active sampling (random for reference). The same table at 0.1 % follows.
Table 2: wall time of one SplineExplorer update (refit both models, measure both errors,
redraw the figure data) with 200 labels already bought.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from mm_widgets import spline

COLUMNS = [("global_poly", "uniform"), ("global_poly", "active"), ("local", "uniform"),
           ("local", "random"), ("local", "active")]


def labels_table(budget: int, targets=(0.01, 0.001)) -> None:
    """Print labels-to-target per curve, fitter and strategy."""
    reports = {}
    for name in spline.CURVES:
        started = time.perf_counter()
        reports[name] = spline.curve_report(name, budget=budget,
                                            strategies=("uniform", "random", "active"))
        print(f"  {name}: {time.perf_counter() - started:.1f} s", flush=True)
    for target in targets:
        print(f"\nLabels until RMSE <= {100 * target:g} % of the curve's range "
              f"(and stays there; '>{budget}' = not within budget)\n")
        header = f"{'curve':8s} " + " ".join(f"{f + '/' + s:>19s}" for f, s in COLUMNS)
        print(header)
        print("-" * len(header))
        for name, report in reports.items():
            needed = spline.labels_to_reach(report, target)
            cells = [needed[column] for column in COLUMNS]
            text = [f">{budget}" if c is None else str(c) for c in cells]
            finite = [c for c in cells if c is not None]
            best = min(finite) if finite else None
            marked = [f"{t}*" if c is not None and c == best else t for t, c in zip(text, cells,
                                                                                  strict=True)]
            print(f"{name:8s} " + " ".join(f"{m:>19s}" for m in marked))
        print("(* = fewest labels in the row; noise of the 'noisy' curve: "
              f"{spline.CURVES['noisy']().noise:.1%} of its range)")


def update_timing(labels: int = 200, repeats: int = 30) -> None:
    """Print the time of one explorer update with ``labels`` labels already bought."""
    from mm_widgets.widgets.spline_explorer import SplineExplorer

    explorer = SplineExplorer("wiggly", strategy="uniform")
    explorer.auto_sample(labels - 1)
    rng = np.random.default_rng(0)
    timings = {}
    clicks = rng.uniform(*explorer.curve.domain, size=repeats)
    times = []
    for x in clicks:
        started = time.perf_counter()
        explorer.buy(x)  # the click path: buy, refit both, measure errors, redraw
        times.append(time.perf_counter() - started)
    timings["buy(x) (a click)"] = times
    explorer.set_strategy("active")
    explorer.reset()
    explorer.auto_sample(labels - 1)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        explorer.buy_next()  # active strategy choice + the same update
        times.append(time.perf_counter() - started)
    timings["buy_next() (active)"] = times
    print(f"\nSplineExplorer update with {labels} labels bought ({repeats} repeats)\n")
    print(f"{'update':22s} {'median ms':>10s} {'max ms':>8s}")
    for name, times in timings.items():
        print(f"{name:22s} {1e3 * statistics.median(times):10.1f} {1e3 * max(times):8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=250, help="labels per strategy")
    parser.add_argument("--quick", action="store_true", help="budget 80, fewer repeats")
    args = parser.parse_args()
    budget = 80 if args.quick else args.budget
    print(f"Labels to learn each curve (budget {budget}; local: 8 regions, global: degree 10)")
    labels_table(budget)
    update_timing(repeats=10 if args.quick else 30)


if __name__ == "__main__":
    main()
