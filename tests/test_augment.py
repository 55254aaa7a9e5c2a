"""The training augmentation keeps every box on its object: whole frames and windows cut
around the objects, through scale, shift and flip (checked on the pixels themselves)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mm_widgets.models.augment import Augmenter
from mm_widgets.models.detector import crop_size

W, H = 320, 240
# Three objects, one per colour channel, so every output pixel tells whose it is.
OBJECTS = np.array([[0, 20, 30, 60, 90], [1, 150, 100, 190, 130], [2, 250, 180, 312, 236]],
                   dtype=float)


def scene():
    img = torch.zeros(1, 3, H, W)
    for k, x1, y1, x2, y2 in OBJECTS:
        img[0, int(k), int(y1):int(y2), int(x1):int(x2)] = 1.0
    boxes = OBJECTS.copy()
    boxes[:, [1, 3]] /= W
    boxes[:, [2, 4]] /= H
    return img, [boxes]


def visible_box(img, k):
    """The pixel extent of object ``k`` in an output image (None when none of it shows)."""
    own = img[k] > 0.75
    others = torch.stack([img[j] for j in range(3) if j != k]).max(0).values < 0.25
    ys, xs = torch.nonzero(own & others, as_tuple=True)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


@pytest.mark.parametrize("crop", [None, (128, 96)])
def test_boxes_stay_on_their_objects(crop):
    img, boxes = scene()
    aug = Augmenter(img, boxes, torch.Generator().manual_seed(1), colour=0.0, crop=crop,
                    min_visible=0.5)
    out_w, out_h = crop or (W, H)
    checked = 0
    for _ in range(6):
        batch = aug.batch(16)
        assert tuple(batch["img"].shape) == (16, 3, out_h, out_w)
        for idx, cls, (cx, cy, bw, bh) in zip(batch["batch_idx"].tolist(),
                                             batch["cls"].view(-1).tolist(),
                                             batch["bboxes"].tolist()):
            box = np.array([(cx - bw / 2) * out_w, (cy - bh / 2) * out_h,
                            (cx + bw / 2) * out_w, (cy + bh / 2) * out_h])
            seen = visible_box(batch["img"][int(idx)], int(cls))
            assert seen is not None, (idx, cls, box)
            # bilinear resampling softens an edge by at most one output pixel
            assert np.abs(box - seen).max() <= 1.5, (crop, idx, cls, box, seen)
            checked += 1
    assert checked > 40


def test_windows_hold_the_object_they_were_cut_around():
    img, boxes = scene()
    aug = Augmenter(img, boxes, torch.Generator().manual_seed(2), colour=0.0, crop=(96, 96),
                    scale=(1.0, 1.0), translate=0.0, flip=0.0, object_share=1.0)
    batch = aug.batch(32)
    whole = {0: (40, 60), 1: (40, 30), 2: (62, 56)}  # every object fits a 96-px window
    sizes = {}
    for idx, cls, (_, _, bw, bh) in zip(batch["batch_idx"].tolist(),
                                       batch["cls"].view(-1).tolist(), batch["bboxes"].tolist()):
        if (round(bw * 96), round(bh * 96)) == whole[int(cls)]:
            sizes.setdefault(int(idx), int(cls))
    # every window shows at least one object whole, and all three objects get windows
    assert len(sizes) == 32 and set(sizes.values()) == {0, 1, 2}


def test_negative_frames_give_background_windows():
    img, _ = scene()
    aug = Augmenter(img, [np.zeros((0, 5))], torch.Generator().manual_seed(3), crop=(64, 64))
    batch = aug.batch(8)
    assert tuple(batch["img"].shape) == (8, 3, 64, 64) and len(batch["cls"]) == 0


def test_crop_policy():
    small = np.array([[0, 0, 30, 60], [100, 100, 140, 130]], float)
    # small objects in a 640x480 input: 256-px windows (a fifth of the pixels)
    assert crop_size((640, 480), small) == (256, 256)
    # one big object: a window 1.25x its long side would cover most of the frame
    assert crop_size((256, 128), np.array([[10, 10, 130, 80]], float)) is None
    assert crop_size((640, 480), small, side=None) is None
    assert crop_size((640, 480), small, side=100) == (128, 128)  # a multiple of 32
    assert crop_size((640, 160), small, side=200) == (224, 160)  # never taller than the frame
    with pytest.raises(Exception, match="crop"):
        crop_size((640, 480), small, side=8)
