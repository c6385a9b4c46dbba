"""Activations and the small ops around them: relu, leaky_relu, elu, selu, softplus, softmax, log_softmax,
dropout, embedding, one_hot. (tanh and sigmoid live in elementwise.py and are re-exported here.)

leaky_relu is a hot op and reaches `kernels`; its backward is a Function of its own (the gradient is
linear in the incoming gradient, with x fixed), so a GAN's gradient penalty can differentiate it twice.
relu's backward is that same Function with slope 0.
The others are Functions whose backward is written with Tensor ops, or compositions of other ops.
"""
import numpy as np

import kernels

from .. import random
from ..autograd import Function
from ..tensor import Tensor
from .common import as_tensor, normalize_dim
from .elementwise import sigmoid, tanh  # noqa: F401  (re-exported)
from .indexing import where

# SELU's constants (Klambauer et al., 2017): they make a layer keep zero mean and unit variance
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float_input(op, x):
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got {x.dtype} (shape {x.shape}); "
                        "convert it with .float()")
    return x


def _c(a):
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------------- leaky ReLU (through kernels)

class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return kernels.leaky_relu(_c(x.data), negative_slope)

    # d leaky_relu(x)/dx = 1 if x > 0 else negative_slope
    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return LeakyReluBackward.apply(grad, x, ctx.negative_slope), None


class LeakyReluBackward(Function):
    """grad_x = grad_y * (1 if x > 0 else slope): linear in grad_y, and piecewise constant in x."""

    @staticmethod
    def forward(ctx, grad_y, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return kernels.leaky_relu_backward(_c(grad_y.data), _c(x.data), negative_slope)

    # d grad_x/d grad_y = the same slope mask (so: the same kernel); d grad_x/dx = 0 off the kink
    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return LeakyReluBackward.apply(grad, x, ctx.negative_slope), None, None


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.maximum(a.data, 0).astype(a.dtype, copy=False)

    # d relu(a)/da = 1 if a > 0 else 0: leaky ReLU's backward at slope 0, one threaded pass in kernels/
    # (NumPy's grad * (a > 0) made a mask, cast it and multiplied: 7.1 against 2.3 ms on a 64x256x256
    # VGG activation). The kernels take float32 and float64; other dtypes keep the NumPy mask.
    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        if a.dtype in (np.float32, np.float64):
            return LeakyReluBackward.apply(grad, a, 0.0)
        return grad * Tensor._wrap((a.data > 0).astype(a.dtype))


def relu(a):
    return Relu.apply(as_tensor(a))


def leaky_relu(input, negative_slope=0.01):
    """x if x > 0 else negative_slope * x, elementwise."""
    x = _float_input("leaky_relu", input)
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float, np.floating)):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    return LeakyRelu.apply(x, float(negative_slope))


# ----------------------------------------------------------------------------- ELU, SELU, softplus

class Elu(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha, ctx.keep_output = alpha, True
        a = x.data
        return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0))).astype(a.dtype, copy=False)

    # d elu(x)/dx = 1 if x > 0 else alpha * exp(x)  (= y + alpha, written with the output y)
    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        positive = Tensor._wrap(x.data > 0)
        return grad * where(positive, 1.0, ctx.output + ctx.alpha), None


def elu(input, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1), elementwise."""
    return Elu.apply(_float_input("elu", input), float(alpha))


def selu(input):
    """SELU_SCALE * elu(x, SELU_ALPHA): the self-normalising activation."""
    return elu(input, SELU_ALPHA) * SELU_SCALE


class Softplus(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        a = x.data
        return (np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))).astype(a.dtype, copy=False)   # never overflows

    # d log(1 + exp(x))/dx = sigmoid(x)
    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * sigmoid(x)


def softplus(input):
    """log(1 + exp(x)), computed as max(x, 0) + log(1 + exp(-|x|)) so that large |x| stays finite."""
    return Softplus.apply(_float_input("softplus", input))


# ----------------------------------------------------------------------------- softmax, log_softmax

class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim, ctx.keep_output = dim, True
        e = np.exp(x.data - x.data.max(axis=dim, keepdims=True))       # shifting by the max changes nothing but overflow
        return e / e.sum(axis=dim, keepdims=True)

    # d softmax(x)_i/dx_j = y_i (δ_ij - y_j):  grad_x = y * (g - sum(g * y))
    @staticmethod
    def backward(ctx, grad):
        y = ctx.output
        return y * (grad - (grad * y).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim, ctx.keep_output = dim, True
        shifted = x.data - x.data.max(axis=dim, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))

    # d log_softmax(x)_i/dx_j = δ_ij - softmax(x)_j:  grad_x = g - exp(y) * sum(g)
    @staticmethod
    def backward(ctx, grad):
        y = ctx.output
        return grad - y.exp() * grad.sum(ctx.dim, keepdim=True), None


def _softmax_dim(op, x, dim):
    if dim is None:
        raise TypeError(f"{op}: dim is required (e.g. {op}(logits, dim=1) for logits of shape (N, C))")
    if x.ndim == 0:
        raise ValueError(f"{op}: expected at least one dimension, got a 0-d tensor")
    return normalize_dim(op, dim, x.ndim)


def softmax(input, dim):
    """exp(x) / sum(exp(x)) along dim."""
    x = _float_input("softmax", input)
    return Softmax.apply(x, _softmax_dim("softmax", x, dim))


def log_softmax(input, dim):
    """x - logsumexp(x) along dim, stable for large x (better than log(softmax(x)))."""
    x = _float_input("log_softmax", input)
    return LogSoftmax.apply(x, _softmax_dim("log_softmax", x, dim))


# ----------------------------------------------------------------------------- dropout, embedding, one_hot

def dropout(input, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1 - p) ("inverted" dropout,
    so that nothing changes at evaluation). Identity when training=False. The mask comes from
    minigrad.random's generator, so manual_seed makes it reproducible."""
    x = _float_input("dropout", input)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: probability p must be a number between 0 and 1, got {p!r}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    # Keep an element when a uniform 32-bit integer is >= p * 2**32 (probability 1 - p, to within 2**-32),
    # the integers taken raw from the generator's bit stream: two per 64-bit draw, no conversion to
    # floats. On the DCGAN's (64, 64, 14, 14) that is 1.0 ms for the bits against 2.2 ms for float32
    # uniforms, and the comparison and the scaling are one pass (np.multiply of a bool mask into x's dtype).
    bits = random.generator().bit_generator.random_raw((x.data.size + 1) // 2).view(np.uint32)[:x.data.size]
    keep = bits.reshape(x.shape) >= np.uint32(min(round(p * 2.0 ** 32), 2 ** 32 - 1))
    mask = np.multiply(keep, x.dtype.type(1 / (1 - p)), dtype=x.dtype)
    return x * Tensor._wrap(mask)


def _check_indices(op, indices, n):
    """An integer array of indices, each in [0, n); a clear error otherwise."""
    data = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer tensor, got {data.dtype} (shape {data.shape})")
    if data.size and (data.min() < 0 or data.max() >= n):
        raise IndexError(f"{op}: indices must lie in [0, {n}), got values from {data.min()} to {data.max()}")
    return data


def embedding(input, weight, padding_idx=None):
    """Rows of weight (num_embeddings, dim) picked by the integer tensor input (*): -> (*, dim).

    Rows read repeatedly get their gradients added. The row at padding_idx gets no gradient.
    """
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    indices = _check_indices("embedding", input, weight.shape[0])
    out = weight[indices]                                                # (*, dim)
    if padding_idx is None:
        return out
    is_padding = Tensor._wrap((indices == padding_idx % weight.shape[0])[..., None])
    return where(is_padding, weight.detach()[indices], out)              # same values, no gradient to that row


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape (*, num_classes): 1 at each index of `tensor` (*), 0 elsewhere. No gradient.
    num_classes=-1 means max(tensor) + 1."""
    data = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if num_classes == -1:
        if data.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(data.max()) + 1
    data = _check_indices("one_hot", data, num_classes)
    return Tensor._wrap((data[..., None] == np.arange(num_classes)).astype(np.int64))
