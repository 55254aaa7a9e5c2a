"""Memory while reading a long video: 10,000 frames of 1280x720, every 7th frame in random order.

Prints the process RSS growth (target: <= 500 MB). Run: .venv/bin/python benchmarks/memory.py
The video is written with PyAV (libx264, ultrafast) into a temp folder first (a few minutes).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import psutil

from mm_widgets.data import Frames


def write_long_video(path: Path, n: int, w: int, h: int) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "35"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.gop_size = 50
        for i in range(n):
            frame = np.roll(base, i * 4, axis=1)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def main(n: int = 10_000, w: int = 1280, h: int = 720, step: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        t = time.perf_counter()
        write_long_video(path, n, w, h)
        print(f"wrote {n} frames of {w}x{h} in {time.perf_counter() - t:.0f} s "
              f"({path.stat().st_size / 2**20:.0f} MB)")
        proc = psutil.Process(os.getpid())
        before = proc.memory_info().rss
        t = time.perf_counter()
        frames = Frames.from_video(path)
        index_s = time.perf_counter() - t
        order = np.random.default_rng(1).permutation(np.arange(0, n, step))
        peak = before
        t = time.perf_counter()
        for k, i in enumerate(order):
            frames[int(i)]
            if k % 50 == 0:
                peak = max(peak, proc.memory_info().rss)
        read_s = time.perf_counter() - t
        peak = max(peak, proc.memory_info().rss)
        print(f"indexing (demux only): {index_s:.2f} s; {len(order)} random reads: {read_s:.1f} s "
              f"({len(order) / read_s:.1f} frames/s)")
        grown = (peak - before) / 2**20
        print(f"RSS growth: {grown:.0f} MB (target <= 500 MB): {'OK' if grown <= 500 else 'OVER'}")
        return grown


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
