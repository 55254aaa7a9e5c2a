"""Which frames a person should look at next.

Strategies are registered by name in :data:`STRATEGIES` and called as
``strategy(frames, count, *, seed, predictions=None, labels=None) -> list[int]``. A strategy
never proposes a frame the labels already show as looked at.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import MMError

#: name -> strategy function
STRATEGIES: dict[str, Callable] = {}

#: The review order by default, by task: for boxes, the frames in clip order, so that each
#: is next to one just confirmed and gets its boxes carried from it
#: (:mod:`mm_widgets.propagate`; measured best, see the README); for masks, clip order as
#: for boxes (not measured against another order); for frame classes, the least sure first.
DEFAULT_ORDER = {"boxes": "sequential", "classes": "uncertain", "masks": "sequential"}

#: At most this many frames are compared by "diverse"; longer clips are sampled evenly,
#: so choosing frames from a 10,000-frame video never decodes all of it.
MAX_CANDIDATES = 1000


def register_strategy(name: str) -> Callable[[Callable], Callable]:
    """Decorator: make a selection strategy available to :func:`select_frames` by ``name``."""

    def wrap(fn: Callable) -> Callable:
        STRATEGIES[name] = fn
        return fn

    return wrap


def select_frames(frames, count: int = 5, strategy: str | Callable = "diverse", seed: int = 0,
                  *, predictions=None, labels=None) -> list[int]:
    """Pick ``count`` frames for a person to label next.

    Parameters
    ----------
    frames
        :class:`~mm_widgets.data.Frames` (or any sequence of RGB arrays).
    count
        How many frames to propose (fewer if fewer are left).
    strategy
        A registered name (``"diverse"``, ``"random"``, see :data:`STRATEGIES`) or a
        callable with the same signature as the registered ones.
    seed
        Makes the choice repeatable.
    predictions
        A model's predictions (DataFrame), for strategies that use them.
    labels
        A :class:`~mm_widgets.labels.LabelSet`; its looked-at frames are not proposed again.

    Returns
    -------
    list of int
        Frame indices, sorted.
    """
    if int(count) < 0:
        raise MMError(f"count must be >= 0, got {count}")
    return sorted(rank_frames(frames, strategy, seed=seed, predictions=predictions,
                              labels=labels, count=int(count))[: int(count)])


def review_order(strategy: str | Callable, task: str) -> str | Callable:
    """``strategy`` itself, or for ``"auto"`` the default review order of ``task``
    (:data:`DEFAULT_ORDER`)."""
    return DEFAULT_ORDER[task] if strategy == "auto" else strategy


def strategy_function(strategy: str | Callable) -> Callable:
    """The strategy registered as ``strategy``, or ``strategy`` itself if it is callable."""
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise MMError(f"unknown selection strategy {strategy!r}; known: {sorted(STRATEGIES)}")
        return STRATEGIES[strategy]
    if callable(strategy):
        return strategy
    raise MMError(f"strategy must be a name or a callable, got {strategy!r}")


def rank_frames(frames, strategy: str | Callable = "uncertain", *, seed: int = 0,
                predictions=None, labels=None, count: int | None = None) -> list[int]:
    """Frames not yet looked at, in the order ``strategy`` would show them (best first).

    The strategy ranks its first ``count`` (default: all); the frames it did not rank follow in
    clip order, so a reviewer who keeps going sees every frame once.
    """
    fn = strategy_function(strategy)
    if len(frames) == 0:
        raise MMError("cannot select frames from an empty clip")
    n = len(frames)
    chosen = [int(i) for i in fn(frames, n if count is None else int(count), seed=seed,
                                 predictions=predictions, labels=labels)]
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise MMError(f"strategy {strategy!r} returned frame(s) {bad} outside the clip")
    done = set(labels.looked_at) if labels is not None else set()
    ranked = list(dict.fromkeys(i for i in chosen if i not in done))
    seen = set(ranked)
    return ranked + [i for i in range(n) if i not in seen and i not in done]


def candidates(n: int, labels=None) -> np.ndarray:
    """Frame indices not yet looked at."""
    done = set(labels.looked_at) if labels is not None else set()
    return np.array([i for i in range(n) if i not in done], dtype=np.int64)


@register_strategy("random")
def random_frames(frames, count, *, seed=0, predictions=None, labels=None) -> list[int]:
    """``count`` frames drawn uniformly at random (without replacement) from those not looked at."""
    pool = candidates(len(frames), labels)
    rng = np.random.default_rng(seed)
    return rng.choice(pool, size=min(count, len(pool)), replace=False).tolist()


random_frames.uses_predictions = False


def appearance(frames, indices, side: int = 24) -> np.ndarray:
    """One small feature vector per frame: a tiny thumbnail plus a coarse colour histogram."""
    import cv2

    feats = []
    for i in indices:
        if hasattr(frames, "thumbnail"):
            small = frames.thumbnail(int(i), max_side=4 * side)  # cheap decode-side shrink
        else:
            small = np.asarray(frames[int(i)])
        tiny = cv2.resize(small, (side, max(1, side * small.shape[0] // small.shape[1])),
                          interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [8, 4], [0, 180, 0, 256]).ravel()
        hist /= max(hist.sum(), 1.0)
        # Pixel layout says where things are; the histogram says what colours are there.
        feats.append(np.concatenate([tiny.ravel() / np.sqrt(tiny.size), hist]))
    return np.stack(feats)


@register_strategy("diverse")
def diverse_frames(frames, count, *, seed=0, predictions=None, labels=None) -> list[int]:
    """k-center greedy on appearance: each new frame is the one least like any chosen yet.

    Frames already looked at count as chosen, so a second call spreads over what is
    still unseen. Without labels the first frame is the one most typical of the clip
    (nearest the mean appearance); ``seed`` breaks exact ties.
    """
    n = len(frames)
    if n > MAX_CANDIDATES:
        pool = np.unique(np.linspace(0, n - 1, MAX_CANDIDATES).round().astype(np.int64))
    else:
        pool = np.arange(n, dtype=np.int64)
    done = sorted(set(labels.looked_at)) if labels is not None else []
    todo = np.array([i for i in pool if i not in set(done)], dtype=np.int64)
    count = min(count, len(todo))
    if count == 0:
        return []
    feats = appearance(frames, todo)
    rng = np.random.default_rng(seed)
    jitter = rng.random(len(todo)) * 1e-9  # deterministic tie-breaker
    if done:
        seen = appearance(frames, done)
        dist = np.min(((feats[:, None, :] - seen[None, :, :]) ** 2).sum(-1), axis=1)
        chosen = []
    else:
        first = int(np.argmin(((feats - feats.mean(0)) ** 2).sum(1) + jitter))
        chosen = [first]
        dist = ((feats - feats[first]) ** 2).sum(1)
    while len(chosen) < count:
        nxt = int(np.argmax(dist + jitter))
        chosen.append(nxt)
        dist = np.minimum(dist, ((feats - feats[nxt]) ** 2).sum(1))
    return todo[chosen].tolist()


#: Strategies that ignore predictions rank a clip once, however many frames are predicted
#: later (a widget predicting lazily re-ranks the others as predictions arrive).
diverse_frames.uses_predictions = False


def frame_uncertainty(predictions, n: int, labels=None, conf_mid: float = 0.5) -> np.ndarray:
    """How much a person should look at each frame's predictions, per frame in [0, ~2.2].

    Three signs that the model is unsure, added up:

    - a box whose score is near the middle of the score range (``conf_mid``),
    - a box that flickers: it has no overlapping partner on a neighbouring predicted frame,
    - the number of boxes changes from the previous or the next frame.

    Plus a small term for being far (in time) from any looked-at frame, so that among
    equally unsure frames the ones nothing nearby was checked for come first.

    A table made a block at a time (:class:`mm_widgets.predictions.Predictions`) lists the
    frames not predicted yet in ``predictions.attrs["not_predicted"]``: they are unknown,
    not empty, so the edge of a block next to them is no change in the number of boxes.
    """
    if predictions is not None and "x1" not in predictions.columns and "label" in predictions.columns:
        return class_uncertainty(predictions, n, labels)
    from .temporal import link_tracks

    u = np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    if predictions is not None and len(predictions):
        df = predictions[predictions["frame"].between(0, n - 1)].reset_index(drop=True)
        frames = df["frame"].to_numpy(np.int64)
        if "score" in df and df["score"].notna().any():
            closeness = 1 - np.minimum(1, np.abs(df["score"].fillna(1.0).to_numpy() - conf_mid)
                                       / max(conf_mid, 1 - conf_mid))
            np.maximum.at(u, frames, closeness)
        np.add.at(counts, frames, 1)
        tracks = link_tracks(df, link_iou=0.3, max_gap=0)
        length = np.bincount(tracks)[tracks]
        flicker = np.zeros(n)
        np.maximum.at(flicker, frames, (length <= 2).astype(float))
        u += 0.5 * flicker
    known = np.ones(n, dtype=bool)
    if predictions is not None:
        attrs = getattr(predictions, "attrs", {})
        unknown = np.asarray(attrs.get("not_predicted", ()), dtype=np.int64)
        known[unknown[(unknown >= 0) & (unknown < n)]] = False
    step = (counts[1:] != counts[:-1]) & known[1:] & known[:-1]
    change = np.zeros(n)
    change[1:] = np.maximum(change[1:], step)
    change[:-1] = np.maximum(change[:-1], step)
    u += 0.5 * change
    return u + far_from_labels(n, labels)


def class_uncertainty(predictions, n: int, labels=None) -> np.ndarray:
    """:func:`frame_uncertainty` for frame classes (``frame, label, score`` predictions).

    Signs that a class may be wrong, added up: a low score (``1 - score``), and a class
    that differs from the class predicted on the previous or the next frame (scene changes
    and flicker are where a frame classifier errs); plus the same small term for being far
    from any looked-at frame.
    """
    u = np.zeros(n)
    df = predictions[predictions["frame"].between(0, n - 1)]
    frames = df["frame"].to_numpy(np.int64)
    if "score" in df and df["score"].notna().any():
        np.maximum.at(u, frames, 1 - df["score"].fillna(1.0).to_numpy(float))
    known = np.full(n, None, dtype=object)
    known[frames] = df["label"].to_numpy(object)
    if labels is not None and labels.task == "classes":
        for f in labels.frames:
            if 0 <= f < n:
                known[f] = labels.frame_class(f)
    change = np.zeros(n)
    for a in range(n - 1):
        if known[a] is not None and known[a + 1] is not None and known[a] != known[a + 1]:
            change[a] = change[a + 1] = 1.0
    u += 0.5 * change
    return u + far_from_labels(n, labels)


def far_from_labels(n: int, labels) -> np.ndarray:
    """Per frame, a small bonus growing with the distance to the nearest frame looked at
    (0.2 at the far end of the clip): among equally unsure frames, the farther first."""
    looked = np.array(sorted(labels.looked_at), dtype=np.int64) if labels is not None else np.array([])
    if not len(looked):
        return np.zeros(n)
    nearest = np.min(np.abs(np.arange(n)[:, None] - looked[None, :]), axis=1)
    return 0.2 * nearest / max(n, 1)


@register_strategy("sequential")
def sequential_frames(frames, count, *, seed=0, predictions=None, labels=None) -> list[int]:
    """The frames not looked at, in clip order: a walk through the clip, each frame next to
    one confirmed just before it, so what a person confirms is carried to the next at once
    (:mod:`mm_widgets.propagate`), as a tracker carries a box in a video tool."""
    return candidates(len(frames), labels)[:count].tolist()


sequential_frames.uses_predictions = False


@register_strategy("bisect")
def bisect_frames(frames, count, *, seed=0, predictions=None, labels=None) -> list[int]:
    """The frame farthest from every frame looked at first, then the next farthest counting
    that one as looked at, and so on: keyframes halving the longest gaps, as a person
    places them for keyframe interpolation (the baseline's own order)."""
    n = len(frames)
    looked = sorted(labels.looked_at) if labels is not None else []
    dist = np.full(n, n * 2, dtype=np.int64)
    if looked:
        dist = np.min(np.abs(np.arange(n)[:, None] - np.array(looked)[None, :]), axis=1)
    out: list[int] = []
    for _ in range(min(int(count), n - len(looked))):
        f = int(np.argmax(dist))  # the earliest of the farthest
        if dist[f] == 0:
            break
        out.append(f)
        dist = np.minimum(dist, np.abs(np.arange(n) - f))
    return out


bisect_frames.uses_predictions = False


@register_strategy("spaced")
def spaced_frames(frames, count, *, seed=0, predictions=None, labels=None) -> list[int]:
    """``count`` frames not looked at, evenly spaced among them, in clip order.

    Reviewed in this order, each frame is a few frames from one confirmed just before it,
    so what a person confirms is carried to the next at once (:mod:`mm_widgets.propagate`);
    the frames left between are then close to confirmed frames on both sides, where
    carried boxes are best. Half of the frames left: every other one.
    """
    pool = candidates(len(frames), labels)
    if count >= len(pool):
        return pool.tolist()
    if count <= 0:
        return []
    return pool[np.unique(np.round(np.linspace(0, len(pool) - 1, count)).astype(int))].tolist()


spaced_frames.uses_predictions = False


@register_strategy("uncertain")
def uncertain_frames(frames, count, *, seed=0, predictions=None, labels=None) -> list[int]:
    """The frames whose predictions look least sure (see :func:`frame_uncertainty`).

    Without predictions there is nothing to be unsure about yet: falls back to "diverse".
    """
    if predictions is None:
        return diverse_frames(frames, count, seed=seed, labels=labels)
    pool = candidates(len(frames), labels)
    u = frame_uncertainty(predictions, len(frames), labels)[pool]
    jitter = np.random.default_rng(seed).random(len(pool)) * 1e-9  # repeatable tie-breaks
    order = np.lexsort((jitter, -u))
    return pool[order[:count]].tolist()
