"""Elementwise arithmetic and math functions, with NumPy broadcasting.

Each Function: forward on arrays, backward with Tensor ops (so it can be differentiated again),
and `unbroadcast` sums each gradient back to its input's shape.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .common import as_tensor, binary_operands, unbroadcast


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a.data + b.data

    # d(a + b)/da = 1, d(a + b)/db = 1
    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        return (unbroadcast(grad, sa) if ctx.needs_input_grad[0] else None,
                unbroadcast(grad, sb) if ctx.needs_input_grad[1] else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a.data - b.data

    # d(a - b)/da = 1, d(a - b)/db = -1
    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        return (unbroadcast(grad, sa) if ctx.needs_input_grad[0] else None,
                unbroadcast(-grad, sb) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.data * b.data

    # d(a * b)/da = b, d(a * b)/db = a
    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.data / b.data

    # d(a / b)/da = 1 / b, d(a / b)/db = -a / b^2
    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None,
                unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a.data

    # d(-a)/da = -1
    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.keep_output = True
        return np.exp(a.data)

    # d exp(a)/da = exp(a)
    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.output


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a.data)

    # d log(a)/da = 1 / a
    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        return grad / a


def add(a, b):
    a, b, _ = binary_operands("add", a, b)
    return Add.apply(a, b)


def sub(a, b):
    a, b, _ = binary_operands("sub", a, b)
    return Sub.apply(a, b)


def mul(a, b):
    a, b, _ = binary_operands("mul", a, b)
    return Mul.apply(a, b)


def div(a, b):
    a, b, _ = binary_operands("div", a, b)
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(as_tensor(a))


def exp(a):
    return Exp.apply(as_tensor(a))


def log(a):
    return Log.apply(as_tensor(a))
