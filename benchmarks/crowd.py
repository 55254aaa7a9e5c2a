"""Several objects and classes per frame: first pass and the loop, per class and pooled.

Clips: ``synthetic`` (:func:`mm_widgets.samples.synthetic_crowd`: 150 frames of 768x576,
two classes, 5-9 objects 20-90 px tall entering, leaving and crossing; exact truth) and
``megamind`` (``../shared/data/clips/megamind.avi``, 270 frames of 720x528, two heads and a
person behind; truth made by eye for this project, see the first line of
``benchmarks/truth/megamind_boxes.csv``, edges good to about 3 px).

For each clip: ``simulate(first_labels=5, rounds=3)`` with the oracle reviewing
least-sure frames first. Its round 1 is the first pass from 5 diverse labelled frames:
recall, precision and tight rate per class on the frames nobody labelled, beside keyframe
interpolation from the same frames. Then per round and per class, the efficiency beside
interpolation's, the corrections after the first labels, and the ceiling (the first
labels' cost plus a perfect model's boxes judged against the truth's own edge error).
``--shots`` adds the same loop with one micro-model per shot; ``--first-pass`` trains the
first-pass model once more on its own and compares predicting with and without mirror
averaging (``flip=``) on it.

    .venv/bin/python benchmarks/crowd.py [--clips synthetic megamind] [--rounds 3] [--shots]
                                         [--first-pass] [--no-loop]

Run it alone: training runs that share the two cores slow each other down several times.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

import mm_widgets as mm
from mm_widgets.metrics import evaluate, evaluate_by_class
from mm_widgets.samples import synthetic_crowd

HERE = Path(__file__).resolve().parent
CLIPS_DIR = HERE.parent.parent / "shared" / "data" / "clips"
MEGAMIND_TRUTH = HERE / "truth" / "megamind_boxes.csv"
EDGE_PX = {"synthetic": 0.0, "megamind": 3.0}
COLUMNS = ["truth", "recall", "precision", "tight_rate"]


def load(name: str):
    if name == "synthetic":
        return synthetic_crowd(150, (768, 576), objects=13, seed=1)
    if name == "megamind":
        path = CLIPS_DIR / "megamind.avi"
        if not path.exists():
            print(f"\n== megamind: skipped, megamind.avi is not at {path} (the shared clips "
                  "live beside the project, in ../shared/data/clips/)")
            return None
        frames = mm.Frames.from_video(path)
        table = pd.read_csv(MEGAMIND_TRUTH, comment="#")
        truth = mm.LabelSet.from_df(table, sorted(table["label"].unique()), size=frames.size,
                                    n_frames=len(frames), looked_at=range(len(frames)))
        return frames, truth
    raise SystemExit(f"unknown clip {name!r}")


def first_pass(frames, truth, seed: int) -> None:
    picks = mm.select_frames(frames, 5, strategy="diverse", seed=seed)
    labels = truth.subset(picks)
    start = time.perf_counter()
    model = mm.overfit(frames, labels, seed=seed, progress=False)
    train = time.perf_counter() - start
    rest = [f for f in range(len(frames)) if f not in set(picks)]
    print(f"first pass: labelled frames {picks} ({len(labels)} boxes); {model!r}")
    print(f"  train {train:.1f} s, {len(model.history_)} epochs ({model.stop_reason_})")
    rows = {}

    def score(method, pred):
        by_class = evaluate_by_class(pred, truth, rest)
        pooled = evaluate(pred, truth, rest)
        for c in truth.classes:
            rows[(method, c)] = by_class.loc[c, COLUMNS]
        rows[(method, "pooled")] = pd.Series({k: pooled[k] for k in COLUMNS})

    for flip in (False, True):
        start = time.perf_counter()
        pred = model.predict(frames, indices=rest, flip=flip)
        seconds = time.perf_counter() - start
        score("micro-model + mirror" if flip else "micro-model", pred)
        print(f"  predict {len(rest)} frames{' with mirror averaging' if flip else ''}: "
              f"{seconds:.1f} s ({len(rest) / seconds:.0f} frames/s)")
    score("interpolation", mm.interpolate(frames, labels).predict(frames, indices=rest))
    table = pd.DataFrame(rows).T
    table.index.names = ["method", "class"]
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))


def loop(name, frames, truth, rounds: int, seed: int, shots: bool) -> None:
    start = time.perf_counter()
    report = mm.simulate(frames, truth, first_labels=5, rounds=rounds, seed=seed,
                         domains="shots" if shots else None)
    wall = time.perf_counter() - start
    cols = ["round", "frames_reviewed", "human_actions", "cumulative_actions", "labels",
            "recall", "precision", "tight_rate", "efficiency", "interp_efficiency",
            "train_seconds", "predict_seconds"]
    what = "one micro-model per shot" if shots else "one micro-model"
    print(f"\nloop ({what}), {rounds} rounds, wall time {wall:.0f} s")
    print(report.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if report.per_class is not None:
        print("per class (frames the round's model had not seen):")
        print(report.per_class.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    edge = EDGE_PX[name]
    last = report.table.iloc[-1]
    print(f"efficiency {last['efficiency']:.3f} after {int(last['round'])} rounds "
          f"({int(last['labels'])} labels, {report.first_boxes} first boxes drawn by hand, "
          f"{report.corrections_after_first} corrections after them); ceiling "
          f"{report.ceiling(0.0):.3f} with a perfect model, {report.ceiling(edge):.3f} with "
          f"the truth's ~{edge:g} px edge error; interpolation "
          f"{last['interp_efficiency']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", default=["synthetic", "megamind"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shots", action="store_true", help="also one micro-model per shot")
    parser.add_argument("--first-pass", action="store_true",
                        help="also the first pass on its own, with and without mirror averaging")
    parser.add_argument("--no-loop", action="store_true", help="no loop")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="no pretrained")
    for name in args.clips:
        loaded = load(name)
        if loaded is None:
            continue
        frames, truth = loaded
        per_frame = truth.df.groupby("frame").size()
        print(f"\n== {name}: {len(frames)} frames {frames.size[0]}x{frames.size[1]}, "
              f"{len(truth)} true boxes ({', '.join(f'{c} {n}' for c, n in truth.df['label'].value_counts().items())}), "
              f"{per_frame.max() if len(per_frame) else 0} at most per frame")
        if args.first_pass:
            first_pass(frames, truth, args.seed)
        if not args.no_loop:
            loop(name, frames, truth, args.rounds, args.seed, shots=False)
            if args.shots:
                loop(name, frames, truth, args.rounds, args.seed, shots=True)


if __name__ == "__main__":
    main()
