"""Box-aware augmentation for a handful of frames: random batches of scaled, shifted,
flipped and recoloured copies, made on the tensors in one ``grid_sample`` call."""

from __future__ import annotations

import math

import numpy as np

GRAY = 114 / 255  # fill for pixels shifted in from outside the frame, as ultralytics pads


class Augmenter:
    """Random batches of scaled, shifted, flipped and recoloured copies of a few images.

    Images are ``(N, 3, H, W)`` float tensors in 0..1; ``boxes[i]`` are ``(k, 5)`` arrays
    of ``class, x1, y1, x2, y2`` normalised to 0..1 (empty for negative frames).
    """

    def __init__(self, images, boxes: list[np.ndarray], generator, *, scale=(0.6, 1.5),
                 translate=0.25, flip=0.5, colour=0.25, min_visible=0.3, weights=None):
        self.images = images
        self.boxes = boxes
        # How often each image is drawn, relatively; None: all equally often.
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.g = generator
        self.scale, self.translate, self.flip = scale, translate, flip
        self.colour, self.min_visible = colour, min_visible

    def _uniform(self, n, lo, hi):
        import torch

        return lo + (hi - lo) * torch.rand(n, generator=self.g, dtype=torch.float64)

    def batch(self, size: int) -> dict:
        import torch
        import torch.nn.functional as F

        n = len(self.images)
        if self.weights is None:
            pick = torch.randint(n, (size,), generator=self.g)
        else:
            pick = torch.multinomial(torch.from_numpy(self.weights), size, replacement=True,
                                     generator=self.g)
        s = torch.exp(self._uniform(size, math.log(self.scale[0]), math.log(self.scale[1])))
        tx = self._uniform(size, -self.translate, self.translate) * 2  # normalised -1..1 coords
        ty = self._uniform(size, -self.translate, self.translate) * 2
        f = torch.where(torch.rand(size, generator=self.g, dtype=torch.float64) < self.flip,
                        -1.0, 1.0).double()
        # Output point u maps to input point f * (u - t) / s (x), (u - t) / s (y).
        theta = torch.zeros(size, 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = f / s
        theta[:, 0, 2] = -f * tx / s
        theta[:, 1, 1] = 1 / s
        theta[:, 1, 2] = -ty / s
        src = self.images[pick] - GRAY  # so that zero padding comes out gray
        grid = F.affine_grid(theta.float(), list(src.shape), align_corners=False)
        img = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False) + GRAY
        img = self._recolour(img)

        idx, cls, xywh = [], [], []
        for j in range(size):
            b = self.boxes[int(pick[j])]
            if not len(b):
                continue
            sj, fj, txj, tyj = float(s[j]), float(f[j]), float(tx[j]), float(ty[j])
            # normalised 0..1 -> -1..1, transform, back to 0..1
            x = (b[:, [1, 3]] * 2 - 1) * sj * fj + txj
            y = (b[:, [2, 4]] * 2 - 1) * sj + tyj
            x1, x2 = (np.minimum(x[:, 0], x[:, 1]) + 1) / 2, (np.maximum(x[:, 0], x[:, 1]) + 1) / 2
            y1, y2 = (y[:, 0] + 1) / 2, (y[:, 1] + 1) / 2
            full = (x2 - x1) * (y2 - y1)
            cx1, cy1 = np.clip(x1, 0, 1), np.clip(y1, 0, 1)
            cx2, cy2 = np.clip(x2, 0, 1), np.clip(y2, 0, 1)
            seen = np.clip(cx2 - cx1, 0, None) * np.clip(cy2 - cy1, 0, None)
            # A box mostly pushed out of view is dropped; its sliver stays unlabelled.
            keep = seen >= self.min_visible * full
            for k in np.flatnonzero(keep):
                idx.append(j)
                cls.append(b[k, 0])
                xywh.append(((cx1[k] + cx2[k]) / 2, (cy1[k] + cy2[k]) / 2,
                             cx2[k] - cx1[k], cy2[k] - cy1[k]))
        return {
            "img": img,
            "batch_idx": torch.tensor(idx, dtype=torch.float32),
            "cls": torch.tensor(cls, dtype=torch.float32).view(-1, 1),
            "bboxes": torch.tensor(np.array(xywh, dtype=np.float32).reshape(-1, 4)),
        }

    def _recolour(self, img):
        import torch

        n = img.shape[0]
        c = self.colour
        bright = self._uniform(n, 1 - c, 1 + c).float().view(n, 1, 1, 1)
        contrast = self._uniform(n, 1 - c, 1 + c).float().view(n, 1, 1, 1)
        sat = self._uniform(n, 1 - 2 * c, 1 + 2 * c).float().view(n, 1, 1, 1)
        gray = img.mean(1, keepdim=True)
        img = gray + (img - gray) * sat
        mean = img.mean((1, 2, 3), keepdim=True)
        img = (img - mean) * contrast + mean
        return torch.clamp(img * bright, 0, 1)
