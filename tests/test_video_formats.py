"""Frames.from_video on the files people have: containers and codecs beyond H.264 in MP4,
rotation metadata, variable frame rate, odd sizes, grayscale.

Every clip is written here with PyAV, so a codec whose encoder this FFmpeg lacks is
skipped, naming the encoder. Each frame of the clip is different (a band whose grey level
counts the frames, a square moving across), so a decoded frame can be matched to the frame
written: the check is that frame ``i`` decodes to written frame ``i`` (nearest of all
written frames, and close to it), in random order as in sequence.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import mm_widgets as mm
from mm_widgets.data import Frames

N = 30
BITS = 5  # frame indices up to 31
BLOCK = 12  # height of the index blocks, in pixels


def counted_frames(n: int = N, size: tuple[int, int] = (96, 64)) -> list[np.ndarray]:
    """``n`` frames, each recognisable: its index in binary as black and white blocks along
    the top edge (see :func:`frame_index`), and a square moving right."""
    w, h = size
    out = []
    for i in range(n):
        a = np.full((h, w, 3), 90, np.uint8)
        for bit in range(BITS):
            a[:BLOCK, bit * w // BITS:(bit + 1) * w // BITS] = 255 if (i >> bit) & 1 else 0
        x = int((w - 16) * i / max(n - 1, 1))
        a[h // 2 - 8:h // 2 + 8, x:x + 16] = (230, 60, 40)
        out.append(a)
    return out


def frame_index(a: np.ndarray) -> int:
    """The index written into a frame by :func:`counted_frames` (read from the blocks' middles)."""
    w = a.shape[1]
    return sum(1 << bit for bit in range(BITS)
               if a[BLOCK // 2, (2 * bit + 1) * w // (2 * BITS)].mean() > 128)


def has_encoder(codec: str) -> bool:
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception:  # PyAV raises UnknownCodecError (its own class) for a missing encoder
        return False
    return True


def write(path, arrays, codec, *, fmt=None, pix_fmt="yuv420p", gop=8, b_frames=None,
          rotation=None, pts_ms=None, options=None):
    """Write ``arrays`` with PyAV; ``pts_ms`` gives each frame its own time (variable rate)."""
    import av

    if not has_encoder(codec):
        pytest.skip(f"this PyAV's FFmpeg has no {codec} encoder")
    h, w = arrays[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25, options=options or {})
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.codec_context.gop_size = gop
        if b_frames is not None:
            stream.codec_context.max_b_frames = b_frames
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, array in enumerate(arrays):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = int(pts_ms[i]), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def check_frames(frames: Frames, written: list[np.ndarray], max_error: float, turn: int = 0) -> None:
    """Frame ``i`` is written frame ``i`` (its index blocks, turned back by ``turn`` quarter
    turns, say ``i``, and it is within ``max_error`` mean absolute difference of it), read in
    random order and in sequence alike."""
    assert len(frames) == len(written)
    h, w = written[0].shape[:2]
    assert frames.size == (w, h)
    sequential = [f.copy() for f in frames]
    order = np.random.default_rng(0).permutation(len(frames)).tolist()
    reopened = Frames.from_video(frames.origin["path"])
    for i in [*order, len(frames) - 1, 0]:
        got = reopened[i]
        assert got.shape == (h, w, 3) and got.dtype == np.uint8
        assert np.array_equal(got, sequential[i]), f"frame {i}: random access != sequential"
        assert frame_index(np.rot90(got, -turn)) == i, f"frame {i} decoded as another frame"
        error = np.abs(written[i].astype(np.int16) - got).mean()
        assert error < max_error, f"frame {i}: mean error {error:.1f}"


# name, file suffix, encoder, container (None: from the suffix), pixel format, extra settings
CASES = [
    ("mpeg4 part 2 in avi", ".avi", "mpeg4", None, "yuv420p", {}),
    ("mpeg4 part 2 in avi, b-frames", ".avi", "mpeg4", None, "yuv420p", {"b_frames": 2}),
    ("theora in ogg", ".ogv", "libtheora", "ogg", "yuv420p", {}),
    ("vp8 in ogg", ".ogv", "libvpx", "ogg", "yuv420p", {}),
    ("vp9 in webm", ".webm", "libvpx-vp9", None, "yuv420p", {}),
    ("mjpeg in avi", ".avi", "mjpeg", None, "yuvj420p", {}),
    ("mjpeg in mov", ".mov", "mjpeg", None, "yuvj420p", {}),
    ("h264 in mkv", ".mkv", "libx264", None, "yuv420p", {}),
    ("h264 in mpeg-ts", ".ts", "libx264", "mpegts", "yuv420p", {}),
    ("mpeg-2 in mpeg-ps", ".mpg", "mpeg2video", "mpeg", "yuv420p", {}),
]


@pytest.mark.parametrize("name, suffix, codec, fmt, pix_fmt, extra", CASES, ids=[c[0] for c in CASES])
def test_containers_and_codecs(tmp_path, name, suffix, codec, fmt, pix_fmt, extra):
    written = counted_frames()
    path = write(tmp_path / f"clip{suffix}", written, codec, fmt=fmt, pix_fmt=pix_fmt, **extra)
    frames = Frames.from_video(path)
    check_frames(frames, written, max_error=8)
    assert frames.fps == pytest.approx(25.0, rel=0.05)


@pytest.mark.parametrize("size, codec, pix_fmt", [
    ((97, 61), "libx264", "yuv444p"),   # odd both ways (x264 refuses odd sides in 4:2:0)
    ((97, 61), "mpeg4", "yuv420p"),
    ((97, 61), "ffv1", "yuv444p"),
    ((200, 130), "libx264", "yuv420p"),  # even, not a multiple of 32 (nor 16)
], ids=["97x61 h264 4:4:4", "97x61 mpeg4", "97x61 ffv1", "200x130 h264"])
def test_odd_frame_sizes(tmp_path, size, codec, pix_fmt):
    written = counted_frames(size=size)
    suffix = ".mkv" if codec == "ffv1" else ".avi" if codec == "mpeg4" else ".mp4"
    path = write(tmp_path / f"odd{suffix}", written, codec, pix_fmt=pix_fmt)
    frames = Frames.from_video(path)
    assert frames[0].shape == (size[1], size[0], 3)
    check_frames(frames, written, max_error=8)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata_gives_upright_frames(tmp_path, degrees):
    """A phone stores portrait video as landscape frames plus a display rotation; frames
    come out the way a player shows them (``degrees`` counter-clockwise)."""
    stored = counted_frames(size=(96, 64))
    path = write(tmp_path / "phone.mp4", stored, "libx264", rotation=degrees)
    frames = Frames.from_video(path)
    upright = [np.ascontiguousarray(np.rot90(a, degrees // 90)) for a in stored]
    expected_size = (64, 96) if degrees in (90, 270) else (96, 64)
    assert frames.size == expected_size
    check_frames(frames, upright, max_error=8, turn=degrees // 90)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate(tmp_path, suffix):
    """Frames shown for 40 ms and for 100 ms in turn: every stored frame once, in order."""
    written = counted_frames()
    steps = [40 if i % 3 else 100 for i in range(N - 1)]
    pts = np.concatenate([[0], np.cumsum(steps)])
    path = write(tmp_path / f"vfr{suffix}", written, "libx264", pts_ms=pts, b_frames=2)
    frames = Frames.from_video(path)
    check_frames(frames, written, max_error=8)
    # The average rate, not the nominal one: 30 frames over the clip's duration.
    assert frames.fps == pytest.approx((N - 1) / (pts[-1] / 1000), rel=0.15)


def test_grayscale_video_gives_three_equal_channels(tmp_path):
    written = [np.repeat(a[:, :, :1], 3, axis=2) for a in counted_frames()]
    path = write(tmp_path / "gray.mkv", written, "ffv1", pix_fmt="gray")
    frames = Frames.from_video(path)
    check_frames(frames, written, max_error=0.5)
    f = frames[5]
    assert np.array_equal(f[:, :, 0], f[:, :, 1]) and np.array_equal(f[:, :, 1], f[:, :, 2])
    assert np.array_equal(f, written[5])  # lossless codec: exactly what was written


def test_a_file_without_video_is_a_clear_error(tmp_path):
    import av

    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(mm.VideoError, match="sound.wav has no video stream"):
        Frames.from_video(path)
