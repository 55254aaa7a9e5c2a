"""Shared fixtures. Every test runs with outbound sockets blocked (see pyproject addopts)."""

from __future__ import annotations

import numpy as np
import pytest

import mm_widgets as mm


def pytest_collection_modifyitems(config, items):
    """Under ``pytest -n 3`` (make test): the real-browser tests share one worker, so one
    JupyterLab server and one Chromium serve them all; every other test goes to whichever
    worker is free."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def bunny():
    return mm.load_sample("bunny")


@pytest.fixture(scope="session")
def bunny_truth():
    return mm.load_sample_truth("bunny")


def write_video(path, frames, fps=25, codec="libx264", gop=12):
    """Write RGB uint8 frames to a real video file with PyAV (used to make test clips)."""
    import av

    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def moving_square_frames(n=30, size=(96, 64), side=16, seed=0):
    """A synthetic clip: a bright square moving over a noisy dark background, plus its truth."""
    rng = np.random.default_rng(seed)
    w, h = size
    frames, boxes = [], []
    for i in range(n):
        img = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
        x = int((w - side) * i / max(n - 1, 1))
        y = int((h - side) / 2 + (h - side) / 3 * np.sin(i / 4))
        img[y:y + side, x:x + side] = (230, 60, 40)
        frames.append(img)
        boxes.append((i, x, y, x + side, y + side))
    return frames, boxes
