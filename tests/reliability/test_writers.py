"""Two notebooks, one project: one process writes, others read; nothing confirmed is lost.

The writers here are real processes (two kernels are two processes); a lock left by a
process that was killed must not lock anyone out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import mm_widgets as mm
from mm_widgets.labels import Box

# Labels every frame it can, saving a snapshot now and then (what overfit() and
# next_round() do), and prints each frame once its call has returned.
WRITER = r"""
import sys, mm_widgets as mm
from mm_widgets.labels import Box
start, step = int(sys.argv[2]), int(sys.argv[3])
try:
    p = mm.Project(sys.argv[1])
except mm.ProjectError as e:
    print("refused", e, flush=True)
    raise SystemExit(0)
print("open", flush=True)
for i in range(start, 400, step):
    p.labels.set_boxes(i, [Box(i, 0, i + 5, 5, "a")])
    if i % 9 == 0:
        p.save()
    print(i, flush=True)
if len(sys.argv) > 4:
    input()  # stay open until told
p.close()
"""


def start(path, *args):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), *map(str, args)],
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)


def test_second_writer_process_is_refused_and_first_loses_nothing(tmp_path):
    path = tmp_path / "p"
    mm.Project(path, ["a"]).close()
    first = start(path, 0, 2, "hold")
    assert first.stdout.readline() == "open\n"
    second = start(path, 1, 2)
    out, _ = second.communicate(timeout=60)
    # Refused at once, naming the process that holds the project and the way to read it.
    assert out.startswith("refused"), out
    assert f"pid {first.pid}" in out and "read_only=True" in out and os.uname().nodename in out
    # A reader in a third process (this one) sees what the writer confirmed, while it writes.
    confirmed = [int(first.stdout.readline()) for _ in range(50)]
    seen = mm.Project(path, read_only=True)
    assert set(confirmed) <= set(seen.labels.looked_at)
    with pytest.raises(mm.ProjectError, match="read-only"):
        seen.labels.set_boxes(3, [])
    with pytest.raises(mm.ProjectError, match="read-only"):
        seen.save()
    first.stdin.write("\n")
    first.stdin.close()
    rest = first.stdout.read()  # (not communicate(): it would skip what readline() buffered)
    first.wait(timeout=60)
    confirmed += [int(x) for x in rest.split()]
    assert confirmed == list(range(0, 400, 2))
    assert mm.Project(path).labels.looked_at == confirmed  # every confirmed box is there


def test_killed_writer_does_not_lock_the_project(tmp_path):
    path = tmp_path / "p"
    mm.Project(path, ["a"]).close()
    proc = start(path, 0, 1, "hold")
    assert proc.stdout.readline() == "open\n"
    confirmed = [int(proc.stdout.readline()) for _ in range(10)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The lock went with the process: the next writer opens at once.
    t = time.time()
    p = mm.Project(path)
    assert time.time() - t < 5
    assert set(confirmed) <= set(p.labels.looked_at)
    p.labels.set_boxes(399, [Box(1, 1, 4, 4, "a")])
    p.close()
    # and once closed, another process may write
    other = start(path, 398, 1000)
    out, _ = other.communicate(timeout=60)
    assert out.split() == ["open", "398"]


def test_two_openers_in_one_process_share_the_project(tmp_path):
    # A notebook that opens the same project twice (mm.label(...) then mm.review(...), or a
    # cell run again): each one's snapshot keeps the other's confirmed boxes.
    p = mm.Project(tmp_path / "p", ["a"])
    q = mm.Project(tmp_path / "p")
    p.labels.set_boxes(1, [Box(1, 0, 6, 5, "a")])
    q.labels.set_boxes(2, [Box(2, 0, 7, 5, "a")])
    p.save()  # p never saw frame 2
    q.labels.set_boxes(3, [Box(3, 0, 8, 5, "a")])  # after p's snapshot emptied the journal
    q.record_round()
    p.labels.set_boxes(4, [Box(4, 0, 9, 5, "a")])
    p.save()
    p.close()
    q.close()
    assert mm.Project(tmp_path / "p").labels.looked_at == [1, 2, 3, 4]


def test_a_folder_that_is_not_a_project_gets_no_lock_file(tmp_path):
    (tmp_path / "notes.txt").write_text("someone's folder")
    with pytest.raises(mm.ProjectError, match="pass classes"):
        mm.Project(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
