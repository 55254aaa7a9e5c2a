"""Frame-classification benchmark: learn the shots of bikes.mp4 from a few labelled frames.

Run with ``.venv/bin/python benchmarks/classify.py [--threads 1]`` (offline, CPU, from
scratch; about a minute on an idle 2-core machine).

How the frames were labelled
----------------------------
The bundled ``bikes`` clip (250 frames, 640x272) is one class per shot. The cuts were
found by the mean absolute difference between consecutive 64-px thumbnails: five frames
stand out (45-82 grey levels against a median of 3), at 30, 76, 137, 187 and 242; the
script recomputes them and stops if they moved. Each cut was then checked by eye on
rendered frames (the two frames either side of it), and every frame of every shot was
looked at on a contact sheet of every fifth frame. The classes are:

======  =========  ===============================================================
class   frames     what is in view
======  =========  ===============================================================
shot1   0-29       top-down view of a road: white lane marking, a drain cover, a
                   red car entering at the top right
shot2   30-75      a man in a suit walking between queued cars, then the cars and
                   a taxi's roof sign in focus
shot3   76-136     the back of a grey van, a cyclist in a helmet riding behind it,
                   shop fronts
shot4   137-186    a wide street seen through a green metal fence, cars passing
shot5   187-241    legs of pedestrians walking past bollards on a cobbled pavement,
                   a bicycle parked against a wall
shot6   242-249    blurred close-up of a bicycle wheel behind a post
======  =========  ===============================================================

What is measured
----------------
For k = 1, 3, 5 labelled frames per shot (evenly spaced inside the shot: the frames at
(2q+1)/(2k) of its length), a :class:`TimmMicroModel` is trained from scratch with its
defaults (``epochs="auto"``, ``imgsz="auto"``) and classifies all 250 frames. Accuracy is
over the frames that were *not* labelled. Then one review round is simulated for k=1:
the least confident frame of each shot (by the model's own score) gets its true class,
and a warm-started model (``warm_start=`` the k=1 model) is trained on the 12 labels.
``predict fps`` includes decoding the video (a fresh ``Frames`` each time). ``train s`` is
the whole ``fit`` (decoding the labelled frames included), after a one-time warm-up fit
that the table leaves out and the script prints.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from itertools import pairwise

import numpy as np

import mm_widgets as mm
from mm_widgets.models import make_model

CUTS = [0, 30, 76, 137, 187, 242, 250]


def shot_truth(n_frames: int) -> np.ndarray:
    """The shot class of every frame of the bikes clip."""
    truth = np.empty(n_frames, dtype=object)
    for k, (a, b) in enumerate(pairwise(CUTS)):
        truth[a:b] = f"shot{k + 1}"
    return truth


def check_cuts(frames: mm.Frames) -> None:
    """Recompute the cuts from thumbnail differences; stop if they no longer match."""
    thumbs = np.stack([frames.thumbnail(i, 64).astype(np.float32) for i in range(len(frames))])
    diff = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2, 3))
    found = sorted(int(i) + 1 for i in np.argsort(-diff)[: len(CUTS) - 2])
    if found != CUTS[1:-1]:
        raise SystemExit(f"shot cuts moved: expected {CUTS[1:-1]}, found {found}")


def spread_labels(truth: np.ndarray, k: int) -> mm.LabelSet:
    """k evenly spaced labelled frames per shot."""
    labels = mm.LabelSet(sorted(set(truth)), "classes", n_frames=len(truth))
    for a, b in pairwise(CUTS):
        for q in range(k):
            f = a + int((b - a) * (2 * q + 1) / (2 * k))
            labels.set_class(f, truth[f])
    return labels


def evaluate(model, truth: np.ndarray, labels: mm.LabelSet) -> dict:
    """Accuracy on the unlabelled frames and predict speed (decoding included)."""
    frames = mm.load_sample("bikes")  # fresh: no decoded frames cached yet
    start = time.perf_counter()
    pred = model.predict(frames)
    seconds = time.perf_counter() - start
    rest = ~pred["frame"].isin(labels.frames).to_numpy()
    correct = pred["label"].to_numpy() == truth[pred["frame"].to_numpy()]
    return {"pred": pred, "accuracy": correct[rest].mean(), "fps": len(pred) / seconds,
            "worst_shot": min((correct[rest & (truth == c)].mean(), c) for c in labels.classes)}


def row(name: str, model, labels: mm.LabelSet, result: dict) -> str:
    worst, shot = result["worst_shot"]
    return (f"{name:<28} {len(labels):>6} {result['accuracy']:>9.3f} {worst:>6.3f} {shot:<6} "
            f"{len(model.history_):>6} {model.train_seconds_:>8.1f} {result['fps']:>11.0f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-shot", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    frames = mm.load_sample("bikes")
    check_cuts(frames)
    truth = shot_truth(len(frames))
    print(f"bikes.mp4: {len(frames)} frames {frames.size[0]}x{frames.size[1]}, "
          f"{len(CUTS) - 1} shots; torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}; from scratch, CPU, seed {args.seed}")
    # torch's first forward/backward passes in a process are slow (kernel selection, memory
    # pools); pay that once here so the rows below compare like with like.
    start = time.perf_counter()
    make_model("timm", weights="scratch", epochs=1, progress=False, seed=args.seed).fit(
        frames, spread_labels(truth, 1))
    print(f"one-time warm-up fit (1 epoch, not in the table): {time.perf_counter() - start:.1f} s")
    header = (f"{'run':<28} {'labels':>6} {'accuracy':>9} {'worst shot':<13} "
              f"{'epochs':>6} {'train s':>8} {'predict fps':>11}")
    print(header)
    print("-" * len(header))
    first = None
    for k in args.per_shot:
        labels = spread_labels(truth, k)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*from scratch")  # said once above
            model = make_model("timm", seed=args.seed, progress=False).fit(frames, labels)
        result = evaluate(model, truth, labels)
        print(row(f"{k} per shot", model, labels, result), flush=True)
        if first is None:
            first = (k, labels, model, result)

    k, labels, model, result = first
    pred = result["pred"].set_index("frame")
    review = labels.copy()
    for c in labels.classes:  # the frame the model was least sure of, in each shot
        shot = pred[(truth[pred.index] == c) & ~pred.index.isin(labels.frames)]
        f = int(shot["score"].idxmin())
        review.set_class(f, truth[f], round=1)
    warm = make_model("timm", seed=args.seed, progress=False, warm_start=model).fit(frames, review)
    print(row(f"{k} per shot + 1 least sure", warm, review, evaluate(warm, truth, review)))


if __name__ == "__main__":
    main()
