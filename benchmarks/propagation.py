"""Beat the tracker: the loop with propagation beside keyframe interpolation and the
tracker-assisted walk, per clip and round, under the one counting rule.

For every clip with truth: ``simulate(first_labels=N, rounds=2)`` with today's defaults
(proposals fused from the model's boxes and the boxes carried from confirmed frames,
frames reviewed in clip order), and in the same report its two baselines:

- keyframe interpolation as a loop of its own (``interp_*``): the same first boxes, as
  many frames confirmed a round, keyframes halving the longest gaps first, every frame's
  boxes interpolated from every frame confirmed before it;
- the tracker-assisted walk (``tracker_*``): every frame in order, one OpenCV CSRT tracker
  per box, a tracker restarted from every box the person adjusted or drew.

Human time for all three from the same :class:`mm_widgets.ActionTimes` (published
defaults). ``--proposals`` compares what the oracle is shown (``fused``, the model's
boxes alone ``detections``, carried boxes alone ``carried``), ``--first-labels`` the number
of frames drawn by hand first, ``--strategy`` the review order.

Clips: ``bunny``, ``carphone`` (sample clips and their truth), ``cockatoo`` (every 10th
frame: the frames its truth covers, ``../shared/data/clips/``), ``megamind`` (one model,
and ``megamind-shots``: one per shot), ``synthetic`` (the crowd of ``benchmarks/crowd.py``)
and ``curved`` (the same kind of crowd whose objects curve, speed up, stop and pass behind
each other).

    .venv/bin/python benchmarks/propagation.py [--clips bunny carphone ...] [--first-labels 1]
        [--rounds 2] [--proposals fused detections carried] [--strategy sequential]

Run it alone (``flock /tmp/mm_cpu.lock ...``): training runs sharing the two cores slow
each other down several times (the efficiencies do not depend on it; the seconds do).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import mm_widgets as mm
from mm_widgets.samples import synthetic_crowd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from figures import propagation_key, record  # noqa: E402  (the results files, one place)

CLIPS_DIR = HERE.parent.parent / "shared" / "data" / "clips"
CLIPS = ["bunny", "carphone", "cockatoo", "megamind", "megamind-shots", "synthetic", "curved"]


def load(name: str):
    """(frames, truth) or None when the clip is not on this machine."""
    if name in ("bunny", "carphone"):
        return mm.load_sample(name), mm.load_sample_truth(name)
    if name == "synthetic":
        return synthetic_crowd(150, (768, 576), objects=13, seed=1)
    if name == "curved":
        return synthetic_crowd(150, (768, 576), objects=13, seed=2, motion="curved")
    base = name.split("-")[0]
    path = CLIPS_DIR / {"megamind": "megamind.avi", "cockatoo": "cockatoo.mp4"}[base]
    if not path.exists():
        print(f"\n== {name}: skipped, {path.name} is not at {path} (the shared clips live "
              "beside the project, in ../shared/data/clips/)")
        return None
    stride = 10 if base == "cockatoo" else 1  # cockatoo's truth: every 10th frame
    frames = mm.Frames.from_video(path, stride=stride)
    table = pd.read_csv(HERE / "truth" / f"{base}_boxes.csv", comment="#")
    table["frame"] //= stride
    truth = mm.LabelSet.from_df(table, sorted(table["label"].unique()), size=frames.size,
                                n_frames=len(frames), looked_at=range(len(frames)))
    return frames, truth


COLUMNS = ["clip", "proposals", "round", "labels", "actions", "efficiency", "interp_efficiency",
           "tracker_efficiency", "human_min", "interp_human_min", "tracker_human_min",
           "recall", "precision", "tight_rate", "train_s"]


def run(name: str, proposals: str, args) -> list[dict]:
    loaded = load(name)
    if loaded is None:
        return []
    frames, truth = loaded
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "training from scratch" once per model
        report = mm.simulate(frames, truth, first_labels=args.first_labels, rounds=args.rounds,
                             strategy=args.strategy, proposals=proposals, seed=args.seed,
                             domains="shots" if name.endswith("-shots") else None,
                             progress=False)
    seconds = time.perf_counter() - start
    t = report.table
    rows = []
    for _, row in t.iterrows():
        rows.append({
            "clip": name, "proposals": proposals, "round": int(row["round"]),
            "labels": int(row["labels"]), "actions": int(row["cumulative_actions"]),
            "efficiency": row["efficiency"], "interp_efficiency": row["interp_efficiency"],
            "tracker_efficiency": row["tracker_efficiency"],
            "human_min": row["human_seconds"] / 60,
            "interp_human_min": row["interp_human_seconds"] / 60,
            "tracker_human_min": row["tracker_human_seconds"] / 60,
            "recall": row["recall"], "precision": row["precision"],
            "tight_rate": row["tight_rate"], "train_s": row["train_seconds"]})
    last = t.iloc[-1]
    print(f"\n== {name} ({len(frames)} frames, {len(truth)} boxes, {proposals}, "
          f"first labels {args.first_labels}, {seconds:.0f} s)")
    print(pd.DataFrame(rows, columns=COLUMNS).drop(columns=["clip", "proposals"])
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    entry = {"clip": name, "frames": len(frames), "boxes": len(truth), "rows": rows,
             "seconds": round(seconds), "target": None, "target_met": None}
    if pd.notna(last["tracker_efficiency"]):
        best = max(last["tracker_efficiency"], last["interp_efficiency"])
        goal = best + (0.05 if last["tracker_efficiency"] < 0.90 else 0.0)
        verdict = "met" if last["efficiency"] >= goal - 1e-9 else "MISSED"
        print(f"target (>= tracker walk and interpolation, +0.05 where the walk is below "
              f"0.90): {goal:.3f}; loop {last['efficiency']:.3f}: {verdict}")
        entry.update(target=round(float(goal), 3), target_met=verdict == "met")
    print(report.human_time)
    entry["human_time"] = report.human_time
    # the figures as printed (3 decimals), beside the commit and command (benchmarks/figures.py)
    entry["rows"] = [{k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()
                      if k not in ("clip", "proposals")} for row in rows]
    record("propagation", propagation_key(name, proposals, args.first_labels, args.rounds,
                                          args.strategy, args.seed), entry)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="+", default=CLIPS, choices=CLIPS)
    ap.add_argument("--first-labels", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--proposals", nargs="+", default=["fused"],
                    choices=["fused", "detections", "carried"])
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = []
    for name in args.clips:
        for proposals in args.proposals:
            rows += run(name, proposals, args)
    table = pd.DataFrame(rows, columns=COLUMNS)
    if len(table):
        last = table.sort_values("round").groupby(["clip", "proposals"], sort=False).tail(1)
        print("\n== after the last round")
        print(last[["clip", "proposals", "labels", "actions", "efficiency", "interp_efficiency",
                    "tracker_efficiency", "human_min", "interp_human_min", "tracker_human_min"]]
              .to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
