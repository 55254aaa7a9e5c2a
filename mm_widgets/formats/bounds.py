"""What a label file may make a reader allocate: a few hundred bytes must not ask for gigabytes.

A file describes a clip; every reader holds what it builds to that clip (the length the
caller gives, else the one the file declares, never more than :data:`MAX_FRAMES`), to
:data:`MAX_BOXES` boxes (or masks) in all, to :data:`MAX_POINTS` polygon points, and an
RLE mask to :data:`MAX_PIXELS`, and refuses the rest with a
:class:`~mm_widgets.errors.LabelError` naming the file and the element. Nesting and YAML
aliases, which make small files into large objects, are refused the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import LabelError
from ..labels import LabelSet

#: The longest clip a label file may describe: over nine hours at 30 frames/s.
MAX_FRAMES = 1_000_000
#: The most boxes one file may expand to (tracks interpolated over their frames included);
#: about 0.75 GB in memory.
MAX_BOXES = 1_000_000
#: The most polygon points one file may hold or expand to (RLE masks traced included).
MAX_POINTS = 10_000_000
#: The most pixels one run-length-encoded mask may decode to (an 8K frame is 33 million).
MAX_PIXELS = 100_000_000
#: The deepest nesting of a JSON file (COCO and others are four levels deep).
MAX_DEPTH = 64


def clip_length(n, where: str) -> int:
    """A clip length read from a file, as an int in ``1..MAX_FRAMES``."""
    if type(n) is not int or not 1 <= n <= MAX_FRAMES:
        raise LabelError(f"{where}: a clip of {str(n)[:40]} frames; a clip has 1 to "
                         f"{MAX_FRAMES:,} frames (mm_widgets.formats.bounds.MAX_FRAMES)")
    return n


class BoxBudget:
    """Counts the boxes (and masks, and their points) a reader makes and checks their
    frames, for one file."""

    def __init__(self, labels: LabelSet, where: str):
        self.limit = labels.n_frames if labels.n_frames is not None else MAX_FRAMES
        self.labels, self.where, self.boxes, self.polygon_points = labels, where, 0, 0

    def frame(self, f, element: str) -> int:
        """Frame ``f`` (checked to lie in the clip), named ``element`` in the error."""
        if type(f) is int and not 0 <= f < self.limit:
            raise LabelError(f"{self.where}: {element} is on frame {f}, outside the clip's "
                             f"{self.limit:,} frames")
        try:
            return self.labels.check_frame(f)
        except LabelError as e:
            raise type(e)(f"{self.where}: {element}: {e}") from None

    def spend(self, n: int, element: str) -> None:
        """Account for ``n`` more boxes made from ``element``."""
        self.boxes += n
        if self.boxes > MAX_BOXES:
            raise LabelError(f"{self.where}: {element} takes the file past {MAX_BOXES:,} boxes "
                             "(mm_widgets.formats.bounds.MAX_BOXES)")

    def points(self, n: int, element: str) -> None:
        """Account for ``n`` more polygon points made from ``element``."""
        self.polygon_points += n
        if self.polygon_points > MAX_POINTS:
            raise LabelError(f"{self.where}: {element} takes the file past {MAX_POINTS:,} polygon "
                             "points (mm_widgets.formats.bounds.MAX_POINTS)")


def frame_ranges(text: str, where: str, limit: int) -> list[int]:
    """``"0-2,5"`` -> ``[0, 1, 2, 5]``, every frame below ``limit``."""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        try:
            first, last = int(a), int(b or a)
        except ValueError:
            raise LabelError(f"{where}: looked_at must be like 0-4,7; got {part!r:.60}") from None
        if not 0 <= first <= last < limit:
            raise LabelError(f"{where}: looked_at range {part!r:.60} is not within the clip's "
                             f"{limit:,} frames")
        out += range(first, last + 1)
        if len(out) > limit:
            raise LabelError(f"{where}: looked_at names more frames than the clip's {limit:,}")
    return out


def _depth(value, where: str, level: int = 0) -> None:
    if level > MAX_DEPTH:
        raise LabelError(f"{where} nests deeper than {MAX_DEPTH} levels")
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        if isinstance(child, (dict, list)):
            _depth(child, where, level + 1)


def load_json(path: Path, what: str):
    """The parsed JSON of ``path``, or a :class:`LabelError` naming it (unreadable, not
    JSON, or nested deeper than :data:`MAX_DEPTH`)."""
    from .images import read_text

    if path.is_dir():
        raise LabelError(f"{what} {path} is a folder, not a file")
    text = read_text(path, what)
    try:
        data = json.loads(text)
    except RecursionError:
        raise LabelError(f"{path} nests deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as e:
        raise LabelError(f"{path} is not valid JSON: {e}") from e
    _depth(data, str(path))
    return data


def load_yaml(path: Path, what: str):
    """The parsed YAML of ``path`` (safe types only, no aliases: an alias is how a small
    file becomes a huge object), or a :class:`LabelError` naming it and the line."""
    import yaml  # PyYAML comes with ultralytics

    from .images import read_text

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise LabelError(f"{path} line {mark.line + 1}: YAML aliases (*name) are refused "
                                 f"in a {what}")
            return super().compose_node(parent, index)

    try:
        data = yaml.load(read_text(path, what), Loader=NoAliases)  # noqa: S506 - safe loader
    except yaml.YAMLError as e:
        raise LabelError(f"{path} is not valid YAML: {e}") from e
    except RecursionError:
        raise LabelError(f"{path} nests too deep") from None
    _depth(data, str(path))
    return data
