"""Devices: the one seam between minigrad and the memory its arrays live in.

A tensor's `.data` is a NumPy array (device "cpu") or a CuPy array (device "cuda:N"). Everything in
minigrad that makes or chooses arrays asks this module, so an op reads `xp = array_module(x)` once
and is otherwise the same code on both devices (NumPy's ufuncs and most array functions hand CuPy
arrays to CuPy by themselves: `np.exp(cupy_array)` runs on the GPU).

    array_module(a)              numpy or cupy, by the array's type
    device(spec)                 "cpu", "cuda", "cuda:1", 1 or a Device -> Device
    device_of(a)                 the Device an array lives on
    asarray(data, dtype, device) an array on `device` (copies across devices, not otherwise)
    empty/zeros/ones/full(shape, dtype, device)
    to_host(a)                   the one place that copies a device array to the host

CuPy is imported only when a CUDA device is asked for; `require_cuda()` raises one line saying what
is missing (CuPy, a driver, or a device). Until then `array_module` looks at sys.modules, so a
program that never touches a GPU never imports CuPy.
"""
import sys

import numpy as np


class Device:
    """Where a tensor lives, like torch.device: Device("cpu"), Device("cuda"), Device("cuda:0"), Device("cuda", 1).

    Compares equal to its string ("cuda:0") and, for index 0 or None, to "cuda"."""
    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, Device):
            type, index = type.type, type.index if index is None else index
        elif isinstance(type, str) and ":" in type:
            type, _, number = type.partition(":")
            if index is not None or not number.isdigit():
                raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {type + ':' + number!r}")
            index = int(number)
        if type not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {type!r}")
        if type == "cpu" and index not in (None, 0):
            raise ValueError(f"device: the CPU has no index {index}")
        if index is not None and (isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0):
            raise ValueError(f"device: the index must be a non-negative int, got {index!r}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", None if type == "cpu" else (0 if index is None else int(index)))

    def __setattr__(self, name, value):
        raise AttributeError("Device is immutable")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type={self.type!r})" if self.index is None else f"device(type={self.type!r}, index={self.index})"

    def __eq__(self, other):
        if isinstance(other, (str, Device)):
            try:
                other = device(other)
            except ValueError:
                return False
            return (self.type, self.index) == (other.type, other.index)
        return NotImplemented

    def __hash__(self):
        return hash((self.type, self.index))


CPU = Device("cpu")


def device(spec):
    """A Device from "cpu", "cuda", "cuda:N", an int N (cuda:N) or a Device."""
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return Device("cuda", int(spec))
    if isinstance(spec, str):
        return Device(spec.strip().lower())
    raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', an int or a Device, got {type(spec).__name__}")


def is_device_spec(spec):
    """True for what device() accepts as a string or Device (used by Tensor.to to tell devices from dtypes)."""
    if isinstance(spec, Device):
        return True
    if isinstance(spec, str):
        try:
            device(spec)
            return True
        except ValueError:
            return False
    return False


# ---- CuPy, only when asked for

def _loaded_cupy():
    """The cupy module if something imported it already (no array can be a CuPy array otherwise)."""
    return sys.modules.get("cupy")


def cuda_problem():
    """None when CUDA can be used, else one line saying what is missing: CuPy, a driver, or a device."""
    try:
        import cupy
    except ImportError as err:
        return f"CuPy is not installed (pip install cupy-cuda13x, matching your CUDA driver): {err}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:            # CUDARuntimeError: no driver, or a driver too old for this CuPy
        return f"CuPy is installed but the CUDA driver does not answer (no NVIDIA driver?): {err}"
    if count < 1:
        return "CuPy and a driver are installed but there is no CUDA device (device count 0)"
    return None


def require_cuda(index=0):
    """The cupy module, ready for device `index`; RuntimeError in one line naming what is missing."""
    problem = cuda_problem()
    if problem is not None:
        raise RuntimeError(f"minigrad: CUDA is not available: {problem}")
    import cupy
    count = cupy.cuda.runtime.getDeviceCount()
    if index >= count:
        raise RuntimeError(f"minigrad: there is no device cuda:{index} (CUDA sees {count} device(s))")
    return cupy


def array_module(a):
    """numpy or cupy, whichever module owns array `a` (scalars and lists are NumPy's)."""
    cupy = _loaded_cupy()
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy
    return np


def is_device_array(a):
    return array_module(a) is not np


def device_of(a):
    """The Device array `a` lives on."""
    if is_device_array(a):
        return Device("cuda", int(a.device.id))
    return CPU


def module_for(dev):
    """numpy for the CPU; cupy for a CUDA device (imported and checked here)."""
    dev = device(dev)
    return np if dev.type == "cpu" else require_cuda(dev.index)


def _on(dev, make):
    """make(xp) with CUDA device `dev` current (CuPy allocates on the current device)."""
    dev = device(dev)
    xp = module_for(dev)
    if xp is np:
        return make(np)
    with xp.cuda.Device(dev.index):
        return make(xp)


def asarray(data, dtype=None, device=None):
    """`data` as an array on `device` (None: where it already is; the CPU for lists and scalars).

    Copies only when the device or dtype changes; device-to-host copies go through to_host."""
    if device is None:
        xp = array_module(data)
        return data if dtype is None and xp is not np else xp.asarray(data, dtype=dtype)
    target = _device(device)
    if target.type == "cpu":
        return np.asarray(to_host(data), dtype=dtype)
    if is_device_array(data) and device_of(data) == target:
        return data if dtype is None else data.astype(dtype, copy=False)
    return _on(target, lambda xp: xp.asarray(to_host(data) if is_device_array(data) else data, dtype=dtype))


_device = device          # device() under another name, for functions whose argument is called `device`


def to_host(a):
    """A NumPy array with `a`'s values: the one visible device-to-host copy (saving, repr, .numpy(), images)."""
    if is_device_array(a):
        return array_module(a).asnumpy(a)
    return a


def empty(shape, dtype, device=CPU):
    return _on(device, lambda xp: xp.empty(shape, dtype=dtype))


def zeros(shape, dtype, device=CPU):
    return _on(device, lambda xp: xp.zeros(shape, dtype=dtype))


def ones(shape, dtype, device=CPU):
    return _on(device, lambda xp: xp.ones(shape, dtype=dtype))


def full(shape, fill_value, dtype, device=CPU):
    return _on(device, lambda xp: xp.full(shape, fill_value, dtype=dtype))


def same_device(op, *arrays):
    """Raise one clear error when the arrays of one op sit on different devices (None and scalars are ignored)."""
    if _loaded_cupy() is None:          # no CuPy, no device arrays: everything is on the CPU
        return CPU
    seen = None
    for a in arrays:
        if a is None or not hasattr(a, "shape"):
            continue
        where = device_of(a)
        if seen is None:
            seen = where
        elif where != seen:
            raise RuntimeError(f"{op}: expected all tensors on one device, but found {seen} and {where} "
                               f"(move them with .to({str(seen)!r}) or .to({str(where)!r}))")
    return seen


# ---- the minigrad.cuda namespace's answers

def cuda_is_available():
    return cuda_problem() is None


def cuda_device_count():
    if cuda_problem() is not None:
        return 0
    import cupy
    return int(cupy.cuda.runtime.getDeviceCount())


def cuda_synchronize(dev=None):
    """Wait for the work queued on CUDA device `dev` (default: the current one) to finish."""
    cupy = require_cuda(0 if dev is None else device(dev).index)
    if dev is None:
        cupy.cuda.Device().synchronize()
    else:
        cupy.cuda.Device(device(dev).index).synchronize()
