"""The assembly line: shots, per-shot micro-models vs one model, and scaling out.

1. Shot truth for bikes.mp4 was made by eye (cuts before frames 30, 76, 137, 187, 242; see
   tests/test_assembly.py); object truth is the hand-made bicycle boxes
   (mm_widgets/sample_truth/bikes_boxes.csv, how it was made is its first line).
   Prints split_shots' cuts against that truth and its time.
2. Per-shot micro-models against one micro-model for the whole clip at the same human
   budget (k labelled frames per shot vs k x shots for the clip, then one review round),
   label efficiency and recall for both.
3. Wall time of AssemblyLine.fit for 4 domains (the bunny clip cut into 4 ranges, 3
   labelled frames each), serial vs a 2-worker ProcessPoolExecutor (target <= 0.65x).

    .venv/bin/python benchmarks/assembly.py [--k 3] [--epochs 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import mm_widgets as mm

TRUE_CUTS = [30, 76, 137, 187, 242]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=3, help="labelled frames per shot")
    parser.add_argument("--epochs", type=int, default=20, help="epochs for the scaling test")
    parser.add_argument("--only-scaling", action="store_true", help="skip parts 1 and 2")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)

    if not args.only_scaling:
        compare_shots(args.k)
    scaling(args.epochs)


def compare_shots(k: int) -> None:
    frames = mm.load_sample("bikes")
    [frames[i] for i in range(len(frames))]  # decode once: time the splitting alone
    start = time.perf_counter()
    shots = mm.split_shots(frames)
    found = [s.start for s in shots[1:]]
    print(f"split_shots on bikes ({len(frames)} frames, decoded): {time.perf_counter() - start:.2f} s; "
          f"cuts {found}, by-eye truth {TRUE_CUTS}: {'exact' if found == TRUE_CUTS else 'DIFFERENT'}")

    truth = mm.load_sample_truth("bikes")
    per_shot = mm.simulate(frames, truth, domains=shots, first_labels=k, rounds=1)
    whole = mm.simulate(frames, truth, first_labels=k * len(shots), rounds=1)
    for name, report in [(f"one micro-model per shot ({k}/shot)", per_shot),
                         (f"one micro-model for the clip ({k * len(shots)} frames)", whole)]:
        r = report.table.iloc[-1]
        print(f"{name:44s} recall {r['recall']:.3f} precision {r['precision']:.3f} "
              f"human actions {int(r['cumulative_actions'])} labels {int(r['labels'])} "
              f"efficiency {r['efficiency']:.3f} train {r['train_seconds']:.0f} s")
    print(per_shot.domains[per_shot.domains["round"] == 1][
        ["domain", "human_actions", "labels", "recall", "precision", "efficiency"]].round(3)
        .to_string(index=False))


def scaling(epochs: int) -> None:
    bunny, btruth = mm.load_sample("bunny"), mm.load_sample_truth("bunny")
    domains = [range(i, min(i + 33, len(bunny))) for i in range(0, len(bunny), 33)]

    def line():
        labels = mm.LabelSet(["bunny"], size=bunny.size, n_frames=len(bunny))
        built = mm.AssemblyLine(epochs=epochs)
        for d in domains:
            sub = bunny[d.start:d.stop]
            for off in mm.select_frames(sub, count=3):
                labels.set_boxes(d.start + off, btruth.boxes(d.start + off))
            built.add(d, labels, frames=bunny)
        return built

    start = time.perf_counter()
    serial = line().fit().predict()
    serial_s = time.perf_counter() - start
    os.environ["MM_WIDGETS_WORKER_THREADS"] = "1"  # two workers on two cores: one thread each
    start = time.perf_counter()
    # "spawn": a worker forked from a process whose torch thread pool already ran hangs.
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parallel = line().fit(executor=pool).predict(executor=pool)
    parallel_s = time.perf_counter() - start
    same = serial[["frame", "label"]].equals(parallel[["frame", "label"]])
    print(f"AssemblyLine with {len(domains)} domains: serial {serial_s:.1f} s, 2-worker pool "
          f"{parallel_s:.1f} s = {parallel_s / serial_s:.2f}x (target <= 0.65x); "
          f"same boxes found: {same}")


if __name__ == "__main__":
    main()
