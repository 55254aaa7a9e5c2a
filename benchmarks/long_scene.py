"""A long scene: wannaworktogether.mp4 (5,402 frames of 480x352, three minutes, dozens of
shots) from the shared clips, decoded, split, predicted, reviewed, simulated.

Prints, each with its target where the issue set one:

- decode index: seconds to open the file (``Frames.from_video``: a demux pass, no decoding);
- ``split_shots``: seconds, shots found, and the RSS it added;
- the micro-model: trained in a child process on the five frames of
  ``benchmarks/truth/wannaworktogether_disc.csv`` (the green disc, boxes by eye), so the
  training's own memory is not counted below; its seconds and input size;
- first prediction in this process (the lazy imports of what predicts are in it: ONNX
  Runtime for a model file that holds its exported graph, else torch too), and which heavy
  libraries the process has imported by then;
- ``review()`` and ``show()``: seconds until the widget is built, and how many frames the
  model had predicted by then (target: opens in <= 2 s, never after predicting every frame);
- predict: frames/s over the whole clip, decoding included (target >= 100 at 480x352);
- ``simulate()`` (keyframe interpolation as the model, one round) and an ``AssemblyLine``
  (one interpolation model per shot holding a labelled frame) over the whole clip: seconds;
- peak RSS of this process, and the step where it peaked (target <= 1 GB).

    .venv/bin/python benchmarks/long_scene.py [--model saved_model.pt]

Run it alone (two cores: anything else running changes every figure).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import psutil

HERE = Path(__file__).resolve().parent
CLIP = HERE.parent.parent / "shared" / "data" / "clips" / "wannaworktogether.mp4"
FIRST_LABELS = HERE / "truth" / "wannaworktogether_disc.csv"
MB = 2**20


def first_labels(frames):
    import mm_widgets as mm

    table = pd.read_csv(FIRST_LABELS, comment="#")
    return mm.LabelSet.from_df(table, ["disc"], size=frames.size, n_frames=len(frames),
                               looked_at=table["frame"].tolist())


def train(out: str) -> None:
    """Child process: overfit a micro-model on the five labelled frames, save it to ``out``."""
    import mm_widgets as mm

    frames = mm.Frames.from_video(CLIP)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "training from scratch": said in the output below
        model = mm.overfit(frames, first_labels(frames), progress=False)
    model.save(out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  trained in {time.perf_counter() - start:.1f} s from {model.started_from_} "
          f"(input {model.input_size_[0]}x{model.input_size_[1]}, stopped: "
          f"{model.stop_reason_}); the training process peaked at {peak:.0f} MB", flush=True)


def loaded_text() -> str:
    """Which of the heavy libraries this process has imported so far."""
    heavy = ("torch", "ultralytics", "onnxruntime")
    return "imported: " + (", ".join(m for m in heavy if m in sys.modules) or "none of torch, "
                           "ultralytics, onnxruntime")


class Peak:
    """Samples this process's RSS every 20 ms: the largest overall and per step."""

    def __init__(self):
        self.proc = psutil.Process(os.getpid())
        self.step = "start"
        self.peak, self.at = 0.0, ""
        self.steps: dict[str, float] = {}
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            rss = self.proc.memory_info().rss / MB
            step = self.step
            self.steps[step] = max(self.steps.get(step, 0.0), rss)
            if rss > self.peak:
                self.peak, self.at = rss, step
            time.sleep(0.02)

    def now(self) -> float:
        return self.proc.memory_info().rss / MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a saved micro-model to use instead of training one")
    args = parser.parse_args()
    if not CLIP.exists():
        print(f"== long scene: skipped, {CLIP} is not here (the shared clips live beside the "
              "project, in ../shared/data/clips/; their README says where they come from)")
        return
    peak = Peak()
    import mm_widgets as mm
    from mm_widgets.models.base import MicroModel

    print(f"== {CLIP.name}")
    peak.step = "decode index"
    start = time.perf_counter()
    frames = mm.Frames.from_video(CLIP)
    print(f"decode index: {time.perf_counter() - start:.2f} s  ({len(frames)} frames, "
          f"{frames.size[0]}x{frames.size[1]}, {frames.fps:.2f} fps)")

    peak.step = "split_shots"
    before = peak.now()
    start = time.perf_counter()
    shots = mm.split_shots(frames)
    print(f"split_shots: {time.perf_counter() - start:.1f} s, {len(shots)} shots; RSS "
          f"{before:.0f} -> {peak.now():.0f} MB")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if path is None:
            path = str(Path(tmp) / "disc.pt")
            print("micro-model (child process):")
            child = multiprocessing.get_context("spawn").Process(target=train, args=(path,))
            child.start()
            child.join()
            if child.exitcode != 0:
                raise SystemExit("training failed")
        peak.step = "load the model"
        model = MicroModel.load(path)
    print(f"RSS with the model and the clip open: {peak.now():.0f} MB ({loaded_text()})")

    peak.step = "first prediction"
    start = time.perf_counter()
    model.predict(frames, indices=[0])
    print(f"first prediction in this process (lazy imports): {time.perf_counter() - start:.2f} s "
          f"({loaded_text()})")

    peak.step = "review open"
    start = time.perf_counter()
    rev = mm.review(frames, model)
    opened = time.perf_counter() - start
    predicted = rev.predicted.frames_predicted
    rev.predicted.stop()
    print(f"review open: {opened:.2f} s (target <= 2 s), {predicted} of {len(frames)} frames "
          f"predicted before it returned")
    rev.predicted.wait()
    peak.step = "show open"
    start = time.perf_counter()
    viewer = mm.show(frames, model)
    opened = time.perf_counter() - start
    predicted = viewer.predicted.frames_predicted
    viewer.predicted.stop()
    print(f"show open: {opened:.2f} s (target <= 2 s), {predicted} of {len(frames)} frames "
          f"predicted before it returned")
    viewer.predicted.wait()
    del rev, viewer

    peak.step = "predict the clip"
    start = time.perf_counter()
    table = model.predict(frames)
    seconds = time.perf_counter() - start
    print(f"predict: {len(frames) / seconds:.0f} frames/s over all {len(frames)} frames, decoding "
          f"included (target >= 100), {len(table)} boxes; input "
          f"{model.input_size_[0]}x{model.input_size_[1]}, mirror averaging "
          f"{'on' if model.flip else 'off'}")
    del table

    labels = first_labels(frames)
    peak.step = "simulate"
    start = time.perf_counter()
    report = mm.simulate(frames, labels, first_labels=labels.looked_at, rounds=1,
                         kind="interpolate")
    print(f"simulate (interpolation, 1 round, {int(report.table['frames_reviewed'].sum())} "
          f"frames reviewed by the oracle): {time.perf_counter() - start:.1f} s")
    del report

    peak.step = "assembly line"
    start = time.perf_counter()
    line = mm.AssemblyLine(kind="interpolate")
    for shot in shots:
        if any(f in shot for f in labels.looked_at):
            line.add(shot, labels, frames=frames)
    line.fit()
    boxes = line.predict()
    print(f"AssemblyLine (interpolation, {len(line)} shots with a labelled frame, "
          f"{sum(len(d.indices) for d in line.domains)} frames): "
          f"{time.perf_counter() - start:.1f} s, {len(boxes)} boxes")

    print(f"at the end: {loaded_text()}")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {max(maxrss, peak.peak):.0f} MB (target <= 1024 MB), during: {peak.at}")
    print("peak RSS by step (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in peak.steps.items()))


if __name__ == "__main__":
    sys.exit(main())
