"""Indexing: `a[index]` (getitem) and `where(cond, a, b)`.

getitem accepts what NumPy does: ints, slices (negative steps too), None, Ellipsis, integer arrays
(lists, NumPy arrays, int Tensors) and boolean masks. Its backward is a scatter-add: an output
gradient goes back to the element it was read from, and when integer arrays read one element
several times (`a[[0, 0, 1]]`) those gradients add up (np.add.at). The scatter-add is itself a
Function whose backward is getitem again, so indexing can be differentiated twice.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .common import as_tensor, unbroadcast
from .elementwise import _operands


def _normalize_index(index):
    """The index as a tuple NumPy understands; Tensors and lists become arrays, boolean masks
    become the integer arrays of their nonzero positions (the same selection, in NumPy's rules)."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.data
        elif isinstance(item, list):
            item = np.asarray(item)
            if item.size == 0:
                item = item.astype(np.int64)
        if isinstance(item, np.ndarray):
            if item.dtype == bool:
                out.extend(np.nonzero(item))
                continue
            if item.dtype.kind not in "iu":
                raise IndexError(f"getitem: index arrays must hold integers or booleans, got {item.dtype}")
        elif isinstance(item, bool):
            raise IndexError("getitem: a bare True/False is not supported as an index")
        out.append(item)
    return tuple(out)


def _is_advanced(index):
    return any(isinstance(item, np.ndarray) for item in index)


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        return a.data[index]

    # d a[index]/da: scatter the gradient back to the positions it was read from (adding repeats)
    @staticmethod
    def backward(ctx, grad):
        return IndexAdd.apply(grad, ctx.index, ctx.shape), None


class IndexAdd(Function):
    """zeros(shape) with `values` added at `index`: the adjoint of getitem."""

    @staticmethod
    def forward(ctx, values, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=values.dtype)
        if _is_advanced(index):
            np.add.at(out, index, values.data)          # repeated indices accumulate
        else:
            out[index] = values.data                    # a basic slice reads each element once
        return out

    # d index_add(v)/dv = v read back at index
    @staticmethod
    def backward(ctx, grad):
        return GetItem.apply(grad, ctx.index), None, None


def getitem(a, index):
    a = as_tensor(a)
    index = _normalize_index(index)
    try:
        return GetItem.apply(a, index)
    except IndexError as err:
        raise IndexError(f"getitem: cannot index a tensor of shape {a.shape} with {index}: {err}") from None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond, ctx.shapes = cond, (a.shape, b.shape)
        return np.where(cond, a.data, b.data)

    # d where(c, a, b)/da = 1 where c, else 0; d/db = the opposite
    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        zero = Tensor._wrap(np.zeros((), dtype=grad.dtype))
        cond = Tensor._wrap(ctx.cond)
        return (None,
                unbroadcast(where(cond, grad, zero), sa) if ctx.needs_input_grad[1] else None,
                unbroadcast(where(cond, zero, grad), sb) if ctx.needs_input_grad[2] else None)


def where(condition, a, b):
    """Elementwise `a if condition else b`, broadcasting all three. The gradient goes to the chosen side only."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be a boolean tensor, got {cond.dtype} (shape {cond.shape})")
    a, b, shape = _operands("where", a, b)
    try:
        np.broadcast_shapes(cond.shape, shape)
    except ValueError:
        raise ValueError(f"where: condition of shape {cond.shape} does not broadcast with "
                         f"{a.shape} and {b.shape}") from None
    return Where.apply(cond, a, b)
