"""SIGKILL a process that labels through the public API, at random moments, many times.

After every kill the project reopens, its files are valid, and every label the process
confirmed (the call returned and it printed the frame number) is there. MM_FAST=1 (set by
`make test`) uses 12 kills instead of 50.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

import mm_widgets as mm

STEPS = r"""
import random
from mm_widgets.labels import Box

def steps(seed):
    # The labeller's edits, in order: (frame, boxes). Deterministic for a seed.
    rng = random.Random(seed)
    while True:
        frame = rng.randrange(400)
        yield frame, [Box(frame, 1, frame + 3 + k, 9, rng.choice(["cat", "dog"]))
                      for k in range(rng.randrange(4))]
"""

LABELLER = STEPS + r"""
import sys
import mm_widgets as mm
project = mm.Project(sys.argv[1], ["cat", "dog"])
for step, (frame, boxes) in enumerate(steps(int(sys.argv[2]))):
    project.labels.set_boxes(frame, boxes)
    project.actions.record("draw", frame, label="cat")
    if step % 17 == 0:
        project.save()  # kills also land inside snapshot writes
    print(frame, len(boxes), flush=True)
"""


def test_fifty_kills_lose_nothing(tmp_path):
    kills = 12 if os.environ.get("MM_FAST") else 50
    path = tmp_path / "p"
    mm.Project(path, ["cat", "dog"]).close()  # the labelling processes need it to themselves
    scope: dict = {}
    exec(STEPS, scope)
    state: dict[int, list] = {}  # frame -> boxes, as confirmed so far
    confirmed_actions = 0
    rng = random.Random(0)
    for k in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", LABELLER, str(path), str(k)],
                                stdout=subprocess.PIPE, text=True)
        deadline = time.time() + rng.uniform(0.05, 0.6)
        lines = []
        while time.time() < deadline:  # read confirmations until a random moment...
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        proc.send_signal(signal.SIGKILL)  # ...then kill without warning
        rest, _ = proc.communicate()
        lines += rest.splitlines()  # confirmed before the kill, read after it
        edits = scope["steps"](k)
        for line in lines:
            frame, boxes = next(edits)
            assert line.split() == [str(frame), str(len(boxes))]
            state[frame] = boxes
        # The one edit after the last confirmation may have reached the disk before the
        # kill: the frame it touched may hold either its confirmed state or that edit.
        in_flight_frame, in_flight_boxes = next(edits)
        confirmed_actions += len(lines)
        project = mm.Project(path, read_only=True)
        for frame, boxes in state.items():
            got = project.labels.boxes(frame)
            allowed = [boxes] + ([in_flight_boxes] if frame == in_flight_frame else [])
            assert got in allowed, f"kill {k}: frame {frame} has {got}, expected {boxes}"
        if in_flight_frame not in state:
            assert project.labels.boxes(in_flight_frame) in ([], in_flight_boxes)
        if project.labels.boxes(in_flight_frame) == in_flight_boxes:
            state[in_flight_frame] = in_flight_boxes  # it landed: the next process builds on it
        assert len(project.actions) >= confirmed_actions
        json.loads((path / "project.json").read_text())
        if (path / "labels.npz").exists():
            with np.load(path / "labels.npz", allow_pickle=False) as z:
                assert set(z.files) >= {"frame", "xyxy", "looked_at"}
        project.close()
    print(f"{kills} kills survived, {len(state)} frames confirmed, 0 labels lost")
