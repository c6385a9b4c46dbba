"""Making tensors: tensor, zeros, ones, full, arange, eye, randn, rand, randint, randperm, *_like.

PyTorch's signatures: sizes as `zeros(2, 3)` or `zeros((2, 3))`, keyword `dtype=` (a NumPy dtype,
a string like "float32", or minigrad.float32), `requires_grad=` and `device=` ("cpu", "cuda",
"cuda:0"; default the CPU; the *_like functions default to their tensor's device). Floating tensors
default to float32; integer data (and arange of ints) gives int64. Random tensors draw from the
generator of their device in minigrad/random.py (seed them all with minigrad.manual_seed).
"""
import numpy as np

from . import device as _device
from . import random as _random
from .tensor import DEFAULT_DTYPE, Tensor


def _size(op, size):
    """Accept both f(2, 3) and f((2, 3)), like PyTorch."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    size = tuple(size)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in size):
        raise ValueError(f"{op}: sizes must be non-negative ints, got {size}")
    return tuple(int(n) for n in size)


def _dtype(dtype, default=DEFAULT_DTYPE):
    return np.dtype(default if dtype is None else dtype)


def _make(data, requires_grad):
    return Tensor(data, requires_grad=requires_grad)


def _where(device):
    return _device.CPU if device is None else _device.device(device)


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new leaf tensor holding a copy of `data` (nested lists, numbers, NumPy arrays, Tensors).

    Python floats become float32 and ints int64; a NumPy array keeps its dtype unless dtype= is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    elif isinstance(data, (list, tuple)):
        data = _unwrap(data)
    if device is None and _device.is_device_array(data):
        device = _device.device_of(data)
    data = _device.to_host(data)
    arr = np.array(data, dtype=None if dtype is None else np.dtype(dtype), copy=True)
    if dtype is None and arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
        arr = arr.astype(DEFAULT_DTYPE)
    return _make(arr if device is None else _device.asarray(arr, device=device), requires_grad)


def _unwrap(data):
    """Nested lists that may hold 0-d Tensors, as nested lists of arrays."""
    return [_unwrap(d) if isinstance(d, (list, tuple)) else (_device.to_host(d.data) if isinstance(d, Tensor) else d)
            for d in data]


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return _make(_device.zeros(_size("zeros", size), _dtype(dtype), _where(device)), requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return _make(_device.ones(_size("ones", size), _dtype(dtype), _where(device)), requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None):
    """Like PyTorch's empty, but filled with zeros (uninitialised memory helps no one learning)."""
    return _make(_device.zeros(_size("empty", size), _dtype(dtype), _where(device)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    """A tensor of `size` filled with fill_value; the dtype follows the value (float32, int64, bool) unless given."""
    if dtype is None:
        dtype = bool if isinstance(fill_value, bool) else np.int64 if isinstance(fill_value, int) else DEFAULT_DTYPE
    size = _size("full", (size,) if isinstance(size, int) else tuple(size))
    return _make(_device.full(size, fill_value, np.dtype(dtype), _where(device)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """Values start, start + step, ... below end (arange(n) counts 0..n-1). Ints give int64."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        all_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if all_int else DEFAULT_DTYPE
    values = np.arange(start, end, step).astype(np.dtype(dtype))           # made on the host, then moved
    return _make(_device.asarray(values, device=_where(device)), requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    """The n x m identity matrix (m defaults to n)."""
    values = np.eye(n, n if m is None else m, dtype=_dtype(dtype))
    return _make(_device.asarray(values, device=_where(device)), requires_grad)


def randn(*size, dtype=None, requires_grad=False, device=None):
    """Standard normal samples, drawn from the generator of `device`."""
    dtype = _dtype(dtype)
    _check_float("randn", dtype)
    return _make(_random.draw("normal", _size("randn", size), dtype, _where(device)), requires_grad)


def rand(*size, dtype=None, requires_grad=False, device=None):
    """Uniform samples in [0, 1), drawn from the generator of `device`."""
    dtype = _dtype(dtype)
    _check_float("rand", dtype)
    return _make(_random.draw("uniform", _size("rand", size), dtype, _where(device)), requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    """Integers in [low, high) (randint(high, size) starts at 0), int64 by default."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = _size("randint", (size,) if isinstance(size, int) else tuple(size))
    return Tensor(_random.draw("integers", size, _dtype(dtype, np.int64), _where(device), low, high))


def randperm(n, dtype=None, device=None):
    """A random permutation of 0..n-1, int64 by default."""
    return Tensor(_random.draw("permutation", n, _dtype(dtype, np.int64), _where(device)))


def _check_float(op, dtype):
    if dtype.kind != "f":
        raise TypeError(f"{op}: dtype must be a floating point type, got {dtype}")


def _like(t, dtype, device):
    return t.shape, (t.dtype if dtype is None else dtype), (t.device if device is None else device)


def zeros_like(t, dtype=None, requires_grad=False, device=None):
    shape, dtype, device = _like(t, dtype, device)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad, device=device)


def ones_like(t, dtype=None, requires_grad=False, device=None):
    shape, dtype, device = _like(t, dtype, device)
    return ones(shape, dtype=dtype, requires_grad=requires_grad, device=device)


def full_like(t, fill_value, dtype=None, requires_grad=False, device=None):
    shape, dtype, device = _like(t, dtype, device)
    return full(shape, fill_value, dtype=dtype, requires_grad=requires_grad, device=device)


def randn_like(t, dtype=None, requires_grad=False, device=None):
    shape, dtype, device = _like(t, dtype, device)
    return randn(shape, dtype=dtype, requires_grad=requires_grad, device=device)


def rand_like(t, dtype=None, requires_grad=False, device=None):
    shape, dtype, device = _like(t, dtype, device)
    return rand(shape, dtype=dtype, requires_grad=requires_grad, device=device)
