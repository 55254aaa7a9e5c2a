"""COCO detection and instance segmentation JSON, with the video fields of video-COCO (TAO,
YouTube-VIS) as extras.

A round trip keeps boxes (or masks), classes, scores, sources, rounds, tracks and the
looked-at frames (a negative is an image without annotations). ``pycocotools`` reads the
file as is: ``videos``, ``video_id``, ``frame_id``, ``track_id`` and our own fields are
extras it ignores. Masks are written as polygons, or as run-length encoding
(``segmentation="rle"``: COCO's uncompressed ``{"size": [h, w], "counts": [...]}``, runs
down the columns starting with background); both are read back, compressed RLE too, an
RLE mask traced into polygons along pixel edges (the same pixels).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import LabelError
from ..labels import Box, LabelSet, Mask
from ..polygons import edge_count, polygons_from_mask
from ..storage import write_atomic
from .bounds import MAX_PIXELS, BoxBudget, clip_length, load_json
from .images import exported_frames, image_name, write_images


def to_coco(labels: LabelSet, path: str | Path | None = None, *,
            file_names: Sequence[str] | None = None, frames=None, video: str = "clip",
            segmentation: str = "polygons") -> dict:
    """COCO detection JSON, or instance segmentation for masks (written to ``path`` when
    given). Looked-at frames without labels are images without annotations.

    Masks are written as ``segmentation="polygons"`` or ``"rle"`` (uncompressed counts,
    which need the frame size).

    With ``frames`` (the :class:`~mm_widgets.data.Frames` labelled), the images are written
    too, as ``images/NNNNNN.jpg`` beside ``path``, and ``file_name`` points there. The clip
    is one entry of ``videos`` named ``video``; images carry ``video_id`` and ``frame_id``,
    annotations ``track_id`` where a box has a track.
    """
    if labels.task == "classes":
        labels.require("boxes")
    if segmentation not in ("polygons", "rle"):
        raise LabelError(f"segmentation must be 'polygons' or 'rle', got {segmentation!r}")
    categories = {c: i + 1 for i, c in enumerate(labels.classes)}
    w, h = labels.size if labels.size is not None else (None, None)
    if frames is not None:
        w, h = frames.size
        if path is None:
            raise LabelError("to write the images, to_coco needs the path of the JSON file")
    rle = labels.task == "masks" and segmentation == "rle"
    if rle and w is None:
        raise LabelError("COCO RLE needs the frame size: build the LabelSet with size=(w, h)")
    looked = set(labels.looked_at)
    written = exported_frames(labels)
    images = []
    for f in written:
        if file_names:
            name = file_names[f]
        else:
            name = f"images/{image_name(f)}" if frames is not None else image_name(f)
        img = {"id": f, "file_name": name, "looked_at": f in looked, "video_id": 1, "frame_id": f}
        if w is not None:
            img.update(width=w, height=h)
        images.append(img)
    annotations = []
    shapes = labels.masks_with_rounds if labels.task == "masks" else labels.boxes_with_rounds
    for f in written:
        for b, r in shapes(f):
            ann = {"id": len(annotations) + 1, "image_id": f, "round": r, "video_id": 1,
                   **b.to_coco(categories)}
            if rle:
                pixels = b.pixels((w, h))
                ann.update(segmentation={"size": [h, w], "counts": rle_counts(pixels)},
                           area=int(pixels.sum()))
            annotations.append(ann)
    clip = {"id": 1, "name": video}
    if w is not None:
        clip.update(width=w, height=h)
    if labels.n_frames is not None:
        clip["length"] = labels.n_frames
    coco = {"info": {"description": f"{video}: labels from mm_widgets"},
            "videos": [clip], "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": c, "supercategory": ""} for c, i in categories.items()]}
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if frames is not None:
            write_images(frames, written, Path(path).parent / "images")
        write_atomic(path, json.dumps(coco).encode())
    return coco


def rle_counts(pixels: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE counts of a ``height x width`` boolean mask: the lengths of
    alternating runs of 0s and 1s down the columns (column-major), starting with 0s."""
    flat = np.asarray(pixels, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    return [0, *counts] if flat.size and flat[0] else counts


def rle_pixels(rle, where: str) -> np.ndarray:
    """The ``height x width`` boolean mask of a COCO RLE (counts a list, or COCO's
    compressed string), or a :class:`LabelError` naming ``where``."""
    size = rle.get("size")
    if not (isinstance(size, list) and len(size) == 2
            and all(type(v) is int and v > 0 for v in size)):
        raise LabelError(f"{where}: an RLE size is [height, width], got {size!r:.60}")
    h, w = size
    if h * w > MAX_PIXELS:
        raise LabelError(f"{where}: an RLE of {h}x{w} pixels is past "
                         f"{MAX_PIXELS:,} (mm_widgets.formats.bounds.MAX_PIXELS)")
    counts = rle.get("counts")
    if isinstance(counts, str):
        counts = _uncompress(counts, where)
    if not (isinstance(counts, list) and all(type(c) is int and c >= 0 for c in counts)):
        raise LabelError(f"{where}: RLE counts must be non-negative integers or COCO's string")
    if sum(counts) != h * w:
        raise LabelError(f"{where}: RLE counts add up to {sum(counts)}, not the {h}x{w} pixels")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((h, w), order="F")


def _uncompress(text: str, where: str) -> list[int]:
    """COCO's compressed RLE string (pycocotools' rleFrString) as a list of counts."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text) or k > 12:
                raise LabelError(f"{where}: malformed compressed RLE counts")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise LabelError(f"{where}: malformed compressed RLE counts")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _segmentation(ann, labels: LabelSet, budget: BoxBudget, element: str):
    """The rings of an annotation's ``segmentation``: its polygons, or its RLE traced."""
    seg = ann.get("segmentation")
    if isinstance(seg, dict):
        pixels = rle_pixels(seg, f"{budget.where}: {element}")
        if labels.size is not None and pixels.shape != (labels.size[1], labels.size[0]):
            raise LabelError(f"{budget.where}: {element}: its RLE is {pixels.shape[1]}x"
                             f"{pixels.shape[0]}, the image {labels.size[0]}x{labels.size[1]}")
        budget.points(edge_count(pixels), element)
        rings = polygons_from_mask(pixels)
        if not rings:
            raise LabelError(f"{budget.where}: {element}: its RLE covers no pixel")
        return rings
    if isinstance(seg, list):
        budget.points(sum(len(r) // 2 if isinstance(r, list) else 1 for r in seg), element)
        return seg
    raise LabelError(f"{budget.where}: {element}: segmentation must be polygons or RLE, "
                     f"got {seg!r:.60}")


def from_coco(source: str | Path | dict, *, n_frames: int | None = None) -> LabelSet:
    """A :class:`LabelSet` from COCO JSON (a file or the parsed dict): masks when the
    annotations have a ``segmentation`` (polygons or RLE), else boxes."""
    if isinstance(source, dict):
        coco, where = source, "COCO data"
    else:
        path = Path(source)
        where = str(path)
        coco = load_json(path, "COCO file")
    if not isinstance(coco, dict):
        raise LabelError("COCO data must be a JSON object with images, annotations, categories")
    images, anns, raw_cats = (coco.get(k, []) for k in ("images", "annotations", "categories"))
    if not all(isinstance(v, list) for v in (images, anns, raw_cats)):
        raise LabelError("COCO images, annotations and categories must be lists")
    cats = {}
    for c in raw_cats:
        if not (isinstance(c, dict) and isinstance(c.get("id"), int)
                and isinstance(c.get("name"), str)):
            raise LabelError(f"malformed COCO category {c!r:.60}: needs an integer id and a name")
        cats[c["id"]] = c["name"]
    if not cats:
        raise LabelError("COCO data has no categories")
    ordered = [cats[k] for k in sorted(cats)]
    size = None
    if images and isinstance(images[0], dict) and "width" in images[0]:
        try:
            size = (int(images[0]["width"]), int(images[0]["height"]))
        except (KeyError, TypeError, ValueError):
            raise LabelError(f"malformed COCO image size in {images[0]!r:.80}") from None
    videos = coco.get("videos")
    if n_frames is None and isinstance(videos, list) and len(videos) == 1 \
            and isinstance(videos[0], dict) and isinstance(videos[0].get("length"), int):
        n_frames = clip_length(videos[0]["length"], f"{where}: videos[0].length")
    masks = any(isinstance(a, dict) and a.get("segmentation") for a in anns)
    labels = LabelSet(ordered, "masks" if masks else "boxes", size=size, n_frames=n_frames)
    budget = BoxBudget(labels, where)
    looked = []
    frame_of = {}  # image id -> frame: video-COCO's frame_id where given, else the image id
    for img in images:
        if not isinstance(img, dict):
            raise LabelError(f"a COCO image must be an object, got {img!r:.60}")
        f = budget.frame(img.get("frame_id", img.get("id")), f"image {str(img.get('id'))[:20]}")
        frame_of[img.get("id")] = f
        if img.get("looked_at", True):
            looked.append(f)
    for ann in anns:
        if not isinstance(ann, dict):
            raise LabelError(f"a COCO annotation must be an object, got {ann!r:.60}")
        image_id = ann.get("image_id")
        try:
            f = frame_of[image_id]
        except (KeyError, TypeError):
            f = budget.frame(image_id, f"annotation {str(ann.get('id'))[:20]}")
        element = f"annotation {str(ann.get('id'))[:20]}"
        budget.spend(1, element)
        try:
            r = int(ann.get("round", 0))
        except (TypeError, ValueError):
            raise LabelError(f"COCO annotation round must be an integer: {ann!r:.80}") from None
        if masks:
            if not ann.get("segmentation"):
                raise LabelError(f"{where}: {element} has no segmentation, in a file of masks")
            mask = Mask.from_coco(ann, cats, _segmentation(ann, labels, budget, element))
            try:
                labels.add_mask(f, mask, round=r, looked_at=f in looked)
            except LabelError as e:
                raise type(e)(f"{where}: {element}: {e}") from None
        else:
            labels.add_box(f, Box.from_coco(ann, cats), round=r, looked_at=f in looked)
    for f in looked:
        labels.mark_looked_at(f)
    return labels
