"""Tensor: a NumPy (or, on a GPU, CuPy) array, its gradient, and a link to the op that made it.

A Tensor made by the user is a *leaf*: `grad_fn` is None and, if `requires_grad`, backward()
accumulates d(loss)/d(tensor) into `.grad`. A Tensor made by an op that saw any input requiring a
gradient points at that op's graph node (`grad_fn`, see autograd.py); that is the whole graph.

The arithmetic and shape methods below are thin: each calls the op of the same name in `ops/`,
where forward and backward sit side by side. Which device the array lives on is the array's
business (see device.py); `.to(device)` moves a tensor, differentiably.

Version counter: every Tensor has a `_version` (a Version box shared with its detach() views,
which share its memory) that each in-place method (zero_, fill_, copy_, add_, sub_, mul_, div_)
bumps. An op that saves a tensor for backward notes its version; backward raises if it changed,
since the saved values are no longer the ones forward saw (PyTorch's check, autograd.py).
Writes to `.data` itself (optimizer steps, batch norm's running statistics, kernels writing
arrays in place) are the engine's own bookkeeping below autograd and are not counted.
"""
import operator

import numpy as np

from . import autograd
from . import device as _device
from .hooks import RemovableHandle

DEFAULT_DTYPE = np.float32


def _as_array(data, dtype=None):
    """Array for `data`: Python floats become float32 (our default), NumPy and CuPy arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return _device.asarray(data, dtype=np.dtype(dtype))
    if isinstance(data, np.ndarray) or _device.is_device_array(data):
        return data
    arr = np.asarray(data)
    if arr.dtype == np.float64 and not isinstance(data, np.generic):
        arr = arr.astype(DEFAULT_DTYPE)
    return arr


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


class Version:
    """How often a tensor's memory was changed in place, and by which method last (one per storage)."""
    __slots__ = ("value", "last_op")

    def __init__(self):
        self.value, self.last_op = 0, None

    def bump(self, op):
        self.value += 1
        self.last_op = op


class Tensor:
    __array_priority__ = 1000          # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data, dtype=None, requires_grad=False, device=None):
        self.data = _as_array(data, dtype)
        if device is not None:
            self.data = _device.asarray(self.data, device=device)
        self.grad = None
        self.grad_fn = None
        self.requires_grad = False
        self._version = Version()
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data, requires_grad=False, grad_fn=None):
        """Fast constructor used by ops: no conversion, no checks."""
        t = cls.__new__(cls)
        t.data, t.grad, t.grad_fn, t.requires_grad = data, None, grad_fn, requires_grad
        t._version = Version()
        return t

    # ------------------------------------------------------------------ what it is
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        """A minigrad.device.Device; compares equal to "cpu", "cuda", "cuda:0"."""
        return _device.device_of(self.data)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self):
        return self.data.ndim

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        return len(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted to a number, got shape {self.shape}")
        return self.data.item()

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.data.size} elements is ambiguous "
                               f"(shape {self.shape})")
        return bool(self.data.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("numpy: call .detach().numpy() on a tensor that requires grad")
        if _device.is_device_array(self.data):
            raise TypeError(f"numpy: this tensor is on {self.device}; call .cpu() first to copy it to the host")
        return self.data

    def tolist(self):
        return _device.to_host(self.data).tolist()

    def __repr__(self):
        body = np.array2string(_device.to_host(self.data), separator=", ", precision=4, prefix="tensor(")
        extra = "" if self.dtype == DEFAULT_DTYPE else f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad.

        `gradient` is required unless self is a scalar. The graph is freed afterwards unless
        retain_graph=True; with create_graph=True the gradients themselves carry a graph.
        """
        autograd.backward(self, gradient, retain_graph, create_graph)

    def register_post_accumulate_grad_hook(self, hook):
        """Call hook(self) after a backward() has accumulated this leaf's gradient into .grad (as torch's
        hook of that name; here every such hook runs when the walk is over). Returns a RemovableHandle.
        DistributedDataParallel uses it to learn which gradients are ready to be all-reduced."""
        if not self.is_leaf:
            raise RuntimeError("register_post_accumulate_grad_hook: only a leaf tensor has an accumulated .grad")
        if not hasattr(self, "_post_accumulate_grad_hooks"):
            self._post_accumulate_grad_hooks = {}
        handle = RemovableHandle(self._post_accumulate_grad_hooks)
        self._post_accumulate_grad_hooks[handle.id] = hook
        return handle

    def detach(self):
        """The same data, cut from the graph (shares memory and the version counter, like PyTorch)."""
        view = Tensor._wrap(self.data)
        view._version = self._version
        return view

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"requires_grad_: only floating point tensors can require gradients, got {self.dtype}")
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_: cannot turn off requires_grad of a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    # ------------------------------------------------------------------ dtype and copies
    def to(self, dtype_or_device=None, dtype=None, device=None):
        """Move to a device and/or cast to a dtype, both differentiable: .to("cuda"), .to(float64),
        .to("cuda", float64), .to(device="cpu"). Returns self when nothing changes."""
        if _device.is_device_spec(dtype_or_device):
            device = dtype_or_device
        elif dtype is None:
            dtype = dtype_or_device
        out = self
        if device is not None and _device.device(device) != self.device:
            out = ops.to_device(out, _device.device(device))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = ops.cast(out, np.dtype(dtype))
        return out

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return Tensor._wrap(self.data.astype(np.int64))

    def bool(self):
        return Tensor._wrap(self.data.astype(bool))

    def type_as(self, other):
        return self.to(other.dtype)

    def clone(self):
        return ops.clone(self)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else _device.Device("cuda", _device.device(device).index))

    # ------------------------------------------------------------------ in-place (no graph; for init and optimizers)
    def _inplace(self, name):
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(f"{name}: a tensor that requires grad cannot be changed in place while grad mode is "
                               "on; wrap it in `with minigrad.no_grad():`")
        self._version.bump(name)

    def _inplace_arith(self, name, other, apply):
        """add_ / sub_ / mul_ / div_: self.data updated with `other`, which must broadcast to self's shape."""
        other = _device.asarray(other.data if isinstance(other, Tensor) else other, device=self.device)
        if not _broadcasts_to(other.shape, self.shape):
            raise RuntimeError(f"{name}: operand of shape {other.shape} does not broadcast to {self.shape}")
        if self.dtype.kind != "f" and np.result_type(self.dtype, other.dtype) != self.dtype:
            raise RuntimeError(f"{name}: result type {np.result_type(self.dtype, other.dtype)} cannot be stored in a "
                               f"{self.dtype} tensor in place")
        self._inplace(name)
        apply(self.data, other.astype(self.dtype, copy=False))
        return self

    def add_(self, other, alpha=1):
        other = _device.asarray(other.data if isinstance(other, Tensor) else other, device=self.device)
        return self._inplace_arith("add_", other * alpha if alpha != 1 else other, operator.iadd)

    def sub_(self, other):
        return self._inplace_arith("sub_", other, operator.isub)

    def mul_(self, other):
        return self._inplace_arith("mul_", other, operator.imul)

    def div_(self, other):
        if self.dtype.kind != "f":
            raise RuntimeError(f"div_: true division cannot be stored in place in a {self.dtype} tensor")
        return self._inplace_arith("div_", other, operator.itruediv)

    def zero_(self):
        self._inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value):
        self._inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, src):
        src = _device.asarray(src.data if isinstance(src, Tensor) else src, device=self.device)  # copies across devices
        if not _broadcasts_to(src.shape, self.shape):
            raise RuntimeError(f"copy_: source of shape {src.shape} does not broadcast to {self.shape}")
        self._inplace("copy_")
        self.data[...] = src
        return self

    # ------------------------------------------------------------------ arithmetic (ops/elementwise.py)
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, exponent): return ops.pow(self, exponent)
    def __rpow__(self, base): return ops.pow(base, self)
    def __neg__(self): return ops.neg(self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __abs__(self): return ops.abs(self)

    # comparisons give boolean tensors and no gradient
    def __eq__(self, other): return ops.eq(self, other)
    def __ne__(self, other): return ops.ne(self, other)
    def __lt__(self, other): return ops.lt(self, other)
    def __le__(self, other): return ops.le(self, other)
    def __gt__(self, other): return ops.gt(self, other)
    def __ge__(self, other): return ops.ge(self, other)
    __hash__ = object.__hash__          # tensors are graph nodes: hash by identity

    def add(self, other): return ops.add(self, other)
    def sub(self, other): return ops.sub(self, other)
    def mul(self, other): return ops.mul(self, other)
    def div(self, other): return ops.div(self, other)
    def pow(self, exponent): return ops.pow(self, exponent)
    def neg(self): return ops.neg(self)
    def matmul(self, other): return ops.matmul(self, other)
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def abs(self): return ops.abs(self)
    def relu(self): return ops.relu(self)
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)
    clip = clamp
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)

    # ------------------------------------------------------------------ reductions (ops/reduce.py)
    def sum(self, dim=None, keepdim=False): return ops.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return ops.mean(self, dim, keepdim)
    def var(self, dim=None, unbiased=True, keepdim=False, correction=None):
        return ops.var(self, dim, unbiased, keepdim, correction)
    def std(self, dim=None, unbiased=True, keepdim=False, correction=None):
        return ops.std(self, dim, unbiased, keepdim, correction)
    def max(self, dim=None, keepdim=False): return ops.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return ops.min(self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return ops.logsumexp(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return ops.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return ops.argmin(self, dim, keepdim)

    # ------------------------------------------------------------------ shape (ops/shape.py)
    def reshape(self, *shape): return ops.reshape(self, *shape)
    def view(self, *shape): return ops.reshape(self, *shape)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def permute(self, *dims): return ops.permute(self, *dims)
    def transpose(self, dim0, dim1): return ops.transpose(self, dim0, dim1)
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def expand(self, *sizes): return ops.expand(self, *sizes)
    def expand_as(self, other): return ops.expand(self, *other.shape)
    def split(self, split_size_or_sections, dim=0): return ops.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)
    def contiguous(self): return self

    @property
    def T(self):
        return ops.permute(self, *reversed(range(self.ndim)))

    def __getitem__(self, index): return ops.getitem(self, index)


from . import ops  # noqa: E402  (ops need the Tensor class defined above)
