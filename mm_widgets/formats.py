"""Label files other tools read and write: COCO detection JSON and YOLO txt folders.

Each format has a writer and a reader; a round trip keeps boxes, classes, rounds and the
looked-at frames (negatives are COCO images without annotations and empty YOLO files).
Boxes convert themselves (:meth:`Box.to_coco`, :meth:`Box.from_yolo`, ...); this module
lays out the files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .errors import LabelError
from .labels import Box, LabelSet
from .storage import write_atomic


def _frames_to_write(labels: LabelSet) -> list[int]:
    return sorted(set(labels.looked_at) | set(labels.frames))


def to_coco(labels: LabelSet, path: str | Path | None = None, *,
            file_names: Sequence[str] | None = None) -> dict:
    """COCO detection JSON (written to ``path`` when given). Looked-at frames without
    boxes are images without annotations."""
    labels.require("boxes")
    categories = {c: i + 1 for i, c in enumerate(labels.classes)}
    w, h = labels.size if labels.size is not None else (None, None)
    looked = set(labels.looked_at)
    frames = _frames_to_write(labels)
    images = []
    for f in frames:
        img = {"id": f, "file_name": file_names[f] if file_names else f"{f:06d}.jpg",
               "looked_at": f in looked}
        if w is not None:
            img.update(width=w, height=h)
        images.append(img)
    annotations = []
    for f in frames:
        for b, r in labels.boxes_with_rounds(f):
            annotations.append({"id": len(annotations) + 1, "image_id": f, "round": r,
                                **b.to_coco(categories)})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": c} for c, i in categories.items()]}
    if path is not None:
        write_atomic(path, json.dumps(coco).encode())
    return coco


def from_coco(source: str | Path | dict, *, n_frames: int | None = None) -> LabelSet:
    """A :class:`LabelSet` from COCO detection JSON (a file or the parsed dict)."""
    if isinstance(source, dict):
        coco = source
    else:
        path = Path(source)
        if not path.exists():
            raise LabelError(f"COCO file not found: {path}")
        try:
            coco = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LabelError(f"{path} is not valid JSON: {e}") from e
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
    labels = LabelSet(ordered, "boxes", size=size, n_frames=n_frames)
    looked = []
    for img in images:
        if not isinstance(img, dict):
            raise LabelError(f"a COCO image must be an object, got {img!r:.60}")
        f = labels.check_frame(img.get("id"))
        if img.get("looked_at", True):
            looked.append(f)
    for ann in anns:
        if not isinstance(ann, dict):
            raise LabelError(f"a COCO annotation must be an object, got {ann!r:.60}")
        f = labels.check_frame(ann.get("image_id"))
        box = Box.from_coco(ann, cats)
        try:
            r = int(ann.get("round", 0))
        except (TypeError, ValueError):
            raise LabelError(f"COCO annotation round must be an integer: {ann!r:.80}") from None
        labels.add_box(f, box, round=r, looked_at=f in looked)
    for f in looked:
        labels.mark_looked_at(f)
    return labels


def to_yolo(labels: LabelSet, folder: str | Path, *, with_score: bool = False) -> Path:
    """One ``NNNNNN.txt`` per looked-at frame (empty for negatives) plus ``classes.txt``."""
    labels.require("boxes")
    if labels.size is None:
        raise LabelError("YOLO export needs the frame size: build the LabelSet with size=(w, h)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "classes.txt", ("\n".join(labels.classes) + "\n").encode())
    for f in _frames_to_write(labels):
        lines = [b.to_yolo(labels.classes, labels.size, with_score) for b in labels.boxes(f)]
        write_atomic(folder / f"{f:06d}.txt", "".join(line + "\n" for line in lines).encode())
    return folder


def from_yolo(folder: str | Path, size: tuple[int, int], classes: Sequence[str] | None = None,
              *, n_frames: int | None = None) -> LabelSet:
    """A :class:`LabelSet` from a folder written by :func:`to_yolo` (or any YOLO label
    folder whose files are named by frame number)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelError(f"YOLO label folder not found: {folder}")
    if classes is None:
        names = folder / "classes.txt"
        if not names.exists():
            raise LabelError(f"{folder} has no classes.txt; pass classes=[...]")
        classes = [c for c in names.read_text().splitlines() if c]
    labels = LabelSet(classes, "boxes", size=size, n_frames=n_frames)
    for txt in sorted(folder.glob("*.txt")):
        if txt.name == "classes.txt":
            continue
        try:
            f = labels.check_frame(int(txt.stem))
        except ValueError:
            raise LabelError(f"YOLO label file name must be a frame number: {txt.name}") from None
        boxes = []
        for n, line in enumerate(txt.read_text().splitlines(), 1):
            if line.strip():
                try:
                    boxes.append(Box.from_yolo(line, labels.classes, size))
                except LabelError as e:
                    raise type(e)(f"{txt.name} line {n}: {e}") from None
        labels.set_boxes(f, boxes)
    return labels
