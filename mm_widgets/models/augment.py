"""Box-aware augmentation for a handful of frames: random batches of scaled, shifted,
flipped and recoloured copies (of whole frames, or of crops around the objects), made on
the tensors in one ``grid_sample`` call; instance masks, when given, go through the same
transform."""

from __future__ import annotations

import math

import numpy as np

GRAY = 114 / 255  # fill for pixels shifted in from outside the frame, as ultralytics pads


class Augmenter:
    """Random batches of scaled, shifted, flipped and recoloured copies of a few images.

    Images are ``(N, 3, H, W)`` float tensors in 0..1; ``boxes[i]`` are ``(k, 5)`` arrays
    of ``class, x1, y1, x2, y2`` normalised to 0..1 (empty for negative frames).

    ``crop=(w, h)`` cuts every copy from a ``w x h`` window of its image, at the image's own
    scale, instead of using the whole image: a window around one of its objects (chosen at
    random, the whole object inside the window) ``object_share`` of the time, anywhere in
    the image otherwise (background, negatives, objects cut by the window's edge). Scale,
    shift and flip then apply to the window as they would to a whole image. A fully
    convolutional detector learns the same thing from the windows at a fraction of the
    pixels, and predicts on whole images at the same scale.

    ``masks[i]``, when given, is a ``(k, H, W)`` tensor of image ``i``'s instance masks (1
    inside), one per row of ``boxes[i]`` in the same order. Each batch then also holds
    ``"masks"``: ``(instances, h / mask_ratio, w / mask_ratio)`` floats, 0 or 1, one per
    box of the batch in its order, sampled through the image's own transform (bilinear,
    then > 0.5) at the resolution the segmentation loss compares them at (ultralytics'
    prototypes are 1/4 of the input).
    """

    def __init__(self, images, boxes: list[np.ndarray], generator, *, scale=(0.6, 1.5),
                 translate=0.25, flip=0.5, colour=0.25, min_visible=0.3, weights=None,
                 crop: tuple[int, int] | None = None, object_share=0.8, masks=None,
                 mask_ratio: int = 4):
        self.images = images
        self.boxes = boxes
        if masks is not None and (len(masks) != len(boxes)
                                  or any(len(m) != len(b) for m, b in zip(masks, boxes))):
            raise ValueError("masks must hold one (k, H, W) stack per image, one mask per box")
        self.masks = masks
        self.mask_ratio = int(mask_ratio)
        height, width = images.shape[-2:]
        if crop is not None and (crop[0] > width or crop[1] > height):
            raise ValueError(f"crop {crop} is larger than the {width}x{height} images")
        self.crop = None if crop is None or tuple(crop) == (width, height) else tuple(crop)
        self.object_share = object_share
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
        # In normalised -1..1 image coordinates the window is centred at c and reaches a
        # (half its size) each way; a whole image is c = 0, a = 1.
        if self.crop is None:
            cx = cy = np.zeros(size)
            ax = ay = 1.0
            out_shape = list(self.images.shape[1:])
        else:
            cx, cy, ax, ay = self._windows(pick)
            out_shape = [self.images.shape[1], self.crop[1], self.crop[0]]
        # Output point u maps to window point v = f * (u - t) / s (x), (u - t) / s (y), and
        # that to image point c + a * v.
        theta = torch.zeros(size, 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = ax * f / s
        theta[:, 0, 2] = -ax * f * tx / s + torch.from_numpy(cx)
        theta[:, 1, 1] = ay / s
        theta[:, 1, 2] = -ay * ty / s + torch.from_numpy(cy)
        src = self.images[pick] - GRAY  # so that zero padding comes out gray
        grid = F.affine_grid(theta.float(), [size] + out_shape, align_corners=False)
        img = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False) + GRAY
        img = self._recolour(img)

        idx, cls, xywh, kept = [], [], [], []
        for j in range(size):
            b = self.boxes[int(pick[j])]
            if not len(b):
                continue
            sj, fj, txj, tyj = float(s[j]), float(f[j]), float(tx[j]), float(ty[j])
            # normalised 0..1 -> image -1..1 -> window -1..1, transform, back to 0..1
            x = ((b[:, [1, 3]] * 2 - 1) - cx[j]) / ax * sj * fj + txj
            y = ((b[:, [2, 4]] * 2 - 1) - cy[j]) / ay * sj + tyj
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
            kept.append((j, np.flatnonzero(keep)))
        out = {
            "img": img,
            "batch_idx": torch.tensor(idx, dtype=torch.float32),
            "cls": torch.tensor(cls, dtype=torch.float32).view(-1, 1),
            "bboxes": torch.tensor(np.array(xywh, dtype=np.float32).reshape(-1, 4)),
        }
        if self.masks is not None:
            out["masks"] = self._sample_masks(pick, theta, out_shape[1:], kept)
        return out

    def _sample_masks(self, pick, theta, shape, kept):
        """The kept instances' masks through their image's transform ``theta``, at
        1/``mask_ratio`` of the output ``shape`` ``(h, w)``, in batch order."""
        import torch
        import torch.nn.functional as F

        h, w = shape[0] // self.mask_ratio, shape[1] // self.mask_ratio
        parts = [torch.zeros(0, h, w)]
        for j, rows in kept:
            if not len(rows):
                continue
            src = self.masks[int(pick[j])][torch.from_numpy(rows)].float()[:, None]
            grid = F.affine_grid(theta[j:j + 1].float().expand(len(rows), 2, 3),
                                 [len(rows), 1, h, w], align_corners=False)
            sampled = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros",
                                    align_corners=False)
            parts.append((sampled[:, 0] > 0.5).float())
        return torch.cat(parts)

    def _windows(self, pick):
        """Window centres ``cx, cy`` (arrays) and half sizes ``ax, ay`` for the picked images,
        in normalised -1..1 image coordinates; windows stay inside their image."""
        import torch

        height, width = self.images.shape[-2:]
        ax, ay = self.crop[0] / width, self.crop[1] / height
        n = len(pick)
        u = torch.rand(n, 3, generator=self.g, dtype=torch.float64).numpy()
        cx, cy = np.empty(n), np.empty(n)
        for j in range(n):
            b = self.boxes[int(pick[j])]
            lo_x, hi_x, lo_y, hi_y = -1 + ax, 1 - ax, -1 + ay, 1 - ay
            if len(b) and u[j, 0] < self.object_share:
                x1, y1, x2, y2 = b[int(u[j, 1] * len(b)) % len(b), 1:] * 2 - 1
                # Every centre that keeps the whole object inside the window (the object's
                # own centre when it is larger than the window), and the window inside the image.
                lo_x, hi_x = self._span(x2 - ax, x1 + ax, lo_x, hi_x)
                lo_y, hi_y = self._span(y2 - ay, y1 + ay, lo_y, hi_y)
            cx[j] = lo_x + (hi_x - lo_x) * u[j, 2]
            cy[j] = lo_y + (hi_y - lo_y) * float(torch.rand(1, generator=self.g, dtype=torch.float64))
        return cx, cy, ax, ay

    @staticmethod
    def _span(lo, hi, inside_lo, inside_hi):
        if lo > hi:
            lo = hi = (lo + hi) / 2
        lo, hi = max(lo, inside_lo), min(hi, inside_hi)
        if lo > hi:  # the object reaches past the image edge: the window keeps to the edge
            lo = hi = min(max((lo + hi) / 2, inside_lo), inside_hi)
        return lo, hi

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
