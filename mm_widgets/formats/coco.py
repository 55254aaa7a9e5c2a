"""COCO detection JSON, with the video fields of video-COCO (TAO, YouTube-VIS) as extras.

A round trip keeps boxes, classes, scores, sources, rounds, tracks and the looked-at
frames (a negative is an image without annotations). ``pycocotools`` reads the file as is:
``videos``, ``video_id``, ``frame_id``, ``track_id`` and our own fields are extras it ignores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import LabelError
from ..labels import Box, LabelSet
from ..storage import write_atomic
from .bounds import BoxBudget, clip_length, load_json
from .images import exported_frames, image_name, write_images


def to_coco(labels: LabelSet, path: str | Path | None = None, *,
            file_names: Sequence[str] | None = None, frames=None, video: str = "clip") -> dict:
    """COCO detection JSON (written to ``path`` when given). Looked-at frames without
    boxes are images without annotations.

    With ``frames`` (the :class:`~mm_widgets.data.Frames` labelled), the images are written
    too, as ``images/NNNNNN.jpg`` beside ``path``, and ``file_name`` points there. The clip
    is one entry of ``videos`` named ``video``; images carry ``video_id`` and ``frame_id``,
    annotations ``track_id`` where a box has a track.
    """
    labels.require("boxes")
    categories = {c: i + 1 for i, c in enumerate(labels.classes)}
    w, h = labels.size if labels.size is not None else (None, None)
    if frames is not None:
        w, h = frames.size
        if path is None:
            raise LabelError("to write the images, to_coco needs the path of the JSON file")
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
    for f in written:
        for b, r in labels.boxes_with_rounds(f):
            annotations.append({"id": len(annotations) + 1, "image_id": f, "round": r,
                                "video_id": 1, **b.to_coco(categories)})
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


def from_coco(source: str | Path | dict, *, n_frames: int | None = None) -> LabelSet:
    """A :class:`LabelSet` from COCO detection JSON (a file or the parsed dict)."""
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
    labels = LabelSet(ordered, "boxes", size=size, n_frames=n_frames)
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
        budget.spend(1, f"annotation {str(ann.get('id'))[:20]}")
        box = Box.from_coco(ann, cats)
        try:
            r = int(ann.get("round", 0))
        except (TypeError, ValueError):
            raise LabelError(f"COCO annotation round must be an integer: {ann!r:.80}") from None
        labels.add_box(f, box, round=r, looked_at=f in looked)
    for f in looked:
        labels.mark_looked_at(f)
    return labels
