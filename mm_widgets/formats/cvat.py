"""CVAT for video 1.1 XML: one ``<track>`` per object, a ``<box>`` (or for masks a
``<polygon>``) per frame it is on.

Every box of a track is written (as CVAT itself exports); ``keyframe="1"`` marks the boxes
interpolation cannot give back (:mod:`.video`), so the rest stay interpolated frames when
CVAT imports the file, and ``outside="1"`` marks the frame after an object leaves (or
before it comes back). Our looked-at frames go in ``<meta>`` as an ``mm_widgets`` element,
which CVAT and datumaro ignore.

Reading follows CVAT's rules: a shape lasts, interpolated, until the track's next shape,
and the last one to the end of the task unless an ``outside`` shape ends it. Looked-at
frames come from our element when present; otherwise they are the frames holding a box
(a CVAT file does not say which empty frames somebody checked).

Masks: every polygon is a keyframe (CVAT morphs a polygon between keyframes by its own
point matching, which we do not reproduce), one ring an object (several rings joined by
zero-width cuts, the same pixels). Read back, a polygon lasts unchanged until its
track's next shape: CVAT's own exports write every frame, so only a hand-made file with
gaps between polygons reads differently from CVAT.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import LabelError
from ..labels import Box, LabelSet, Mask, check_name
from ..polygons import merge_rings
from ..storage import write_atomic
from .bounds import BoxBudget, clip_length, frame_ranges
from .images import read_text
from .video import fill, interpolate_box, keyframes, runs, tracks_of


def to_cvat(labels: LabelSet, path: str | Path, *, name: str = "clip") -> Path:
    """Write ``labels`` as CVAT for video 1.1 XML to ``path`` (tracks linked where missing):
    boxes, or masks as polygons."""
    if labels.task == "classes":
        labels.require("boxes")
    if labels.size is None:
        raise LabelError("CVAT export needs the frame size: build the LabelSet with size=(w, h)")
    check_name(name, "CVAT task name")
    masks = labels.task == "masks"
    tracks = tracks_of(labels)
    last = max([*labels.looked_at, *labels.frames], default=0)
    n = labels.n_frames if labels.n_frames is not None else last + 1
    w, h = labels.size
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    for key, value in (("id", 1), ("name", name), ("size", n), ("mode", "interpolation"),
                       ("overlap", 0), ("start_frame", 0), ("stop_frame", n - 1)):
        ET.SubElement(task, key).text = str(value)
    label_list = ET.SubElement(task, "labels")
    for c in labels.classes:
        label = ET.SubElement(label_list, "label")
        ET.SubElement(label, "name").text = c
        ET.SubElement(label, "type").text = "polygon" if masks else "rectangle"
        ET.SubElement(label, "attributes")
    size = ET.SubElement(task, "original_size")
    ET.SubElement(size, "width").text = str(w)
    ET.SubElement(size, "height").text = str(h)
    ET.SubElement(meta, "source").text = name
    ET.SubElement(meta, "mm_widgets", looked_at=_ranges(labels.looked_at))
    for t, boxes in tracks.items():
        sources = {b.source for _, b in boxes}
        track = ET.SubElement(root, "track", id=str(t), label=boxes[0][1].label,
                              source="auto" if sources == {"model"} else "manual")
        shape = _polygon if masks else _box
        for run in runs(boxes):
            keys = [True] * len(run) if masks else keyframes(run)
            for (f, b), key in zip(run, keys, strict=True):
                shape(track, f, b, keyframe=key, outside=False)
            f, b = run[-1]
            if f + 1 < n:
                shape(track, f + 1, b, keyframe=True, outside=True)
    ET.indent(root)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    xml = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    write_atomic(path, xml.encode())
    return Path(path)


def _box(track: ET.Element, frame: int, b: Box, *, keyframe: bool, outside: bool) -> None:
    ET.SubElement(track, "box", frame=str(frame), keyframe=str(int(keyframe)),
                  outside=str(int(outside)), occluded="0", xtl=repr(b.x1), ytl=repr(b.y1),
                  xbr=repr(b.x2), ybr=repr(b.y2), z_order="0")


def _polygon(track: ET.Element, frame: int, m: Mask, *, keyframe: bool, outside: bool) -> None:
    ring = merge_rings(m.polygons)
    points = ";".join(f"{x!r},{y!r}" for x, y in zip(ring[0::2], ring[1::2]))
    ET.SubElement(track, "polygon", frame=str(frame), keyframe=str(int(keyframe)),
                  outside=str(int(outside)), occluded="0", points=points, z_order="0")


def _ranges(frames: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    parts: list[list[int]] = []
    for f in frames:
        if parts and parts[-1][1] == f - 1:
            parts[-1][1] = f
        else:
            parts.append([f, f])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def from_cvat(path: str | Path, *, n_frames: int | None = None) -> LabelSet:
    """A :class:`LabelSet` from a CVAT for video 1.1 XML file (track ids kept): boxes, or
    masks when its tracks hold polygons (a file holds one or the other)."""
    path = Path(path)
    try:
        root = ET.fromstring(read_text(path, "CVAT XML file"))
    except ET.ParseError as e:
        raise LabelError(f"{path} is not valid XML: {e}") from e
    if root.tag != "annotations":
        raise LabelError(f"{path} is not CVAT XML: its root is <{root.tag}>, not <annotations>")
    task = root.find("meta/task")
    if task is None:
        task = root.find("meta/job")  # a job export has the same fields
    if task is None:
        raise LabelError(f"{path} has no <meta><task>: export the task as CVAT for video 1.1")
    classes = [e.text for e in task.iterfind("labels/label/name") if e.text]
    if not classes:
        raise LabelError(f"{path} declares no labels in <meta>")
    try:
        size = (int(task.findtext("original_size/width")), int(task.findtext("original_size/height")))
        stop = int(task.findtext("stop_frame"))
    except (TypeError, ValueError):
        raise LabelError(f"{path}: <meta><task> needs original_size and stop_frame") from None
    if root.find("image") is not None:
        raise LabelError(f"{path} is CVAT for images; export the task as CVAT for video 1.1")
    end_of_clip = clip_length(stop + 1, f"{path}: <stop_frame> {stop}")
    masks = root.find("track/polygon") is not None
    labels = LabelSet(classes, "masks" if masks else "boxes", size=size,
                      n_frames=n_frames if n_frames is not None else end_of_clip)
    budget = BoxBudget(labels, str(path))
    boxes: dict[int, list[Box]] = {}
    for track in root.iterfind("track"):
        try:
            t = int(track.get("id"))
        except (TypeError, ValueError, OverflowError):
            raise LabelError(f"{path}: a track id must be an integer, got {track.get('id')!r}") from None
        source = "model" if track.get("source") == "auto" else "human"
        shapes = []
        if masks and track.find("box") is not None:
            raise LabelError(f"{path}: track {t} holds boxes in a file of polygons: read one kind")
        for e in track.iterfind("polygon" if masks else "box"):
            try:
                f = int(e.get("frame"))
                if masks:
                    text = e.get("points") or ""
                    budget.points(text.count(";") + 1, f"track {t}'s polygon on frame {f}")
                    shape = [[float(v) for v in pair.split(",")] for pair in text.split(";")]
                else:
                    xyxy = [float(e.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")]
            except (TypeError, ValueError, OverflowError):
                raise LabelError(f"{path}: track {t} has a malformed {e.tag} {e.attrib!r:.100}") from None
            try:
                label = labels.check_class(track.get("label"))
                box = (Mask([shape], label, None, source, t) if masks
                       else Box(*xyxy, label, None, source, t))
            except LabelError as err:
                raise type(err)(f"{path}: track {t}, frame {f}: {err}") from None
            shapes.append((budget.frame(f, f"track {t}'s box on frame {f}"), box,
                           e.get("outside") == "1"))
        shapes.sort(key=lambda s: s[0])
        for k, (f, box, outside) in enumerate(shapes):
            if outside:
                continue
            end = shapes[k + 1][0] if k + 1 < len(shapes) else end_of_clip
            nxt = shapes[k + 1][1] if k + 1 < len(shapes) and not shapes[k + 1][2] else None
            if masks:
                nxt = None  # a polygon lasts as it is (module docstring)
            budget.frame(max(end, f + 1) - 1, f"track {t} from frame {f}")
            budget.spend(max(end, f + 1) - f, f"track {t} from frame {f}")
            for g in range(f, max(end, f + 1)):
                b = box if g == f or nxt is None else interpolate_box(box, nxt, (g - f) / (end - f))
                boxes.setdefault(g, []).append(b)
    mine = root.find("meta/mm_widgets")
    looked = (frame_ranges(mine.get("looked_at", ""), f"{path}: <mm_widgets>", labels.n_frames)
              if mine is not None else sorted(boxes))
    looked = {labels.check_frame(f) for f in looked}
    return fill(labels, boxes, looked)
