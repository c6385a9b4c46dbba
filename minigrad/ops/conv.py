"""2-D convolution and transposed convolution (NCHW, PyTorch's weight layouts), through `kernels`.

Three Functions, each the others' derivative, so the family is closed under differentiation and
second derivatives (WGAN-GP's gradient penalty through a conv net) come for free:

    y  = conv2d(x, w)            dx = conv_transpose2d(g, w)     dw = conv2d_weight(x, g)
    z  = conv_transpose2d(x, w)  dx = conv2d(g, w)               dw = conv2d_weight(g, x)
    gw = conv2d_weight(x, gy)    dx = conv_transpose2d(gy, h)    dgy = conv2d(x, h)

(g is the incoming gradient; conv2d_weight is linear in each of its two inputs, and h is its incoming
gradient, shaped like a weight.) The bias gradient is the incoming gradient summed over (N, H, W).
"""
import numpy as np

import kernels

from ..autograd import Function
from .common import as_tensor


def _c(t):
    """The C-contiguous array of a Tensor (or None): every kernel backend may rely on it."""
    return None if t is None else np.ascontiguousarray(t.data)


def _output_padding(size, out_size, kernel_size, stride, padding, dilation):
    """The output_padding that makes conv_transpose2d of an `out_size` image come back at `size`."""
    return tuple(n - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
                 for n, o, k, s, p, d in zip(size, out_size, kernel_size, stride, padding, dilation))


def _crop(t, size):
    """The top-left `size` of t's (H, W): only needed when output_padding >= stride (see ConvTranspose2d)."""
    return t if t.shape[2:] == tuple(size) else Crop.apply(t, tuple(size))


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.config = stride, padding, dilation
        return kernels.conv2d(_c(x), _c(weight), _c(bias), stride, padding, dilation)

    # y = w ⋆ x + b:  dx = conv_transpose2d(g, w),  dw = conv2d_weight(x, g),  db = sum of g over (N, Ho, Wo)
    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.config
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x:
            output_padding = _output_padding(x.shape[2:], grad.shape[2:], weight.shape[2:], stride, padding, dilation)
            grad_x = ConvTranspose2d.apply(grad, weight, None, stride, padding, output_padding, dilation)
        if need_w:
            grad_w = Conv2dWeight.apply(x, grad, weight.shape, stride, padding, dilation)
        if need_b:
            grad_b = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


class ConvTranspose2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.config = stride, padding, dilation
        return kernels.conv_transpose2d(_c(x), _c(weight), _c(bias), stride, padding, output_padding, dilation)

    # z = wᵀ x + b (conv2d's adjoint):  dx = conv2d(g, w),  dw = conv2d_weight(g, x),  db = sum of g over (N, H, W)
    # (with output_padding >= stride, conv2d(g, w) has extra rows/columns no input pixel reached: crop them)
    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.config
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = _crop(Conv2d.apply(grad, weight, None, stride, padding, dilation), x.shape[2:])
        if need_w:
            grad_w = Conv2dWeight.apply(grad, x, weight.shape, stride, padding, dilation)
        if need_b:
            grad_b = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None


class Conv2dWeight(Function):
    """conv2d's weight gradient as an op of its own, so that it can be differentiated again."""

    @staticmethod
    def forward(ctx, x, grad_y, weight_shape, stride, padding, dilation):
        ctx.save_for_backward(x, grad_y)
        ctx.config = weight_shape, stride, padding, dilation
        return kernels.conv2d_weight(_c(x), _c(grad_y), weight_shape, stride, padding, dilation)

    # gw = conv2d_weight(x, gy) is linear in x and in gy:  dx = conv_transpose2d(gy, h),  dgy = conv2d(x, h)
    @staticmethod
    def backward(ctx, grad):
        x, grad_y = ctx.saved_tensors
        weight_shape, stride, padding, dilation = ctx.config
        need_x, need_gy = ctx.needs_input_grad[:2]
        grad_x = grad_gy = None
        if need_x:
            output_padding = _output_padding(x.shape[2:], grad_y.shape[2:], weight_shape[2:], stride, padding, dilation)
            grad_x = ConvTranspose2d.apply(grad_y, grad, None, stride, padding, output_padding, dilation)
        if need_gy:
            grad_gy = _crop(Conv2d.apply(x, grad, None, stride, padding, dilation), grad_y.shape[2:])
        return grad_x, grad_gy, None, None, None, None


class Crop(Function):
    @staticmethod
    def forward(ctx, a, size):
        ctx.size = a.shape[2:]
        return a.data[:, :, :size[0], :size[1]]

    # cropping keeps some values: their gradient passes, the dropped ones get zero
    @staticmethod
    def backward(ctx, grad):
        return ZeroExtend.apply(grad, ctx.size), None


class ZeroExtend(Function):
    @staticmethod
    def forward(ctx, a, size):
        ctx.size = a.shape[2:]
        out = np.zeros(a.shape[:2] + tuple(size), dtype=a.dtype)
        out[:, :, :ctx.size[0], :ctx.size[1]] = a.data
        return out

    # the added zeros are constants: only the original values get a gradient
    @staticmethod
    def backward(ctx, grad):
        return Crop.apply(grad, ctx.size), None


# ----------------------------------------------------------------------------- public functions

def _pair(op, name, value, minimum):
    """(int, int) from an int or a pair of ints, each >= minimum; a clear error otherwise."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    pair = (value, value) if is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(is_int(v) for v in pair):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in pair)


def _check_operands(op, input, weight, bias, groups, in_channels_axis, bias_channels_axis):
    """Tensors for input, weight, bias, after checking ranks, dtypes, groups, channels and the bias shape."""
    input, weight = as_tensor(input), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    shapes = f"(input {input.shape}, weight {weight.shape})"
    if groups != 1:
        raise NotImplementedError(f"{op}: groups={groups} is not supported; only groups=1 {shapes}")
    if input.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {input.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight, got shape {weight.shape}")
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: {name} must be float32 or float64, got {t.dtype}")
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"{op}: {name} is {t.dtype} but input is {input.dtype} {shapes}")
    channels = weight.shape[in_channels_axis]
    if input.shape[1] != channels:
        raise ValueError(f"{op}: input has {input.shape[1]} channels but weight expects {channels} {shapes}")
    out_channels = weight.shape[bias_channels_axis]
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape} {shapes}")
    return input, weight, bias


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution: input (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> (N, O, Ho, Wo).

    Ho = (H + 2*padding - dilation*(kh - 1) - 1) // stride + 1   (likewise Wo).
    """
    input, weight, bias = _check_operands("conv2d", input, weight, bias, groups, 1, 0)
    stride = _pair("conv2d", "stride", stride, 1)
    padding = _pair("conv2d", "padding", padding, 0)
    dilation = _pair("conv2d", "dilation", dilation, 1)
    padded = tuple(n + 2 * p for n, p in zip(input.shape[2:], padding))
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:]))
    if any(s > n for s, n in zip(span, padded)):
        raise ValueError(f"conv2d: kernel size {span} (after dilation {dilation}) is larger than the padded input "
                         f"{padded} (input {input.shape}, weight {weight.shape}, padding {padding})")
    return Conv2d.apply(input, weight, bias, stride, padding, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution: input (N, O, H, W), weight (O, C, kh, kw), bias (C,) -> (N, C, Ho, Wo).

    Ho = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1   (likewise Wo).
    """
    input, weight, bias = _check_operands("conv_transpose2d", input, weight, bias, groups, 0, 1)
    stride = _pair("conv_transpose2d", "stride", stride, 1)
    padding = _pair("conv_transpose2d", "padding", padding, 0)
    output_padding = _pair("conv_transpose2d", "output_padding", output_padding, 0)
    dilation = _pair("conv_transpose2d", "dilation", dilation, 1)
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller than either "
                         f"stride {stride} or dilation {dilation}")
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
                zip(input.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding))
    if min(out) < 1:
        raise ValueError(f"conv_transpose2d: the output would have size {out}; padding {padding} is too large "
                         f"(input {input.shape}, weight {weight.shape})")
    return ConvTranspose2d.apply(input, weight, bias, stride, padding, output_padding, dilation)


def conv2d_weight(input, grad_output, weight_shape, stride=1, padding=0, dilation=1):
    """d conv2d / d weight for the output gradient grad_output (N, O, Ho, Wo) -> (O, C, kh, kw); differentiable."""
    input, grad_output = as_tensor(input), as_tensor(grad_output)
    return Conv2dWeight.apply(input, grad_output, tuple(weight_shape), _pair("conv2d_weight", "stride", stride, 1),
                              _pair("conv2d_weight", "padding", padding, 0),
                              _pair("conv2d_weight", "dilation", dilation, 1))

