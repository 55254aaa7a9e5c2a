"""Disk full, read-only folders, corrupt files, malicious model files."""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil

import pytest

import mm_widgets as mm
from mm_widgets import storage
from mm_widgets.labels import Box


def test_disk_full_keeps_labels_and_retry_succeeds(tmp_path, monkeypatch):
    p = mm.Project(tmp_path / "p", ["a"])
    p.labels.set_boxes(0, [Box(0, 0, 5, 5, "a")])
    real_append = storage.Journal.append

    def full(self, record):
        raise mm.ProjectError(f"cannot append to {self.path}: {os.strerror(errno.ENOSPC)}")

    monkeypatch.setattr(storage.Journal, "append", full)
    with pytest.raises(mm.ProjectError, match="No space left"):
        p.labels.set_boxes(1, [Box(1, 1, 6, 6, "a")])
    # In memory nothing is lost, and the project knows what is not on disk yet.
    assert [b.x1 for b in p.labels.boxes(1)] == [1.0] and p.unsaved == [1]
    monkeypatch.setattr(storage.Journal, "append", real_append)
    p.labels.set_boxes(2, [Box(2, 2, 7, 7, "a")])  # space is back: both frames are written
    assert p.unsaved == []
    again = mm.Project(tmp_path / "p")
    assert again.labels.looked_at == [0, 1, 2]


def test_unwritable_journal_gives_clear_error(tmp_path):
    p = mm.Project(tmp_path / "p", ["a"])
    p.labels.set_boxes(0, [Box(0, 0, 5, 5, "a")])
    p.close()
    if os.geteuid() != 0:
        os.chmod(tmp_path / "p", 0o500)
        os.chmod(tmp_path / "p" / "labels.journal", 0o400)
        q = mm.Project(tmp_path / "p")
        with pytest.raises(mm.ProjectError, match="labels.journal"):
            q.labels.set_boxes(1, [Box(0, 0, 5, 5, "a")])
        assert q.unsaved == [1] and q.labels.looked_at == [0, 1]
    # root ignores permission bits; something unreadable in the journal's place must still
    # give an error that names the file, not a bare OSError from deep inside
    journal = tmp_path / "p" / "labels.journal"
    os.chmod(tmp_path / "p", 0o700)
    journal.unlink()
    journal.mkdir()
    with pytest.raises(mm.ProjectError, match="labels.journal"):
        mm.Project(tmp_path / "p")


@pytest.fixture
def saved_project(tmp_path):
    p = mm.Project(tmp_path / "p", ["a"])
    for f in range(5):
        p.labels.set_boxes(f, [Box(f, 0, f + 5, 5, "a")])
    p.save()
    for f in range(5, 8):
        p.labels.set_boxes(f, [Box(f, 0, f + 5, 5, "a")])
    p.record_round(train_seconds=1.0)  # snapshot again: 0..7 in labels.npz, 0..4 in prev
    p.labels.set_boxes(8, [Box(8, 0, 13, 5, "a")])  # only in the journal
    p.close()
    return tmp_path / "p"


def test_truncated_snapshot_named_and_recovered(saved_project):
    snap = saved_project / "labels.npz"
    snap.write_bytes(snap.read_bytes()[:100])
    with pytest.raises(mm.ProjectError, match=r"labels.npz.*Project.recover"):
        mm.Project(saved_project)
    recovered = mm.Project.recover(saved_project)
    assert recovered.labels.looked_at == list(range(9))  # nothing confirmed is lost
    assert (saved_project / "labels.npz.damaged").exists()
    assert mm.Project(saved_project).labels.looked_at == list(range(9))


def test_truncated_project_json_recovered(saved_project):
    (saved_project / "project.json").write_text('{"schema": 1, "clas')
    with pytest.raises(mm.ProjectError, match="project.json"):
        mm.Project(saved_project)
    assert mm.Project.recover(saved_project).classes == ["a"]


def test_truncated_rounds_recovered(saved_project):
    (saved_project / "rounds.json").write_text("[{")
    with pytest.raises(mm.ProjectError, match="rounds.json"):
        _ = mm.Project(saved_project).round
    # Damaged after the first round: its previous version is a copy of the last good one,
    # so the round and its figures come back; the damaged file is put aside.
    recovered = mm.Project.recover(saved_project)
    assert recovered.round == 1 and recovered.rounds["train_seconds"].tolist() == [1.0]
    assert (saved_project / "rounds.json.damaged").read_text() == "[{"
    assert recovered.labels.looked_at == list(range(9))


def test_unknown_schema_version(saved_project):
    meta = json.loads((saved_project / "project.json").read_text())
    (saved_project / "project.json").write_text(json.dumps({**meta, "schema": 7}))
    with pytest.raises(mm.ProjectError, match="schema version 7"):
        mm.Project(saved_project)


def test_missing_model_file_named(saved_project):
    with pytest.raises(mm.ProjectError, match="round_3.pt"):
        mm.MicroModel.load(saved_project / "models" / "round_3.pt")


class Exploit:
    def __reduce__(self):
        return (shutil.rmtree, ("/tmp/mm_widgets_exploit_marker",))


def test_malicious_pickle_is_never_executed(saved_project, tmp_path):
    marker = tmp_path.parent / "mm_widgets_exploit_marker"
    os.makedirs("/tmp/mm_widgets_exploit_marker", exist_ok=True)
    evil = saved_project / "models" / "round_0.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"kind": "yolo", "payload": Exploit()}, fh)
    project = mm.Project(saved_project)  # opening a project never loads model files
    assert os.path.isdir("/tmp/mm_widgets_exploit_marker")
    with pytest.raises(mm.ProjectError, match="refused"):
        mm.MicroModel.load(project.model_path(0))
    assert os.path.isdir("/tmp/mm_widgets_exploit_marker"), "the pickle ran code"
    del marker


class RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture
def square_clip():
    from tests.conftest import moving_square_frames

    arrays, boxes = moving_square_frames(6, size=(64, 48))
    labels = mm.LabelSet(["sq"], size=(64, 48), n_frames=6)
    for f, x1, y1, x2, y2 in boxes[:2]:
        labels.set_boxes(f, [Box(x1, y1, x2, y2, "sq")])
    return mm.Frames.from_arrays(arrays), labels


@pytest.mark.parametrize("versions", ["today's", "without a weights-only loader"])
def test_outside_weights_with_pickled_code_never_run(tmp_path, monkeypatch, square_clip, versions):
    import torch

    from mm_widgets.models.yolo_net import import_ultralytics

    marker = tmp_path / "the_pickle_ran"
    evil = tmp_path / "yolo11n.pt"
    torch.save({"model": RunsShell(f"touch {marker}")}, evil)
    if versions != "today's":  # ultralytics then falls back to a full unpickle
        monkeypatch.setattr(import_ultralytics()._SafeLoad, "SUPPORTED", False)
    with pytest.raises(mm.MMError, match=r"yolo11n.pt holds pickled code \(posix.system\)"):
        mm.overfit(*square_clip, weights=evil, epochs=1, progress=False, project=False)
    assert not marker.exists(), "the pickle ran code"


def test_model_files_that_are_not_model_files_are_named(tmp_path, square_clip):
    import torch

    text = tmp_path / "notes.pt"
    text.write_text("hello world\n")
    with pytest.raises(mm.ProjectError, match="notes.pt is not a plain mm_widgets model file"):
        mm.MicroModel.load(text)
    with pytest.raises(mm.MMError, match="notes.pt is not a model file that can be read safely"):
        mm.overfit(*square_clip, weights=text, epochs=1, progress=False, project=False)
    half = tmp_path / "half.pt"
    torch.save({"kind": "yolo"}, half)
    with pytest.raises(mm.ProjectError, match=r"half.pt is not a whole 'yolo' model file \(KeyError"):
        mm.MicroModel.load(half)
