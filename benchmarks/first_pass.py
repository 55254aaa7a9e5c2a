"""First pass on the bunny clip: 5 diverse labelled frames -> a micro-model -> all 132 frames.

Prints, for the mm_widgets micro-model: seconds to train, seconds to predict all frames,
frames/s (with and without video decoding), recall, precision and mean IoU at IoU 0.5.
In the same run, for comparison: ultralytics as a newcomer would use it,
``YOLO("yolo11n.yaml").train(...)`` on the same 5 frames written to a temporary dataset,
its defaults, given the same wall-clock time to train (its ``time=`` setting), and
keyframe interpolation from the same 5 frames.

    .venv/bin/python benchmarks/first_pass.py [--seed 0] [--skip-newcomer]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mm_widgets as mm
from mm_widgets.interpolate import interpolate
from mm_widgets.labels import BOX_COLUMNS
from mm_widgets.metrics import evaluate


def newcomer(frames, labels, seconds: float, workdir: Path) -> tuple[pd.DataFrame, float, int]:
    """Ultralytics with its defaults on the labelled frames, for ``seconds`` of training.

    Returns predictions on every frame, the seconds it trained, and its epochs.
    """
    from PIL import Image

    from mm_widgets.models.yolo_net import import_ultralytics, quiet_ultralytics

    import_ultralytics()  # offline settings first, as for our own model
    from ultralytics import YOLO

    images, txts = workdir / "images" / "train", workdir / "labels" / "train"
    images.mkdir(parents=True)
    txts.mkdir(parents=True)
    for f in labels.looked_at:
        Image.fromarray(frames[f]).save(images / f"{f:06d}.jpg", quality=95)
        lines = [b.to_yolo(labels.classes, frames.size) for b in labels.boxes(f)]
        (txts / f"{f:06d}.txt").write_text("".join(line + "\n" for line in lines))
    names = "".join(f"  {i}: {c}\n" for i, c in enumerate(labels.classes))
    data = workdir / "data.yaml"
    data.write_text(f"path: {workdir}\ntrain: images/train\nval: images/train\nnames:\n{names}")

    model = YOLO("yolo11n.yaml")
    started = time.perf_counter()
    # Defaults everywhere except where this offline, shared machine needs otherwise:
    # the time budget, the CPU, a temporary project folder, and no plots (their font
    # would be downloaded).
    with quiet_ultralytics():  # its log lines would bury our figures; the work is the same
        model.train(data=str(data), time=seconds / 3600, device="cpu",
                    project=str(workdir / "runs"), name="newcomer", plots=False)
    trained = time.perf_counter() - started
    epochs = int(getattr(model.trainer, "epoch", -1)) + 1
    rows = []
    video = frames.origin["path"] if frames.origin else None
    source = video if video else [np.ascontiguousarray(a[:, :, ::-1]) for a in frames]
    for i, result in enumerate(model.predict(source, stream=True, verbose=False)):
        for (x1, y1, x2, y2), score, k in zip(result.boxes.xyxy.tolist(),
                                              result.boxes.conf.tolist(),
                                              result.boxes.cls.tolist()):
            rows.append((i, x1, y1, x2, y2, labels.classes[int(k)], score, "model", 0))
    return pd.DataFrame(rows, columns=BOX_COLUMNS), trained, epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-newcomer", action="store_true")
    args = parser.parse_args()

    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")
    frames = mm.load_sample("bunny")
    truth = mm.load_sample_truth("bunny")
    picks = mm.select_frames(frames, count=5, strategy="diverse", seed=args.seed)
    labels = truth.subset(picks)
    print(f"labelled frames (diverse): {picks}")

    started = time.perf_counter()
    model = mm.overfit(frames, labels, seed=args.seed, progress=False)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    predictions = model.predict(frames)
    predict_s = time.perf_counter() - started
    decoded = [frames[i] for i in range(len(frames))]
    started = time.perf_counter()
    model.predict(decoded)
    model_only_s = time.perf_counter() - started
    ours = evaluate(predictions, truth, range(len(frames)))
    unseen = evaluate(predictions, truth, [f for f in range(len(frames)) if f not in picks])
    keyframes = evaluate(interpolate(frames, labels).predict(frames), truth, range(len(frames)))

    w, h = model.input_size_
    print(f"\nmm_widgets micro-model ({model.started_from_} start, {w}x{h} input, {len(model.history_)} "
          f"epochs, {model.stop_reason_})")
    print(f"  seconds to train            {train_s:8.1f}")
    print(f"  seconds to predict {len(frames)} frames {predict_s:8.1f}  "
          f"(train + predict {train_s + predict_s:.1f} s)")
    print(f"  frames/s, decoding included {len(frames) / predict_s:8.0f}")
    print(f"  frames/s, frames in memory  {len(frames) / model_only_s:8.0f}")
    print(f"  recall    @ IoU 0.5         {ours['recall']:8.3f}   (unseen frames only: "
          f"{unseen['recall']:.3f})")
    print(f"  precision @ IoU 0.5         {ours['precision']:8.3f}   (unseen frames only: "
          f"{unseen['precision']:.3f})")
    print(f"  mean IoU of matches         {ours['mean_iou']:8.3f}")
    print(f"  reviewer corrections        {ours['actions']:8d}")
    print("\nkeyframe interpolation from the same 5 frames")
    print(f"  recall {keyframes['recall']:.3f}  precision {keyframes['precision']:.3f}  "
          f"mean IoU {keyframes['mean_iou']:.3f}  corrections {keyframes['actions']}")

    if args.skip_newcomer:
        return
    with tempfile.TemporaryDirectory(prefix="mm_newcomer_") as tmp:
        preds, seconds, epochs = newcomer(frames, labels, train_s, Path(tmp))
    theirs = evaluate(preds, truth, range(len(frames)))
    print(f"\nultralytics newcomer: YOLO('yolo11n.yaml').train(defaults, time={train_s:.0f} s)")
    print(f"  seconds to train            {seconds:8.1f}  ({epochs} epochs)")
    print(f"  recall    @ IoU 0.5         {theirs['recall']:8.3f}")
    print(f"  precision @ IoU 0.5         {theirs['precision']:8.3f}   "
          f"({theirs['predicted']} boxes predicted on {len(frames)} frames)")
    print(f"  mean IoU of matches         {theirs['mean_iou']:8.3f}")
    if theirs["recall"]:
        print(f"\nrecall ratio, micro-model / newcomer: {ours['recall'] / theirs['recall']:.1f}x")
    else:
        print(f"\nrecall: micro-model {ours['recall']:.3f}, newcomer 0 (it found nothing)")
    print(f"load average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
