"""Instance masks, the data end (issue 27 items 5 and 6): polygons filled into pixels and
traced back, the Mask type in a LabelSet, the synthetic clip with exact masks, and the
COCO / YOLO / CVAT exports judged by pycocotools, ultralytics and datumaro.

Expected pixels are counted by hand or taken from the generator's own pixel map (drawn by
an ellipse equation and OpenCV's fillPoly, not by the code under test); the third-party
readers are imported inside the tests only.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from mm_widgets import LabelError, UnknownClassError, formats
from mm_widgets.labels import POLYGONS, LabelSet, Mask
from mm_widgets.polygons import mask_iou, merge_rings, polygons_from_mask, rasterise
from mm_widgets.samples import synthetic_shapes

W, H, N = 128, 96, 20
# pycocotools' decode passes numpy 2 a copy= it does not take: its warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


@pytest.fixture(scope="module")
def shapes():
    """The clip, its truth and the generator's own pixels (track id per pixel, -1 none)."""
    return synthetic_shapes(N, (W, H), seed=0, pixels=True)


def pixel_key(labels: LabelSet) -> list[tuple]:
    """What a mask round trip must keep: frame, class, track and the pixels covered."""
    return sorted((f, m.label, m.track, rasterise(m.polygons, (W, H)).tobytes())
                  for f in labels.frames for m in labels.masks(f))


# -- polygons -> pixels -> polygons --------------------------------------------------------
def test_a_polygon_covers_the_pixels_whose_centres_it_holds():
    square = rasterise([(2, 2, 6, 2, 6, 6, 2, 6)], (10, 8))
    want = np.zeros((8, 10), bool)
    want[2:6, 2:6] = True  # corners at 2 and 6: pixels 2, 3, 4, 5
    assert (square == want).all()
    # right triangle under x = 10 - 2y: row r holds the centres c + 0.5 < 9 - 2r, 9 - 2r pixels
    triangle = rasterise([(0, 0, 10, 0, 0, 5)], (10, 8))
    assert triangle.sum(axis=1).tolist() == [9, 7, 5, 3, 1, 0, 0, 0]
    assert triangle[:, 0].sum() == 5 and triangle[0].sum() == 9
    # a keyhole: the outer square, a zero-width cut to (3, 3), a hole run the other way
    ring = (0, 0, 10, 0, 10, 10, 0, 10, 0, 0, 3, 3, 3, 6, 6, 6, 6, 3, 3, 3)
    holed = rasterise([ring], (10, 10))
    assert holed.sum() == 100 - 9 and not holed[3:6, 3:6].any()


def test_traced_polygons_give_the_pixels_back_exactly_and_pycocotools_agrees():
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(0)
    for trial in range(12):  # noise: many regions, holes, islands in holes, diagonal touches
        pixels = rng.random((24, 32)) < (0.35 + 0.025 * trial)
        rings = polygons_from_mask(pixels)
        assert (rasterise(rings, (32, 24)) == pixels).all()
        assert (rasterise([merge_rings(rings)], (32, 24)) == pixels).all()  # one ring (YOLO, CVAT)
        theirs = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([list(r) for r in rings], 24, 32)))
        assert (theirs.astype(bool) == pixels).all()
    assert polygons_from_mask(np.zeros((4, 4), bool)) == ()


def test_mask_iou_counts_pixels():
    a = Mask([(0, 0, 4, 0, 4, 4, 0, 4)], "a")  # 16 pixels
    b = Mask([(2, 0, 6, 0, 6, 4, 2, 4)], "a")  # 16 pixels, 8 shared
    far = Mask([(20, 20, 24, 20, 24, 24)], "a")
    assert a.area == 16 and a.iou(b) == pytest.approx(8 / 24) and a.iou(far) == 0
    assert mask_iou([a.polygons, b.polygons], [b.polygons]).ravel() == pytest.approx([1 / 3, 1])


# -- the Mask type and a LabelSet of masks -----------------------------------------------------
@pytest.mark.parametrize("polygons, error, message", [
    ([(1, 1, 5, 1)], LabelError, "ring 0 has 2 points; a polygon needs at least 3"),
    ([(1, 1, 5, 1, 9)], LabelError, "an even count"),
    ([(1, 1, 3, 3, 5, 5)], LabelError, "no area: its points lie on one line"),
    ([(1, 1, 5, 1, 5, 5), (30, 2, 50, 2, 50, 9)], LabelError,
     r"point \(50, 2\) lies outside the 40x30 frame"),
    ([], LabelError, "needs at least one ring"),
    ([(1, 1, 5, 1, float("nan"), 5)], LabelError, "not a finite number"),
])
def test_a_bad_mask_is_refused_naming_the_problem(polygons, error, message):
    ls = LabelSet(["a"], "masks", size=(40, 30), n_frames=3)
    with pytest.raises(error, match=message):
        ls.add_mask(0, Mask(polygons, "a"))
    assert len(ls) == 0


def test_a_mask_of_an_unknown_class_is_refused():
    ls = LabelSet(["a"], "masks", size=(40, 30))
    with pytest.raises(UnknownClassError, match="unknown class 'b'"):
        ls.set_masks(1, [Mask([(1, 1, 5, 1, 5, 5)], "b")])


def test_masks_are_boxes_with_polygons_in_a_table_and_a_journal(tmp_path):
    ls = LabelSet(["cat", "dog"], "masks", size=(40, 30), n_frames=6)
    ls.set_masks(1, [Mask([[(2, 3), (9, 3), (9, 12)], (20, 20, 24, 20, 24, 26)], "cat", track=4),
                     Mask([(10, 10, 20, 10, 15, 18)], "dog", 0.5, "model")])
    ls.set_masks(3, [])  # a looked-at negative
    assert ls.frames == [1] and ls.looked_at == [1, 3] and len(ls) == 2
    df = ls.df
    assert df.columns[-1] == POLYGONS
    assert df.loc[0, ["x1", "y1", "x2", "y2"]].tolist() == [2, 3, 24, 26]  # around both rings
    assert df.loc[0, POLYGONS] == [[2, 3, 9, 3, 9, 12], [20, 20, 24, 20, 24, 26]]
    assert [b.xyxy for b in ls.boxes(1)] == [(2, 3, 24, 26), (10, 10, 20, 18)]
    # a CSV keeps the polygons as JSON text; reading it gives the same set back
    path = tmp_path / "masks.csv"
    df.to_csv(path, index=False)
    back = LabelSet.from_csv(path, ["cat", "dog"], size=(40, 30), n_frames=6, looked_at=[3])
    assert back.equals(ls) and back.masks(1)[0].track == 4
    # the journal's per-frame state
    copy = LabelSet(["cat", "dog"], "masks", size=(40, 30), n_frames=6)
    for f in (1, 3):
        copy.apply_frame_state(json.loads(json.dumps(ls.frame_state(f))))
    assert copy.equals(ls)
    with pytest.raises(LabelError, match="holds masks, not boxes"):
        ls.add_box(1, ls.boxes(1)[0])


# -- the synthetic clip ---------------------------------------------------------------------
def test_synthetic_shapes_truth_is_the_visible_part_of_each_object(shapes):
    import cv2

    clip, truth, owner = shapes
    assert len(clip) == N and clip[0].shape == (H, W, 3) and truth.looked_at == list(range(N))
    assert truth.task == "masks" and truth.classes == ["disc", "star"]
    assert {m.label for f in truth.frames for m in truth.masks(f)} == {"disc", "star"}
    occluded_discs = 0
    for f in range(N):
        masks = truth.masks(f)
        covered = np.zeros((H, W), bool)
        for m in masks:
            mine = rasterise(m.polygons, (W, H))
            seen = owner[f] == m.track
            iou = (mine & seen).sum() / (mine | seen).sum()
            assert iou >= 0.95 and (mine == seen).all()  # exact to the pixel
            assert not (covered & mine).any()  # visible parts never overlap
            covered |= mine
            if m.label == "disc":  # an ellipse cut by the frame edge stays convex; a bite is not
                corners = np.concatenate([np.stack([x + dx, y + dy], 1) for dx in (0, 1) for dy in (0, 1)
                                          for y, x in [np.nonzero(seen)]]).astype(np.float32)
                hull = cv2.contourArea(cv2.convexHull(corners))
                occluded_discs += seen.sum() < 0.9 * hull
        # what the truth leaves out of the generator's pixels are slivers (< 10% in view)
        for t in set(np.unique(owner[f]).tolist()) - {-1} - {m.track for m in masks}:
            assert (owner[f] == t).sum() < 0.1 * max((owner == t).sum(axis=(1, 2)))
    assert occluded_discs >= 3
    first = {}
    last = {}
    for f in truth.frames:
        for m in truth.masks(f):
            first.setdefault(m.track, (f, m))
            last[m.track] = (f, m)
    entering = [t for t, (f, m) in first.items() if f > 0]
    leaving = [t for t, (f, m) in last.items() if f < N - 1]
    assert entering and leaving
    for t in entering:  # they come in across a frame edge
        x1, y1, x2, y2 = first[t][1].xyxy
        assert min(x1, y1) <= 0 or x2 >= W or y2 >= H


# -- COCO: pycocotools ------------------------------------------------------------------------
def test_coco_masks_polygons_and_rle_are_scored_by_pycocotools(shapes, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    clip, truth, owner = shapes
    formats.to_coco(truth, tmp_path / "polygons.json")
    formats.to_coco(truth, tmp_path / "rle.json", segmentation="rle")
    gt, rle = COCO(str(tmp_path / "polygons.json")), COCO(str(tmp_path / "rle.json"))
    assert len(gt.getAnnIds()) == len(truth) and sorted(gt.getImgIds()) == list(range(N))
    for ann in gt.loadAnns(gt.getAnnIds()) + rle.loadAnns(rle.getAnnIds()):
        pixels = (owner[ann["image_id"]] == ann["track_id"])
        assert (gt.annToMask(ann).astype(bool) == pixels).all()  # pycocotools fills our polygons
        assert ann["area"] == pixels.sum()
    assert isinstance(rle.loadAnns(1)[0]["segmentation"]["counts"], list)  # uncompressed

    def evaluate(anns):
        results = [{"image_id": a["image_id"], "category_id": a["category_id"],
                    "segmentation": rle.annToRLE(a), "score": 1.0} for a in anns]
        ev = COCOeval(gt, gt.loadRes(results), iouType="segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return ev.stats

    # our RLE as detections against our polygons as truth: AP 1.0 at every IoU threshold
    anns = rle.loadAnns(rle.getAnnIds())
    assert evaluate(anns)[:2] == pytest.approx([1.0, 1.0])
    # the same judge scores a mask moved off its object down
    moved = dict(anns[0], segmentation={"size": [H, W], "counts": formats.coco.rle_counts(
        np.roll(rle.annToMask(anns[0]).astype(bool), 6, axis=1))})
    assert evaluate([moved, *anns[1:]])[0] < 1.0


def test_coco_masks_round_trip(shapes, tmp_path):
    from pycocotools import mask as coco_mask

    clip, truth, owner = shapes
    formats.to_coco(truth, tmp_path / "p.json")
    assert formats.from_coco(tmp_path / "p.json").equals(truth)  # polygons: exactly
    formats.to_coco(truth, tmp_path / "r.json", segmentation="rle")
    back = formats.from_coco(tmp_path / "r.json")  # RLE: traced back to the same pixels
    assert pixel_key(back) == pixel_key(truth) and back.looked_at == truth.looked_at
    # COCO's compressed RLE strings (as pycocotools writes results) are read too
    coco = json.loads((tmp_path / "r.json").read_text())
    for ann in coco["annotations"]:
        pixels = np.asfortranarray(owner[ann["image_id"]] == ann["track_id"], dtype=np.uint8)
        ann["segmentation"]["counts"] = coco_mask.encode(pixels)["counts"].decode()
    assert pixel_key(formats.from_coco(coco)) == pixel_key(truth)


@pytest.mark.parametrize("segmentation, message", [
    ({"size": [100_000, 100_000], "counts": [10_000_000_000]}, "past 100,000,000"),
    ({"size": [96, 128], "counts": [5, 5]}, "add up to 10, not the 96x128 pixels"),
    ({"size": [96, 128], "counts": "~~~~~~~~~~~~~~~"}, "malformed compressed RLE"),
    ({"size": [10, 10], "counts": [100]}, "its RLE is 10x10, the image 128x96"),
    ([[1, 2, 3]], "ring 0 must be flat"),
    ("no", "segmentation must be polygons or RLE"),
])
def test_coco_mask_reader_names_the_problem(segmentation, message):
    doc = {"images": [{"id": 0, "width": W, "height": H}], "categories": [{"id": 1, "name": "a"}],
           "annotations": [{"id": 7, "image_id": 0, "category_id": 1, "bbox": [0, 0, 1, 1],
                            "segmentation": segmentation}]}
    with pytest.raises(LabelError, match=message):
        formats.from_coco(doc)


def test_coco_mask_reader_counts_polygon_points(monkeypatch):
    monkeypatch.setattr(formats.bounds, "MAX_POINTS", 5)
    ring = [1, 1, 9, 1, 9, 9, 1, 9]
    doc = {"images": [{"id": 0}], "categories": [{"id": 1, "name": "a"}],
           "annotations": [{"id": k, "image_id": 0, "category_id": 1, "segmentation": [ring]}
                           for k in (1, 2)]}
    with pytest.raises(LabelError, match="annotation 2 takes the file past 5 polygon points"):
        formats.from_coco(doc)


# -- YOLO segmentation: ultralytics ------------------------------------------------------------
def test_yolo_masks_are_verified_by_ultralytics(shapes, tmp_path):
    from mm_widgets.models.yolo_net import import_ultralytics

    import_ultralytics()  # offline settings before ultralytics' first import
    from ultralytics.data.utils import verify_image_label

    clip, truth, owner = shapes
    folder = formats.to_yolo(truth, tmp_path / "yolo", frames=clip)
    for f in range(N):
        image = folder / "images" / "train" / f"{f:06d}.jpg"
        txt = folder / "labels" / "train" / f"{f:06d}.txt"
        _, lb, shape, segments, _, missing, found, empty, corrupt, msg = verify_image_label(
            (str(image), str(txt), "", False, 2, 0, 0, False))
        masks = truth.masks(f)
        assert (missing, found, empty, corrupt) == (0, 1, int(not masks), 0), msg
        assert shape == (H, W) and len(segments) == len(masks)
        assert lb[:, 0].astype(int).tolist() == [truth.classes.index(m.label) for m in masks]
        for seg, m in zip(segments, masks):
            points = seg.astype(float) * (W, H)  # ultralytics' points, in pixels
            assert np.allclose(points.ravel(), merge_rings(m.polygons), atol=1e-3)
            assert (rasterise([tuple(points.ravel())], (W, H)) == (owner[f] == m.track)).all()
    back = formats.from_yolo(folder, n_frames=N)
    assert back.task == "masks" and back.looked_at == truth.looked_at
    assert sorted(k[:2] + k[3:] for k in pixel_key(back)) == sorted(k[:2] + k[3:] for k in pixel_key(truth))
    # a box line among polygon lines is refused, as ultralytics refuses it
    txt = folder / "labels" / "train" / "000005.txt"
    txt.write_text(txt.read_text() + "0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelError, match="mixes box and polygon lines"):
        formats.from_yolo(folder, n_frames=N)
    with pytest.raises(LabelError, match="no place for a score"):
        formats.to_yolo(truth, tmp_path / "scored", with_score=True)


# -- CVAT polygons: datumaro ---------------------------------------------------------------------
def test_cvat_masks_are_imported_by_datumaro(shapes, tmp_path):
    import datumaro as dm

    clip, truth, owner = shapes
    formats.to_cvat(truth, tmp_path / "cvat" / "annotations.xml")
    ds = dm.Dataset.import_from(str(tmp_path / "cvat"), "cvat")
    names = [c.name for c in ds.categories()[dm.AnnotationType.label]]
    got = sorted((item.attributes["frame"], names[a.label], a.attributes["track_id"],
                  rasterise([tuple(a.points)], (W, H)).tobytes())
                 for item in ds for a in item.annotations
                 if isinstance(a, dm.Polygon) and not a.attributes["outside"])
    assert got == pixel_key(truth)
    back = formats.from_cvat(tmp_path / "cvat" / "annotations.xml")
    assert back.task == "masks" and pixel_key(back) == pixel_key(truth)
    assert back.looked_at == truth.looked_at


def test_table_of_masks_from_pandas():
    table = pd.DataFrame({"frame": [0, 2], "label": ["a", "a"],
                          POLYGONS: [[[0, 0, 3, 0, 3, 2, 0, 2]], '[[1, 1, 5, 1, 5, 5, 1, 5]]']})
    ls = LabelSet.from_df(table, size=(10, 10))
    assert ls.task == "masks" and [m.area for f in ls.frames for m in ls.masks(f)] == [6, 16]
    buffer = io.StringIO()
    ls.df.to_csv(buffer, index=False)
    buffer.seek(0)
    assert LabelSet.from_df(pd.read_csv(buffer), size=(10, 10)).equals(ls)
