"""Model files that hold weights and plain data only: loading one never runs code from it.

A model file is what ``torch.save`` writes (a zip: one pickle, ``data.pkl``, and one raw
record per tensor's storage). It is read back here without torch: the pickle is walked by
an unpickler that knows only plain data (dicts, lists, strings, numbers, bytes), tensors
(rebuilt as numpy arrays from their raw records) and nothing else; any other name in it
refuses the file, so nothing it names is imported or run. Loading a model to predict with
it then needs neither torch nor its ~400 MB.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import pickletools
import zipfile
from pathlib import Path

import numpy as np

from .errors import ProjectError
from .storage import write_atomic

#: What a model file's pickle may hold besides plain data, and how each is read without
#: torch: tensors (``_rebuild_tensor_v2``; ``_rebuild_parameter`` for an ``nn.Parameter``),
#: the ordered dicts of state dicts and of tensors' (empty) hook lists.
_TENSOR = ("torch._utils", "_rebuild_tensor_v2")
_PARAMETER = ("torch._utils", "_rebuild_parameter")
_ORDERED_DICT = ("collections", "OrderedDict")
#: torch's storage classes (the pickle names one per tensor) -> numpy dtypes. bfloat16 has
#: no numpy type: it is widened to float32 exactly (its bits are float32's upper half).
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "UntypedStorage": np.uint8,
}
#: What a model file may unpack to: this many times its own size, plus ``UNPACK_SLACK``
#: bytes. Its pickle, every storage (widened, for bfloat16) and every tensor copied out of a
#: storage count, each as it is read. torch.save writes each storage once, uncompressed,
#: and a state dict's tensors each span their storage, given as the storage itself (no
#: copy): our YOLO and timm model files unpack to 1.0 times their storages' bytes.
UNPACK_RATIO = 2
UNPACK_SLACK = 2**20


def write_checkpoint(path: str | Path, payload: dict) -> Path:
    """Save ``payload`` (tensors, numbers, strings, lists, dicts) atomically in torch's
    format. A payload of plain data only (no tensor: an interpolation model's keyframes) is
    written here without torch, as the same zip ``torch.save`` writes (its pickle and the
    records ``torch.load`` reads), so that saving it never imports torch."""
    buffer = io.BytesIO()
    if _plain(payload):
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
            z.writestr("archive/byteorder", "little")
            z.writestr("archive/version", "3\n")  # torch's own serialisation version
    else:
        import torch

        torch.save(payload, buffer)
    path = Path(path)
    write_atomic(path, buffer.getvalue())
    return path


def _plain(value) -> bool:
    """Whether ``value`` is plain data all through: dicts, lists, tuples, strings, numbers,
    booleans and None."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def read_checkpoint(path: str | Path, tensors: str = "torch") -> dict:
    """Load a model file written by :func:`write_checkpoint`, reading only plain data and
    tensors (see the module's docstring): a file that names anything else is refused with
    :class:`ProjectError`, its code never run.

    ``tensors="numpy"`` gives every tensor as a numpy array and needs no torch;
    ``"torch"`` gives torch tensors (torch is imported).
    """
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"model file not found: {path}")
    try:
        payload = _PlainReader(path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, OSError, KeyError, TypeError,
            AttributeError, IndexError, UnicodeDecodeError, RecursionError, MemoryError,
            zipfile.BadZipFile) as e:
        raise ProjectError(
            f"{path} is not a plain mm_widgets model file (refused to load it: {str(e)[:200]})"
        ) from e
    if not isinstance(payload, dict) or "kind" not in payload:
        raise ProjectError(f"{path} is not an mm_widgets model file (no 'kind' entry)")
    if tensors == "torch":
        return torch_tensors(payload)
    if tensors != "numpy":
        raise ValueError(f"tensors must be 'torch' or 'numpy', got {tensors!r}")
    return payload


def torch_tensors(value):
    """``value`` (a payload read with ``tensors="numpy"``) with every numpy array made a
    torch tensor (sharing its memory); other values as they are. torch is imported only
    when there is an array."""
    if isinstance(value, np.ndarray):
        import torch

        return torch.from_numpy(value)
    if isinstance(value, dict):
        return type(value)((k, torch_tensors(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(torch_tensors(v) for v in value)
    return value


class _Storage(np.ndarray):
    """Marks a storage's flat array, so that only a storage can become a tensor."""


class _PlainReader(pickle.Unpickler):
    """Reads a torch zip file's pickle into plain data and numpy arrays, naming nothing but
    the tensor rebuilders, storage classes and ``OrderedDict`` (anything else raises)."""

    def __init__(self, path: Path):
        self.size = path.stat().st_size
        self.zip = zipfile.ZipFile(path)
        try:
            self._open()
        except BaseException:
            self.zip.close()
            raise

    def _open(self) -> None:
        names = [i for i in self.zip.infolist() if i.filename.endswith("data.pkl")
                 and i.filename.count("/") == 1]
        if len(names) != 1:
            raise ValueError("no torch pickle (data.pkl) in it")
        self.prefix = names[0].filename[: -len("data.pkl")]
        self.budget = UNPACK_RATIO * self.size + UNPACK_SLACK
        try:
            order = self._read(self.zip.getinfo(self.prefix + "byteorder")).decode()
        except KeyError:
            order = "little"  # files from torch before 1.13 had no mark; they were little-endian
        if order not in ("little", "big"):
            raise ValueError(f"unknown byte order {order[:20]!r}")
        self.order = "<" if order == "little" else ">"
        self.storages: dict[str, np.ndarray] = {}
        data = self._read(names[0])
        refuse_memo_bomb(data)
        pickle.Unpickler.__init__(self, io.BytesIO(data))

    def _charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` more unpacked against the file's budget; refuse past it."""
        self.budget -= nbytes
        if self.budget < 0:
            raise ValueError(f"{what} would unpack it past {UNPACK_RATIO} times its "
                             f"{self.size:,} bytes")

    def _read(self, info: zipfile.ZipInfo) -> bytes:
        """A zip entry's bytes, charged to the budget as they come: at most the budget is
        ever unpacked, whatever its header says and however it is compressed (torch
        writes entries uncompressed; a deflated one could inflate a thousandfold)."""
        with self.zip.open(info) as f:
            data = f.read(max(self.budget, 0) + 1)
        self._charge(len(data), f"its entry {info.filename[:80]!r}")
        return data

    def load(self):
        try:
            return super().load()
        finally:
            self.zip.close()

    def find_class(self, module, name):
        if (module, name) == _TENSOR:
            return self._tensor
        if (module, name) == _PARAMETER:
            return self._parameter
        if (module, name) == _ORDERED_DICT:
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return name  # read by persistent_load below, never called
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a model file never holds")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and pid[1] in _STORAGE_DTYPES):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:80]}")
        _, kind, key, _location, numel = pid
        key = str(key)
        if key not in self.storages:
            dtype = _STORAGE_DTYPES[kind]
            raw_type = np.dtype(np.uint16 if dtype == "bfloat16" else dtype).newbyteorder(self.order)
            info = self.zip.getinfo(f"{self.prefix}data/{key}")
            raw = self._read(info)
            if len(raw) != int(numel) * raw_type.itemsize:
                raise ValueError(f"storage {key} holds {len(raw)} bytes, not {numel} values")
            flat = np.frombuffer(bytearray(raw), dtype=raw_type)
            del raw
            if dtype == "bfloat16":
                self._charge(flat.nbytes, f"storage {key} (bfloat16, widened)")
                flat = (flat.astype(np.uint32) << 16).view(np.float32)
            self.storages[key] = flat.astype(flat.dtype.newbyteorder("="), copy=False)
        return self.storages[key].view(_Storage)

    def _tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None,
                metadata=None):
        """A tensor as a numpy array, its view of the storage checked to lie inside it: the
        storage itself when the tensor spans it in order (a state dict's tensors do), else
        a copy, charged to the file's budget (a stride of 0 can view one value a billion
        times)."""
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError("a tensor without a storage")
        storage = storage.view(np.ndarray)
        size, stride, offset = tuple(map(int, size)), tuple(map(int, stride)), int(offset)
        if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
            raise ValueError(f"a tensor of size {size}, stride {stride}")
        numel = math.prod(size)
        if numel == 0:
            return np.zeros(size, dtype=storage.dtype)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= len(storage):
            raise ValueError(f"a tensor reaching past its storage ({last} >= {len(storage)})")
        if offset == 0 and numel == len(storage) and stride == _contiguous(size):
            return storage.reshape(size)
        self._charge(numel * storage.itemsize, f"a tensor of size {size}, stride {stride}")
        view = np.lib.stride_tricks.as_strided(
            storage[offset:], size, tuple(s * storage.itemsize for s in stride),
            writeable=False)
        return np.array(view)

    @staticmethod
    def _parameter(data, requires_grad=False, hooks=None):
        if not isinstance(data, np.ndarray):
            raise pickle.UnpicklingError("a parameter that is not a tensor")
        return data


def _contiguous(size: tuple[int, ...]) -> tuple[int, ...]:
    """The strides (in values) of a C-ordered array of ``size``, torch's contiguous ones."""
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def refuse_memo_bomb(data: bytes) -> None:
    """Raise ``ValueError`` when pickle ``data`` stores to a memo slot past the number of
    its opcodes. Python's C unpickler grows its memo to twice the largest slot named and
    clears all of it: a 9-byte pickle naming slot 2**28 takes 4 GB. A pickler numbers
    its slots 0, 1, 2, ..., so no pickle it wrote is refused. The opcodes are read by
    ``pickletools`` (12 ms for a YOLO model file's 57 KB pickle), nothing is built."""
    for count, (opcode, arg, _) in enumerate(pickletools.genops(data)):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and int(arg) > count:
            raise ValueError(f"its pickle stores to memo slot {arg} at opcode {count}")


class _Anything:
    """Stands in for every class and function a pickle names while it is only inspected."""

    def __init__(self, *args, **kw):
        pass

    def __call__(self, *args, **kw):
        return _Anything()

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass


class _Inspector(pickle.Unpickler):
    """Walks a pickle without importing or calling anything it names: only records the
    names."""

    def __init__(self, file):
        super().__init__(file)
        self.names: set[tuple[str, str]] = set()

    def find_class(self, module, name):
        self.names.add((module, name))
        return type(name, (_Anything,), {})

    def persistent_load(self, pid):
        return None


def pickled_names(path: str | Path) -> set[tuple[str, str]]:
    """Every ``(module, name)`` the pickles in a torch file (the zip format torch writes
    since 1.6) would import. Read by walking them with stand-ins: nothing named in them is
    imported or run."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            pickles, left = [], 2**28
            for info in (i for i in z.infolist() if i.filename.endswith(".pkl")):
                with z.open(info) as f:  # at most what is left, whatever its header says
                    pickles.append(f.read(left + 1))
                left -= len(pickles[-1])
                if left < 0:
                    raise ValueError("its pickles unpack to more than 256 MB")
        names: set[tuple[str, str]] = set()
        for data in pickles:
            refuse_memo_bomb(data)
            inspector = _Inspector(io.BytesIO(data))
            try:
                inspector.load()
            finally:
                names |= inspector.names
        return names
    except Exception as e:  # noqa: BLE001 - any failure to walk it is a refusal
        raise ProjectError(f"{path} is not a model file that can be read safely "
                           f"({type(e).__name__}: {str(e)[:120]})") from None


def refuse_code(path: str | Path, allowed) -> None:
    """Raise :class:`ProjectError` naming ``path`` when its pickle names anything for which
    ``allowed(module, name)`` is false: whatever torch or ultralytics would then do with it,
    nothing is loaded."""
    bad = sorted(f"{m}.{n}" for m, n in pickled_names(path) if not allowed(m, n))
    if bad:
        raise ProjectError(f"{path} holds pickled code ({', '.join(bad[:3])}"
                           f"{', ...' if len(bad) > 3 else ''}): refused, never run")
