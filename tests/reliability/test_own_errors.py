"""Where the system fails (disk full, a name too long, a file where a folder should be), the
error is the package's own and names the file; labels already made are kept."""

from __future__ import annotations

import errno
import os

import pytest

import mm_widgets as mm
from mm_widgets.labels import Box


class FullDisk:
    """A journal's open file on a full disk: every write, flush and close fails."""

    def __init__(self):
        self.closed_once = False

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    flush = write

    def fileno(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self):  # a buffered file flushes on close: that fails too
        self.closed_once = True
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_labelling_names_the_journal(tmp_path):
    p = mm.Project(tmp_path / "p", ["a"])
    p.labels.set_boxes(0, [Box(0, 0, 5, 5, "a")])
    full = FullDisk()
    p._labels_journal._fh = full
    with pytest.raises(mm.ProjectError, match=r"cannot append to .*labels.journal: No space left"):
        p.labels.set_boxes(1, [Box(1, 1, 6, 6, "a")])
    assert full.closed_once and p.unsaved == [1]
    p.labels.set_boxes(2, [Box(2, 2, 7, 7, "a")])  # space is back: both frames written
    p.close()
    assert mm.Project(tmp_path / "p").labels.looked_at == [0, 1, 2]


def test_project_name_too_long_is_named(tmp_path):
    with pytest.raises(mm.ProjectError, match="x" * 300):
        mm.Project(tmp_path / ("x" * 300), ["a"])


@pytest.mark.parametrize("format", ["coco", "yolo", "cvat", "mot", "label-studio"])
def test_export_that_cannot_be_written_is_named(tmp_path, format):
    p = mm.Project(tmp_path / "p", ["a"])
    p.labels.set_boxes(0, [Box(0, 0, 5, 5, "a")])
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # the export target's parent is a file, not a folder
    with pytest.raises(mm.ProjectError, match=rf"cannot write the {format} export to .*a_file"):
        p.export(format, blocker / "out", images=False)


def test_temporary_files_a_kill_left_are_removed(tmp_path):
    mm.Project(tmp_path / "p", ["a"]).close()
    left = [tmp_path / "p" / ".labels.npz.999999.tmp", tmp_path / "p" / ".labels.journal.999999.link",
            tmp_path / "p" / "models" / ".round_0.pt.999999.tmp"]
    for f in left:
        f.write_bytes(b"half a file")
    mm.Project(tmp_path / "p").close()
    assert not any(f.exists() for f in left)
    mm.Project(tmp_path / "p", read_only=True)  # a reader leaves the writer's files alone
