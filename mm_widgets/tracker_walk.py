"""The tracker-assisted walk: what a person gets from a video tool's single-object tracker.

The baseline every micro-model figure is set beside, with keyframe interpolation. The
person goes through the frames in order. On the first frame they draw every box; on each
later frame a single-object tracker per box (OpenCV's CSRT, the discriminative correlation
filter with channel and spatial reliability, Lukezic et al., CVPR 2017) proposes where the
box moved, and the person corrects the proposals. Proposals are counted by the one rule
(:func:`mm_widgets.actions.corrections`, :func:`mm_widgets.actions.diff_boxes`: a proposal
with IoU >= ``tight_iou`` and the right class is free; the rest are paired into adjusts,
then draws or deletes). Every box the person adjusted or drew starts a new tracker from the
corrected box; a box deleted ends its tracker; a tracker that loses its object proposes
nothing.

CSRT lives in OpenCV's contrib modules. Ultralytics depends on ``opencv-python``, whose
``cv2`` has no CSRT, and the contrib wheels install the same ``cv2`` folder: the project's
``make`` targets lay ``opencv-contrib-python-headless`` of the same version over it
(``scripts/opencv-contrib``), a superset of the same build. Where ``cv2`` has no CSRT,
:func:`tracker_walk` says so and how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .actions import ActionLog, efficiency, same_box
from .errors import MMError
from .labels import Box, LabelSet
from .oracle import Oracle

#: OpenCV's single-object trackers by name: the constructor's name in ``cv2``.
TRACKERS = {"csrt": "TrackerCSRT_create", "kcf": "TrackerKCF_create", "mil": "TrackerMIL_create"}


def make_tracker(name: str = "csrt"):
    """A new OpenCV single-object tracker, or a clear error when this ``cv2`` lacks it."""
    import cv2

    if name not in TRACKERS:
        raise MMError(f"unknown tracker {name!r}; known: {sorted(TRACKERS)}")
    make = getattr(cv2, TRACKERS[name], None)
    if make is None:
        raise MMError(
            f"this OpenCV ({cv2.__version__}) has no {name.upper()} tracker: it is in the "
            f"contrib modules. Install them over the cv2 that ultralytics brings: pip install "
            f"--no-deps --force-reinstall opencv-contrib-python-headless=={cv2.__version__}.*"
            f" (make test and make demo do it)")
    return make()


def tracker_available(name: str = "csrt") -> bool:
    """True when this ``cv2`` has the tracker ``name``."""
    try:
        import cv2
    except ImportError:
        return False
    return hasattr(cv2, TRACKERS.get(name, ""))


@dataclass
class WalkResult:
    """What the tracker walk cost: ``labels`` boxes for ``actions`` human actions (by
    kind in ``log``), over ``frames`` frames."""

    labels: LabelSet
    log: ActionLog
    frames: int
    tracker: str

    @property
    def actions(self) -> int:
        return len(self.log)

    @property
    def efficiency(self) -> float:
        return efficiency(len(self.log), len(self.labels))


def tracker_walk(frames, truth: LabelSet, *, tracker: str = "csrt", match_iou: float = 0.5,
                 tight_iou: float = 0.75, indices=None, round: int = 0) -> WalkResult:
    """Walk ``frames`` in order with one single-object tracker per box, the oracle
    correcting the proposals from ``truth`` (see the module docstring).

    ``indices``: the frames walked (default: all, in order).
    """
    import cv2

    indices = list(range(len(frames))) if indices is None else [int(i) for i in indices]
    labels = LabelSet(truth.classes, "boxes", size=frames.size, n_frames=len(frames))
    log = ActionLog()
    oracle = Oracle(truth, match_iou, tight_iou)
    w, h = frames.size
    live: list[tuple[object, Box]] = []  # (tracker, the box it follows: label, track id)
    next_id = 0
    for f in indices:
        image = cv2.cvtColor(np.ascontiguousarray(frames[f]), cv2.COLOR_RGB2BGR)
        proposed: list[Box] = []
        followers = []
        for t, box in live:
            ok, (x, y, bw, bh) = t.update(image)
            if not ok or bw <= 0 or bh <= 0:
                continue
            moved = Box(float(x), float(y), float(x + bw), float(y + bh), box.label, None,
                        "model", box.track).clipped((w, h))
            if moved is None:
                continue
            proposed.append(moved)
            followers.append(t)
        oracle.review(f, proposed, labels, log, round)
        live = []
        for box in labels.boxes(f):
            same = [k for k, p in enumerate(proposed) if same_box(p, box)]
            if same:  # accepted as proposed: its tracker goes on
                live.append((followers[same[0]], proposed[same[0]]))
                continue
            # adjusted or drawn: a new tracker from the corrected box
            x1, y1 = round_half(box.x1), round_half(box.y1)
            bw = max(1, round_half(box.x2) - x1)
            bh = max(1, round_half(box.y2) - y1)
            t = make_tracker(tracker)
            t.init(image, (x1, y1, bw, bh))
            live.append((t, Box(*box.xyxy, box.label, None, "human", next_id)))
            next_id += 1
    return WalkResult(labels, log, len(indices), tracker)


def round_half(v: float) -> int:
    return int(np.floor(v + 0.5))
