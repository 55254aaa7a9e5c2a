"""Project folders: everything saved at once, reopened exactly, crash-safe."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets.labels import Box


def test_reopen_gives_same_state(tmp_path, bunny, bunny_truth):
    p = mm.Project(tmp_path / "p", ["bunny"], frames=bunny)
    for f in (0, 30, 60):
        p.labels.set_boxes(f, bunny_truth.boxes(f))
        p.actions.record("draw", f, label="bunny")
    p.labels.set_boxes(90, [])  # a confirmed negative
    q = mm.Project(tmp_path / "p")
    assert q.labels.equals(p.labels)
    assert q.labels.looked_at == [0, 30, 60, 90]
    assert [a.kind for a in q.actions] == ["draw"] * 3
    assert len(q.frames) == 132 and np.array_equal(q.frames[5], bunny[5])
    q.save()  # snapshot + empty journal gives the same again
    r = mm.Project(tmp_path / "p")
    assert r.labels.equals(p.labels)
    assert (tmp_path / "p" / "labels.journal").read_bytes() == b""


def test_rounds_and_model_paths(tmp_path):
    p = mm.Project(tmp_path / "p", ["a"])
    assert p.round == 0
    p.labels.set_boxes(0, [Box(0, 0, 5, 5, "a")])
    p.actions.record("draw", 0)
    rec = p.record_round(train_seconds=1.5)
    assert rec["labels"] == 1 and rec["human_actions"] == 1
    assert mm.Project(tmp_path / "p").round == 1
    assert p.model_path().name == "round_1.pt"
    assert mm.Project(tmp_path / "p").rounds["train_seconds"].tolist() == [1.5]


def test_bad_projects_name_the_file(tmp_path):
    with pytest.raises(mm.ProjectError, match="pass classes"):
        mm.Project(tmp_path / "none")
    p = mm.Project(tmp_path / "p", ["a"])
    with pytest.raises(mm.ProjectError, match=r"classes \['a'\], not \['b'\]"):
        mm.Project(tmp_path / "p", ["b"])
    meta = tmp_path / "p" / "project.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "schema": 99}))
    with pytest.raises(mm.ProjectError, match="schema version 99"):
        mm.Project(tmp_path / "p")
    meta.write_text("{trunc")
    with pytest.raises(mm.ProjectError, match="project.json"):
        mm.Project(tmp_path / "p")
    del p


def test_torn_journal_line_is_skipped(tmp_path):
    p = mm.Project(tmp_path / "p", ["a"])
    p.labels.set_boxes(1, [Box(0, 0, 5, 5, "a")])
    p.close()
    with open(tmp_path / "p" / "labels.journal", "ab") as fh:
        fh.write(b'{"frame": 2, "looked_at": true, "boxes": [[0, 0, 9')  # crash mid-line
    q = mm.Project(tmp_path / "p")
    assert q.labels.looked_at == [1]
    q.labels.set_boxes(3, [])  # appending after a torn line still works
    assert mm.Project(tmp_path / "p").labels.looked_at == [1, 3]


WRITER = """
import sys, mm_widgets as mm
from mm_widgets.labels import Box
p = mm.Project(sys.argv[1], ["a"])
i = len(p.labels.looked_at)
while True:
    p.labels.set_boxes(i, [Box(i, 0, i + 5, 5, "a")])
    if i % 7 == 0:
        p.save()  # snapshots too, so kills land inside either kind of write
    print(i, flush=True)
    i += 1
"""


def test_killed_mid_write_never_loses_a_confirmed_label(tmp_path):
    path = tmp_path / "p"
    mm.Project(path, ["a"]).close()  # the writer processes need it to themselves
    for kill in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                                text=True)
        confirmed = []
        deadline = time.time() + 30
        while len(confirmed) < 20 + kill * 7 and time.time() < deadline:
            confirmed.append(int(proc.stdout.readline()))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        labels = mm.Project(path, read_only=True).labels
        for i in confirmed:
            assert labels.boxes(i)[0].x1 == i, f"kill {kill}: label {i} lost"


def test_next_round_bookkeeping_survives_reopening(tmp_path):
    from .conftest import moving_square_frames

    arrays, boxes = moving_square_frames(20, size=(64, 48))
    frames = mm.Frames.from_arrays(arrays)
    p = mm.Project(tmp_path / "p", ["sq"], frames=frames)
    with pytest.raises(mm.NoLabelsError):
        mm.next_round(p, frames, kind="interpolate")
    for f, x1, y1, x2, y2 in boxes[::6]:
        p.labels.set_boxes(f, [Box(x1, y1, x2, y2, "sq")])
        p.actions.record("draw", f, label="sq")
    model = mm.next_round(p, frames, kind="interpolate")
    assert p.round == 1 and p.model_path(0).exists()
    assert set(model.predictions_.frame) == set(range(20)) - {0, 6, 12, 18}
    rec = mm.Project(tmp_path / "p", frames=frames).rounds.iloc[0]
    assert rec["labels"] == 4 and rec["human_actions"] == 4 and rec["model_file"] == "round_0.pt"
    assert not rec["warm_start"]
    # round 1: accept one prediction as it is (free), then a second round warm-starts
    f = 3
    p.labels.set_boxes(f, [Box(*r[1:5], "sq", r[6], "model") for r in
                           model.predictions_[model.predictions_.frame == f].itertuples(index=False)],
                       round=1)
    p2 = mm.Project(tmp_path / "p", frames=frames)
    mm.next_round(p2, frames, kind="interpolate")
    rounds = mm.Project(tmp_path / "p").rounds
    assert rounds["round"].tolist() == [0, 1] and rounds["labels"].tolist() == [4, 5]
    assert rounds["human_actions"].tolist() == [4, 0] and bool(rounds["warm_start"].iloc[1])
