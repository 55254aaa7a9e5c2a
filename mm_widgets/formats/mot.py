"""MOT Challenge ground truth: a sequence folder with ``gt/gt.txt``.

Layout written (what datumaro's ``mot_seq`` reads)::

    seqinfo.ini         name, image folder, frame rate, length, frame size
    gt/gt.txt           frame,id,x,y,w,h,not_ignored,class,visibility (frames and ids from 1)
    gt/labels.txt       class names, one a line (class 1 first)
    gt/looked_at.txt    our looked-at frames, MOT-numbered (MOT has no place for negatives)

Frame ``f`` is MOT frame ``f + 1`` and track ``t`` is MOT id ``t + 1`` (MOT counts from 1).
Rows with ``not_ignored = 0`` are regions to ignore, not boxes: reading skips them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ..errors import LabelError
from ..labels import Box, LabelSet, check_name
from ..storage import write_atomic
from .bounds import BoxBudget, clip_length
from .images import read_text
from .video import fill, tracks_of


def to_mot(labels: LabelSet, folder: str | Path, *, name: str = "clip", fps: float = 25.0,
           image_dir: str = "img1") -> Path:
    """Write ``labels`` as a MOT Challenge sequence folder (tracks linked where missing)."""
    labels.require("boxes")
    if labels.size is None:
        raise LabelError("MOT export needs the frame size: build the LabelSet with size=(w, h)")
    check_name(name, "MOT sequence name")
    folder = Path(folder)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    rows = []
    for t, boxes in tracks_of(labels).items():
        for f, b in boxes:
            rows.append((f + 1, t + 1, repr(b.x1), repr(b.y1), repr(b.width), repr(b.height), 1,
                         labels.classes.index(b.label) + 1, 1))
    rows.sort(key=lambda r: (r[0], r[1]))
    text = "".join(",".join(map(str, r)) + "\n" for r in rows)
    write_atomic(folder / "gt" / "gt.txt", text.encode())
    write_atomic(folder / "gt" / "labels.txt", ("\n".join(labels.classes) + "\n").encode())
    write_atomic(folder / "gt" / "looked_at.txt",
                 "".join(f"{f + 1}\n" for f in labels.looked_at).encode())
    last = max([*labels.looked_at, *labels.frames], default=0)
    n = labels.n_frames if labels.n_frames is not None else last + 1
    w, h = labels.size
    info = (f"[Sequence]\nname={name}\nimDir={image_dir}\nframeRate={round(fps)}\n"
            f"seqLength={n}\nimWidth={w}\nimHeight={h}\nimExt=.jpg\n")
    write_atomic(folder / "seqinfo.ini", info.encode())
    return folder


def from_mot(folder: str | Path, classes: Sequence[str] | None = None, *,
             size: tuple[int, int] | None = None, n_frames: int | None = None) -> LabelSet:
    """A :class:`LabelSet` from a MOT sequence folder (or its ``gt.txt``); track ids kept.

    Classes come from ``gt/labels.txt`` unless given; the frame size and length from
    ``seqinfo.ini`` when there is one. Without our ``looked_at.txt`` the looked-at frames
    are the frames holding a box.
    """
    path = Path(folder)
    gt = path if path.is_file() else path / "gt" / "gt.txt"
    seq = gt.parent.parent
    info = _seqinfo(seq / "seqinfo.ini")
    if size is None and info:
        size = (info["imwidth"], info["imheight"])
    if n_frames is None and info:
        n_frames = clip_length(info["seqlength"], f"{seq / 'seqinfo.ini'}: seqLength")
    if classes is None:
        classes = [c for c in read_text(gt.parent / "labels.txt", "MOT labels.txt").splitlines() if c]
    labels = LabelSet(classes, "boxes", size=size, n_frames=n_frames)
    budget = BoxBudget(labels, str(gt))
    boxes: dict[int, list[Box]] = {}
    for n, row in enumerate(_rows(gt), 1):
        if not row or not "".join(row).strip():
            continue
        try:
            frame, track = (_whole(v) for v in row[:2])
            x, y, w, h = (float(v) for v in row[2:6])
            keep = len(row) < 7 or float(row[6]) != 0
            k = int(float(row[7])) if len(row) > 7 else 1
        except (ValueError, IndexError, OverflowError):
            raise LabelError(f"{gt} line {n}: need frame,id,x,y,w,h[,conf,class,visibility] "
                             "(frame and id whole numbers); "
                             f"got {','.join(row)!r:.80}") from None
        if not keep:
            continue
        if not 1 <= k <= len(labels.classes):
            raise LabelError(f"{gt} line {n}: class {k} is not in {len(labels.classes)} classes "
                             f"{labels.classes}")
        try:
            box = Box(x, y, x + w, y + h, labels.classes[k - 1], None, "human",
                      track - 1 if track > 0 else None)
        except LabelError as e:
            raise type(e)(f"{gt} line {n}: {e}") from None
        budget.spend(1, f"line {n}")
        boxes.setdefault(budget.frame(frame - 1, f"line {n}"), []).append(box)
    looked_file = gt.parent / "looked_at.txt"
    if looked_file.exists():
        try:
            looked = {labels.check_frame(int(v) - 1) for v in read_text(looked_file, "MOT looked_at.txt").split()}
        except ValueError:
            raise LabelError(f"{looked_file} must hold one frame number a line") from None
    else:
        looked = set(boxes)
    return fill(labels, boxes, looked)


def _rows(gt: Path):
    """The rows of ``gt.txt``, read as they come (a file of ignored rows costs no memory)."""
    if not gt.is_file():
        raise LabelError(f"MOT gt.txt not found: {gt}")
    try:
        with open(gt, encoding="utf-8", newline="") as fh:
            yield from csv.reader(fh)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise LabelError(f"cannot read MOT gt.txt {gt}: {e}") from e


def _whole(text: str) -> int:
    """A frame or track number: a whole number, written ``7`` or ``7.0`` (never ``7.5``)."""
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    return int(value)


def _seqinfo(path: Path) -> dict | None:
    if not path.exists():
        return None
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read_string(read_text(path, "MOT seqinfo.ini"))
        section = parser["Sequence"]
        return {"imwidth": int(section["imWidth"]), "imheight": int(section["imHeight"]),
                "seqlength": int(section["seqLength"])}
    except (configparser.Error, KeyError, ValueError) as e:
        raise LabelError(f"{path} is not a MOT seqinfo.ini with imWidth, imHeight, seqLength: {e}") from e
