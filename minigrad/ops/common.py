"""Helpers every op uses: turn scalars into tensors, check dtypes and shapes, undo broadcasting."""
import numpy as np

from .. import device as _device
from ..tensor import Tensor


def as_tensor(x, like=None):
    """Tensor for `x`; a Python number takes the dtype and the device of `like` (so `x * 2` stays float32
    and on the GPU)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, bool, np.number)):
        if like.dtype.kind == "f":
            return Tensor._wrap(_device.asarray(x, dtype=like.dtype, device=like.device))
        return Tensor(x, device=like.device)
    return Tensor(x)


def binary_operands(op, a, b):
    """Both operands as Tensors of one floating dtype, and their broadcast shape; clear errors otherwise."""
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    if a.dtype != b.dtype and a.dtype.kind == "f" and b.dtype.kind == "f":
        raise TypeError(f"{op}: mixed dtypes {a.dtype} and {b.dtype} (shapes {a.shape} and {b.shape}); "
                        "convert one with .float() or .double()")
    if a.shape == b.shape:
        return a, b, a.shape
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a, b, shape


def unbroadcast(grad, shape):
    """Sum `grad` back to `shape`, undoing NumPy broadcasting (a differentiable Tensor op).

    Broadcasting prepends size-1 axes and stretches size-1 axes; the gradient of a stretched
    axis is the sum over it.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if axes:
        grad = grad.sum(dim=axes, keepdim=True)
    return grad.reshape(shape)


def normalize_dim(op, dim, ndim):
    """A dim in [-ndim, ndim) as a non-negative int, or an IndexError naming the op."""
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return dim % max(ndim, 1)


def normalize_dims(op, dim, ndim):
    """`dim` (None, int or sequence) as a sorted tuple of non-negative axes; None means all."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted(normalize_dim(op, d, ndim) for d in dims))
