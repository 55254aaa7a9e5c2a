"""review() of a mask model and show() of masks: widget state and handler tests (issue 27
item 3; the real-browser test is tests/browser/test_masks_browser.py).

No training: the "model" proposes the exact masks of :func:`mm_widgets.samples.synthetic_shapes`
with one mask shifted (loose) and one left out (missed). The browser is played by the
messages its canvas sends (``static/masks.js``): every mask of the frame as ``{id, rings,
label, edited}`` in shown pixels. The clip is 128x96, shown 720x540 (5.625 times).
"""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import mm_widgets as mm
from mm_widgets.actions import ActionLog
from mm_widgets.labels import Mask
from mm_widgets.models.base import MicroModel
from mm_widgets.oracle import MaskOracle
from mm_widgets.samples import synthetic_shapes
from mm_widgets.widgets.review import MaskReview, review

FRAME = 3  # six masks on it (seed 0)
SHIFT = 6.0  # pixels to the right: the loose mask


class FakeMaskModel(MicroModel):
    """A mask 'model' that proposes the truth, with mask ``loose`` of frame :data:`FRAME`
    shifted right by :data:`SHIFT` pixels and mask ``missed`` left out."""

    task = "masks"
    kind = "fake-masks"

    def __init__(self, truth, loose=0, missed=1):
        self.truth, self.classes_ = truth, list(truth.classes)
        self.loose, self.missed = loose, missed
        self.asked: list = []

    def proposed(self, f: int) -> list[Mask]:
        masks = []
        for k, m in enumerate(self.truth.masks(f)):
            if f == FRAME and k == self.missed:
                continue
            rings = m.polygons
            if f == FRAME and k == self.loose:
                rings = [[v + SHIFT * (j % 2 == 0) for j, v in enumerate(r)] for r in rings]
            masks.append(Mask(rings, m.label, 0.9, "model", m.track))
        return masks

    def predict(self, frames, indices=None):
        self.asked.append(None if indices is None else list(indices))
        wanted = range(len(frames)) if indices is None else indices
        rows = [(f, *m.xyxy, m.label, m.score, "model", 0, m.track, [list(r) for r in m.polygons])
                for f in wanted for m in self.proposed(int(f))]
        return pd.DataFrame(rows, columns=["frame", "x1", "y1", "x2", "y2", "label", "score",
                                           "source", "round", "track", "polygons"])


@pytest.fixture(scope="module")
def clip():
    return synthetic_shapes(8, (128, 96), seed=0)


def _send(w, masks):
    w._on_canvas(None, {"type": "edit", "frame": w.frame, "view": w._view_id,
                        "version": w._canvas.version, "masks": masks}, [])


def _browser(w):
    """What the browser holds now: the masks last sent, as rings of shown pixels."""
    return [{"id": k, "rings": [list(r) for r in m["rings"]], "label": m["label"], "edited": False}
            for k, m in enumerate(w._canvas.masks)]


def _open(clip, tmp_path=None, **kw):
    frames, truth = clip
    return review(frames, FakeMaskModel(truth), project=None if tmp_path is None else tmp_path / "p",
                  strategy=lambda frames, k, **_: [FRAME, 5, 1], background=False, **kw)


def test_review_of_a_mask_model_prefills_its_masks_and_accepting_is_free(clip):
    frames, truth = clip
    w = _open(clip)
    assert isinstance(w, MaskReview) and w.frame == FRAME and w.queue[:3] == [FRAME, 5, 1]
    assert w.scale.shown == (720, 540)
    model = w.model.proposed(FRAME)
    assert w.shown_masks(FRAME) == model and len(w._canvas.masks) == 5
    # sent in shown pixels: full-frame times 5.625
    assert w._canvas.masks[1]["rings"][0][:2] == [v * 5.625 for v in model[1].polygons[0][:2]]
    assert "to review: 5 model masks" in w._status.value and "Enter" in w._key_legend.value
    w._on_key(w._keys, {"type": "key", "key": "Enter"}, [])  # accept the frame as shown
    assert w.frame == 5 and len(w.actions) == 0 and w.actions.count(kind="accept") == 1
    assert w.labels.masks(FRAME) == model  # the model's masks, source "model", score kept
    assert {(m.source, m.score) for m in w.labels.masks(FRAME)} == {("model", 0.9)}
    # a frame left as shown but for an untouched mask sent back by its id: free too
    _send(w, _browser(w))
    w.accept()
    assert len(w.actions) == 0 and w.labels.masks(5) == w.model.proposed(5)
    assert "efficiency <b>100.0%</b>" in w._counter.value


def test_drag_draw_delete_and_class_change_count_one_each_and_resume(clip, tmp_path):
    frames, truth = clip
    w = _open(clip, tmp_path)
    scale = 5.625
    # 1. Two drags of points of the loose mask in one visit: one adjust.
    for vertex in (0, 3):
        browser = _browser(w)
        ring = browser[0]["rings"][0]
        ring[2 * vertex] -= SHIFT * scale
        browser[0]["edited"] = True
        _send(w, browser)
    assert [a.kind for a in w.actions] == ["adjust"]
    fixed = w.labels.masks(FRAME)[0]
    want = list(w.model.proposed(FRAME)[0].polygons[0])
    for vertex in (0, 3):
        want[2 * vertex] -= SHIFT  # exact: shown x / 5.625 back in full-frame pixels
    assert list(fixed.polygons[0]) == want and fixed.source == "corrected"
    # 2. The missed mask drawn (its points, as clicks in whole shown pixels): one draw.
    missed = truth.masks(FRAME)[1]
    drawn = [[round(v * scale) for v in missed.polygons[0]]]
    _send(w, [*_browser(w), {"id": None, "rings": drawn, "label": missed.label, "edited": True}])
    # 3. One mask deleted, 4. another given the other class (C): one action each.
    browser = _browser(w)
    other = "star" if browser[2]["label"] == "disc" else "disc"
    browser[2] = {**browser[2], "label": other, "edited": True}
    del browser[1]
    _send(w, browser)
    kinds = Counter(a.kind for a in w.actions)
    assert kinds == Counter({"adjust": 2, "draw": 1, "delete": 1})
    left = w.labels.masks(FRAME)
    assert [m.source for m in left] == ["corrected", "corrected", "model", "model", "human"]
    assert left[4].polygons[0] == tuple(v / scale for v in drawn[0])
    w.accept()  # an edited frame is accepted: nothing more counted, no free accept logged
    assert len(w.actions) == 4 and w.actions.count(kind="accept") == 0
    w.accept()  # frame 5 as shown
    w.close()

    # The project has it all on disk; a reopened review resumes at the next frame to review.
    again = review(frames, FakeMaskModel(truth), project=tmp_path / "p",
                   strategy=lambda frames, k, **_: [FRAME, 5, 1], background=False)
    assert isinstance(again, MaskReview)
    assert again.frame == 1 and again.queue[0] == 1
    assert again.labels.masks(FRAME) == left and again.labels.masks(5) == again.model.proposed(5)
    assert Counter(a.kind for a in again.actions) == kinds
    assert again.shown_masks(FRAME) == left  # a reviewed frame shows its labels
    assert "2 of 8</b> frames reviewed" in again._counter.value
    again.close()


def test_the_mask_oracle_at_the_review_counts_what_it_counts_in_simulate(clip):
    # MaskOracle.answer plays the person at the widget (shown_masks, accept, set_masks); the
    # same oracle's review() on the same proposals is what simulate() counts.
    frames, truth = clip
    w = _open(clip)
    oracle = MaskOracle(truth)
    proposed = {f: w.shown_masks(f) for f in w.queue[:4]}
    assert oracle.answer(w, n=4) == 4
    labels, log = mm.LabelSet(truth.classes, "masks", size=frames.size), ActionLog()
    for f, masks in proposed.items():
        oracle.review(f, masks, labels, log, round=1)
    assert Counter(a.kind for a in w.actions) == Counter(a.kind for a in log)
    assert Counter(a.kind for a in w.actions) == Counter({"adjust": 1, "draw": 1})  # FRAME
    assert w.actions.count(kind="accept") == log.count(kind="accept") == 3
    for f in proposed:
        assert ([(m.polygons, m.label, m.source) for m in w.labels.masks(f)]
                == [(m.polygons, m.label, m.source) for m in labels.masks(f)])


def test_show_draws_masks_filled_and_outlined():
    frames = mm.Frames.from_arrays([np.full((96, 128, 3), 128, np.uint8)] * 2)
    square = Mask([[32, 24, 96, 24, 96, 72, 32, 72]], "disc", 0.8, "model")
    table = mm.LabelSet(["disc", "star"], "masks")
    table.set_masks(1, [square])
    v = mm.show(frames, table.df)
    assert v.task == "masks" and "1 predicted mask" in v._header.value
    v.go_to(1)
    image = np.asarray(Image.open(io.BytesIO(v._image.value)).convert("RGB")).astype(int)
    assert image.shape == (540, 720, 3)
    inside, outside = image[300:360, 300:420], image[20:80, 20:80]
    # filled: 40% of the class colour (#1f77b4: 31, 119, 180) over the grey, inside the polygon
    want = 0.6 * 128 + 0.4 * np.array([31, 119, 180])
    assert np.abs(inside.reshape(-1, 3).mean(axis=0) - want).max() < 2
    assert np.abs(outside - 128).max() <= 4  # untouched grey away from it (JPEG)
    # outlined: the 2-px edge at x = 32 (180 shown) is nearer the class colour than the fill
    # (JPEG's halved colour resolution blends it with its neighbours)
    def off(pixels):
        return np.linalg.norm(pixels.reshape(-1, 3).mean(axis=0) - [31, 119, 180])

    assert off(image[200:340, 179:181]) < off(inside) - 15
    assert v.masks(0) == [] and v.masks(1) == [square]


def test_show_of_a_mask_model_predicts_the_frames_it_shows(clip):
    frames, truth = clip
    model = FakeMaskModel(truth)
    v = mm.show(frames, model, background=False)
    assert type(v).__name__ == "MaskViewer" and model.asked == [list(range(8))]  # one block
    assert v.masks(FRAME) == model.proposed(FRAME)
    assert v.boxes(FRAME) == [m.box for m in model.proposed(FRAME)]
    v.set_conf(0.95)  # every mask scores 0.9: all hidden, the frame marked as without one
    assert v.masks(FRAME) == [] and v.status(FRAME) == "none"
    v.close()


def test_the_review_prices_an_untimed_mask_drawn_as_a_polygon(clip, monkeypatch):
    # A mask drawn after a break (untimed) is priced at the mask figure (54 s), not a box's 7 s.
    import mm_widgets.actions

    class Clock:
        now = 1000.0

        def time(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(mm_widgets.actions, "time", clock)
    frames, truth = clip
    w = _open(clip)
    clock.now += 4000.0  # away longer than a break: the next event is not timed
    missed = truth.masks(FRAME)[1]
    drawn = [[v * 5.625 for v in missed.polygons[0]]]
    _send(w, [*_browser(w), {"id": None, "rings": drawn, "label": missed.label, "edited": True}])
    assert [a.kind for a in w.actions] == ["draw"]
    assert "human time &asymp; <b>54 seconds</b>" in w._counter.value
    w.close()
