"""YOLO label folders, and YOLO datasets (images, labels and ``data.yaml``) ultralytics trains on.

A label folder holds one ``NNNNNN.txt`` per looked-at frame (empty for a negative) and
``classes.txt``. A dataset adds the frames as images in the layout ultralytics expects::

    data.yaml             train/val image folders and class names
    images/train/NNNNNN.jpg
    labels/train/NNNNNN.txt
    classes.txt

so ``YOLO("yolo11n.yaml").train(data="folder/data.yaml")`` runs on it. Masks are written
as ultralytics' segmentation lines, ``class x1 y1 x2 y2 ...`` normalised to the frame (one
polygon an object: several rings are joined by zero-width cuts, the same pixels), so
``YOLO("yolo11n-seg.yaml")`` trains on the same layout. Boxes or masks, classes and the
looked-at frames round-trip; YOLO files have no place for tracks, scores of people's
boxes or rounds (COCO keeps them all).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import LabelError
from ..labels import Box, LabelSet, Mask
from ..storage import write_atomic
from .bounds import load_yaml
from .images import exported_frames, read_text, write_images

SPLITS = ("train", "val", "test")


def to_yolo(labels: LabelSet, folder: str | Path, *, with_score: bool = False,
            frames=None) -> Path:
    """Write ``labels`` as a YOLO label folder, or with ``frames`` as a YOLO dataset (the
    frames written as images, ``data.yaml`` beside them). Returns the folder. Masks are
    written as polygon lines (which have no place for a score)."""
    if labels.task == "classes":
        labels.require("boxes")
    if labels.task == "masks" and with_score:
        raise LabelError("YOLO polygon lines have no place for a score: with_score=False")
    size = frames.size if frames is not None else labels.size
    if size is None:
        raise LabelError("YOLO export needs the frame size: build the LabelSet with size=(w, h)")
    folder = Path(folder)
    label_dir = folder / "labels" / "train" if frames is not None else folder
    label_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "classes.txt", ("\n".join(labels.classes) + "\n").encode())
    written = exported_frames(labels)
    for f in written:
        if labels.task == "masks":
            lines = [m.to_yolo(labels.classes, size) for m in labels.masks(f)]
        else:
            lines = [b.to_yolo(labels.classes, size, with_score) for b in labels.boxes(f)]
        write_atomic(label_dir / f"{f:06d}.txt", "".join(line + "\n" for line in lines).encode())
    if frames is not None:
        write_images(frames, written, folder / "images" / "train")
        # JSON strings are YAML double-quoted scalars: any class name stays one name (raw
        # UTF-8: YAML reads the two escapes JSON gives a character beyond U+FFFF as two halves)
        names = "".join(f"  {k}: {json.dumps(c, ensure_ascii=False)}\n"
                        for k, c in enumerate(labels.classes))
        yaml = ("# written by mm_widgets; train with YOLO(...).train(data=<this file>)\n"
                "train: images/train\nval: images/train\n"
                f"nc: {len(labels.classes)}\nnames:\n{names}")
        write_atomic(folder / "data.yaml", yaml.encode())
    return folder


def from_yolo(folder: str | Path, size: tuple[int, int] | None = None,
              classes: Sequence[str] | None = None, *, n_frames: int | None = None) -> LabelSet:
    """A :class:`LabelSet` from a folder written by :func:`to_yolo`: a label folder (pass the
    frame ``size``) or a dataset with ``data.yaml`` (the size is read from its images when
    not given). Label files must be named by frame number. Polygon lines (a class and 3 or
    more points) make masks; a folder holds boxes or polygons, not both (as ultralytics)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LabelError(f"YOLO label folder not found: {folder}")
    data_yaml = folder / "data.yaml"
    if data_yaml.exists():
        names, label_dirs, images = _read_data_yaml(data_yaml)
        classes = names if classes is None else classes
        if size is None:
            size = _image_size(images)
    else:
        label_dirs = [folder]
        if size is None:
            raise LabelError(f"{folder} has no data.yaml; pass the frame size=(width, height)")
    if classes is None:
        classes = [c for c in read_text(folder / "classes.txt", "YOLO classes.txt").splitlines() if c]
    files = []
    for label_dir in label_dirs:
        for txt in sorted(label_dir.glob("*.txt")):
            if txt.name == "classes.txt":
                continue
            try:
                f = int(txt.stem)
            except ValueError:
                raise LabelError(f"YOLO label file name must be a frame number: {txt.name}") from None
            lines = [(n, line) for n, line in
                     enumerate(read_text(txt, "YOLO label file").splitlines(), 1) if line.strip()]
            files.append((f, txt, lines))
    masks = any(len(line.split()) > 6 for _, _, lines in files for _, line in lines)
    labels = LabelSet(classes, "masks" if masks else "boxes", size=size, n_frames=n_frames)
    for f, txt, lines in files:
        f = labels.check_frame(f)
        shapes = []
        for n, line in lines:
            try:
                if masks:
                    shapes.append(Mask.from_yolo(line, labels.classes, size))
                else:
                    shapes.append(Box.from_yolo(line, labels.classes, size))
            except LabelError as e:
                mixed = " (the folder mixes box and polygon lines)" if masks and len(line.split()) <= 6 else ""
                raise type(e)(f"{txt.name} line {n}: {e}{mixed}") from None
        try:
            labels.set_masks(f, shapes) if masks else labels.set_boxes(f, shapes)
        except LabelError as e:
            raise type(e)(f"{txt.name}: {e}") from None
    return labels


def _read_data_yaml(path: Path) -> tuple[list[str], list[Path], list[Path]]:
    """Class names, label folders and image folders of a YOLO ``data.yaml``."""
    data = load_yaml(path, "YOLO data.yaml")
    if not isinstance(data, dict) or data.get("names") is None:
        raise LabelError(f"{path} needs a names: list of class names")
    names = data["names"]
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list):
        raise LabelError(f"{path}: names must be a list or a mapping, got {names!r:.60}")
    bad = next((n for n in names if not isinstance(n, (str, int, float))), None)
    if bad is not None:
        raise LabelError(f"{path}: a class name must be text, got {bad!r:.60}")
    root = path.parent / data["path"] if isinstance(data.get("path"), str) else path.parent
    images, label_dirs = [], []
    for split in SPLITS:
        entry = data.get(split)
        if entry is None:
            continue
        if not isinstance(entry, str):
            raise LabelError(f"{path}: {split} must be one image folder, got {entry!r:.60}")
        image_dir = root / entry
        if not image_dir.is_dir():
            raise LabelError(f"{path}: {split} images folder not found: {image_dir}")
        # ultralytics' rule: the labels of .../images/x.jpg are in .../labels/x.txt
        label_dir = Path(str(image_dir).replace("/images", "/labels", 1))
        if image_dir not in images:
            images.append(image_dir)
        if label_dir not in label_dirs and label_dir.is_dir():
            label_dirs.append(label_dir)
    return [str(n) for n in names], label_dirs, images


def _image_size(image_dirs: Sequence[Path]) -> tuple[int, int]:
    from PIL import Image

    for d in image_dirs:
        for p in sorted(d.iterdir()):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
                with Image.open(p) as img:
                    return img.size
    raise LabelError(f"no images in {', '.join(map(str, image_dirs))} to read the frame size from;"
                     " pass size=(width, height)")
