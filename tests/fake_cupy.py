"""A stand-in for the `cupy` module, backed by NumPy, for the device tests (there is no GPU in CI).

Installed into sys.modules["cupy"] by the `fake_cuda` fixture (tests/conftest.py). What it checks is the
part of GPU support that is minigrad's own: that every array of a "cuda" tensor is made on the device and
never meets a host array. So its arrays are a distinct type, `ndarray`, a wrapper around a NumPy array that

  * refuses to mix with host NumPy arrays in ufuncs (`__array_ufunc__`), array functions
    (`__array_function__`), indexing and assignment, with TypeError, as CuPy does;
  * refuses implicit conversion to NumPy (`np.asarray(device_array)` raises, as CuPy's __array__ does):
    only `cupy.asnumpy(a)` and `a.get()` copy to the host, and `cupy.asarray(host)` copies to the "device";
  * has no buffer protocol, so a device array handed to the C++ kernels fails loudly.

`RawModule` compiles our .cu sources as host C++ under the CUDA emulation of tests/cuda_emulation.py, so
kernels/cuda's launcher and kernels run for real (on the CPU). Python scalars and NumPy scalars mix freely,
as with CuPy. What it cannot check: NVRTC, cuBLAS, streams and asynchrony, real parallel hardware.
"""
import ctypes
import functools
import hashlib
import os
import tempfile
import types

import numpy as np

import cuda_emulation

_SCALARS = (int, float, bool, complex, np.generic)


class ndarray:
    """An array "on the device": a NumPy array that host code cannot touch without an explicit copy."""
    __array_priority__ = 100          # below minigrad.Tensor's 1000, so `array * tensor` reaches the Tensor

    def __init__(self, array):
        assert isinstance(array, np.ndarray) and not isinstance(array, ndarray)
        self._a = array

    # ---- what an array is
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    device = property(lambda self: Device(0))
    data = property(lambda self: types.SimpleNamespace(ptr=self._a.ctypes.data))     # a MemoryPointer's .ptr

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return "fake_cupy." + repr(self._a)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def get(self):
        return self._a.copy()

    def item(self):
        return self._a.item()

    def tolist(self):
        raise TypeError("fake_cupy: tolist() of a device array; copy it to the host first (cupy.asnumpy)")

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    # ---- methods: the NumPy method on the host array, arguments checked, results wrapped
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        method = getattr(self._a, name)
        if not callable(method):
            return _wrap(method)

        @functools.wraps(method)
        def call(*args, **kwargs):
            return _wrap(method(*_unwrap(args, name), **_unwrap(kwargs, name)))
        return call

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, "indexing")])

    def __setitem__(self, index, value):
        self._a[_unwrap(index, "indexing")] = _unwrap(value, "assignment")

    # ---- ufuncs and array functions: device arrays and scalars only
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs:
            if not isinstance(x, (ndarray, np.ndarray) + _SCALARS) and x is not None:
                return NotImplemented
        result = getattr(ufunc, method)(*_unwrap(inputs, ufunc.__name__), **_unwrap(kwargs, ufunc.__name__))
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        return _wrap(func(*_unwrap(args, func.__name__), **_unwrap(kwargs, func.__name__)))


def _operator(ufunc, reflected=False, inplace=False):
    def op(self, other):
        if not isinstance(other, (ndarray, np.ndarray) + _SCALARS):
            return NotImplemented
        if inplace:
            ufunc(self, other, out=(self,))
            return self
        return ufunc(other, self) if reflected else ufunc(self, other)
    return op


for _name, _ufunc in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                      ("floordiv", np.floor_divide), ("mod", np.remainder), ("pow", np.power),
                      ("matmul", np.matmul), ("and", np.bitwise_and), ("or", np.bitwise_or)]:
    setattr(ndarray, f"__{_name}__", _operator(_ufunc))
    setattr(ndarray, f"__r{_name}__", _operator(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _operator(_ufunc, inplace=True))
for _name, _ufunc in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                      ("gt", np.greater), ("ge", np.greater_equal)]:
    setattr(ndarray, f"__{_name}__", _operator(_ufunc))
ndarray.__neg__ = lambda self: np.negative(self)
ndarray.__pos__ = lambda self: np.positive(self)
ndarray.__abs__ = lambda self: np.absolute(self)
ndarray.__invert__ = lambda self: np.invert(self)
ndarray.__hash__ = None


def _wrap(x):
    """NumPy results as device arrays; NumPy scalars too, as 0-d arrays (CuPy's reductions and ufuncs
    return 0-d arrays, never host scalars)."""
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, np.generic):
        return ndarray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _unwrap(x, where):
    """Device arrays -> their NumPy arrays (in tuples, lists, dicts, slices); a host array -> TypeError."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"fake_cupy {where}: a host numpy.ndarray {x.shape} {x.dtype} met a device array; "
                        "CuPy refuses to mix them (copy it with cupy.asarray or cupy.asnumpy)")
    if isinstance(x, tuple):
        return tuple(_unwrap(v, where) for v in x)
    if isinstance(x, list):
        return [_unwrap(v, where) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v, where) for k, v in x.items()}
    return x


# ---- the module's functions: allocation, copies, and NumPy's functions on device arrays

def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else ndarray(a._a.astype(dtype))
    return ndarray(np.array(a, dtype=dtype, order=order or "K", copy=True))      # host -> "device": a copy


def array(a, dtype=None, copy=True, order="K"):
    if isinstance(a, ndarray):
        return ndarray(np.array(a._a, dtype=dtype, copy=copy, order=order))
    return ndarray(np.array(a, dtype=dtype, copy=True, order=order))


def asnumpy(a):
    """Device -> host: a copy (host arrays pass through, as in CuPy)."""
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        raise TypeError(f"fake_cupy ascontiguousarray: expected a device array, got {type(a).__name__}")
    return ndarray(np.ascontiguousarray(a._a, dtype=dtype))


def get_array_module(*arrays):
    import sys
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in arrays) else np


def _device_function(name):
    """numpy.<name> on device arrays: host arrays refused, NumPy results wrapped as device arrays."""
    func = getattr(np, name)

    @functools.wraps(func)
    def call(*args, **kwargs):
        return _wrap(func(*_unwrap(args, name), **_unwrap(kwargs, name)))
    return call


def __getattr__(name):
    """cupy.float32, cupy.zeros, cupy.matmul, ...: NumPy's dtypes as they are, its functions on device arrays."""
    value = getattr(np, name)
    if isinstance(value, type) or not callable(value):
        return value
    return _device_function(name)


# ---- cupy.random: one legacy RandomState per process, NumPy's algorithm on a stream of its own

class RandomState:
    def __init__(self, seed=None):
        self.seed(seed)

    def seed(self, seed=None):
        self._rng = np.random.default_rng(None if seed is None else (int(seed), 0xC0DA))

    def standard_normal(self, size=None, dtype=float):
        return ndarray(np.asarray(self._rng.standard_normal(size, dtype=np.dtype(dtype))))

    def random_sample(self, size=None, dtype=float):
        return ndarray(np.asarray(self._rng.random(size, dtype=np.dtype(dtype))))

    def randint(self, low, high=None, size=None, dtype=int):
        return ndarray(np.asarray(self._rng.integers(low, high, size, dtype=np.dtype(dtype))))

    def permutation(self, n):
        return ndarray(self._rng.permutation(n))


random = types.SimpleNamespace(RandomState=RandomState)


# ---- cupy.cuda: one device, always there; synchronize is a no-op (nothing is asynchronous here)

class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise RuntimeError(f"fake_cupy: there is only device 0, not {self.id}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass

    def use(self):
        pass


class _Runtime:
    device_count = 1

    def getDeviceCount(self):
        return self.device_count


# ---- cupy.cuda.nccl: the communicator's collectives done by MPI on the memory behind the device pointers,
# so minigrad.distributed's NCCL path runs under mpiexec (what it cannot check: NCCL itself, streams)

class _Nccl(types.SimpleNamespace):
    calls = []                        # (collective, count) in call order: tests see that NCCL was used

    @staticmethod
    def get_unique_id():
        return tuple(np.random.default_rng().integers(0, 255, 128).tolist())

    class NcclCommunicator:
        def __init__(self, ndev, commId, rank):
            from mpi4py import MPI
            assert len(commId) == 128 and MPI.COMM_WORLD.Get_size() == ndev and MPI.COMM_WORLD.Get_rank() == rank
            self._mpi, self._MPI = MPI.COMM_WORLD, MPI

        def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
            _Nccl.calls.append(("allReduce", count))
            send, recv = _Nccl.view(sendbuf, count, datatype), _Nccl.view(recvbuf, count, datatype)
            MPI = self._MPI
            mpi_op = {0: MPI.SUM, 1: MPI.PROD, 2: MPI.MAX, 3: MPI.MIN, 4: MPI.SUM}[op]
            self._mpi.Allreduce(MPI.IN_PLACE if sendbuf == recvbuf else send, recv, op=mpi_op)
            if op == 4:
                recv /= self._mpi.Get_size()

        def bcast(self, buff, count, datatype, root, stream):
            _Nccl.calls.append(("bcast", count))
            self._mpi.Bcast(_Nccl.view(buff, count, datatype), root=root)

        def allGather(self, sendbuf, recvbuf, count, datatype, stream):
            _Nccl.calls.append(("allGather", count))
            self._mpi.Allgather(_Nccl.view(sendbuf, count, datatype),
                                _Nccl.view(recvbuf, count * self._mpi.Get_size(), datatype))

    @staticmethod
    def view(ptr, count, datatype):
        dtype = {7: np.float32, 8: np.float64, 4: np.int64, 2: np.int32, 6: np.float16}[datatype]
        return np.frombuffer((ctypes.c_char * (count * np.dtype(dtype).itemsize)).from_address(ptr), dtype=dtype)


# NCCL's enum values (nccl.h): ncclSum 0, ncclProd 1, ncclMax 2, ncclMin 3, ncclAvg 4; ncclInt32 2,
# ncclInt64 4, ncclFloat16 6, ncclFloat32 7, ncclFloat64 8
nccl = _Nccl(NCCL_SUM=0, NCCL_PROD=1, NCCL_MAX=2, NCCL_MIN=3, NCCL_AVG=4, NCCL_INT32=2, NCCL_INT64=4,
             NCCL_FLOAT16=6, NCCL_FLOAT32=7, NCCL_FLOAT64=8, get_unique_id=_Nccl.get_unique_id,
             NcclCommunicator=_Nccl.NcclCommunicator, calls=_Nccl.calls)

cuda = types.SimpleNamespace(Device=Device, runtime=_Runtime(), nccl=nccl,
                             get_current_stream=lambda: types.SimpleNamespace(ptr=0))


# ---- RawModule: our .cu sources through the CPU emulation of CUDA

_BUILD_DIR = tempfile.mkdtemp(prefix="fake_cupy_")
_built = {}           # source hash -> cuda_emulation.EmulatedModule
launches = []         # kernel names, in launch order (tests look at what ran)


class RawModule:
    def __init__(self, code, options=(), name_expressions=()):
        names = sorted({n.split("<")[0] for n in name_expressions})
        key = hashlib.sha1((code + "|".join(names)).encode()).hexdigest()[:16]
        if key not in _built:
            path = os.path.join(_BUILD_DIR, f"{key}.cu")
            with open(path, "w") as f:
                f.write(code)
            out = os.path.join(_BUILD_DIR, key)
            os.makedirs(out, exist_ok=True)
            _built[key] = cuda_emulation.build(path, names, out)
        self._module, self.name_expressions = _built[key], tuple(name_expressions)

    def get_function(self, name):
        assert name in self.name_expressions, f"fake_cupy RawModule: {name} was not in name_expressions"
        kernel = self._module.get_function(name)

        def launch(grid, block, args):
            for a in args:
                if isinstance(a, np.ndarray):
                    raise TypeError(f"fake_cupy {name}: a host numpy.ndarray passed to a kernel")
            launches.append(name)
            kernel(grid, block, tuple(a._a if isinstance(a, ndarray) else a for a in args))
        return launch
