"""Shared fixtures. Every test runs with outbound sockets blocked (see pyproject addopts)."""

from __future__ import annotations

import numpy as np
import pytest

import mm_widgets as mm

# Under ``pytest -n 3 --dist loadgroup`` (make test) the tests of each path here run on one
# worker, one after the other: the real-browser tests, so that one JupyterLab server and one
# Chromium serve them all; and modules whose module fixture trains a model, so that it trains
# once, not once on each worker. (pytest-xdist 3.8 groups by the ``xdist_group`` mark by
# renaming each test's nodeid on the worker, which pytest 9.2's nodeids no longer take:
# pytest-xdist issue 1386. The scheduler below groups by the nodeid's path instead.)
TOGETHER = ("tests/browser/", "tests/test_segmenter.py", "tests/test_classes_loop.py",
            "tests/test_classifier.py", "tests/test_light_review.py")


def together(nodeid: str) -> str | None:
    return next((p for p in TOGETHER if nodeid.startswith(p)), None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``: each test to whichever worker is free, a path of TOGETHER as one
    unit, the units in collection order (pytest_collection_modifyitems puts the long first)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Together(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return together(nodeid) or super()._split_scope(nodeid)

    config.option.loadscopereorder = False  # not by the number of tests in a unit
    return Together(config, log)


def pytest_collection_modifyitems(config, items):
    """On make test's workers: the longest work first, so that no worker is left with a long
    test at the end while the others wait: the browser tests (a third of the suite's time on
    one worker), the other units of TOGETHER, then the tests marked slow or notebook."""
    if not getattr(config.option, "loadgroup", False):  # a pytest-xdist worker under loadgroup
        return

    def rank(item):
        unit = together(item.nodeid)
        if unit is not None:
            return 0, TOGETHER.index(unit)
        return (1 if item.get_closest_marker("slow") or item.get_closest_marker("notebook") else 2), 0

    items.sort(key=rank)


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
