"""Frames: a lazy, indexable sequence of RGB frames from a video, a folder or arrays.

A frame is an ``H x W x 3`` uint8 RGB numpy array. Videos are decoded with PyAV on
demand: random access seeks to the nearest keyframe at or before the wanted frame and
decodes forward; sequential access keeps decoding without seeking. Decoded frames sit in
a small LRU cache bounded in bytes, so a 10,000-frame 720p video is never held in memory.
Frames come upright: a rotation stored in the file (phones write one) is applied, as a
player would. Where a container's seek lands past the wanted frame (MPEG-TS, some
MPEG-PS), decoding starts from an earlier keyframe, and from the start as a last resort:
slower random access, the same frames as decoding from the start.
"""

from __future__ import annotations

import copy
import io
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import FrameIndexError, VideoError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
#: The largest image a frame folder may hold (twice 8K UHD): one frame decodes to 3 bytes
#: a pixel, so a small file claiming 30000x30000 would ask for 2.7 GB.
MAX_PIXELS = 2 * 7680 * 4320
#: A second reader (a background thread going through the clip once) needs little cache.
TWIN_CACHE_BYTES = 16 * 1024 * 1024


def release_freed_memory() -> None:
    """Give memory freed by the C heap back to the operating system (glibc's
    ``malloc_trim``; elsewhere nothing happens).

    Decoding, resizing and predicting a long clip frees hundreds of megabytes in pieces the
    C heap keeps for reuse; between blocks of work they only make the process look (and be
    counted) larger. Dask's workers trim the same way for the same reason.
    """
    global _LIBC
    if _LIBC is None:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else False
        except OSError:
            libc = False
        _LIBC = libc if libc and hasattr(libc, "malloc_trim") else False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


def as_rgb(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Return ``array`` as H x W x 3 uint8 RGB; grayscale and RGBA are converted."""
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and a.min() >= 0 and a.max() <= 1:
            a = np.round(a * 255).astype(np.uint8)
        elif np.issubdtype(a.dtype, np.integer) and a.size and a.min() >= 0 and a.max() <= 255:
            a = a.astype(np.uint8)
        else:
            raise VideoError(f"{what}: expected uint8 pixels (or floats in 0..1), got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise VideoError(f"{what}: expected an H x W x 3 image, got shape {tuple(np.shape(array))}")
    return np.ascontiguousarray(a)


def frame_number(value) -> int:
    """``value`` as a frame index: an integer, or a float with an integral value (pandas
    columns turn ints into floats); anything else raises :class:`FrameIndexError`."""
    if isinstance(value, (bool, np.bool_)):
        raise FrameIndexError(f"frame index must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    raise FrameIndexError(f"frame index must be an integer, got {value!r}")


def frame_in_range(value, n: int) -> int:
    """``value`` as a frame index in ``0..n-1``, else :class:`FrameIndexError` naming it."""
    i = frame_number(value)
    if not 0 <= i < n:
        raise FrameIndexError(f"frame {i} is out of range ({n} frames)")
    return i


class FrameCache:
    """A thread-safe LRU of decoded frames, bounded in bytes."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: int) -> np.ndarray | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: int, frame: np.ndarray) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = frame
            self._bytes += frame.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes


class VideoSource:
    """Random and sequential access to the frames of one video file, decoded with PyAV."""

    def __init__(self, path: str | Path, cache_bytes: int = DEFAULT_CACHE_BYTES):
        import av  # heavy-ish; only needed once a video is opened

        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"video file not found: {self.path}")
        if self.path.is_dir():
            raise VideoError(f"{self.path} is a folder; use Frames.from_folder for image folders")
        self._av = av
        self._lock = threading.RLock()
        self.cache = FrameCache(cache_bytes)
        self._container = None
        self._decoder: Iterator | None = None
        self._next_pos = -1  # position the open decoder will yield next (-1: must seek)
        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise VideoError(f"cannot open {self.path} as a video: {e}") from e
        try:
            if not container.streams.video:
                raise VideoError(f"{self.path} has no video stream")
            stream = container.streams.video[0]
            self.fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
            self.width = int(stream.codec_context.width)
            self.height = int(stream.codec_context.height)
            time_base = stream.time_base
            # A demux-only pass (no decoding) lists every frame's timestamp and keyframes.
            pts, keys, key_dts = [], [], {}
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                pts.append(int(packet.pts))
                if packet.is_keyframe:
                    keys.append(int(packet.pts))
                    key_dts[int(packet.pts)] = int(packet.dts if packet.dts is not None else packet.pts)
        except self._av.error.FFmpegError as e:
            raise VideoError(f"{self.path} is corrupt or not a video: {e}") from e
        finally:
            container.close()
        if not pts or not self.width:
            raise VideoError(f"{self.path} contains no decodable video frames")
        self.pts = np.array(sorted(set(pts)), dtype=np.int64)
        # Frames per second over the whole clip, from its timestamps: right for variable
        # frame rates too, where a container's nominal rate (Matroska's) is not.
        span = float((self.pts[-1] - self.pts[0]) * time_base) if time_base else 0.0
        if len(self.pts) > 1 and span > 0:
            self.fps = (len(self.pts) - 1) / span
        self._pos_of_pts = {int(p): i for i, p in enumerate(self.pts)}
        self.keyframe_pts = np.array(sorted(set(keys)) or [int(self.pts[0])], dtype=np.int64)
        self._key_dts = key_dts
        self._count_positions = False
        self._rotation = 0  # quarter turns counter-clockwise to show a frame upright
        self._seek_back = 0  # keyframes further back than the one before a frame to seek to
        self._check_decoding()
        if self._rotation % 2:
            self.width, self.height = self.height, self.width

    def _check_decoding(self, n: int = 24, max_check: int = 300) -> None:
        """Learn, by decoding the start of the file, how far its timestamps can be trusted.

        Some files (MPEG-4 part 2 in AVI with packed B-frames) give decoded frames
        timestamps that are not their display order: there a frame's position is counted
        from the keyframe a seek lands on, and seeks go by the keyframe's decode time.
        Some mark frames as keyframes that do not decode on their own (seen in a phone's
        H.264): when a seek to the second keyframe does not give the frame a sequential
        decode gives, only the first keyframe is used (slower random access, right frames).
        A seek that lands on an earlier keyframe is slower but right (an MP4 whose first
        frames are reordered further than its later keyframes); decoding goes forward to
        the probed frame. The first frame also says how the file is rotated.
        """
        keys = sorted({self._pos_of_pts[int(k)] for k in self.keyframe_pts})
        probe = keys[1] if len(keys) > 1 and keys[1] <= max_check else None
        want = max(min(n, len(self.pts)), (probe + 1) if probe is not None else 0)
        container = self._av.open(str(self.path))
        got, reference = [], None
        try:
            for frame in container.decode(container.streams.video[0]):
                if not got:
                    self._rotation = round(float(getattr(frame, "rotation", 0) or 0) / 90) % 4
                if len(got) == probe:
                    reference = self._upright(frame.to_ndarray(format="rgb24"))
                got.append(None if frame.pts is None else int(frame.pts))
                if len(got) >= want:
                    break
        except self._av.error.FFmpegError:
            return  # decoding errors are reported where the frame is read
        finally:
            container.close()
        self._count_positions = got[:n] != [int(p) for p in self.pts[:len(got[:n])]]
        if reference is None:
            return
        pos, array = -1, None
        try:
            self._seek(probe)
            array = self._decode_until(probe, first_at_most=probe)
            pos = probe if array is not None else -1
        except VideoError:
            pos, array = -1, None
        finally:
            self.close()
        if pos != probe or not np.array_equal(array, reference):
            self.keyframe_pts = self.keyframe_pts[:1]

    def twin(self, cache_bytes: int) -> VideoSource:
        """The same file through a decoder and a cache of its own (the index is shared, not
        rebuilt): a second thread reads it without moving this one's position."""
        twin = copy.copy(self)
        twin._lock = threading.RLock()
        twin.cache = FrameCache(cache_bytes)
        twin._container, twin._decoder, twin._next_pos = None, None, -1
        return twin

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def _open(self):
        if self._container is None:
            self._container = self._av.open(str(self.path))
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
        return self._container

    def _keyframe_pos_before(self, pos: int) -> int:
        target = self.pts[pos]
        k = int(np.searchsorted(self.keyframe_pts, target, side="right")) - 1
        return self._pos_of_pts[int(self.keyframe_pts[max(k, 0)])]

    def _upright(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.rot90(array, self._rotation)) if self._rotation else array

    def _seek(self, pos: int, back: int = 0) -> int:
        """Position the decoder before frame ``pos``: at the keyframe before it, or ``back``
        keyframes earlier still; past the first keyframe, at the start of the file.
        Returns the position of the frame the decoder should give first."""
        container = self._open()
        key_pos = self._keyframe_pos_before(pos)
        k = int(np.searchsorted(self.keyframe_pts, self.pts[key_pos])) - back
        if back and k <= 0:  # from the start of the file: no seek at all
            self.close()
            self._decoder = self._open().decode(self._stream)
            self._next_pos = 0 if self._count_positions else -1
            return 0
        if back:
            key_pos = self._pos_of_pts[int(self.keyframe_pts[k])]
        if self._count_positions:
            if key_pos == self._keyframe_pos_before(0):  # from the start: no seek at all
                self.close()
                container = self._open()
            else:
                key = int(self.pts[key_pos])
                container.seek(self._key_dts.get(key, key), stream=self._stream, backward=True,
                               any_frame=False)
            self._decoder = container.decode(self._stream)
            self._next_pos = key_pos
            return key_pos
        container.seek(int(self.pts[key_pos]), stream=self._stream, backward=True, any_frame=False)
        self._decoder = container.decode(self._stream)
        self._next_pos = -1  # unknown until the first decoded frame tells us
        return key_pos

    def _decode_next(self, wanted: int) -> tuple[int, np.ndarray]:
        try:
            frame = next(self._decoder)
        except StopIteration:
            raise VideoError(
                f"{self.path}: the video ended before frame {wanted} (truncated file?)"
            ) from None
        except self._av.error.FFmpegError as e:
            self._decoder = None
            raise VideoError(f"{self.path}: cannot decode frame {wanted}: {e}") from e
        if self._count_positions:
            pos = self._next_pos
            self._next_pos = pos + 1
            return pos, self._upright(frame.to_ndarray(format="rgb24"))
        pos = self._pos_of_pts.get(int(frame.pts)) if frame.pts is not None else None
        if pos is None:  # a frame without a known timestamp: count forward
            pos = self._next_pos if self._next_pos >= 0 else wanted
        self._next_pos = pos + 1
        return pos, self._upright(frame.to_ndarray(format="rgb24"))

    def read(self, pos: int) -> np.ndarray:
        if not 0 <= pos < len(self):
            raise FrameIndexError(f"frame {pos} is out of range for {self.path.name} ({len(self)} frames)")
        hit = self.cache.get(pos)
        if hit is not None:
            return hit
        with self._lock:
            # Keep decoding forward when the wanted frame is a little ahead (sequential
            # access); otherwise seek to the keyframe before it.
            ahead = pos - self._next_pos
            seek = self._decoder is None or self._next_pos < 0 or ahead < 0 or (
                ahead > 0 and self._keyframe_pos_before(pos) > self._next_pos)
            back = self._seek_back
            while True:
                landing = self._seek(pos, back) if seek else None
                array = self._decode_until(pos, first_at_most=landing)
                if array is not None:
                    self.cache.put(pos, array)
                    return array
                # The seek landed past the frame (the container's index is coarse): seek
                # further back, and remember it for the next seeks.
                if not seek or back > len(self.keyframe_pts):
                    raise VideoError(f"{self.path}: frame {pos} could not be decoded")
                back = self._seek_back = max(back + 1, self._seek_back)

    def _decode_until(self, pos: int, first_at_most: int | None = None) -> np.ndarray | None:
        """Decode forward to frame ``pos``; None when the decoder is already past it, or
        when its first frame comes after ``first_at_most`` (a seek that skipped the
        keyframe it aimed at: the frames after it may miss their references)."""
        for k in range(len(self) + 1):
            got, array = self._decode_next(pos)
            if k == 0 and first_at_most is not None and got > first_at_most:
                return None
            if got == pos:
                return array
            if got > pos:
                return None
        return None

    def close(self) -> None:
        with self._lock:
            if self._container is not None:
                self._container.close()
            self._container = None
            self._decoder = None
            self._next_pos = -1


class FolderSource:
    """Images in a folder, sorted by file name; all must share one size."""

    def __init__(self, path: str | Path, cache_bytes: int = DEFAULT_CACHE_BYTES):
        from PIL import Image, UnidentifiedImageError

        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"image folder not found: {self.path}")
        if not self.path.is_dir():
            raise VideoError(f"{self.path} is not a folder; use Frames.from_video for video files")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise VideoError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {self.path}")
        sizes = {}
        for f in self.files:
            try:
                with Image.open(f) as im:
                    w, h = im.size
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
                raise VideoError(f"cannot read image {f}: {e}") from e
            if w * h > MAX_PIXELS:
                raise VideoError(f"image {f} is {w}x{h}: a frame has at most {MAX_PIXELS:,} "
                                 "pixels (mm_widgets.data.MAX_PIXELS)")
            sizes.setdefault((w, h), f)
        if len(sizes) > 1:
            (s1, f1), (s2, f2) = list(sizes.items())[:2]
            raise VideoError(
                f"mixed frame sizes in {self.path}: {f1.name} is {s1[0]}x{s1[1]} "
                f"but {f2.name} is {s2[0]}x{s2[1]}"
            )
        self.width, self.height = next(iter(sizes))
        self.fps = 0.0
        self.cache = FrameCache(cache_bytes)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def read(self, pos: int) -> np.ndarray:
        if not 0 <= pos < len(self):
            raise FrameIndexError(f"frame {pos} is out of range for {self.path} ({len(self)} images)")
        hit = self.cache.get(pos)
        if hit is not None:
            return hit
        from PIL import Image

        try:
            with Image.open(self.files[pos]) as im:
                array = as_rgb(np.asarray(im.convert("RGB")), what=str(self.files[pos]))
        except OSError as e:
            raise VideoError(f"cannot read image {self.files[pos]}: {e}") from e
        self.cache.put(pos, array)
        return array

    def close(self) -> None:
        pass


class ArraySource:
    """Frames held in memory (tests, synthetic clips, already-decoded images)."""

    def __init__(self, arrays: Sequence[np.ndarray], fps: float = 0.0):
        if len(arrays) == 0:
            raise VideoError("Frames.from_arrays needs at least one image")
        self.arrays = [as_rgb(a, what=f"array {i}") for i, a in enumerate(arrays)]
        shapes = {a.shape[:2] for a in self.arrays}
        if len(shapes) > 1:
            first = self.arrays[0].shape[:2]
            bad = next(i for i, a in enumerate(self.arrays) if a.shape[:2] != first)
            raise VideoError(
                f"mixed frame sizes: array 0 is {first[1]}x{first[0]} but array {bad} is "
                f"{self.arrays[bad].shape[1]}x{self.arrays[bad].shape[0]}"
            )
        self.height, self.width = self.arrays[0].shape[:2]
        self.fps = float(fps)

    def __len__(self) -> int:
        return len(self.arrays)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def read(self, pos: int) -> np.ndarray:
        if not 0 <= pos < len(self):
            raise FrameIndexError(f"frame {pos} is out of range ({len(self)} frames)")
        return self.arrays[pos]

    def close(self) -> None:
        pass


class Frames(Sequence):
    """A lazy, indexable sequence of H x W x 3 uint8 RGB frames.

    Build one with :meth:`from_video`, :meth:`from_folder`, :meth:`from_arrays` or
    :func:`load_sample`. Indexing with an int returns a frame (negative indices count
    from the end); a slice returns another ``Frames`` over the same source.
    """

    def __init__(self, source, positions: Sequence[int] | None = None, *, name: str = "",
                 origin: dict | None = None):
        self._source = source
        self._positions = np.asarray(
            range(len(source)) if positions is None else positions, dtype=np.int64
        )
        self.name = name
        #: How to rebuild these frames (stored in project folders); None for arrays.
        self.origin = origin

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_video(cls, path: str | Path, stride: int = 1, max_frames: int | None = None,
                   *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> Frames:
        """Frames of a video file (every ``stride``-th frame, at most ``max_frames``)."""
        if int(stride) < 1:
            raise VideoError(f"stride must be >= 1, got {stride}")
        source = VideoSource(path, cache_bytes=cache_bytes)
        positions = list(range(0, len(source), int(stride)))
        if max_frames is not None:
            positions = positions[: int(max_frames)]
        origin = {"kind": "video", "path": str(Path(path).resolve()), "stride": int(stride),
                  "max_frames": max_frames}
        return cls(source, positions, name=Path(path).stem, origin=origin)

    @classmethod
    def from_folder(cls, path: str | Path) -> Frames:
        """Images of a folder in file-name order; sizes must match."""
        source = FolderSource(path)
        origin = {"kind": "folder", "path": str(Path(path).resolve())}
        return cls(source, name=Path(path).name, origin=origin)

    @classmethod
    def from_arrays(cls, arrays: Sequence[np.ndarray], *, fps: float = 0.0,
                    name: str = "arrays") -> Frames:
        """Frames from in-memory images (grayscale and RGBA are converted to RGB)."""
        return cls(ArraySource(arrays, fps=fps), name=name, origin=None)

    # -- sequence protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._positions)

    def _position(self, i) -> int:
        i = frame_number(i)
        n = len(self)
        if not -n <= i < n:
            raise FrameIndexError(f"frame {i} is out of range for {self.name or 'frames'} ({n} frames)")
        return int(self._positions[i % n])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Frames(self._source, self._positions[i], name=self.name,
                          origin=self._sliced_origin(i))
        return self._source.read(self._position(i))

    def _sliced_origin(self, s: slice) -> dict | None:
        if self.origin is None:
            return None
        return {**self.origin, "positions": self._positions[s].tolist()}

    def __iter__(self) -> Iterator[np.ndarray]:
        for pos in self._positions:
            yield self._source.read(int(pos))

    def __repr__(self) -> str:
        w, h = self.size
        fps = f", {self.fps:g} fps" if self.fps else ""
        return f"Frames({self.name!r}, {len(self)} frames, {w}x{h}{fps})"

    # -- properties ----------------------------------------------------------------------
    @property
    def fps(self) -> float:
        return float(self._source.fps)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self._source.size

    @property
    def is_video(self) -> bool:
        return isinstance(self._source, VideoSource)

    def source_index(self, i: int) -> int:
        """Index of frame ``i`` in the underlying file sequence (before stride/slicing)."""
        return self._position(i)

    # -- derived images -------------------------------------------------------------------
    def thumbnail(self, i: int, max_side: int = 128) -> np.ndarray:
        """Frame ``i`` scaled down so its longer side is at most ``max_side``."""
        from PIL import Image

        frame = self[i]
        h, w = frame.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        if scale >= 1.0:
            return frame
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))

    def jpeg(self, i: int, max_side: int | None = 960, quality: int = 85) -> bytes:
        """Frame ``i`` as JPEG bytes, scaled so its longer side is at most ``max_side``."""
        from PIL import Image

        array = self[i] if max_side is None else self.thumbnail(i, max_side)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()

    def reopened(self) -> Frames:
        """The same frames through a reader of their own: for a video, a second decoder with
        a small cache, so a background thread going through the clip never moves the
        position (nor fills the cache) of the reader that shows frames. Folders and arrays
        have no position: they come back as they are."""
        if isinstance(self._source, VideoSource):
            return Frames(self._source.twin(TWIN_CACHE_BYTES), self._positions, name=self.name,
                          origin=self.origin)
        return self

    def close(self) -> None:
        """Release the open video file (it reopens on the next access)."""
        self._source.close()
