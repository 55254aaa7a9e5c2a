"""Label Studio tasks: a video task with one ``videorectangle`` per track, or image tasks
with the labels as annotations and a model's boxes as predictions (its pre-annotation).

Coordinates are percents of the frame, as Label Studio stores them. A video track lists
its keyframes (:mod:`.video`) and ``enabled: false`` where the object leaves, so Label
Studio interpolates the frames between them as it does for its own tracks; video frames
count from 1. The labelling config that goes with the tasks is written beside them
(``config.xml``); paste it into the project's Labeling Interface.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd

from ..errors import LabelError
from ..labels import Box, LabelSet
from ..storage import write_atomic
from .images import exported_frames, image_name, write_images
from .video import keyframes, runs, tracks_of

KINDS = ("images", "video")


def label_config(classes, kind: str = "images", fps: float = 25.0) -> str:
    """The Label Studio labelling config (XML) for tasks written by :func:`to_label_studio`."""
    labels = "".join(f"    <Label value={quoteattr(c)}/>\n" for c in classes)
    if kind == "images":
        return ('<View>\n  <Image name="image" value="$image"/>\n'
                f'  <RectangleLabels name="label" toName="image">\n{labels}  </RectangleLabels>\n'
                '</View>\n')
    if kind == "video":
        return ('<View>\n'
                f'  <Labels name="videoLabels" toName="video" allowEmpty="true">\n{labels}  </Labels>\n'
                f'  <Video name="video" value="$video" framerate="{float(fps)}"/>\n'
                '  <VideoRectangle name="box" toName="video"/>\n</View>\n')
    raise LabelError(f"Label Studio kind must be one of {KINDS}, got {kind!r}")


def to_label_studio(labels: LabelSet, path: str | Path | None = None, *, kind: str = "images",
                    predictions: pd.DataFrame | None = None, frames=None, url_prefix: str = "",
                    video: str = "clip.mp4", fps: float | None = None,
                    model_version: str = "mm_widgets") -> list[dict]:
    """Label Studio tasks (a JSON list, written to ``path`` with ``config.xml`` beside it).

    Parameters
    ----------
    kind
        ``"images"``: a task per frame, ``data.image`` = ``url_prefix + "images/NNNNNN.jpg"``;
        looked-at frames carry the labels as an annotation, and frames in ``predictions``
        that nobody looked at carry those boxes as a prediction. ``"video"``: one task,
        ``data.video`` = ``url_prefix + video``, the labels as tracks.
    frames
        With ``kind="images"`` and a ``path``, the frames written as ``images/NNNNNN.jpg``.
    """
    labels.require("boxes")
    size = frames.size if frames is not None else labels.size
    if size is None:
        raise LabelError("Label Studio export needs the frame size: build the LabelSet with size=(w, h)")
    if kind not in KINDS:
        raise LabelError(f"Label Studio kind must be one of {KINDS}, got {kind!r}")
    fps = float(fps or getattr(frames, "fps", 0) or 25.0)
    if kind == "video":
        tasks = [_video_task(labels, size, url_prefix + video, fps)]
    else:
        tasks = _image_tasks(labels, size, predictions, url_prefix, model_version)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(tasks, indent=1).encode())
        write_atomic(path.parent / "config.xml", label_config(labels.classes, kind, fps).encode())
        if kind == "images" and frames is not None:
            write_images(frames, [t["meta"]["frame"] for t in tasks], path.parent / "images")
    return tasks


def _percent(b: Box, size) -> dict:
    w, h = size
    return {"x": 100 * b.x1 / w, "y": 100 * b.y1 / h, "width": 100 * b.width / w,
            "height": 100 * b.height / h, "rotation": 0}


def _rectangles(boxes: list[Box], size, scored: bool) -> list[dict]:
    out = []
    for k, b in enumerate(boxes):
        region = {"id": f"r{k}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                  "original_width": size[0], "original_height": size[1], "image_rotation": 0,
                  "value": {**_percent(b, size), "rectanglelabels": [b.label]}}
        if scored and b.score is not None:
            region["score"] = b.score
        out.append(region)
    return out


def _image_tasks(labels: LabelSet, size, predictions, url_prefix: str, model_version: str) -> list[dict]:
    looked = set(labels.looked_at)
    proposed: dict[int, list[Box]] = {}
    if predictions is not None and len(predictions):
        table = LabelSet.from_df(predictions, labels.classes, size=size, source="model")
        proposed = {f: table.boxes(f) for f in table.frames if f not in looked}
    tasks = []
    for f in sorted(set(exported_frames(labels)) | set(proposed)):
        task: dict = {"data": {"image": url_prefix + f"images/{image_name(f)}"},
                      "meta": {"frame": f, "looked_at": f in looked}}
        if f in looked:
            task["annotations"] = [{"result": _rectangles(labels.boxes(f), size, False),
                                    "was_cancelled": False, "ground_truth": False}]
        if f in proposed:
            scores = [b.score for b in proposed[f] if b.score is not None]
            task["predictions"] = [{"model_version": model_version,
                                    "score": min(scores) if scores else None,
                                    "result": _rectangles(proposed[f], size, True)}]
        tasks.append(task)
    return tasks


def _video_task(labels: LabelSet, size, url: str, fps: float) -> dict:
    n = labels.n_frames if labels.n_frames is not None else max(
        [*labels.looked_at, *labels.frames], default=0) + 1
    result = []
    for t, boxes in tracks_of(labels).items():
        sequence = []
        for run in runs(boxes):
            for (f, b), key in zip(run, keyframes(run), strict=True):
                if key:
                    sequence.append({"frame": f + 1, "enabled": True, "time": f / fps,
                                     **_percent(b, size)})
            sequence[-1]["enabled"] = False  # the object leaves after this frame
        result.append({"id": f"track{t}", "from_name": "box", "to_name": "video",
                       "type": "videorectangle", "origin": "manual",
                       "value": {"framesCount": n, "duration": n / fps, "sequence": sequence,
                                 "labels": [boxes[0][1].label]},
                       "meta": {"track": t}})
    return {"data": {"video": url}, "annotations": [{"result": result, "was_cancelled": False,
                                                     "ground_truth": False}],
            "meta": {"looked_at": labels.looked_at}}
