"""The figures the benchmarks print, kept in files, and the README's tables made from them.

A benchmark records what it printed with :func:`record` in ``benchmarks/results/<name>.json``
(one entry per clip and setting, each with the commit, the time and the command that
measured it; a run of some clips replaces those clips' entries only). A README table
generated from such a file follows a line ``<!-- table: benchmarks/results/<name>.json -->``;
``tests/test_readme_figures.py`` checks that every such table is exactly what this module
renders from the file, so a figure in it is always one a command printed.

    .venv/bin/python benchmarks/figures.py            # check the README's tables (exit 1: stale)
    .venv/bin/python benchmarks/figures.py --write    # rewrite them from the results files
    .venv/bin/python benchmarks/figures.py --from-log propagation LOG --started ISO --commit SHA

``--from-log`` records the figures of a run whose output was kept in a log (the run itself,
its time and its commit as given) and copies the log to ``benchmarks/results/logs/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- table: benchmarks/results/(\w+)\.json -->$", re.M)


# -- recording -------------------------------------------------------------------------------
def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.rstrip("\n")  # not strip(): porcelain lines start with a space
    except (OSError, subprocess.CalledProcessError):
        return ""


def provenance() -> dict:
    """Where and when a run happened: the commit, the files of the package and benchmarks
    changed since it (a dirty tree is said, not hidden), the UTC time, the command, the CPU."""
    dirty = _git("status", "--porcelain", "--", "mm_widgets", "benchmarks")
    return {"commit": _git("rev-parse", "--short", "HEAD"),
            "uncommitted": [line[3:] for line in dirty.splitlines()
                            if not line[3:].startswith("benchmarks/results/")],
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([".venv/bin/python", *sys.argv]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}


def _clean(value):
    """JSON has no NaN: a missing figure is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def record(name: str, key: str, entry: dict, source: dict | None = None) -> Path:
    """Keep ``entry`` (what a run printed) as ``key`` of ``benchmarks/results/<name>.json``,
    with its provenance (this run's, unless ``source`` says where it came from)."""
    results = load(name)
    results[key] = _clean({**entry, **(source or provenance())})
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(results.items())), indent=1) + "\n")
    tmp.replace(path)
    return path


# -- the propagation benchmark -----------------------------------------------------------------
#: clip -> its name in the README, in the README's order
PROPAGATION_CLIPS = {
    "bunny": "bunny", "carphone": "carphone", "cockatoo": "cockatoo (every 10th frame)",
    "megamind": "megamind, one model", "megamind-shots": "megamind, one model per shot",
    "synthetic": "synthetic crowd", "curved": "curved synthetic crowd",
}
#: the setting of the README's table (benchmarks/propagation.py --first-labels 1)
PROPAGATION_SETTING = "proposals=fused first_labels=1 rounds=2 strategy=auto seed=0"


def propagation_key(clip: str, proposals: str, first_labels: int, rounds: int, strategy: str,
                    seed: int) -> str:
    return (f"{clip} proposals={proposals} first_labels={first_labels} rounds={rounds} "
            f"strategy={strategy} seed={seed}")


def render_propagation(results: dict) -> str:
    """The README's propagation table: per clip and round, the loop's efficiency beside
    interpolation's own loop and the tracker walk, human minutes, and the target."""
    lines = ["| clip | frames, boxes | round | actions (total) | **loop** | keyframe interpolation "
             "| tracker walk | human minutes: loop / interpolation / tracker | target | |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for clip, name in PROPAGATION_CLIPS.items():
        entry = results.get(f"{clip} {PROPAGATION_SETTING}")
        if entry is None:
            continue
        rows = [r for r in entry["rows"] if r["round"] > 0]
        for k, row in enumerate(rows):
            last = k == len(rows) - 1
            loop = f"{row['efficiency']:.3f}"
            minutes = " / ".join(f"{row[c]:.1f}" for c in ("human_min", "interp_human_min",
                                                           "tracker_human_min"))
            target = verdict = ""
            if last and entry.get("target") is not None:
                target = f"{entry['target']:.3f}"
                verdict = "met" if entry["target_met"] else "**missed**"
            cells = [name if k == 0 else "", f"{entry['frames']}, {entry['boxes']}" if k == 0 else "",
                     str(row["round"]), str(row["actions"]), f"**{loop}**" if last else loop,
                     f"{row['interp_efficiency']:.3f}", f"{row['tracker_efficiency']:.3f}",
                     minutes, target, verdict]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


RENDER = {"propagation": render_propagation}

_HEADER = re.compile(r"^== (\S+) \((\d+) frames, (\d+) boxes, (\w+), first labels (\d+), (\d+) s\)$")
_TARGET = re.compile(r"^target .*: ([\d.]+); loop [\d.]+: (met|MISSED)$")


def parse_propagation_log(text: str) -> list[tuple[str, dict]]:
    """The entries a log of ``benchmarks/propagation.py`` holds: ``[(key, entry)]``, the
    figures exactly as printed (3 decimals). Rounds, strategy and seed: the defaults the
    log's command ran with (2, auto, 0)."""
    out = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        head = _HEADER.match(lines[k])
        if not head:
            k += 1
            continue
        clip, frames, boxes, proposals, first, seconds = head.groups()
        columns = lines[k + 1].split()
        rows, k = [], k + 2
        while k < len(lines) and lines[k].strip() and lines[k].split()[0].isdigit():
            values = [None if v == "NaN" else float(v) for v in lines[k].split()]
            row = dict(zip(columns, values, strict=True))
            for c in ("round", "labels", "actions"):
                row[c] = int(row[c])
            rows.append(row)
            k += 1
        entry = {"clip": clip, "frames": int(frames), "boxes": int(boxes), "rows": rows,
                 "seconds": int(seconds), "target": None, "target_met": None}
        target = _TARGET.match(lines[k]) if k < len(lines) else None
        if target:
            entry["target"], entry["target_met"] = float(target.group(1)), target.group(2) == "met"
            k += 1
        if k < len(lines) and " labels by hand: " in lines[k]:
            entry["human_time"] = lines[k]
        out.append((propagation_key(clip, proposals, int(first), 2, "auto", 0), entry))
    return out


# -- the README ------------------------------------------------------------------------------
def readme_tables(text: str) -> list[tuple[str, int, int]]:
    """``(name, start, end)`` of every generated table in the README text: the lines from
    the one after the marker to the first blank line."""
    found = []
    for m in MARKER.finditer(text):
        start = m.end() + 1
        end = text.find("\n\n", start)
        found.append((m.group(1), start, len(text) if end < 0 else end))
    return found


def stale_tables(text: str) -> list[str]:
    """The names of the README's generated tables that differ from their results file."""
    return [name for name, start, end in readme_tables(text)
            if text[start:end] != RENDER[name](load(name))]


def write_readme(path: Path = README) -> list[str]:
    """Rewrite the README's generated tables from the results files; returns their names."""
    text = path.read_text()
    for name, start, end in reversed(readme_tables(text)):
        text = text[:start] + RENDER[name](load(name)) + text[end:]
    path.write_text(text)
    return [name for name, _, _ in readme_tables(text)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the README's tables")
    ap.add_argument("--from-log", nargs=2, metavar=("BENCHMARK", "LOG"))
    ap.add_argument("--started", help="when the logged run started (UTC, ISO 8601)")
    ap.add_argument("--commit", help="the commit the logged run measured")
    ap.add_argument("--command", help="the command that printed the log")
    ap.add_argument("--note", default="", help="anything else the log does not say")
    args = ap.parse_args()
    if args.from_log:
        name, log = args.from_log
        if name != "propagation" or not (args.started and args.commit and args.command):
            ap.error("--from-log reads propagation logs, and needs --started, --commit "
                     "and --command")
        kept = RESULTS / "logs" / Path(log).name
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, kept)
        source = {"commit": args.commit, "started": args.started, "command": args.command,
                  "log": str(kept.relative_to(ROOT)), "note": args.note}
        for key, entry in parse_propagation_log(kept.read_text()):
            record(name, key, entry, source)
            print(f"recorded {key} from {kept.relative_to(ROOT)}")
        return
    if args.write:
        print("rewrote:", ", ".join(write_readme()) or "no generated table")
        return
    stale = stale_tables(README.read_text())
    for name in stale:
        print(f"README: the table after <!-- table: benchmarks/results/{name}.json --> is not "
              f"what the file holds; run .venv/bin/python benchmarks/figures.py --write")
    sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()
