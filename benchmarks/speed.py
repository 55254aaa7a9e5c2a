"""Issue 25's table: first pass, warm rounds and review memory, before -> now in one run.

For each clip: 5 diverse labelled frames (from the frames that have truth), ``overfit()``
with its defaults (and the ``--set`` settings), then predictions on every frame. Measured:
seconds to train and to predict every frame (decoding included), frames/s, epochs, and
recall, precision and tight rate (IoU >= 0.75) on the frames with truth nobody labelled.
``--before REV`` runs the same, in a subprocess, on git revision REV of this repository
(checked out into a temporary worktree; ``--before-set`` are its settings, handed over as
JSON, so ``--before HEAD --before-set weights=scratch --set weights=headstart`` compares
two settings of the same code). One table then gives every figure as before -> now with
the ratio now/before, issue 25's target where it set one, and whether "now" meets it.
The rows of each run go to stderr as JSON lines; ``--out PATH`` keeps the table in a JSON
file (one entry per clip and setting, with the commit and command, as
``benchmarks/figures.py`` records them).

Clips: ``bunny``, ``carphone``, ``bikes`` (the sample clips and their truth),
``cockatoo`` and ``megamind`` (``../shared/data/clips/``, truth made by eye for this
project in ``benchmarks/truth/``; cockatoo's covers every 10th frame), ``synthetic`` (the
crowd: 150 frames of 768x576, two classes, 5-9 objects 20-90 px tall, exact truth).

``--rounds``: the crowd's loop (``simulate()``, oracle review, 3 rounds) before and now;
rounds 2 and 3 are warm-started, and their seconds (train + predict) are a row.
``--memory``: ``benchmarks/long_scene.py`` (5,402 frames of wannaworktogether.mp4) in a
subprocess for now and before, its printed peak RSS a row. For the before revision it runs
today's long_scene.py on that revision's package, and that revision's own long_scene.py
if today's fails there (an older API); the row says which ran.
``--device cpu|cuda|auto`` goes to ``overfit()`` in both runs; the title names the device.
``make test`` on a fresh clone, the issue's last row, is not measured here.

    .venv/bin/python benchmarks/speed.py --before af72edb [--clips ...] [--seeds 0 1 2]
        [--rounds] [--memory] [--device cuda] [--set weights=headstart] [--out PATH]

Run it alone: training runs that share the cores slow each other down several times.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
CLIPS_DIR = SHARED / "data" / "clips"
CLIPS = ["bunny", "carphone", "bikes", "cockatoo", "megamind", "synthetic"]
sys.path.insert(0, str(HERE))
from figures import provenance  # noqa: E402  (where a recorded run happened, one place)

#: the table's figures per clip: key in a run's row, name, unit, digits, with a ratio
FIGURES = [
    ("total_s", "first pass s (5 labels, train + predict every frame)", "s", 1, True),
    ("train_s", "of which training", "s", 1, True),
    ("fps", "prediction frames/s (decoding included)", "frames/s", 0, True),
    ("epochs", "epochs", "", 0, False),
    ("recall", "recall", "", 3, False),
    ("precision", "precision", "", 3, False),
    ("tight", "tight rate (IoU >= 0.75)", "", 3, False),
]
#: issue 25's targets: (clip, key) -> (<= or >=, bound, unit)
TARGETS = {
    ("bunny", "total_s"): ("<=", 20, "s"),
    ("synthetic", "total_s"): ("<=", 60, "s"),
    ("synthetic", "fps"): (">=", 60, "frames/s"),
    ("synthetic", "warm_s"): ("<=", 20, "s each"),
    ("long scene", "peak_mb"): ("<=", 1024, "MB"),
}


def load(name: str, limit: int | None = None):
    """(frames, truth) or None when the clip is not on this machine; ``limit``: the first
    frames only (a quick check of this script)."""
    import mm_widgets as mm
    from mm_widgets.samples import load_sample, load_sample_truth, synthetic_crowd

    if name == "synthetic":
        return synthetic_crowd(limit or 150, (768, 576), objects=13, seed=1)
    if name in ("bunny", "carphone", "bikes"):
        frames, truth = load_sample(name), load_sample_truth(name)
    else:
        path = CLIPS_DIR / {"megamind": "megamind.avi", "cockatoo": "cockatoo.mp4"}[name]
        if not path.exists():
            print(f"{name}: skipped, {path} is not there (the shared clips live beside the "
                  "project, in ../shared/data/clips/)", file=sys.stderr)
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
    if limit:
        frames, truth = frames[:limit], truth.subset(range(limit))
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


def finite(value):
    """A float, or None for a figure that is not there (NaN: JSON has none)."""
    value = float(value)
    return None if math.isnan(value) else value


def first_pass(name: str, seed: int, settings: dict, limit: int | None) -> dict | None:
    import mm_widgets as mm
    from mm_widgets.metrics import evaluate, evaluate_by_class
    from mm_widgets.models.training import resolve_device

    loaded = load(name, limit)
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
    out = {"clip": name, "seed": seed,
           "device": str(resolve_device(settings.get("device", "auto"))), "frames": len(frames),
           "size": f"{frames.size[0]}x{frames.size[1]}",
           "input": "x".join(map(str, model.input_size_)),
           "windows": "x".join(map(str, getattr(model, "crop_", None) or ())) or "whole",
           "epochs": len(model.history_), "train_s": train, "predict_s": predict,
           "fps": len(frames) / predict, "total_s": train + predict}
    pooled = evaluate(pred, truth, rest)
    out.update(recall=finite(pooled["recall"]), precision=finite(pooled["precision"]),
               tight=finite(pooled["tight_rate"]))
    if len(truth.classes) > 1:
        by_class = evaluate_by_class(pred, truth, rest)
        for c in truth.classes:
            out.update({f"{c} recall": finite(by_class.loc[c, "recall"]),
                        f"{c} precision": finite(by_class.loc[c, "precision"]),
                        f"{c} tight": finite(by_class.loc[c, "tight_rate"])})
    return out


def rounds(seed: int, settings: dict, limit: int | None) -> list[dict]:
    """The crowd's loop: the first pass, then two warm-started rounds; a row per round."""
    import mm_widgets as mm

    frames, truth = load("synthetic", limit)
    # the tracker walk beside the loop takes minutes and no part of a round's seconds
    quiet = {"baselines": ("interpolate",)} if "baselines" in inspect.signature(
        mm.simulate).parameters else {}
    report = mm.simulate(frames, truth, first_labels=5, rounds=3, seed=seed, progress=False,
                         **quiet, **settings)
    out = []
    for row in report.table.to_dict("records"):
        if row["round"] >= 1:
            out.append({"round": int(row["round"]), "warm": bool(row["round"] >= 2),
                        "labels": int(row["labels"]),
                        **{k: finite(row[k]) for k in ("recall", "precision", "tight_rate",
                                                       "efficiency")},
                        "train_s": row["train_seconds"], "predict_s": row["predict_seconds"],
                        "total_s": row["train_seconds"] + row["predict_seconds"]})
            print(json.dumps({"clip": "synthetic loop", **out[-1]}), file=sys.stderr, flush=True)
    return out


def run_here(args, settings: dict) -> dict:
    """First passes (and the crowd's rounds) with the package this process imports."""
    warnings.filterwarnings("ignore", message="no pretrained")
    rows = []
    for name in args.clips:
        for seed in args.seeds:
            row = first_pass(name, seed, settings, args.frames)
            if row is not None:
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    loop = rounds(args.seeds[0], settings, args.frames) if args.rounds else []
    return {"rows": rows, "rounds": loop}


def peak_rss(package: Path, env: dict) -> dict:
    """``long_scene.py`` on the package in ``package`` (a subprocess): its peak RSS line."""
    failures = []
    for script in dict.fromkeys([HERE / "long_scene.py", package / "benchmarks" / "long_scene.py"]):
        if not script.exists():
            continue
        # Through a shell that forks: a process exec'd straight from this one starts with
        # this one's RSS as its ru_maxrss (Linux keeps the high-water mark across exec),
        # which long_scene.py reads (it printed 1280 MB, its own steps peaking at 586).
        done = subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", sys.executable, str(script)],
                              env=env, cwd=package, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        sys.stderr.write(done.stdout)
        found = re.search(r"^peak RSS: (\d+) MB.*during: (.*)$", done.stdout, flags=re.M)
        which = "today's" if script == HERE / "long_scene.py" else "its own"
        if done.returncode == 0 and found:
            return {"peak_mb": float(found[1]), "during": found[2].strip(), "script": which,
                    "tried first": failures}
        last = (done.stdout.strip().splitlines() or ["no output"])[-1]
        failures.append(f"{which} long_scene.py: exit {done.returncode}, {last[:160]}")
    return {"peak_mb": None, "failed": "; ".join(failures) or "no long_scene.py"}


def run_at(rev: str, args, settings: dict) -> dict:
    """:func:`run_here` (and :func:`peak_rss`) on git revision ``rev``, in a subprocess that
    runs this file with that revision's package first on its path."""
    root = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), rev],
                       check=True, capture_output=True)
        try:
            env = dict(os.environ, PYTHONPATH=str(tree))
            command = [sys.executable, __file__, "--json", json.dumps(settings), "--seeds",
                       *map(str, args.seeds), "--clips", *args.clips]
            command += (["--rounds"] if args.rounds else []) + (
                ["--frames", str(args.frames)] if args.frames else [])
            done = subprocess.run(command, env=env, cwd=tmp, stdout=subprocess.PIPE, text=True)
            if done.returncode != 0:
                raise SystemExit(f"the run at {rev} failed (exit {done.returncode}): its error "
                                 "is above")
            # the last line: a once-a-session notice may be printed to stdout before it
            out = json.loads(done.stdout.strip().splitlines()[-1])
            if args.memory:  # a revision's own long_scene.py finds the clips beside its tree
                (Path(tmp) / "shared").symlink_to(SHARED)
                out["memory"] = peak_rss(tree, env)
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                           check=False, capture_output=True)
    return out


def figure(clip, key, name, unit, digits, ratio, before, now, detail="") -> dict:
    """One row of the table: the mean of each side's runs, the ratio, the target and
    whether now meets it (a target "each" holds for every run)."""
    ran_before = bool(before)
    before = [v for v in before if v is not None]
    now = [v for v in now if v is not None]
    mean = {side: sum(v) / len(v) if v else None for side, v in (("before", before),
                                                                  ("now", now))}
    both = ratio and mean["before"] and mean["now"] is not None
    row = {"clip": clip, "key": key, "figure": name, "unit": unit, **mean,
           "before runs": before, "now runs": now,
           "ratio": mean["now"] / mean["before"] if both else None, "target": None, "met": None}
    if (clip, key) in TARGETS and now:
        op, bound, text = TARGETS[clip, key]
        judged = now if text.endswith("each") else [mean["now"]]
        row["target"] = f"{op} {bound} {text}"
        row["met"] = all(v <= bound if op == "<=" else v >= bound for v in judged)

    def cell(values, m):  # the mean, and the lowest and highest run unless detail says each
        if not values:
            return "n/a"
        low, high = (f"{v:.{digits}f}" for v in (min(values), max(values)))
        return f"{m:.{digits}f}" + (f" [{low}-{high}]" if low != high and not detail else "")

    text = cell(now, mean["now"])
    if ran_before:
        text = f"{cell(before, mean['before'])} -> {text}"
    row["text"] = f"{text} {unit}".strip() + (f" ({detail})" if detail else "")
    return row


def table(before: dict | None, now: dict) -> list[dict]:
    """The rows: every figure of every clip, the crowd's warm rounds, the review's memory."""
    before = before or {"rows": [], "rounds": []}
    out = []
    clips = dict.fromkeys(r["clip"] for r in before["rows"] + now["rows"])
    for clip in clips:
        runs = [[r for r in side["rows"] if r["clip"] == clip] for side in (before, now)]
        for key, name, unit, digits, ratio in FIGURES:
            out.append(figure(clip, key, name, unit, digits, ratio,
                              *([r.get(key) for r in side] for side in runs)))
    if now["rounds"]:
        warm = [[r["total_s"] for r in side["rounds"] if r["warm"]] for side in (before, now)]
        each = " -> ".join(", ".join(f"{v:.1f}" for v in side) for side in warm if side)
        out.append(figure("synthetic", "warm_s", "warm-started round s (train + predict)", "s",
                          1, True, *warm, detail=f"rounds 2, 3: {each}"))
    if "memory" in now:
        sides = [side.get("memory", {}) for side in (before, now)]
        notes = [f"{who}: {m['failed']}" if m.get("failed") else
                 f"{who}: peak during {m['during']}, {m['script']} long_scene.py"
                 for who, m in zip(("before", "now"), sides) if m]
        out.append(figure("long scene", "peak_mb", "review peak RSS (long_scene.py, 5,402 "
                          "frames)", "MB", 0, True, *([m.get("peak_mb")] for m in sides),
                          detail="; ".join(notes)))
    return out


def device_name(device: str) -> str:
    import torch

    from mm_widgets.models.training import resolve_device

    resolved = resolve_device(device)
    if resolved.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(resolved)})"
    return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"


def show(rows: list[dict]) -> str:
    lines = ["| clip | figure | before -> now | now/before | target (issue 25) | now |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
        met = {True: "met", False: "MISSED", None: ""}[r["met"]]
        lines.append(f"| {r['clip']} | {r['figure']} | {r['text']} | {ratio} | "
                     f"{r['target'] or ''} | {met} |")
    return "\n".join(lines)


def keep(path: Path, rows: list[dict], runs: dict, about: dict) -> None:
    """Write the table to ``path``: an entry per clip (replacing that clip's entry of the
    same setting), each with this run's settings, rows, runs and provenance."""
    kept = json.loads(path.read_text()) if path.exists() else {}
    where = provenance()
    for clip in dict.fromkeys(r["clip"] for r in rows):
        key = f"{clip} {about['setting']}"
        kept[key] = {"clip": clip, **about, "rows": [r for r in rows if r["clip"] == clip],
                     "runs": {side: value.get("memory") if clip == "long scene" else
                              [r for r in value["rows"] if r["clip"] == clip]
                              + (value["rounds"] if clip == "synthetic" else [])
                              for side, value in runs.items() if value}, **where}
    path.write_text(json.dumps(dict(sorted(kept.items())), indent=1) + "\n")


def parse_settings(items: list[str]) -> dict:
    """KEY=VALUE pairs: a JSON value (2, 0.5, false) or else the string as given."""
    settings = {}
    for item in items:
        key, value = item.split("=", 1)
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def said(settings: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in settings.items() if k != "device")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", default=CLIPS, choices=CLIPS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds to run (quality figures are noisy: box edges of a 5-frame "
                        "model move by a few pixels from one seed to the next)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overfit() settings for the 'now' runs, e.g. imgsz=192")
    parser.add_argument("--before", metavar="REV", help="also run git revision REV")
    parser.add_argument("--before-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overfit() settings for the --before runs")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="overfit()'s device in both runs")
    parser.add_argument("--rounds", action="store_true", help="the crowd's loop too")
    parser.add_argument("--memory", action="store_true",
                        help="long_scene.py's peak RSS too (its own training included)")
    parser.add_argument("--out", type=Path, metavar="PATH", help="keep the table in PATH")
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)  # first N frames only
    parser.add_argument("--json", metavar="SETTINGS", help=argparse.SUPPRESS)  # --before's child
    args = parser.parse_args()
    if args.json is not None:
        print(json.dumps(run_here(args, json.loads(args.json))))
        return
    settings, before_settings = parse_settings(args.set), parse_settings(args.before_set)
    if "device" in settings or "device" in before_settings:
        parser.error("the device is --device (both runs), not a --set")
    settings["device"] = before_settings["device"] = args.device
    device, where = device_name(args.device), provenance()
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} cores)", flush=True)
    before_name = "not run (--before REV)"
    if args.before:  # the commit now: others may commit while this runs
        commit = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short",
                                 args.before], capture_output=True, text=True).stdout.strip()
        if not commit:
            parser.error(f"--before {args.before}: git knows no such revision")
        before_name = f"{args.before} ({commit}) {said(before_settings)}".rstrip()
    runs = {"before": run_at(commit, args, before_settings) if args.before else None}
    runs["now"] = run_here(args, settings)
    if args.memory:
        runs["now"]["memory"] = peak_rss(HERE.parent, dict(os.environ))
    rows = table(runs["before"], runs["now"])
    now_name = f"working tree at {where['commit']}" + (" (uncommitted: " + ", ".join(
        where["uncommitted"]) + ")" if where["uncommitted"] else "")
    print(f"\nIssue 25 on {device}, seeds {' '.join(map(str, args.seeds))}"
          + (f", first {args.frames} frames only" if args.frames else ""))
    print(f"before: {before_name}\nnow: {now_name} {said(settings)}".rstrip() + "\n")
    print(show(rows))
    print("\nmake test on a fresh clone (the issue's last row): not measured here; "
          "time `make test` in a fresh clone." + ("" if args.memory else
          " Review peak RSS: --memory (benchmarks/long_scene.py).")
          + ("" if args.rounds else " Warm-started rounds: --rounds."))
    if args.out:
        setting = (f"{device.split()[0]} before={before_name}; "
                   f"now {said(settings)}; seeds={','.join(map(str, args.seeds))}")
        setting = " ".join(setting.split())
        keep(args.out, rows, runs, {"device": device, "setting": setting, "before": before_name,
                                    "now": now_name, "before settings": before_settings,
                                    "now settings": settings, "seeds": args.seeds,
                                    "frames limit": args.frames})
        print(f"kept in {args.out}")


if __name__ == "__main__":
    main()
