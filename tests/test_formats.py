"""Exports judged by the tools that read them (pycocotools, ultralytics, datumaro,
label-studio-sdk), and imports back into a LabelSet without loss.

The third-party readers are imported inside the tests only: mm_widgets never imports them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mm_widgets as mm
from mm_widgets import formats
from mm_widgets.data import Frames
from mm_widgets.labels import BOX_COLUMNS, Box, LabelSet

W, H, N = 96, 64, 24
CLASSES = ["car", "person", "<b>odd & name</b>"]


def clip_labels() -> LabelSet:
    """Three objects: a car moving in a straight line (interpolated frames), a person who
    leaves and comes back (a gap), a box nobody linked yet; plus looked-at empty frames."""
    ls = LabelSet(CLASSES, size=(W, H), n_frames=N)
    for f in range(10):
        ls.add_box(f, Box(2 + 3 * f, 5, 22 + 3 * f, 25, "car", 0.9, "model", 0), round=1)
    for f in [*range(2, 6), *range(9, 12)]:
        ls.add_box(f, Box(60, 30 + f, 70 + f % 2, 50 + f * 0.5, "person", None, "human", 1))
    ls.add_box(15, Box(10.25, 10, 20, 20.5, "<b>odd & name</b>"))  # no track yet
    ls.mark_looked_at(18)
    ls.mark_looked_at(20)
    return ls


#: clip_labels() with every box on a track, the ids written down: the car keeps 0, the
#: person 1, and the box nobody linked (frame 15) gets the next free id, 2
TRACKS = {"car": 0, "person": 1, "<b>odd & name</b>": 2}


def tracked_key() -> list[tuple]:
    """:func:`key` of clip_labels() once every box has a track (:data:`TRACKS`)."""
    ls = clip_labels()
    return sorted((f, *np.round(b.xyxy, 6), b.label, TRACKS[b.label])
                  for f in ls.frames for b in ls.boxes(f))


def clip_frames() -> Frames:
    rng = np.random.default_rng(0)
    return Frames.from_arrays([rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(N)],
                              fps=25)


def key(labels: LabelSet, tracks: bool = True) -> list[tuple]:
    """What a round trip must keep: frame, corners, class (and track) of every box."""
    return sorted((f, *np.round(b.xyxy, 6), b.label, b.track if tracks else None)
                  for f in labels.frames for b in labels.boxes(f))


# -- COCO: pycocotools -------------------------------------------------------------------
def test_coco_is_read_and_scored_by_pycocotools(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ls = clip_labels()
    path = tmp_path / "coco" / "annotations.json"
    formats.to_coco(ls, path, frames=clip_frames())
    gt = COCO(str(path))
    assert len(gt.getAnnIds()) == len(ls)
    assert sorted(gt.getImgIds()) == sorted(set(ls.looked_at) | set(ls.frames))
    assert [c["name"] for c in gt.loadCats(gt.getCatIds())] == CLASSES
    for img in gt.loadImgs(gt.getImgIds()):  # the frames are there, at the size declared
        from PIL import Image

        with Image.open(path.parent / img["file_name"]) as im:
            assert im.size == (img["width"], img["height"]) == (W, H)
    # every box as a detection of score 1: COCOeval finds them all (AP 1.0 at every IoU)
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
                "score": 1.0} for a in gt.loadAnns(gt.getAnnIds())]
    ev = COCOeval(gt, gt.loadRes(results), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0) and ev.stats[1] == pytest.approx(1.0)
    # a detection moved off its object is scored down by the same judge
    results[0]["bbox"] = [b + 30 for b in results[0]["bbox"][:2]] + results[0]["bbox"][2:]
    ev = COCOeval(gt, gt.loadRes(results), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] < 1.0
    # the video fields: one clip, tracks on the annotations
    coco = json.loads(path.read_text())
    assert coco["videos"][0]["length"] == N
    car = [a for a in coco["annotations"] if a["category_id"] == 1]
    assert {a["track_id"] for a in car} == {0}


def test_coco_round_trip_keeps_tracks(tmp_path):
    ls = clip_labels()
    formats.to_coco(ls, tmp_path / "a.json")
    back = formats.from_coco(tmp_path / "a.json")
    assert back.equals(ls) and back.n_frames == N
    assert back.df["track"].tolist() == ls.df["track"].tolist()


# -- YOLO: ultralytics -------------------------------------------------------------------
def ultralytics_dataset(yaml_path):
    from mm_widgets.models.yolo_net import import_ultralytics

    import_ultralytics()  # offline settings before ultralytics' first import
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(yaml_path))
    return data, YOLODataset(img_path=data["train"], data=data, task="detect", imgsz=64,
                             augment=False)


def test_yolo_dataset_is_checked_by_ultralytics(tmp_path):
    ls = clip_labels()
    folder = formats.to_yolo(ls, tmp_path / "yolo", frames=clip_frames())
    data, ds = ultralytics_dataset(folder / "data.yaml")
    assert list(data["names"].values()) == CLASSES
    frames = sorted(set(ls.looked_at) | set(ls.frames))
    assert len(ds.labels) == len(frames)  # negatives are images with empty label files
    assert sum(len(lb["bboxes"]) for lb in ds.labels) == len(ls)
    for lb in ds.labels:
        f = int(lb["im_file"].rsplit("/", 1)[-1].split(".")[0])
        ours = ls.boxes(f)
        assert sorted(lb["cls"].ravel().astype(int).tolist()) == sorted(
            CLASSES.index(b.label) for b in ours)
        # ultralytics' xywh (normalised centre) is our box
        want = sorted([((b.x1 + b.x2) / 2 / W, (b.y1 + b.y2) / 2 / H, b.width / W, b.height / H)
                       for b in ours])
        assert np.allclose(sorted(map(tuple, lb["bboxes"].tolist())), want, atol=1e-5)
    back = formats.from_yolo(folder, n_frames=N)  # the size is read from the images
    assert back.size == (W, H) and back.looked_at == ls.looked_at
    assert key(back, tracks=False) == key(ls, tracks=False)


@pytest.mark.slow
def test_ultralytics_trains_one_epoch_on_the_yolo_export(tmp_path):
    import time

    ls = clip_labels()
    folder = formats.to_yolo(ls, tmp_path / "yolo", frames=clip_frames())
    from mm_widgets.models.yolo_net import import_ultralytics, quiet_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    start = time.perf_counter()
    with quiet_ultralytics():
        model = YOLO("yolov8n.yaml")  # built from its yaml: no weights to download
        model.train(data=str(folder / "data.yaml"), epochs=1, imgsz=64, batch=8, workers=0,
                    device="cpu", plots=False, val=False, amp=False, verbose=False,
                    project=str(tmp_path / "runs"), name="one_epoch", exist_ok=True)
    seconds = time.perf_counter() - start
    trainer = model.trainer
    assert trainer.epoch == 0 and len(trainer.train_loader.dataset) == len(
        set(ls.looked_at) | set(ls.frames))
    assert sum(len(lb["bboxes"]) for lb in trainer.train_loader.dataset.labels) == len(ls)
    run = tmp_path / "runs" / "one_epoch"
    results = pd.read_csv(run / "results.csv")  # ultralytics' own record of the epoch
    losses = results[[c for c in results.columns if c.strip().startswith("train/")]]
    assert len(results) == 1 and losses.shape[1] >= 3 and np.isfinite(losses.to_numpy()).all()
    assert (run / "weights" / "last.pt").exists()
    assert seconds < 120, f"one epoch took {seconds:.0f} s"


# -- CVAT for video and MOT: datumaro ------------------------------------------------------
def datumaro_boxes(dataset, frame_of) -> list[tuple]:
    names = [c.name for c in dataset.categories()[__import__("datumaro").AnnotationType.label]]
    out = []
    for item in dataset:
        for a in item.annotations:
            if a.attributes.get("outside"):
                continue
            out.append((frame_of(item), *np.round([a.x, a.y, a.x + a.w, a.y + a.h], 6),
                        names[a.label], a.attributes["track_id"]))
    return sorted(out)


def test_cvat_video_is_imported_by_datumaro(tmp_path):
    import datumaro as dm

    ls = clip_labels()
    formats.to_cvat(ls, tmp_path / "cvat" / "annotations.xml")
    ds = dm.Dataset.import_from(str(tmp_path / "cvat"), "cvat")
    assert datumaro_boxes(ds, lambda item: item.attributes["frame"]) == tracked_key()
    flags = {(item.attributes["frame"], a.attributes["track_id"]):
             (a.attributes["keyframe"], a.attributes["outside"])
             for item in ds for a in item.annotations}
    car, person = TRACKS["car"], TRACKS["person"]
    # the car moves in a straight line: frames 1..8 stay interpolated, its ends are keyframes
    assert [flags[(f, car)][0] for f in range(10)] == [True] + [False] * 8 + [True]
    assert flags[(10, car)] == (True, True)  # gone after frame 9
    assert flags[(6, person)] == (True, True) and flags[(9, person)] == (True, False)  # away, back
    assert (5, person) in flags and (7, person) not in flags


def test_mot_is_imported_by_datumaro(tmp_path):
    import datumaro as dm

    ls = clip_labels()
    formats.to_mot(ls, tmp_path / "mot")
    ds = dm.Dataset.import_from(str(tmp_path / "mot"), "mot_seq")
    assert len(ds) == N  # seqinfo.ini: every frame of the clip is an item
    got = datumaro_boxes(ds, lambda item: int(item.id) - 1)  # MOT frames count from 1
    assert [(*g[:-1], g[-1] - 1) for g in got] == tracked_key()  # MOT ids count from 1


def tracked_sets():
    """Label sets of whole tracks: objects moving, leaving and coming back, several classes."""
    @st.composite
    def build(draw):
        ls = LabelSet(CLASSES, size=(W, H), n_frames=N)
        for t in range(draw(st.integers(0, 4))):
            label = draw(st.sampled_from(CLASSES))
            frames = sorted(draw(st.sets(st.integers(0, N - 1), min_size=1, max_size=N)))
            x, y = draw(st.floats(0, 40)), draw(st.floats(0, 30))
            dx, dy = draw(st.floats(-1, 1)), draw(st.floats(-1, 1))
            w, h = draw(st.floats(2, 40)), draw(st.floats(2, 30))
            wobble = draw(st.booleans())
            for f in frames:
                jx = (f % 3) * 0.37 if wobble else 0.0
                x1, y1 = min(max(x + dx * f + jx, 0), 50), min(max(y + dy * f, 0), 30)
                ls.add_box(f, Box(x1, y1, x1 + w, y1 + h, label, None, "human", t))
        for f in draw(st.sets(st.integers(0, N - 1), max_size=5)):
            ls.mark_looked_at(f)
        return ls
    return build()


@settings(max_examples=30, deadline=None)
@given(tracked_sets())
def test_cvat_and_mot_round_trips_are_lossless(tmp_path_factory, ls):
    folder = tmp_path_factory.mktemp("video")
    formats.to_cvat(ls, folder / "a.xml")
    formats.to_mot(ls, folder / "mot")
    for back in (formats.from_cvat(folder / "a.xml"), formats.from_mot(folder / "mot")):
        assert back.classes == ls.classes and back.size == ls.size and back.n_frames == N
        assert back.looked_at == ls.looked_at
        assert key(back) == key(ls)


def test_cvat_reader_interpolates_between_keyframes_as_cvat_does(tmp_path):
    """A file holding only keyframes (as one written by hand or by other tools): the
    frames between two shapes are interpolated, and an outside shape ends the object."""
    xml = """<?xml version="1.0"?><annotations><version>1.1</version><meta><task>
      <size>8</size><start_frame>0</start_frame><stop_frame>7</stop_frame>
      <labels><label><name>car</name></label></labels>
      <original_size><width>100</width><height>100</height></original_size></task></meta>
      <track id="4" label="car" source="manual">
        <box frame="1" keyframe="1" outside="0" xtl="0" ytl="0" xbr="10" ybr="10"/>
        <box frame="5" keyframe="1" outside="0" xtl="40" ytl="20" xbr="50" ybr="30"/>
        <box frame="6" keyframe="1" outside="1" xtl="40" ytl="20" xbr="50" ybr="30"/>
      </track></annotations>"""
    (tmp_path / "a.xml").write_text(xml)
    ls = formats.from_cvat(tmp_path / "a.xml")
    assert ls.frames == [1, 2, 3, 4, 5] and ls.n_frames == 8
    assert ls.boxes(3)[0].xyxy == (20.0, 10.0, 30.0, 20.0) and ls.boxes(3)[0].track == 4
    assert ls.looked_at == [1, 2, 3, 4, 5]  # no mm_widgets meta: the frames with boxes


@pytest.mark.parametrize("bad, message", [
    ("<nope/>", "not CVAT XML"),
    ("<annotations><meta/></annotations>", "no <meta><task>"),
    ("<annotations", "not valid XML"),
])
def test_cvat_reader_names_the_problem(tmp_path, bad, message):
    (tmp_path / "a.xml").write_text(bad)
    with pytest.raises(mm.LabelError, match=message):
        formats.from_cvat(tmp_path / "a.xml")


def test_mot_reader_names_the_problem(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "labels.txt").write_text("car\n")
    (tmp_path / "gt" / "gt.txt").write_text("1,1,0,0,10,10,1,1,1\n2,1,oops\n")
    with pytest.raises(mm.LabelError, match="line 2"):
        formats.from_mot(tmp_path, size=(50, 50))
    (tmp_path / "gt" / "gt.txt").write_text("1,1,0,0,10,10,1,7,1\n")
    with pytest.raises(mm.LabelError, match="class 7"):
        formats.from_mot(tmp_path, size=(50, 50))
    (tmp_path / "gt" / "gt.txt").write_text("1,1,0,0,10,10,0,1,1\n3,2,5,5,10,10,1,1,1\n")
    ls = formats.from_mot(tmp_path, size=(50, 50))  # an ignored region is not a box
    assert ls.frames == [2] and ls.boxes(2)[0].track == 1


# -- Label Studio: label-studio-sdk --------------------------------------------------------
def test_label_studio_video_task_is_valid_for_its_config():
    from label_studio_sdk.label_interface import LabelInterface

    ls = clip_labels()
    task = formats.to_label_studio(ls, kind="video", fps=25)[0]
    interface = LabelInterface(formats.label_config(CLASSES, "video", 25))
    annotation = task["annotations"][0]
    assert interface.validate_annotation(annotation)
    regions = {r["meta"]["track"]: r for r in annotation["result"]}
    assert set(regions) == set(TRACKS.values())
    car = regions[TRACKS["car"]]["value"]
    # a straight-line track: two keyframes, Label Studio interpolates the eight between
    assert [(s["frame"], s["enabled"]) for s in car["sequence"]] == [(1, True), (10, False)]
    assert car["sequence"][0]["x"] == pytest.approx(100 * 2 / W) and car["labels"] == ["car"]
    person = regions[TRACKS["person"]]["value"]["sequence"]
    assert [s["enabled"] for s in person if s["frame"] in (6, 12)] == [False, False]  # leaves twice
    # the sdk does not check a video region's labels against the config: we do
    assert {r["value"]["labels"][0] for r in annotation["result"]} <= set(CLASSES)
    # the judge is not a rubber stamp: a box reaching past the frame (over 100 %) is refused
    car["sequence"][0]["x"] = 150.0
    assert not interface.validate_annotation(annotation)


def test_label_studio_image_tasks_validate_and_convert(tmp_path):
    from label_studio_sdk.converter import Converter
    from label_studio_sdk.label_interface import LabelInterface

    ls = clip_labels()
    predicted = pd.DataFrame([(21, 5.0, 6.0, 30.0, 40.0, "person", 0.7, "model", 2),
                              (3, 1.0, 1.0, 9.0, 9.0, "car", 0.2, "model", 2)], columns=BOX_COLUMNS)
    path = tmp_path / "ls" / "tasks.json"
    tasks = formats.to_label_studio(ls, path, predictions=predicted, frames=clip_frames())
    interface = LabelInterface((path.parent / "config.xml").read_text())
    assert {t["meta"]["frame"] for t in tasks} == set(ls.looked_at) | {21}
    for t in tasks:
        assert (path.parent / t["data"]["image"]).exists()
        for a in t.get("annotations", []):
            assert interface.validate_annotation(a)
        for p in t.get("predictions", []):
            assert interface.validate_prediction(p, return_errors=True) == []
    wrong = json.loads(json.dumps(tasks[0]["annotations"][0]))
    wrong["result"][0]["value"]["rectanglelabels"] = ["truck"]  # not in the config: refused
    assert not interface.validate_annotation(wrong)
    pre = next(t for t in tasks if t["meta"]["frame"] == 21)  # frame 3 was looked at: no pre-label
    assert "annotations" not in pre and pre["predictions"][0]["result"][0]["score"] == 0.7
    # label-studio-sdk's own converter turns the annotations into COCO: same boxes, in pixels
    export = [{**t, "id": k + 1} for k, t in enumerate(tasks)]
    (tmp_path / "export.json").write_text(json.dumps(export))
    Converter(config=interface.config, project_dir=str(tmp_path), download_resources=False
              ).convert_to_coco(str(tmp_path / "export.json"), str(tmp_path / "coco"), is_dir=False)
    coco = json.loads((tmp_path / "coco" / "result.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    frame_of = {img["id"]: export[img["id"]]["meta"]["frame"] for img in coco["images"]}
    got = sorted((frame_of[a["image_id"]], *np.round([a["bbox"][0], a["bbox"][1],
                  a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]], 4),
                  names[a["category_id"]]) for a in coco["annotations"])
    want = sorted((f, *np.round(b.xyxy, 4), b.label) for f in ls.frames for b in ls.boxes(f))
    assert got == want


# -- one line from a project ---------------------------------------------------------------
@pytest.fixture
def project(tmp_path):
    frames = clip_frames()
    p = mm.Project(tmp_path / "proj", CLASSES, frames=frames)
    for f in clip_labels().looked_at:
        p.labels.set_boxes(f, clip_labels().boxes(f))
    return p


@pytest.mark.parametrize("name", list(formats.EXPORTS))
def test_project_exports_every_format_in_one_line(project, tmp_path, name):
    out = project.export(name, tmp_path / name)
    assert out.exists()
    images = sorted((tmp_path / name).rglob("*.jpg"))
    wants_images = formats.EXPORTS[name][1]
    assert len(images) == (len(project.labels.looked_at) if wants_images else 0)
    if name in formats.IMPORTS:
        back = formats.IMPORTS[name](out)
        assert key(back, tracks=False) == key(project.labels, tracks=False)
        assert back.looked_at == project.labels.looked_at


def test_project_export_names_the_formats(project, tmp_path):
    with pytest.raises(mm.ProjectError, match="'coco', 'yolo', 'cvat', 'mot', 'label-studio'"):
        project.export("pascal", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_readers_are_not_imported_by_the_package():
    code = ("import sys, mm_widgets, mm_widgets.formats, mm_widgets.project; "
            "print(sorted(m for m in ('pycocotools', 'datumaro', 'label_studio_sdk', 'ultralytics')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_readme_export_lines_run_as_written(tmp_path, monkeypatch):
    """The README's "Take your labels elsewhere" block, verbatim, on a project whose frames
    come from a video file: reopened from its folder, decoded through its own Frames."""
    import re
    from pathlib import Path

    from tests.conftest import write_video

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
                if "project.export(" in b)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    write_video(tmp_path / "clip.mp4", [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
                                        for _ in range(6)])
    frames = Frames.from_video(tmp_path / "clip.mp4")
    made = mm.Project("bunny_project", ["bunny"], frames=frames)
    for f in (0, 1, 2):
        made.labels.set_boxes(f, [Box(5 + 2 * f, 5, 25 + 2 * f, 30, "bunny", 0.9, "model", 0)])
    made.labels.set_boxes(4, [])
    made.close()
    scope = {"mm": mm}
    exec(compile(code, "README.md", "exec"), scope)
    back = scope["back"]
    assert key(back) == key(made.labels) and back.looked_at == [0, 1, 2, 4]
    for folder in ("coco/images", "yolo/images/train", "ls/images"):
        assert sorted(p.name for p in (tmp_path / "export" / folder).iterdir()) == [
            "000000.jpg", "000001.jpg", "000002.jpg", "000004.jpg"]
    assert (tmp_path / "export" / "mot" / "gt" / "gt.txt").read_text().count("\n") == 3
