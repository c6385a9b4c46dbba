"""Reductions: sum, mean, var, std, max, min, logsumexp over `dim` with `keepdim`."""
import numpy as np

from ..autograd import Function
from .common import as_tensor, normalize_dims


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
        return grad.expand(*ctx.shape)


def _keepdim_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def sum(a, dim=None, keepdim=False):
    a = as_tensor(a)
    return Sum.apply(a, normalize_dims("sum", dim, a.ndim), keepdim)
