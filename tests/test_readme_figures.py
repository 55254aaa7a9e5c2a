"""The README's figures are ones a command printed, and it says what `make test` runs.

A table after ``<!-- table: benchmarks/results/<name>.json -->`` is generated from that file
(``benchmarks/figures.py``), and every entry of the file comes from a run: its command, its
commit, and, where the run's output was kept as a log, the very figures the log holds.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
_spec = importlib.util.spec_from_file_location("bench_figures", ROOT / "benchmarks" / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)


def test_readme_tables_are_what_the_results_files_hold():
    names = [name for name, _, _ in figures.readme_tables(README)]
    assert "propagation" in names
    assert figures.stale_tables(README) == []


def test_a_figure_typed_over_a_generated_table_is_found():
    (name, start, end), *_ = figures.readme_tables(README)
    table = README[start:end]
    changed = table.replace("**0.992**", "**0.993**")  # carphone's loop after round 2
    assert changed != table
    assert figures.stale_tables(README[:start] + changed + README[end:]) == [name]


def results():
    return {p.stem: json.loads(p.read_text()) for p in (ROOT / "benchmarks" / "results").glob("*.json")}


def test_every_recorded_figure_names_its_run_and_logged_ones_are_the_log():
    found = results()
    assert found
    for entries in found.values():
        for key, entry in entries.items():
            assert entry["commit"] and entry["command"], key
            if entry.get("log"):
                log = ROOT / entry["log"]
                assert log.is_file(), key
                from_log = dict(figures.parse_propagation_log(log.read_text()))
                kept = {k: v for k, v in entry.items() if k in from_log[key]}
                assert kept == json.loads(json.dumps(from_log[key])), key


def test_the_log_parser_reads_a_printed_run():
    log = """
== carphone (120 frames, 120 boxes, fused, first labels 1, 97 s)
 round  labels  actions  efficiency  interp_efficiency  tracker_efficiency
     0       1        1       0.000                NaN                 NaN
     1      61        1       0.984              0.918               0.975
target (>= tracker walk and interpolation, +0.05 where the walk is below 0.90): 0.975; loop 0.984: met
120 labels by hand: 14.0 minutes; with micro-models: 3.3 minutes
"""
    ((key, entry),) = figures.parse_propagation_log(log)
    assert key == "carphone proposals=fused first_labels=1 rounds=2 strategy=auto seed=0"
    assert (entry["frames"], entry["boxes"], entry["seconds"]) == (120, 120, 97)
    assert entry["rows"][1] == {"round": 1, "labels": 61, "actions": 1, "efficiency": 0.984,
                                "interp_efficiency": 0.918, "tracker_efficiency": 0.975}
    assert entry["rows"][0]["interp_efficiency"] is None
    assert (entry["target"], entry["target_met"]) == (0.975, True)
    assert entry["human_time"].startswith("120 labels by hand")


def test_five_first_labels_sentence_is_the_recorded_run():
    sentence = re.search(r"With five first labels .*?cockatoo [\d.]+", README, flags=re.S).group(0)
    prop = results()["propagation"]
    for clip in ("bunny", "carphone", "cockatoo"):
        entry = prop[f"{clip} proposals=fused first_labels=5 rounds=2 strategy=auto seed=0"]
        assert f"{clip} {entry['rows'][-1]['efficiency']:.3f}" in sentence


def test_mask_tables_are_the_recorded_runs():
    # the Masks section's first-pass rows and loop rows, typed from benchmarks/masks.py's runs
    masks = results()["masks"]
    for clip, name in (("cockatoo", "cockatoo, 23 held-out frames"),
                       ("synthetic", "synthetic shapes, 55 held-out frames of 320x240, 283 masks")):
        model, interp = masks[f"{clip} first pass first_labels=5 seed=0"]["rows"]
        assert (f"| {name} | micro-model | {model['recall']:.3f} | {model['precision']:.3f} | "
                f"{model['tight rate']:.3f} | {model['mean mask IoU']:.3f} |") in README
        assert (f"| | carried outlines | {interp['recall']:.3f} | {interp['precision']:.3f} | "
                f"{interp['tight rate']:.3f} |") in README
        loop = masks[f"{clip} loop first_labels=5 rounds=2 seed=0"]
        one, two = loop["rounds"][1], loop["rounds"][2]
        label = "cockatoo" if clip == "cockatoo" else "synthetic shapes"
        assert (f"| {label} | {one['efficiency']:.3f} → **{two['efficiency']:.3f}** | "
                f"{one['interpolation efficiency']:.3f} → {two['interpolation efficiency']:.3f} | "
                f"{loop['ceiling']:.3f} |") in README


def settings_of(path: str, pattern: str) -> tuple[int, int]:
    """(with MM_FAST=1, without) as the test file writes them."""
    fast, long = re.search(pattern, (ROOT / path).read_text()).groups()
    return int(fast), int(long)


def test_readme_says_what_make_test_and_make_test_long_run():
    kills = settings_of("tests/reliability/test_kills.py",
                        r'kills = (\d+) if os.environ.get\("MM_FAST"\) else (\d+)')
    examples = settings_of("tests/test_review.py",
                           r'max_examples=(\d+) if os.environ.get\("MM_FAST"\) == "1" else (\d+)')
    text = " ".join(README.split())
    assert (f"`make test` runs the suite with `MM_FAST=1`: the kill test "
            f"(`tests/reliability/test_kills.py`) kills the labelling process {kills[0]} times"
            in text)
    assert f"runs {examples[0]} random examples" in text
    assert (f"`make test-long`, run before a release, runs the same suite with the long "
            f"settings: {kills[1]} kills and {examples[1]} examples" in text)


@pytest.mark.parametrize("target, fast", [("test", True), ("test-long", False)])
def test_make_test_targets_run_pytest_with_their_settings(target, fast):
    result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (line,) = [ln for ln in result.stdout.splitlines() if "-m pytest" in ln]
    assert line.startswith("MM_FAST=1 ") == fast
    assert fast or line.startswith("env -u MM_FAST ")
    assert "scripts/offline" in line
