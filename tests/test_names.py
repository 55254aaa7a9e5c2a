"""Class and clip names: each one either comes back from every export as it went in, or is
refused when the label set is made, with the reason."""

from __future__ import annotations

import configparser
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mm_widgets as mm
from mm_widgets import formats
from mm_widgets.labels import Box, LabelSet

EXAMPLES = 40 if os.environ.get("MM_FAST") else 200
NAMES = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])
SIZE = (64, 48)


def labelled(classes):
    labels = LabelSet(classes, "boxes", size=SIZE, n_frames=4)
    for k, c in enumerate(classes):  # one box of each class, on frames 0 and 1 (a track)
        for f in (0, 1):
            labels.add_box(f, Box(2 + 6 * k, 2, 6 + 6 * k, 9, c, None, "human", k))
    labels.mark_looked_at(3)
    return labels


def every_export_and_back(labels, folder: Path) -> dict[str, list[str]]:
    """The class names each export gives back, read by the package's readers where there
    is one and by the standard library's parsers of the file's own syntax."""
    frames = mm.Frames.from_arrays([np.zeros((SIZE[1], SIZE[0], 3), np.uint8)] * 4)
    formats.to_coco(labels, folder / "coco" / "annotations.json")
    formats.to_yolo(labels, folder / "yolo_labels")
    formats.to_yolo(labels, folder / "yolo", frames=frames)
    formats.to_cvat(labels, folder / "cvat.xml")
    formats.to_mot(labels, folder / "mot")
    formats.to_label_studio(labels, folder / "ls" / "tasks.json")
    back = {name: read(folder) for name, read in {
        "coco": lambda d: formats.from_coco(d / "coco" / "annotations.json"),
        "yolo classes.txt": lambda d: formats.from_yolo(d / "yolo_labels", SIZE),
        "yolo data.yaml": lambda d: formats.from_yolo(d / "yolo"),
        "cvat": lambda d: formats.from_cvat(d / "cvat.xml"),
        "mot": lambda d: formats.from_mot(d / "mot"),
    }.items()}
    out = {name: labels_back.classes for name, labels_back in back.items()}
    # the boxes keep their class too (a name split in two would shift every later class id)
    for name, labels_back in back.items():
        assert [b.label for b in labels_back.boxes(1)] == [b.label for b in labels.boxes(1)], name
    config = ET.parse(folder / "ls" / "config.xml").getroot()
    out["label-studio config"] = [e.get("value") for e in config.iter("Label")]
    tasks = json.loads((folder / "ls" / "tasks.json").read_text())
    out["label-studio tasks"] = sorted({r["value"]["rectanglelabels"][0] for t in tasks
                                        for a in t.get("annotations", []) for r in a["result"]})
    return out


@NAMES
@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3, unique=True))
def test_class_names_come_back_from_every_export_or_are_refused(classes):
    try:
        labels = labelled(classes)
    except mm.LabelError as e:
        assert "is refused: " in str(e) and any(repr(c)[:60] in str(e) for c in classes), str(e)
        return
    with tempfile.TemporaryDirectory() as tmp:
        back = every_export_and_back(labels, Path(tmp))
    for name, got in back.items():
        want = sorted(classes) if name == "label-studio tasks" else classes
        assert got == want, name


# Names that must not be refused: letters of many scripts, digits, punctuation, markup,
# quotes, inner spaces, characters beyond U+FFFF.
PLAIN = st.text(st.characters(categories=("L", "N", "P", "S"), exclude_characters="\x85"),
                min_size=1, max_size=6)


@NAMES
@given(st.lists(st.builds(lambda a, b: f"{a} {b}" if b else a, PLAIN, st.text(
    st.characters(categories=("L", "N", "P", "S")), max_size=3)),
    min_size=1, max_size=3, unique=True))
def test_printable_names_are_kept(classes):
    with tempfile.TemporaryDirectory() as tmp:
        back = every_export_and_back(labelled(classes), Path(tmp))
    assert back["yolo data.yaml"] == back["mot"] == back["cvat"] == classes


@pytest.mark.parametrize("name, reason", [
    ("car\nbus", "a control character (U+000A)"),
    ("a\x00b", "a control character (U+0000)"),
    ("a\u2028b", "a line separator (U+2028)"),
    ("\ud83d", "half of a surrogate pair (U+D83D)"),
    ("a\ufffe", "a noncharacter (U+FFFE)"),
    (" car", "starts or ends with a space"),
])
def test_names_exports_break_are_refused_with_the_reason(name, reason):
    with pytest.raises(mm.LabelError, match=r"class name .* is refused: .*" + reason.replace(
            "(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        LabelSet(["ok", name])


def test_names_beyond_the_basic_plane_survive_yolo(tmp_path):
    # YOLO's data.yaml used to hold "\ud83d\ude97" escapes, read back as two broken halves;
    # a code point not assigned yet (U+0378) and U+FDD0 are names like others
    classes = ["🚗", "𝒜 b", "x\u0378", "\ufdd0"]
    back = every_export_and_back(labelled(classes), tmp_path)
    assert back["yolo data.yaml"] == classes


@pytest.mark.parametrize("name", ["clip\nimDir=../../x", "a\rb", "x\x00"])
def test_clip_names_that_break_a_file_are_refused(tmp_path, name):
    labels = labelled(["a"])
    for write in (formats.to_mot, formats.to_cvat):
        with pytest.raises(mm.LabelError, match="name .* is refused"):
            write(labels, tmp_path / "out", name=name)
    assert not (tmp_path / "out" / "seqinfo.ini").exists()


def test_clip_name_comes_back_from_seqinfo(tmp_path):
    formats.to_mot(labelled(["a"]), tmp_path / "mot", name="Straße [2] = \"x\"; #1")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(tmp_path / "mot" / "seqinfo.ini", encoding="utf-8")
    assert parser["Sequence"]["name"] == "Straße [2] = \"x\"; #1"


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", " spaced"])
def test_project_names_exports_break_are_refused_when_made(tmp_path, name):
    with pytest.raises(mm.ProjectError, match="project name .* is refused: "):
        mm.Project(tmp_path / name, ["a"])
    assert not (tmp_path / name).exists()


def test_project_name_comes_back_from_mot_and_cvat(tmp_path):
    frames = mm.Frames.from_arrays([np.zeros((SIZE[1], SIZE[0], 3), np.uint8)] * 4)
    p = mm.Project(tmp_path / "Straße <1> & \"2\"", ["a"], frames=frames)
    p.labels.set_boxes(0, [Box(2, 2, 6, 9, "a")])
    p.export("mot", tmp_path / "mot")
    p.export("cvat", tmp_path / "cvat")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(tmp_path / "mot" / "seqinfo.ini", encoding="utf-8")
    assert parser["Sequence"]["name"] == "Straße <1> & \"2\""
    task = ET.parse(tmp_path / "cvat" / "annotations.xml").getroot().find("meta/task")
    assert task.findtext("name") == "Straße <1> & \"2\""
