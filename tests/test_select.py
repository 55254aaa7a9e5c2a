"""select_frames(): every registered strategy, plus what "diverse" promises."""

from __future__ import annotations

import numpy as np
import pytest

from mm_widgets import Frames, LabelSet, select_frames
from mm_widgets.errors import MMError
from mm_widgets.select import STRATEGIES, register_strategy

from .conftest import moving_square_frames


def three_scenes(n_each=10):
    """A clip of three visually distinct scenes (red, green, blue-ish), n_each frames each."""
    rng = np.random.default_rng(0)
    arrays = []
    for colour in ((200, 30, 30), (30, 200, 30), (30, 30, 200)):
        for _ in range(n_each):
            img = np.clip(rng.normal(0, 8, (48, 64, 3)) + colour, 0, 255).astype(np.uint8)
            arrays.append(img)
    return Frames.from_arrays(arrays)


@pytest.fixture(scope="module")
def clip():
    arrays, _ = moving_square_frames(n=30)
    return Frames.from_arrays(arrays)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(name, clip):
    picks = select_frames(clip, count=5, strategy=name, seed=3)
    assert len(picks) == 5 and picks == sorted(set(picks))
    assert all(isinstance(i, int) and 0 <= i < len(clip) for i in picks)
    assert select_frames(clip, count=5, strategy=name, seed=3) == picks  # repeatable
    assert select_frames(clip, count=0, strategy=name) == []
    assert len(select_frames(clip, count=100, strategy=name)) == len(clip)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_skips_looked_at_frames(name, clip):
    labels = LabelSet(["square"], size=clip.size, n_frames=len(clip))
    for f in range(0, 30, 2):
        labels.set_boxes(f, [])
    picks = select_frames(clip, count=5, strategy=name, labels=labels)
    assert len(picks) == 5 and not set(picks) & set(labels.looked_at)


def test_diverse_covers_every_scene():
    frames = three_scenes()
    picks = select_frames(frames, count=3, strategy="diverse")
    assert sorted(p // 10 for p in picks) == [0, 1, 2]


def test_diverse_continues_from_what_was_labelled():
    frames = three_scenes()
    labels = LabelSet(["x"], n_frames=len(frames))
    labels.set_boxes(0, [])
    labels.set_boxes(12, [])
    picks = select_frames(frames, count=1, strategy="diverse", labels=labels)
    assert picks[0] // 10 == 2  # the only scene nobody has looked at


def test_random_depends_on_seed(clip):
    a = select_frames(clip, count=5, strategy="random", seed=0)
    b = select_frames(clip, count=5, strategy="random", seed=1)
    assert a != b


def test_callable_and_registered_strategies(clip):
    def firsts(frames, k, *, seed, predictions=None, labels=None):
        return list(range(k))

    assert select_frames(clip, count=3, strategy=firsts) == [0, 1, 2]
    register_strategy("firsts")(firsts)
    try:
        assert select_frames(clip, count=2, strategy="firsts") == [0, 1]
    finally:
        STRATEGIES.pop("firsts")


def test_bad_requests(clip):
    with pytest.raises(MMError, match="unknown selection strategy"):
        select_frames(clip, strategy="best")
    with pytest.raises(MMError, match="count must be"):
        select_frames(clip, count=-1)
    with pytest.raises(MMError, match="outside the clip"):
        select_frames(clip, count=1, strategy=lambda f, k, **kw: [999])
    with pytest.raises(MMError, match="name or a callable"):
        select_frames(clip, strategy=42)


def test_diverse_on_the_bunny_spreads_over_the_clip(bunny):
    picks = select_frames(bunny, count=5)
    assert len(picks) == 5 and max(picks) - min(picks) > len(bunny) // 3
