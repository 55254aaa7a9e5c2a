"""Damaged but readable project files: named when opened, rebuilt by ``Project.recover``.

A file of the wrong shape is a ``ProjectError`` naming it (and the line, in a journal),
never a raw ``KeyError``; ``recover`` keeps every line it can read and goes back to the
previous version of every other file.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets.labels import Box


@pytest.fixture
def project(tmp_path):
    """Frames 0-4 in the previous snapshot, 0-7 in the snapshot, 8 only in the journal;
    one round recorded; six draws in the action log."""
    p = mm.Project(tmp_path / "p", ["a"], task="boxes")
    for f in range(5):
        p.labels.set_boxes(f, [Box(f, 0, f + 5, 5, "a")])
        p.actions.record("draw", f, label="a")
    p.save()
    for f in range(5, 8):
        p.labels.set_boxes(f, [Box(f, 0, f + 5, 5, "a")])
    p.record_round(train_seconds=1.0)
    p.labels.set_boxes(8, [Box(8, 0, 13, 5, "a")])
    p.actions.record("draw", 8, label="a")
    p.close()
    return tmp_path / "p"


def rewrite_snapshot(path, change):
    with np.load(path / "labels.npz") as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (path / "labels.npz").write_bytes(buffer.getvalue())


@pytest.mark.parametrize("change, said", [
    (lambda a: a.pop("frame"), "the frame array is missing"),
    (lambda a: a.pop("looked_at"), "the looked_at array is missing"),
    (lambda a: a.__setitem__("frame", a["frame"] - 3), "the frame array holds frame -3"),
    (lambda a: a.__setitem__("label", a["label"].astype(float)), "the label array holds float64"),
])
def test_wrong_shaped_snapshot_is_named_and_rebuilt(project, change, said):
    rewrite_snapshot(project, change)
    with pytest.raises(mm.ProjectError, match=rf"labels.npz: {said}.*Project.recover"):
        mm.Project(project)
    recovered = mm.Project.recover(project)
    assert recovered.labels.looked_at == list(range(9))  # nothing confirmed is lost
    assert [b.x1 for f in range(9) for b in recovered.labels.boxes(f)] == list(range(9))
    assert (project / "labels.npz.damaged").exists()


@pytest.mark.parametrize("field, value, said", [
    ("classes", "a", "classes should be a list of names"),
    ("task", 3, "task should be one of"),
    ("size", "64x48", r"size should be \[width, height\]"),
    ("n_frames", -1, "n_frames should be a positive whole number"),
    ("classes", ["a", "a"], "class names repeat"),
])
def test_wrong_typed_project_json_is_named_and_restored(project, field, value, said):
    meta = json.loads((project / "project.json").read_text())
    (project / "project.json").write_text(json.dumps({**meta, field: value}))
    with pytest.raises(mm.ProjectError, match=rf"project.json: {said}"):
        mm.Project(project)
    recovered = mm.Project.recover(project)
    assert recovered.classes == ["a"] and recovered.labels.looked_at == list(range(9))
    assert json.loads((project / "project.json.damaged").read_text())[field] == value


def test_rounds_of_the_wrong_shape_are_named(project):
    (project / "rounds.json").write_text("[1, 2]")
    with pytest.raises(mm.ProjectError, match="rounds.json should hold a list of round records"):
        _ = mm.Project(project).round
    assert mm.Project.recover(project).rounds["train_seconds"].tolist() == [1.0]


def test_rounds_without_a_previous_copy_come_back_from_the_model_files(project):
    # A project from before rounds.json kept a copy: its round must not fall back to 0 (the
    # next round would overwrite round_0.pt, and project.model would say None).
    (project / "models" / "round_0.pt").write_bytes(b"weights")
    (project / "rounds.prev.json").unlink()
    (project / "rounds.json").write_text("[{")
    recovered = mm.Project.recover(project)
    assert recovered.round == 1 and recovered.model_file.name == "round_0.pt"
    assert recovered.model_path().name == "round_1.pt"


def garble(path, line_number):
    lines = path.read_bytes().splitlines(keepends=True)
    lines[line_number - 1] = b'{"frame": 6, "looked_at": tru\x00\n'
    path.write_bytes(b"".join(lines))


def test_garbled_labels_journal_line_is_named_and_recover_keeps_the_rest(project):
    p = mm.Project(project)
    for f in (9, 10, 11):
        p.labels.set_boxes(f, [Box(f, 0, f + 5, 5, "a")])
    p.close()
    journal = project / "labels.journal"
    garble(journal, 2)  # frame 9's line: 8 before it, 10 and 11 after it
    with pytest.raises(mm.ProjectError, match=r"labels.journal line 2 is not JSON.*recover"):
        mm.Project(project)
    recovered = mm.Project.recover(project)
    assert recovered.labels.looked_at == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert (project / "labels.journal.damaged").read_bytes().count(b"tru\x00") == 1
    assert mm.Project(project).labels.looked_at == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]


def test_journal_line_that_is_not_a_frame_is_named(project):
    with open(project / "labels.journal", "ab") as fh:
        fh.write(b'{"frame": "nine", "looked_at": true}\n')
    with pytest.raises(mm.ProjectError, match=r"labels.journal line 2 is not a frame's labels"):
        mm.Project(project)
    assert mm.Project.recover(project).labels.looked_at == list(range(9))


def test_garbled_action_line_is_named_and_recover_keeps_the_rest(project):
    journal = project / "actions.journal"
    assert len(journal.read_bytes().splitlines()) == 6
    garble(journal, 3)
    with pytest.raises(mm.ProjectError, match=r"actions.journal line 3 is not JSON"):
        mm.Project(project)
    recovered = mm.Project.recover(project)
    assert [a.frame for a in recovered.actions] == [0, 1, 3, 4, 8]  # every readable line
    assert mm.Project(project).actions.count() == 5


def test_project_json_nested_200000_deep_is_named(project):
    (project / "project.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(mm.ProjectError, match="project.json is unreadable"):
        mm.Project(project)
    assert mm.Project.recover(project).labels.looked_at == list(range(9))
