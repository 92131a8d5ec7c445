"""Read a `torch.save` file with zipfile, pickle and numpy alone: no torch import.

`tunegen generate` spends about 2 s of its 2.5 s importing torch to read a 1 MB checkpoint. The
file is a zip archive: `<name>/data.pkl` pickles the object, and each tensor's bytes lie in
`<name>/data/<key>`. The unpickler here accepts only what a tunegen checkpoint holds (dicts,
lists, numbers, strings and tensors of plain numeric types) and rebuilds each tensor as a numpy
array; anything else (another global, a bfloat16 tensor, a big-endian file) is `Unreadable`, and
the caller falls back to `torch.load`, which then reads the file or names the problem.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# torch's typed storages, by the name torch.save pickles, and the dtype of their elements
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# torch's name of each dtype (as in `str(tensor.dtype)`), for checksums that match torch's
TORCH_DTYPE_NAMES = {
    np.dtype(np.float32): "torch.float32",
    np.dtype(np.float16): "torch.float16",
    np.dtype(np.float64): "torch.float64",
    np.dtype(np.int64): "torch.int64",
    np.dtype(np.int32): "torch.int32",
    np.dtype(np.int16): "torch.int16",
    np.dtype(np.int8): "torch.int8",
    np.dtype(np.uint8): "torch.uint8",
    np.dtype(np.bool_): "torch.bool",
}


class Unreadable(Exception):
    """The file holds something only torch.load reads (or is not a torch.save file at all)."""


class _Storage:
    """A storage's element type, as the pickle names it (`torch.HalfStorage`)."""

    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor(
    storage: np.ndarray,
    offset: int,
    size: tuple,
    stride: tuple,
    requires_grad: bool,
    hooks: Any,
    metadata: Any = None,
) -> np.ndarray:
    """torch._utils._rebuild_tensor_v2, as a numpy array that owns its (writable) bytes."""
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise Unreadable("a tensor with a negative size or stride")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) if all(size) else 0
    if offset < 0 or (all(size) and last >= len(storage)):
        raise Unreadable("a tensor reaches past its storage")
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * itemsize for s in stride], writeable=False
    )
    return np.array(view)


def _rebuild_parameter(data: np.ndarray, requires_grad: bool, hooks: Any) -> np.ndarray:
    return data


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _Storage(STORAGE_DTYPES[name])
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        raise Unreadable(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise Unreadable(f"persistent id {pid!r:.40}")
        _, storage, key, _location, numel = pid
        if not isinstance(storage, _Storage) or not isinstance(key, str):
            raise Unreadable("a storage of an unknown type")
        if key not in self.storages:
            data = self.archive.read(f"{self.prefix}/data/{key}")
            if len(data) != numel * storage.dtype.itemsize:
                raise Unreadable(f"storage {key} holds {len(data)} bytes, not {numel} elements")
            self.storages[key] = np.frombuffer(data, dtype=storage.dtype)
        return self.storages[key]


def read_torch_file(path: Path) -> Any:
    """The object that torch.save wrote to `path`, with numpy arrays for its tensors.

    Raises Unreadable for whatever this reader does not handle (the caller uses torch.load)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(names) != 1:
                raise Unreadable("no data.pkl")
            prefix = names[0].removesuffix("/data.pkl")
            if archive.read(f"{prefix}/byteorder").decode() != "little":
                raise Unreadable("not little-endian")
            with archive.open(names[0]) as file:
                return _Unpickler(file, archive, prefix).load()
    except Unreadable:
        raise
    except Exception as err:  # zip, pickle and key errors of a file that is not what we read
        raise Unreadable(f"{type(err).__name__}: {err}"[:120]) from None
