"""Project folder under load: 10,000 frames x 50 boxes, then one edit, then reopen.

Prints the slowest single-edit save (target <= 50 ms) and the reopen time (target <= 2 s).
Run: .venv/bin/python benchmarks/project_load.py
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd

import mm_widgets as mm
from mm_widgets.labels import LabelSet


def main(n_frames: int = 10_000, per_frame: int = 50) -> None:
    rng = np.random.default_rng(0)
    n = n_frames * per_frame
    x1 = rng.uniform(0, 1200, n)
    y1 = rng.uniform(0, 650, n)
    df = pd.DataFrame({"frame": np.repeat(np.arange(n_frames), per_frame), "x1": x1, "y1": y1,
                       "x2": x1 + rng.uniform(5, 80, n), "y2": y1 + rng.uniform(5, 70, n),
                       "label": rng.choice(["car", "person", "bicycle"], n)})
    with tempfile.TemporaryDirectory() as tmp:
        project = mm.Project(f"{tmp}/p", ["car", "person", "bicycle"])
        t = time.perf_counter()
        bulk = LabelSet.from_df(df, project.classes)
        project.labels._boxes = bulk._boxes
        project.labels._looked_at = bulk._looked_at
        project.save()
        print(f"{n:,} boxes on {n_frames:,} frames written in {time.perf_counter() - t:.1f} s")
        saves = []
        for _ in range(50):
            frame = int(rng.integers(n_frames))
            boxes = project.labels.boxes(frame)
            t = time.perf_counter()
            project.labels.set_boxes(frame, boxes[1:] + boxes[:1])
            saves.append(time.perf_counter() - t)
        project.close()
        t = time.perf_counter()
        again = mm.Project(f"{tmp}/p")
        reopen = time.perf_counter() - t
        assert again.labels.equals(project.labels)
        print(f"single-edit save: median {np.median(saves) * 1e3:.1f} ms, slowest "
              f"{max(saves) * 1e3:.1f} ms (target <= 50 ms)")
        print(f"reopen with {len(again.labels):,} boxes: {reopen:.2f} s (target <= 2 s)")


if __name__ == "__main__":
    main()
