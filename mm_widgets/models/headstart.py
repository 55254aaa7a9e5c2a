"""A head start for box micro-models: YOLO weights this project pretrains on synthetic scenes.

A micro-model trained from random weights finds nothing for its first ~30 epochs: it has
to learn what an edge, a texture and an object's outline are before it can learn *this*
object. The head start is the same small network (``architecture(1, 0.125)``) trained once,
here, on random synthetic scenes to find "an object": a compact thing that differs from
its surroundings, whatever its shape, colour, texture, size or what hides part of it,
with a box tight on its pixels. ``overfit(weights="headstart")`` starts from it: every
class of the user's labels starts from the one "object" class and learns what sets it
apart from there.

No footage is used, so nothing whose truth the benchmarks keep for evaluation is seen;
the scenes are drawn by :func:`scene` from a seed (shapes, textures, scales, occlusion,
frame edges, blur, noise, light), different from the synthetic crowd's and shapes'
drawing code. The weights ship in the package (``weights/yolo_headstart.pt``, written by
this module's command line) and load offline::

    python -m mm_widgets.models.headstart --out mm_widgets/models/weights/yolo_headstart.pt

(how long it trains and what it reached are stored in the file's ``made`` entry).

It is not the default start (``weights="auto"`` still trains from scratch when no YOLO11n
file is on disk): issue 25 keeps a head start only if it beats from-scratch on every clip
with truth in seconds *and* tight rate in the same run, and it did not (README, "A head
start": much faster first passes with tighter boxes on bunny, carphone, cockatoo and the
crowd, but megamind's three classes trained longer, and the crowd's tight rate was 0.002
lower).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

HEADSTART_FILE = Path(__file__).resolve().parent / "weights" / "yolo_headstart.pt"
OBJECT = "object"
WIDTH = 0.125
#: Input sizes drawn for each batch (width, height): multiples of 32, the aspect ratios of
#: the inputs ``overfit`` picks (128-640 on the long side).
SIZES = [(256, 192), (320, 256), (320, 192), (256, 256), (160, 96), (224, 160), (256, 128),
         (192, 128), (288, 224), (192, 160)]
MIN_VISIBLE = 0.4  # an object is labelled while at least this share of its pixels is seen


# -- scenes -------------------------------------------------------------------------------------
def _noise(rng, h: int, w: int, cells: float) -> np.ndarray:
    """Smooth random values in 0..1 varying over about ``cells`` cells across the image."""
    import cv2

    gh, gw = max(2, int(round(h / max(h, w) * cells)) + 1), max(2, int(round(w / max(h, w) * cells)) + 1)
    small = rng.random((gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _texture(rng, h: int, w: int) -> np.ndarray:
    """An ``h x w x 3`` float32 texture (0-255): two colours blended by noise, sometimes
    stripes, checks or speckle on top, under a light gradient."""
    a, b = rng.uniform(0, 255, 3).astype(np.float32), rng.uniform(0, 255, 3).astype(np.float32)
    t = _noise(rng, h, w, rng.uniform(2, 24))[..., None]
    img = a + (b - a) * t
    kind = rng.integers(4)
    yy, xx = np.ogrid[0:h, 0:w]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    if kind == 1:  # stripes at an angle
        ang, period = rng.uniform(0, np.pi), rng.uniform(4, 40)
        s = (np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * (2 * np.pi / period)) > 0)[..., None]
        img = np.where(s, img, img * np.float32(rng.uniform(0.5, 0.9)))
    elif kind == 2:  # checks / tiles
        p = rng.uniform(6, 48)
        s = (((xx // p) + (yy // (p * rng.uniform(0.5, 1.5)))) % 2 == 0)[..., None]
        img = np.where(s, img, img + rng.uniform(-50, 50, 3).astype(np.float32))
    elif kind == 3:  # speckle
        img = img + rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(rng.uniform(5, 30))
    light = 0.75 + 0.5 * (xx * np.float32(rng.uniform(-1, 1) / max(w - 1, 1))
                          + yy * np.float32(rng.uniform(-1, 1) / max(h - 1, 1)))
    return img * np.clip(light, 0.4, 1.4)[..., None]


def _shape(rng, bw: int, bh: int) -> np.ndarray:
    """A boolean ``bh x bw`` mask of one object filling its box (every row and column hit)."""
    import cv2

    m = np.zeros((bh, bw), np.uint8)
    kind = rng.integers(7)
    if kind == 0:  # ellipse
        cv2.ellipse(m, (((bw - 1) / 2, (bh - 1) / 2), (float(bw), float(bh)), 0.0), 1, -1)
    elif kind == 1:  # rounded box (a superellipse)
        yy, xx = np.mgrid[0:bh, 0:bw]
        p = rng.uniform(2.5, 8)
        u, v = (xx + 0.5) / bw * 2 - 1, (yy + 0.5) / bh * 2 - 1
        m[:] = (np.abs(u) ** p + np.abs(v) ** p) <= 1
    elif kind == 2:  # star-like polygon
        n = rng.integers(5, 13)
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(0.45, 1.0, n)
        pts = np.stack([np.cos(ang) * r, np.sin(ang) * r], 1)
        pts = (pts - pts.min(0)) / np.maximum(pts.max(0) - pts.min(0), 1e-6)
        pts = pts * [bw - 1, bh - 1]
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    elif kind == 3:  # blob: smooth noise inside an ellipse
        yy, xx = np.mgrid[0:bh, 0:bw]
        u, v = (xx + 0.5) / bw * 2 - 1, (yy + 0.5) / bh * 2 - 1
        m[:] = (u ** 2 + v ** 2) * 0.8 + 0.5 * _noise(rng, bh, bw, 4) < 0.95
    elif kind == 4:  # figure: head over a body over legs
        hr = max(1, int(bw * rng.uniform(0.25, 0.4)))
        cv2.circle(m, (bw // 2, hr), hr, 1, -1)
        body_w = int(bw * rng.uniform(0.6, 1.0))
        x0 = (bw - body_w) // 2
        cv2.rectangle(m, (x0, 2 * hr), (x0 + body_w - 1, int(bh * 0.7)), 1, -1)
        for lx in (x0, x0 + body_w - max(1, body_w // 3)):
            cv2.rectangle(m, (lx, int(bh * 0.7)), (lx + max(1, body_w // 3) - 1, bh - 1), 1, -1)
    elif kind == 5:  # vehicle: a body, a cabin, two wheels
        cv2.rectangle(m, (0, int(bh * 0.35)), (bw - 1, int(bh * 0.8)), 1, -1)
        cv2.rectangle(m, (int(bw * rng.uniform(0.15, 0.35)), 0),
                      (int(bw * rng.uniform(0.6, 0.85)), int(bh * 0.4)), 1, -1)
        r = max(1, int(bh * 0.2))
        for cx in (int(bw * 0.22), int(bw * 0.78)):
            cv2.circle(m, (cx, bh - 1 - r), r, 1, -1)
    else:  # animal: a body, a head, legs
        cv2.ellipse(m, (int(bw * 0.45), int(bh * 0.45)), (max(1, int(bw * 0.35)), max(1, int(bh * 0.25))),
                    0, 0, 360, 1, -1)
        cv2.ellipse(m, (int(bw * 0.85), int(bh * 0.25)), (max(1, int(bw * 0.15)), max(1, int(bh * 0.2))),
                    0, 0, 360, 1, -1)
        for lx in rng.uniform(0.15, 0.7, 4):
            cv2.rectangle(m, (int(bw * lx), int(bh * 0.5)), (int(bw * lx) + max(1, bw // 14), bh - 1), 1, -1)
    m = m.astype(bool)
    if rng.random() < 0.5:
        m = m[:, ::-1]
    ys, xs = np.nonzero(m)
    if not len(ys):
        m[:] = True
        return m
    return m[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def scene(rng, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One random scene at ``size`` (width, height): an ``h x w x 3`` uint8 image and its
    objects' boxes, ``(n, 4)`` x1, y1, x2, y2 in pixels (the object's whole extent cut to
    the frame, kept while at least 40% of its pixels are seen).

    The background is a texture, often split into two regions (ground and sky, a wall),
    with unlabelled clutter: lines and poles (too thin to be objects) and specks. Then
    0-9 objects of seven kinds of outline (ellipse, rounded box, polygon, blob, figure,
    vehicle, animal), each with its own texture, size (8-80% of the frame height, most
    small) and aspect ratio, some cut by the frame edge, drawn in a random order so that
    some hide parts of others; then blur, noise and a change of brightness and contrast.
    """
    import cv2

    w, h = size
    img = _texture(rng, h, w)
    if rng.random() < 0.6:  # a second region: horizon, wall
        other = _texture(rng, h, w)
        yy, xx = np.ogrid[0:h, 0:w]
        cut = rng.uniform(0.2, 0.8) * h + (xx - w / 2) * rng.uniform(-0.4, 0.4)
        img = np.where((yy > cut)[..., None], other, img)
    for _ in range(rng.integers(0, 6)):  # clutter nobody labels: lines, poles, specks
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        if rng.random() < 0.6:
            p1 = rng.uniform(0, [w, h]).astype(int)
            p2 = rng.uniform(0, [w, h]).astype(int)
            cv2.line(img, tuple(map(int, p1)), tuple(map(int, p2)), colour, int(rng.integers(1, 4)))
        else:
            c = rng.uniform(0, [w, h]).astype(int)
            cv2.circle(img, tuple(map(int, c)), int(rng.integers(1, 4)), colour, -1)
    owner = np.full((h, w), -1, np.int32)
    objects = []
    n = rng.choice(10, p=[0.04, 0.2, 0.16, 0.14, 0.12, 0.1, 0.08, 0.07, 0.05, 0.04])
    for k in range(n):
        long = h * math.exp(rng.uniform(math.log(0.08), math.log(0.8)))
        aspect = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))  # width / height
        bw, bh = (long, long / aspect) if aspect >= 1 else (long * aspect, long)
        bw, bh = max(3, int(bw)), max(3, int(bh))
        mask = _shape(rng, bw, bh)
        bh, bw = mask.shape
        x0 = int(rng.uniform(-0.3 * bw, w - 0.7 * bw))
        y0 = int(rng.uniform(-0.3 * bh, h - 0.7 * bh))
        tex = _texture(rng, bh, bw)
        if rng.random() < 0.5:  # shaded like a solid: darker toward one side
            yy, xx = np.ogrid[0:bh, 0:bw]
            tex = tex * (0.7 + 0.5 * (1 - (xx / max(bw, 1) + yy / max(bh, 1)) / 2)).astype(np.float32)[..., None]
        fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + bw, w), min(y0 + bh, h)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        part = mask[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        region = img[fy0:fy1, fx0:fx1]
        region[part] = tex[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0][part]
        if rng.random() < 0.4:  # a darker outline
            edge = part & ~cv2.erode(part.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            region[edge] *= 0.5
        owner[fy0:fy1, fx0:fx1][part] = k
        ys, xs = np.nonzero(part)
        objects.append((k, int(mask.sum()), fx0 + xs.min(), fy0 + ys.min(),
                        fx0 + xs.max() + 1, fy0 + ys.max() + 1))
    seen = np.bincount(owner[owner >= 0].ravel(), minlength=max(n, 1))
    boxes = np.array([b[2:] for b in objects if seen[b[0]] >= MIN_VISIBLE * b[1]],
                     dtype=np.float64).reshape(-1, 4)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    img = img * np.float32(rng.uniform(0.6, 1.3)) + np.float32(rng.uniform(-40, 40))
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(0, 8))
    return np.clip(img, 0, 255).astype(np.uint8), boxes


def scene_batch(rng, n: int, size: tuple[int, int]) -> dict:
    """``n`` scenes at ``size`` as a detection batch (the form :class:`~.augment.Augmenter`
    gives: ``img`` 0-1 floats, ``batch_idx``, ``cls``, normalised centre ``bboxes``)."""
    import torch

    w, h = size
    imgs, idx, boxes = [], [], []
    for j in range(n):
        img, b = scene(rng, size)
        imgs.append(img)
        idx += [j] * len(b)
        boxes += [((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
                  for x1, y1, x2, y2 in b]
    return {"img": torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div(255),
            "batch_idx": torch.tensor(idx, dtype=torch.float32),
            "cls": torch.zeros((len(idx), 1)),
            "bboxes": torch.tensor(np.array(boxes, dtype=np.float32).reshape(-1, 4))}


# -- pretraining ---------------------------------------------------------------------------------
def pretrain(steps: int, *, batch: int = 32, lr: float = 0.002, seed: int = 0,
             progress=True) -> tuple[dict, dict]:
    """Train the head start: ``steps`` AdamW steps on fresh scenes at a random input size
    each. Returns (the file's payload, what was measured)."""
    import torch

    from .detector import detection_loss
    from .training import Schedule, adamw, train
    from .yolo_net import architecture, build_network, prior_for_input_size, quiet_ultralytics

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = architecture(1, WIDTH)
    net = build_network(cfg)
    prior_for_input_size(net, (320, 256))
    opt = adamw(net, lr)
    per_epoch = 50
    epochs = max(1, steps // per_epoch)

    def batches(epoch):
        for _ in range(per_epoch):
            yield scene_batch(rng, batch, SIZES[rng.integers(len(SIZES))])

    started = time.perf_counter()
    with quiet_ultralytics():
        result = train(net, opt, batches=batches, loss=detection_loss, epochs=epochs,
                       schedule=Schedule(epochs * per_epoch, warmup=100, final=0.05),
                       average=True, clip_grad=10.0,
                       bn_batches=lambda: (scene_batch(rng, batch, (320, 256))["img"]
                                           for _ in range(16)),
                       progress=progress, desc="pretrain head start")
    seconds = time.perf_counter() - started
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    made = {"steps": epochs * per_epoch, "batch": batch, "lr": lr, "seed": seed,
            "seconds": round(seconds, 1), "final_loss": round(float(result.history[-1]), 4), "stopped": result.stop_reason,
            "torch": str(torch.__version__)}
    payload = {"kind": "yolo", "task": "boxes", "cfg": cfg, "classes": [OBJECT],
               "state_dict": state, "made": made}
    return payload, made


def recall_on_scenes(net, n: int = 200, seed: int = 12345, size=(320, 256)) -> dict:
    """Recall and precision (IoU >= 0.5) of ``net`` on ``n`` fresh scenes, through the
    prediction path's own forward pass and NMS: a check that pretraining learned something,
    not a figure about real footage."""
    import torch

    from ..actions import match_boxes
    from .detector import Seen, YoloMicroModel

    rng = np.random.default_rng(seed)
    net.eval()
    w, h = size
    tp = fn = fp = 0
    with torch.no_grad():
        for start in range(0, n, 20):
            b = scene_batch(rng, min(20, n - start), size)
            found = YoloMicroModel()._sample_boxes(net, b["img"], [OBJECT])
            for j, rows in enumerate(found):
                got = [Seen(tuple(r[:4]), 0) for r in rows.tolist()]
                want = [Seen(((x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w,
                              (y + bh / 2) * h), 0)
                        for x, y, bw, bh in b["bboxes"][b["batch_idx"] == j].tolist()]
                pairs = match_boxes(got, want, 0.5)[0]
                tp += len(pairs)
                fn += len(want) - len(pairs)
                fp += len(got) - len(pairs)
    return {"recall": tp / max(tp + fn, 1), "precision": tp / max(tp + fp, 1), "scenes": n}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HEADSTART_FILE)
    parser.add_argument("--steps", type=int, default=1400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from ..checkpoints import write_checkpoint
    from .yolo_net import build_network

    payload, made = pretrain(args.steps, batch=args.batch, seed=args.seed)
    net = build_network(payload["cfg"])
    net.load_state_dict(payload["state_dict"])
    made["check"] = recall_on_scenes(net)
    payload["made"] = made
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # half precision halves the file; training upcasts it back to float32
    payload["state_dict"] = {k: (v.half() if v.is_floating_point() else v)
                             for k, v in payload["state_dict"].items()}
    write_checkpoint(args.out, payload)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {made}")


if __name__ == "__main__":
    main()
