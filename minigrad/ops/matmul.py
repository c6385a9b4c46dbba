"""Matrix product with PyTorch's rules: batch dims broadcast, 1-D operands are vectors.

    (n,) @ (n,)          -> ()            dot product
    (m, n) @ (n,)        -> (m,)          matrix-vector
    (n,) @ (n, p)        -> (p,)          vector-matrix
    (*, m, n) @ (*, n, p) -> (*, m, p)    batched, the * dims broadcasting

A 1-D operand is made 2-D (a row on the left, a column on the right) and that dim is removed
from the result again; both are reshapes, so the one Function below only sees matrices.
"""
import numpy as np

import kernels

from ..autograd import Function
from .common import as_tensor, unbroadcast


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return kernels.matmul(a.data, b.data)          # the active kernel backend's product

    # C = A B:  dL/dA = dL/dC B^T,  dL/dB = A^T dL/dC   (summed over broadcast batch dims)
    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = unbroadcast(_product_like(a, grad, b.transpose(-1, -2)), a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(_product_like(b, a.transpose(-1, -2), grad), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


def _product_like(operand, x, y):
    """x @ y, laid out in memory as `operand` is: an operand that is a transposed view (nn.Linear's W.T)
    gets its gradient as (y^T x^T)^T, so that the gradient reaching the parameter W is C-contiguous like W.
    (PyTorch's mm backward makes the same choice.) The optimizer then reads it in place: on the 28x28
    DCGAN's 12544 x 100 Linear weight, Adam took 5.0 ms with the copy of a Fortran-ordered gradient, 2.4 without."""
    data = operand.data
    if data.ndim == 2 and data.flags.f_contiguous and not data.flags.c_contiguous:
        return (y.transpose(-1, -2) @ x.transpose(-1, -2)).transpose(-1, -2)
    return x @ y


def matmul(a, b):
    a, b = as_tensor(a), as_tensor(b, like=a)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} and {b.shape} "
                           "(use * to multiply by a scalar)")
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: mixed dtypes {a.dtype} and {b.dtype} (shapes {a.shape} and {b.shape}); "
                        "convert one with .float() or .double()")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied: the last dim of the first "
                         f"({a.shape[-1]}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} dim of the "
                         f"second ({b.shape[-2 if b.ndim > 1 else 0]})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dims of shapes {a.shape} and {b.shape} do not broadcast") from None

    vec_a, vec_b = a.ndim == 1, b.ndim == 1
    if vec_a:
        a = a.reshape(1, a.shape[0])               # (n,) -> (1, n)
    if vec_b:
        b = b.reshape(b.shape[0], 1)               # (n,) -> (n, 1)
    out = MatMul.apply(a, b)
    if vec_a or vec_b:
        shape = out.shape[:-2] + (() if vec_a else out.shape[-2:-1]) + (() if vec_b else out.shape[-1:])
        out = out.reshape(shape)
    return out
