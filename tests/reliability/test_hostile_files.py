"""Small hostile files are refused with the package's error, in bounded memory.

Each file is read in a child process whose address space is capped a little above what
importing mm_widgets took (``resource.setrlimit``): a reader that tries to build what the
file asks for hits the cap and the test fails, instead of the machine running out.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest

READ = """
import resource, sys, traceback
import mm_widgets as mm
from mm_widgets import formats
mm.Frames  # everything the readers need is imported before the cap
import PIL.Image, PIL.PngImagePlugin, yaml, xml.etree.ElementTree
with open("/proc/self/status") as fh:
    vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize"))
resource.setrlimit(resource.RLIMIT_AS, (vm + {cap_mb} * 2**20, resource.RLIM_INFINITY))
try:
    {call}
    print("READ")
except mm.MMError as e:
    print(type(e).__name__, e)
except BaseException as e:
    print("RAW", type(e).__name__, str(e)[:300])
"""


def read_capped(call: str, cap_mb: int = 400) -> str:
    """What reading gave in a child capped at ``cap_mb`` above its imports: the error's type
    and message, or READ."""
    out = subprocess.run([sys.executable, "-c", READ.format(call=call, cap_mb=cap_mb)],
                         capture_output=True,
                         text=True, timeout=120)
    return (out.stdout.strip() or out.stderr.strip()[-500:])


CVAT = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version><meta><task><size>{n}</size><mode>interpolation</mode>
<start_frame>0</start_frame><stop_frame>{stop}</stop_frame>
<labels><label><name>a</name><type>rectangle</type></label></labels>
<original_size><width>64</width><height>48</height></original_size></task>{mine}</meta>
<track id="0" label="a" source="manual">{boxes}</track></annotations>
"""


def cvat(tmp_path, stop, frames=(0,), looked=None):
    boxes = "".join(f'<box frame="{f}" keyframe="1" outside="0" occluded="0" xtl="1" ytl="1" '
                    f'xbr="9" ybr="9" z_order="0"/>' for f in frames)
    mine = "" if looked is None else f'<mm_widgets looked_at="{looked}"/>'
    path = tmp_path / "annotations.xml"
    path.write_text(CVAT.format(n=stop + 1, stop=stop, mine=mine, boxes=boxes))
    assert path.stat().st_size < 1000  # a small file...
    return f"formats.from_cvat({str(path)!r})"


@pytest.mark.parametrize("case, refused", [
    ("stop_frame", r"annotations.xml: <stop_frame> 1000000000: a clip of 1000000001 frames"),
    ("keyframes", r"annotations.xml: track 0's box on frame 100000000 is on frame 100000000, "
                  r"outside the clip's 100 frames"),
    ("looked_at", r"annotations.xml: <mm_widgets>: looked_at range '0-1000000000' is not "
                  r"within the clip's 100 frames"),
])
def test_cvat_that_asks_for_gigabytes_is_refused(tmp_path, case, refused):
    call = {"stop_frame": lambda: cvat(tmp_path, 10**9),  # ...one track never marked outside
            "keyframes": lambda: cvat(tmp_path, 99, frames=(0, 10**8)),
            "looked_at": lambda: cvat(tmp_path, 99, looked="0-1000000000")}[case]
    out = read_capped(call())
    assert out.startswith("LabelError") and refused in out, out


def test_cvat_within_its_clip_is_read(tmp_path):
    # the same shapes on a clip they fit in: read, every frame of the track interpolated
    call = cvat(tmp_path, 99, frames=(0, 50), looked="0-99")
    out = read_capped(f"assert len({call}) == 100")
    assert out == "READ", out


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 9)}]" for k in range(1, 10)]
    (tmp_path / "data.yaml").write_text("\n".join(lines) + "\nnames: *a9\n")
    out = read_capped(f"formats.from_yolo({str(tmp_path)!r})")
    assert out.startswith("LabelError") and "data.yaml line 2: YAML aliases" in out, out


def test_json_nested_200000_deep_is_refused(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    out = read_capped(f"formats.from_coco({str(path)!r})")
    assert out.startswith("LabelError") and "annotations.json nests deeper than" in out, out


def test_coco_clip_of_a_trillion_frames_is_refused(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"videos": [{"id": 1, "length": 10**12}],
                                "images": [{"id": 0, "width": 64, "height": 48}],
                                "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    out = read_capped(f"formats.from_coco({str(path)!r}).looked_at")
    assert out.startswith("LabelError") and "videos[0].length: a clip of 1000000000000" in out, out


def test_coco_folder_is_named(tmp_path):
    out = read_capped(f"formats.from_coco({str(tmp_path)!r})")
    assert out.startswith("LabelError") and f"{tmp_path} is a folder" in out, out


def test_mot_bounds_and_whole_track_ids(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "labels.txt").write_text("a\n")
    (tmp_path / "gt" / "gt.txt").write_text("1,1.7,1,1,5,5,1,1,1\n")
    (tmp_path / "seqinfo.ini").write_text(textwrap.dedent("""\
        [Sequence]
        name=x
        seqLength=1000000000000
        imWidth=64
        imHeight=48
        """))
    out = read_capped(f"formats.from_mot({str(tmp_path)!r})")
    assert out.startswith("LabelError") and "seqinfo.ini: seqLength: a clip of" in out, out
    out = read_capped(f"formats.from_mot({str(tmp_path)!r}, n_frames=10)")
    assert out.startswith("LabelError") and "gt.txt line 1" in out, out  # track id 1.7


def png_header_only(path, width, height):
    """A PNG that says it is width x height (a few dozen bytes: its pixels never come)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"")) +
        chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(30000, 30000), (12000, 10000)])
def test_huge_png_in_a_frame_folder_is_named(tmp_path, width, height):
    # 30000x30000: past PIL's own bomb limit; 12000x10000 (360 MB decoded): PIL only warns
    png_header_only(tmp_path / "000000.png", width, height)
    out = read_capped(f"mm.Frames.from_folder({str(tmp_path)!r})[0]")
    assert out.startswith("VideoError") and "000000.png" in out, out


def test_snapshot_whose_array_header_claims_a_trillion_values_is_refused(tmp_path):
    import io
    import zipfile

    import numpy as np

    import mm_widgets as mm
    from mm_widgets.labels import Box

    p = mm.Project(tmp_path / "p", ["a"])
    p.labels.set_boxes(0, [Box(0, 0, 5, 5, "a")])
    p.save()
    p.close()
    snapshot = tmp_path / "p" / "labels.npz"
    with np.load(snapshot) as z:
        arrays = {k: z[k] for k in z.files}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, a in arrays.items():
            member = io.BytesIO()
            if name == "frame":  # 8 bytes of data under a header that says 8 TB
                np.lib.format.write_array_header_1_0(
                    member, {"descr": "<i8", "fortran_order": False, "shape": (10**12,)})
                member.write(a.tobytes())
            else:
                np.lib.format.write_array(member, a)
            out.writestr(f"{name}.npy", member.getvalue())
    snapshot.write_bytes(buffer.getvalue())
    out = read_capped(f"mm.Project({str(tmp_path / 'p')!r}, read_only=True)")
    assert out.startswith("ProjectError") and "labels.npz is unreadable (its frame.npy says" in out, out


def test_mot_rows_to_ignore_cost_no_memory(tmp_path):
    # 11 MB of "ignore" rows (not_ignored = 0) under a cap of 32 MB above the imports:
    # read whole, as a str and then a StringIO buffer (4 bytes a character), it went past
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "labels.txt").write_text("a\n")
    with open(tmp_path / "gt" / "gt.txt", "w") as fh:
        fh.write("1,1,1,1,5,5,1,1,1\n")
        fh.write("1,2,1,1,5,5,0,1,1\n" * 600_000)
    out = read_capped(f"assert len(formats.from_mot({str(tmp_path)!r}, size=(64, 48))) == 1",
                      cap_mb=32)
    assert out == "READ", out
