"""Reductions: sum, mean, var, std, max, min, logsumexp, argmax, argmin over `dim` with `keepdim`.

`dim` is None (every axis), an int, or a tuple of ints. sum and max/min are Functions; mean, var,
std and logsumexp are written with other ops, so their gradients (and second gradients) follow.
"""
import builtins
import collections

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .common import as_tensor, normalize_dim, normalize_dims

# What max(dim=...) / min(dim=...) return, like torch.return_types.max: `values, indices = x.max(1)`.
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _keepdim_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _count(shape, dims):
    return int(np.prod([shape[d] for d in dims])) if dims else 1


class Sum(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, dims, keepdim
        return np.sum(a.data, axis=dims, keepdims=keepdim)

    # d sum(a)/da = 1 at every summed element: put the reduced axes back, then broadcast
    @staticmethod
    def backward(ctx, grad):
        if not ctx.keepdim:
            grad = grad.reshape(_keepdim_shape(ctx.shape, ctx.dims))
        return grad.expand(*ctx.shape), None, None


class MaxAll(Function):
    """max (or min) over every element, a 0-d tensor."""

    @staticmethod
    def forward(ctx, a, largest):
        out = np.max(a.data) if largest else np.min(a.data)
        ctx.save_for_backward(a)
        ctx.winners = a.data == out
        return np.asarray(out)

    # d max(a)/da = 1/k at each of the k elements equal to the max (ties share the gradient), else 0
    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        share = Tensor._wrap((ctx.winners / ctx.winners.sum()).astype(a.dtype))
        return grad * share, None


class MaxDim(Function):
    """max (or min) along one dim: the values at `indices` (the argmax/argmin, kept as a size-1 dim)."""

    @staticmethod
    def forward(ctx, a, indices, dim, keepdim):
        ctx.shape, ctx.dtype, ctx.indices, ctx.dim, ctx.keepdim = a.shape, a.dtype, indices, dim, keepdim
        values = np.take_along_axis(a.data, indices, axis=dim)
        return values if keepdim else np.squeeze(values, axis=dim)

    # d max_dim(a)/da = one-hot of the picked index along dim (the first of any ties, as np.argmax picks)
    @staticmethod
    def backward(ctx, grad):
        if not ctx.keepdim:
            grad = grad.unsqueeze(ctx.dim)
        onehot = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.put_along_axis(onehot, ctx.indices, 1, axis=ctx.dim)
        return grad * Tensor._wrap(onehot), None, None, None


def sum(a, dim=None, keepdim=False):
    a = as_tensor(a)
    return Sum.apply(a, normalize_dims("sum", dim, a.ndim), keepdim)


def mean(a, dim=None, keepdim=False):
    a = as_tensor(a)
    if a.dtype.kind != "f":
        raise TypeError(f"mean: expected a floating point tensor, got {a.dtype}; convert it with .float()")
    dims = normalize_dims("mean", dim, a.ndim)
    return sum(a, dims, keepdim) / _count(a.shape, dims)


def var(a, dim=None, unbiased=True, keepdim=False, correction=None):
    """Variance over `dim`: sum((a - mean)^2) / (n - correction); unbiased=True means correction=1."""
    a = as_tensor(a)
    dims = normalize_dims("var", dim, a.ndim)
    if correction is None:
        correction = 1 if unbiased else 0
    n = _count(a.shape, dims)
    centered = a - mean(a, dims, keepdim=True)
    return sum(centered * centered, dims, keepdim) / builtins.max(n - correction, 0)


def std(a, dim=None, unbiased=True, keepdim=False, correction=None):
    """Standard deviation: sqrt(var). Its gradient is inf where the variance is 0, as in PyTorch."""
    return var(a, dim, unbiased, keepdim, correction).sqrt()


def _max_or_min(op, a, dim, keepdim, largest):
    a = as_tensor(a)
    if a.numel() == 0:
        raise RuntimeError(f"{op}: the input (shape {a.shape}) is empty; {op} of nothing is undefined")
    if dim is None:
        return MaxAll.apply(a, largest)
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int or None, got {dim!r}")
    d = normalize_dim(op, dim, a.ndim)
    if a.ndim == 0:
        return ValuesIndices(a, Tensor._wrap(np.asarray(0, dtype=np.int64)))
    indices = (np.argmax if largest else np.argmin)(a.data, axis=d, keepdims=True).astype(np.int64)
    values = MaxDim.apply(a, indices, d, keepdim)
    return ValuesIndices(values, Tensor._wrap(indices if keepdim else np.squeeze(indices, axis=d)))


def max(a, dim=None, keepdim=False):
    """max(a) -> the largest element; max(a, dim) -> (values, indices) along dim, like torch.max.

    Gradient at ties: max(a) shares it equally among all elements equal to the max; max(a, dim)
    sends it to the element `indices` names (the first of the ties).
    """
    return _max_or_min("max", a, dim, keepdim, largest=True)


def min(a, dim=None, keepdim=False):
    """min(a) -> the smallest element; min(a, dim) -> (values, indices) along dim (ties as in max)."""
    return _max_or_min("min", a, dim, keepdim, largest=False)


def logsumexp(a, dim, keepdim=False):
    """log(sum(exp(a))) over dim, computed stably: m + log(sum(exp(a - m))) with m the (constant) max."""
    a = as_tensor(a)
    dims = normalize_dims("logsumexp", dim, a.ndim)
    m = np.max(a.data, axis=dims, keepdims=True) if a.numel() else np.zeros(_keepdim_shape(a.shape, dims), a.dtype)
    m = np.where(np.isfinite(m), m, 0).astype(a.dtype)                # all -inf rows give -inf, not NaN
    m = Tensor._wrap(m)
    out = sum((a - m).exp(), dims, keepdim=True).log() + m
    return out if keepdim else out.reshape(tuple(n for i, n in enumerate(out.shape) if i not in dims))


def argmax(a, dim=None, keepdim=False):
    """Index of the largest element (of the flattened tensor when dim is None), int64, no gradient."""
    return _arg("argmax", np.argmax, a, dim, keepdim)


def argmin(a, dim=None, keepdim=False):
    return _arg("argmin", np.argmin, a, dim, keepdim)


def _arg(op, np_fn, a, dim, keepdim):
    a = as_tensor(a)
    if dim is None:
        out = np.asarray(np_fn(a.data), dtype=np.int64)
        return Tensor._wrap(out.reshape((1,) * a.ndim) if keepdim else out)
    d = normalize_dim(op, dim, a.ndim)
    return Tensor._wrap(np.asarray(np_fn(a.data, axis=d, keepdims=keepdim), dtype=np.int64))
