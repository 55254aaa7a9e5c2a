"""First pass on every clip: seconds and quality, on this machine's device, before and after.

For each clip: 5 diverse labelled frames (from the frames that have truth), ``overfit()``
with its defaults, then predictions on every frame. Prints the seconds to train, to
predict every frame (decoding included) and frames/s, then recall, precision and tight
rate (IoU >= 0.75) per class on the frames nobody labelled, the input size and whether
training used windows around the objects. ``--before REV`` runs the same, in a
subprocess, on git revision REV of this repository (checked out into a temporary
worktree), and prints both side by side.

Clips: ``bunny``, ``carphone``, ``bikes`` (the sample clips and their truth),
``cockatoo`` and ``megamind`` (``../shared/data/clips/``, truth made by eye for this
project in ``benchmarks/truth/``; cockatoo's covers every 10th frame), ``synthetic`` (a
150-frame 768x576 crowd: two classes, 5-9 objects 20-90 px tall, exact truth).

    .venv/bin/python benchmarks/speed.py [--clips ...] [--seeds 0 1 2] [--before af72edb]
    .venv/bin/python benchmarks/speed.py --rounds      # + two warm-started rounds on the crowd

Run it alone: training runs that share the cores slow each other down several times.
On a machine with a CUDA GPU, ``device="auto"`` trains and predicts there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
CLIPS_DIR = HERE.parent.parent / "shared" / "data" / "clips"
CLIPS = ["bunny", "carphone", "bikes", "cockatoo", "megamind", "synthetic"]


def load(name: str):
    """(frames, truth) or None when the clip is not on this machine."""
    import mm_widgets as mm
    from mm_widgets.samples import load_sample, load_sample_truth, synthetic_crowd

    if name in ("bunny", "carphone", "bikes"):
        return load_sample(name), load_sample_truth(name)
    if name == "synthetic":
        return synthetic_crowd(150, (768, 576), objects=13, seed=1)
    path = CLIPS_DIR / {"megamind": "megamind.avi", "cockatoo": "cockatoo.mp4"}[name]
    if not path.exists():
        print(f"{name}: skipped, {path} is not there (the shared clips live beside the "
              "project, in ../shared/data/clips/)")
        return None
    frames = mm.Frames.from_video(path)
    truth_file = HERE / "truth" / f"{name}_boxes.csv"
    table = pd.read_csv(truth_file, comment="#")
    looked = range(len(frames))
    first = truth_file.read_text().splitlines()[0]
    if "every 10th frame" in first or "frames:" in first:
        looked = sorted(set(table["frame"]) | set(empty_frames(first)))
    truth = mm.LabelSet.from_df(table, sorted(table["label"].unique()), size=frames.size,
                                n_frames=len(frames), looked_at=looked)
    return frames, truth


def empty_frames(comment: str) -> list[int]:
    """Frames a truth file's first line lists as looked at and empty ("empty frames: 4 5")."""
    if "empty frames:" not in comment:
        return []
    words = comment.split("empty frames:", 1)[1].replace(",", " ").split()
    out = []
    for w in words:
        if not w.strip(".;)").isdigit():
            break
        out.append(int(w.strip(".;)")))
    return out


def first_pass(name: str, seed: int, settings: dict) -> dict | None:
    import mm_widgets as mm
    from mm_widgets.metrics import evaluate, evaluate_by_class
    from mm_widgets.models.training import resolve_device

    loaded = load(name)
    if loaded is None:
        return None
    frames, truth = loaded
    candidates = truth.looked_at
    if len(candidates) == len(frames):
        picks = mm.select_frames(frames, 5, strategy="diverse", seed=seed)
    else:  # truth on some frames only: pick among those
        chosen = mm.select_frames([frames[f] for f in candidates], 5, strategy="diverse",
                                  seed=seed)
        picks = [candidates[i] for i in chosen]
    labels = truth.subset(picks)
    start = time.perf_counter()
    model = mm.overfit(frames, labels, seed=seed, progress=False, **settings)
    train = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict(frames)
    predict = time.perf_counter() - start
    rest = [f for f in candidates if f not in set(picks)]
    out = {"clip": name, "seed": seed, "device": str(resolve_device("auto")), "frames": len(frames),
           "size": f"{frames.size[0]}x{frames.size[1]}",
           "input": "x".join(map(str, model.input_size_)),
           "windows": "x".join(map(str, getattr(model, "crop_", None) or ())) or "whole",
           "epochs": len(model.history_), "train_s": train, "predict_s": predict,
           "fps": len(frames) / predict, "total_s": train + predict}
    pooled = evaluate(pred, truth, rest)
    out.update(recall=pooled["recall"], precision=pooled["precision"],
               tight=pooled["tight_rate"])
    if len(truth.classes) > 1:
        by_class = evaluate_by_class(pred, truth, rest)
        for c in truth.classes:
            out.update({f"{c} recall": by_class.loc[c, "recall"],
                        f"{c} precision": by_class.loc[c, "precision"],
                        f"{c} tight": by_class.loc[c, "tight_rate"]})
    return out


def rounds(seed: int) -> None:
    """The crowd's loop: the first pass, then two warm-started rounds, seconds per round."""
    import mm_widgets as mm

    frames, truth = load("synthetic")
    report = mm.simulate(frames, truth, first_labels=5, rounds=3, seed=seed)
    cols = ["round", "labels", "recall", "precision", "tight_rate", "efficiency",
            "train_seconds", "predict_seconds"]
    print("\nsynthetic crowd, the loop (oracle review, 3 rounds):")
    print(report.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def run_here(clips, seeds, settings) -> list[dict]:
    warnings.filterwarnings("ignore", message="no pretrained")
    rows = []
    for name in clips:
        for seed in seeds:
            row = first_pass(name, seed, settings)
            if row is not None:
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def summary(rows: list[dict]) -> pd.DataFrame:
    """One column per clip: the mean over seeds (and, with several seeds, the lowest and
    highest recall, precision and tight rate)."""
    frame = pd.DataFrame(rows)
    out = {}
    for clip, runs in frame.groupby("clip", sort=False):
        col = {}
        for key in runs.columns.drop(["clip", "seed"]):
            values = runs[key]
            if pd.api.types.is_numeric_dtype(values):
                col[key] = f"{values.mean():.3f}" if values.dtype.kind == "f" else str(values.iloc[0])
                if len(runs) > 1 and values.dtype.kind == "f" and not key.endswith("_s") \
                        and key != "fps":
                    col[key] += f" ({values.min():.3f}-{values.max():.3f})"
            else:
                col[key] = str(values.iloc[0])
        col["seeds"] = ",".join(str(v) for v in runs["seed"])
        out[clip] = col
    return pd.DataFrame(out)


def run_at(rev: str, clips, seeds) -> list[dict]:
    """The same first passes on git revision ``rev`` of this repository, in a subprocess."""
    root = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), rev],
                       check=True, capture_output=True)
        try:
            env = dict(os.environ, PYTHONPATH=str(tree))
            done = subprocess.run([sys.executable, __file__, "--json", "--seeds",
                                   *map(str, seeds), "--clips", *clips], env=env, cwd=tmp,
                                  check=True,
                                  stdout=subprocess.PIPE, text=True)
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)
    # the last line: a once-a-session notice (training from scratch) is printed before it
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", default=CLIPS, choices=CLIPS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds to run (quality figures are noisy: box edges of a 5-frame "
                        "model move by a few pixels from one seed to the next)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overfit() settings for the 'now' runs, e.g. imgsz=192")
    parser.add_argument("--before", metavar="REV", help="also run git revision REV")
    parser.add_argument("--rounds", action="store_true", help="the crowd's loop too")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = {}
    for item in args.set:
        key, value = item.split("=", 1)
        settings[key] = int(value) if value.lstrip("-").isdigit() else value
    if args.json:  # the subprocess of --before
        print(json.dumps(run_here(args.clips, args.seeds, {})))
        return
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} cores)")
    tables = {}
    if args.before:
        tables[f"before ({args.before})"] = run_at(args.before, args.clips, args.seeds)
    now = "now" + (f" ({' '.join(args.set)})" if args.set else "")
    tables[now] = run_here(args.clips, args.seeds, settings)
    for title, rows in tables.items():
        print(f"\n{title}:")
        print(summary(rows).to_string())
    if args.rounds:
        rounds(args.seeds[0])


if __name__ == "__main__":
    main()
