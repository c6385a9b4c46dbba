"""Shape ops: reshape, expand, permute, ... (no arithmetic; backward moves the gradient back)."""
import numpy as np

from ..autograd import Function
from .common import as_tensor, unbroadcast


def _shape_arg(shape):
    """Accept both reshape(2, 3) and reshape((2, 3)), like PyTorch."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.data.reshape(shape)

    # reshaping moves no values: reshape the gradient back
    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.broadcast_to(a.data, shape)

    # each input element was copied to many outputs: sum their gradients
    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shape)


def reshape(a, *shape):
    a = as_tensor(a)
    shape = _shape_arg(shape)
    known = [n for n in shape if n != -1]
    size = int(np.prod(known)) if known else 1
    if shape.count(-1) > 1 or (-1 in shape and (size == 0 or a.numel() % size)) or \
            (-1 not in shape and size != a.numel()):
        raise RuntimeError(f"reshape: cannot reshape a tensor of shape {a.shape} ({a.numel()} elements) into {shape}")
    if shape == a.shape:
        return a
    return Reshape.apply(a, shape)


def expand(a, *sizes):
    a = as_tensor(a)
    sizes = _shape_arg(sizes)
    extra = len(sizes) - a.ndim
    if extra < 0:
        raise RuntimeError(f"expand: cannot expand shape {a.shape} to fewer dimensions {sizes}")
    shape = tuple(a.shape[i - extra] if n == -1 else n for i, n in enumerate(sizes))
    try:
        if np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"expand: shape {a.shape} cannot be expanded to {sizes}") from None
    if shape == a.shape:
        return a
    return Expand.apply(a, shape)
