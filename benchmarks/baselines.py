"""Honest baselines: the micro-model beside keyframe interpolation from the same frames.

For bunny (shared truth) and bikes (truth made for this project: bicycles, see the first
line of mm_widgets/sample_truth/bikes_boxes.csv), at 5 and 10 labelled frames (chosen by
the "diverse" strategy; the per-shot line shares about the same number over the shots),
prints the first pass — one model, every other frame predicted and reviewed once by the
oracle — for:

- micro-model (temporal consistency off),
- micro-model + temporal consistency (linking boxes across neighbouring frames),
- keyframe interpolation (no training),
- the per-shot assembly line (bikes: one micro-model per shot, with temporal consistency),

with recall, precision, tight rate (IoU >= 0.75 among found boxes), first-pass label
efficiency and seconds (train + predict).

    .venv/bin/python benchmarks/baselines.py [--clips bunny bikes] [--labels 5 10]

Targets (issue 11): bunny: micro-model + temporal has a higher tight rate and efficiency than
interpolation. bikes: at 5 labels, micro-model recall >= 2x interpolation's; at 10 labels,
recall >= 0.90 and precision >= 0.90.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import pandas as pd

import mm_widgets as mm


def first_pass(frames, truth, labels: int, **kw) -> dict:
    start = time.perf_counter()
    report = mm.simulate(frames, truth, first_labels=labels, rounds=1, **kw)
    row = report.table.iloc[-1]
    return {"recall": row["recall"], "precision": row["precision"],
            "tight_rate": row["tight_rate"], "efficiency": row["efficiency"],
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", default=["bunny", "bikes"])
    parser.add_argument("--labels", nargs="+", type=int, default=[5, 10])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # the one "training from scratch" notice
    rows = []
    for clip in args.clips:
        frames, truth = mm.load_sample(clip), mm.load_sample_truth(clip)
        shots = mm.split_shots(frames)
        for n in args.labels:
            runs = {
                "micro-model": dict(temporal=False),
                "micro-model + temporal": dict(temporal=True),
                "interpolation": dict(kind="interpolate"),
            }
            if len(shots) > 1:
                per_shot = max(1, math.ceil(n / len(shots)))
                runs[f"assembly line ({per_shot}/shot)"] = dict(temporal=True, domains=shots,
                                                               per_shot=per_shot)
            for name, kw in runs.items():
                labels = kw.pop("per_shot", n)
                result = first_pass(frames, truth, labels, seed=args.seed, **kw)
                rows.append({"clip": clip, "labels": n, "method": name, **result})
                print(f"{clip:8s} {n:3d} labels  {name:28s} " + "  ".join(
                    f"{k} {v:.3f}" for k, v in result.items()), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
