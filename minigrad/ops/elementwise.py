"""Elementwise arithmetic and math functions, with NumPy broadcasting.

Each Function: forward on arrays, backward with Tensor ops (so it can be differentiated again),
and `unbroadcast` sums each gradient back to its input's shape. Comparisons are here too; they
return boolean tensors and never carry a gradient.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .common import as_tensor, binary_operands, unbroadcast


def _operands(op, a, b):
    """binary_operands, then an integer/bool operand meeting a float one takes the float dtype
    (`int_tensor * 0.5` is float32, as in PyTorch, not NumPy's float64)."""
    a, b, shape = binary_operands(op, a, b)
    if a.dtype.kind == "f" and b.dtype.kind != "f":
        b = Tensor._wrap(b.data.astype(a.dtype))
    elif b.dtype.kind == "f" and a.dtype.kind != "f":
        a = Tensor._wrap(a.data.astype(b.dtype))
    return a, b, shape


def _mask(condition, like):
    """A constant 0/1 Tensor in `like`'s dtype (multiplying by it is differentiable, and its own
    derivative is zero, which is right almost everywhere for relu, abs, clamp, max)."""
    return Tensor._wrap(condition.astype(like.dtype))


# ----------------------------------------------------------------------------- arithmetic

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


class PowScalar(Function):
    """a ** p for a Python number p."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return a.data ** p

    # d(a^p)/da = p * a^(p - 1)
    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return grad * 0, None
        return grad * p * (a if p == 2 else a ** (p - 1)), None


class Pow(Function):
    """a ** b for two tensors (a scalar base arrives here as a constant tensor)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        ctx.keep_output = True
        return a.data ** b.data

    # d(a^b)/da = b * a^(b - 1), d(a^b)/db = a^b * log(a)
    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(grad * b * a ** (b - 1), a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(grad * ctx.output * log(a), b.shape)
        return ga, gb


def add(a, b):
    a, b, _ = _operands("add", a, b)
    return Add.apply(a, b)


def sub(a, b):
    a, b, _ = _operands("sub", a, b)
    return Sub.apply(a, b)


def mul(a, b):
    a, b, _ = _operands("mul", a, b)
    return Mul.apply(a, b)


def div(a, b):
    """True division; integer tensors divide to float32, like PyTorch."""
    a, b, _ = _operands("div", a, b)
    if a.dtype.kind != "f":
        a, b = Tensor._wrap(a.data.astype(np.float32)), Tensor._wrap(b.data.astype(np.float32))
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(as_tensor(a))


def pow(a, exponent):
    """a ** exponent: tensor ** number, number ** tensor, or tensor ** tensor."""
    if isinstance(a, Tensor) and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        if exponent == 1:
            return a
        if a.dtype.kind in "iu" and isinstance(exponent, int) and exponent < 0:
            raise ValueError(f"pow: an integer tensor (dtype {a.dtype}, shape {a.shape}) to the negative power "
                             f"{exponent} is not an integer; convert it with .float() first")
        return PowScalar.apply(a, exponent)
    a, b, _ = _operands("pow", a, exponent)
    return Pow.apply(a, b)


# ----------------------------------------------------------------------------- math functions

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


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.keep_output = True
        return np.sqrt(a.data)

    # d sqrt(a)/da = 1 / (2 sqrt(a))   (inf at a = 0)
    @staticmethod
    def backward(ctx, grad):
        return grad / (2 * ctx.output)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.keep_output = True
        return np.tanh(a.data)

    # d tanh(a)/da = 1 - tanh(a)^2
    @staticmethod
    def backward(ctx, grad):
        y = ctx.output
        return grad * (1 - y * y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.keep_output = True
        x = a.data
        # two branches so that exp never overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    # d sigmoid(a)/da = sigmoid(a) * (1 - sigmoid(a))
    @staticmethod
    def backward(ctx, grad):
        y = ctx.output
        return grad * y * (1 - y)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a.data)

    # d|a|/da = sign(a)   (0 at a = 0, like PyTorch)
    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        return grad * _mask(np.sign(a.data), a)


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.bounds = lo, hi
        return np.clip(a.data, lo, hi).astype(a.dtype, copy=False)

    # d clamp(a)/da = 1 where lo <= a <= hi, else 0
    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        lo, hi = ctx.bounds
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a.data >= lo
        if hi is not None:
            inside &= a.data <= hi
        return grad * _mask(inside, a), None, None


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a.data, b.data)

    # d max(a, b)/da = 1 where a > b, 1/2 where a == b (ties split evenly, like PyTorch), else 0
    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _pick_backward(ctx, grad, a, b, a.data > b.data)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a.data, b.data)

    # d min(a, b)/da = 1 where a < b, 1/2 where a == b, else 0
    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _pick_backward(ctx, grad, a, b, a.data < b.data)


def _pick_backward(ctx, grad, a, b, a_wins):
    tie = a.data == b.data
    wa = _mask(np.where(tie, 0.5, a_wins.astype(float)), a)          # weight of a, broadcast shape
    ga = unbroadcast(grad * wa, a.shape) if ctx.needs_input_grad[0] else None
    gb = unbroadcast(grad * (1 - wa), b.shape) if ctx.needs_input_grad[1] else None
    return ga, gb


def _float_input(op, a):
    a = as_tensor(a)
    if a.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got {a.dtype} (shape {a.shape}); "
                        "convert it with .float()")
    return a


def exp(a):
    return Exp.apply(_float_input("exp", a))


def log(a):
    return Log.apply(_float_input("log", a))


def sqrt(a):
    return Sqrt.apply(_float_input("sqrt", a))


def tanh(a):
    return Tanh.apply(_float_input("tanh", a))


def sigmoid(a):
    return Sigmoid.apply(_float_input("sigmoid", a))


def abs(a):
    return Abs.apply(as_tensor(a))


def clamp(a, min=None, max=None):
    """Limit values to [min, max] (either may be None). Tensor bounds go through maximum/minimum."""
    a = as_tensor(a)
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = a if min is None else maximum(a, min)
        return out if max is None else minimum(out, max)
    if min is not None and max is not None and min > max:
        raise ValueError(f"clamp: min ({min}) is greater than max ({max})")
    return Clamp.apply(a, min, max)


def maximum(a, b):
    a, b, _ = _operands("maximum", a, b)
    return Maximum.apply(a, b)


def minimum(a, b):
    a, b, _ = _operands("minimum", a, b)
    return Minimum.apply(a, b)


# ----------------------------------------------------------------------------- comparisons (no gradient)

def _compare(op, np_fn, a, b):
    a, b, _ = _operands(op, a, b)
    return Tensor._wrap(np_fn(a.data, b.data))


def eq(a, b): return _compare("eq", np.equal, a, b)
def ne(a, b): return _compare("ne", np.not_equal, a, b)
def lt(a, b): return _compare("lt", np.less, a, b)
def le(a, b): return _compare("le", np.less_equal, a, b)
def gt(a, b): return _compare("gt", np.greater, a, b)
def ge(a, b): return _compare("ge", np.greater_equal, a, b)

