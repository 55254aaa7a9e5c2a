"""The loop on real clips: 5 diverse first labels, 3 rounds, the oracle reviewing.

For each clip with hand-made truth (bunny: the shared truth; carphone: made for this
project, see mm_widgets/sample_truth/carphone_boxes.csv) prints simulate()'s table and, side
by side, the "classical" baseline the seed contrasts with: the same number of human actions
spent on drawing boxes on frames sampled at random across the clip, one model trained on
them, no loop; the rest of the clip is then reviewed once with the same oracle.

    .venv/bin/python benchmarks/loop.py [--clips bunny carphone] [--rounds 3] [--png PATH]

Targets (issue 6, bunny): efficiency after round 2 >= 0.98, recall after round 2 >= 0.99,
each round <= 60 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import mm_widgets as mm
from mm_widgets.actions import efficiency
from mm_widgets.metrics import evaluate

COLUMNS = ["round", "frames_reviewed", "human_actions", "cumulative_actions", "labels", "recall",
           "precision", "tight_rate", "efficiency", "train_seconds", "predict_seconds",
           "interp_recall", "interp_efficiency"]


def classical(frames, truth, budget: int, seed: int = 0) -> dict:
    """Spend ``budget`` drawn boxes on random frames, train once, review the rest once."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frames)).tolist()
    labels, actions = mm.LabelSet(truth.classes, size=frames.size, n_frames=len(frames)), 0
    for f in order:
        boxes = truth.boxes(f) if f in truth._boxes else []
        if actions + len(boxes) > budget:
            break
        labels.set_boxes(f, boxes)
        actions += len(boxes)
    if len(labels) == 0:
        return {"frames_labelled": len(labels.looked_at), "human_actions": actions}
    start = time.perf_counter()
    model = mm.overfit(frames, labels, progress=False)
    train = time.perf_counter() - start
    rest = [f for f in range(len(frames)) if f not in labels]
    q = evaluate(model.predict(frames, indices=rest), truth, rest)
    total = actions + q["actions"]
    return {"frames_labelled": len(labels.looked_at), "human_actions_before": actions,
            "recall": q["recall"], "precision": q["precision"], "tight_rate": q["tight_rate"],
            "review_actions": q["actions"], "efficiency": efficiency(total, len(labels) + q["truth"]),
            "train_seconds": train}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", default=["bunny", "carphone"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png", help="write the first clip's efficiency chart to this PNG")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # the one "training from scratch" notice
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    for k, clip in enumerate(args.clips):
        frames, truth = mm.load_sample(clip), mm.load_sample_truth(clip)
        start = time.perf_counter()
        report = mm.simulate(frames, truth, first_labels=5, rounds=args.rounds, seed=args.seed)
        wall = time.perf_counter() - start
        print(f"\n== {clip}: {len(frames)} frames, {len(truth)} true boxes; loop wall time "
              f"{wall:.0f} s")
        print(report.table[COLUMNS].round(3).to_string(index=False))
        budget = int(report.table["cumulative_actions"].iloc[min(2, len(report.table) - 1)])
        base = classical(frames, truth, budget, seed=args.seed)
        print(f"classical baseline (no loop), same human budget of {budget} actions spent on "
              f"random frames: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in base.items()))
        if args.png and k == 0:
            from figure_png import write_png

            write_png(report.plot().update_layout(
                title=f"Label efficiency per round: {clip}, 5 first labels, simulate()"), args.png)
            print(f"chart written to {args.png}")


if __name__ == "__main__":
    main()
