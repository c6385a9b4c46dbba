"""Pooling and nearest-neighbour resizing of NCHW images.

    avg_pool2d   a convolution of every channel with a constant kh×kw kernel of 1/(kh*kw)
    max_pool2d   pick, in every window, the pixel holding the largest value
    interpolate  pick, for every output pixel, the nearest input pixel

max_pool2d and interpolate both *gather* pixels by a fixed index (max_pool2d's from the kernel layer,
kernels.max_pool2d); the gradient of a gather is a *scatter-add* of the gradient to the same index,
and the gradient of that scatter is the gather again, so GatherPixels and ScatterPixels below make
both ops twice differentiable.
"""
import numpy as np

import kernels

from .. import device as _device
from ..autograd import Function
from ..tensor import Tensor
from .common import as_tensor
from .conv import _pair, conv2d


class GatherPixels(Function):
    @staticmethod
    def forward(ctx, x, index, unique=False):
        # x (N, C, H, W); index (N or 1, C or 1, Ho, Wo) of flat positions h*W + w -> (N, C, Ho, Wo);
        # unique: no position read twice within an image (passed on to the scatter, which then needs no adds)
        ctx.index, ctx.size, ctx.unique = index, x.shape[2:], unique
        N, C, H, W = x.shape
        flat = x.data.reshape(N, C, H * W)
        xp = _device.array_module(flat)                                     # NumPy, or CuPy for a CUDA tensor
        out = xp.take_along_axis(flat, index.reshape(index.shape[0], index.shape[1], -1), axis=2)   # (N, C, Ho*Wo)
        return out.reshape((N, C) + index.shape[2:])

    # y = x[index]:  dx = zeros with g added at index (twice where two outputs read one pixel)
    @staticmethod
    def backward(ctx, grad):
        return ScatterPixels.apply(grad, ctx.index, ctx.size, ctx.unique), None, None


class ScatterPixels(Function):
    @staticmethod
    def forward(ctx, g, index, size, unique=False):
        # g (N, C, Ho, Wo) added into zeros (N, C, H, W) at the flat positions index
        ctx.index, ctx.unique = index, unique
        N, C = g.shape[:2]
        H, W = size
        xp = _device.array_module(g.data)
        image_start = xp.arange(N * C).reshape(N, C, 1, 1) * (H * W)         # where image (n, c) starts, flattened
        positions = xp.broadcast_to(image_start + index, g.shape)            # (N, C, Ho, Wo) positions in the output
        if unique:      # each position at most once (max pooling's windows do not overlap): a plain store,
            out = xp.zeros(N * C * H * W, dtype=g.dtype)         # 3x faster than bincount (6.8 / 19.5 ms, 64x256x256)
            out[positions.ravel()] = g.data.ravel()
        else:
            out = xp.bincount(positions.ravel(), weights=g.data.ravel(), minlength=N * C * H * W)   # adds repeats
        return out.astype(g.dtype, copy=False).reshape(N, C, H, W)

    # a scatter-add is linear, and its adjoint is the gather: dg = grad[index]
    @staticmethod
    def backward(ctx, grad):
        return GatherPixels.apply(grad, ctx.index, ctx.unique), None, None, None


def _pool_arguments(op, x, kernel_size, stride, padding):
    """Check a pooling call; -> (kernel, stride, padding, (Ho, Wo))."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    kernel = _pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")
    out = tuple((n + 2 * p - k) // s + 1 for n, p, k, s in zip(x.shape[2:], padding, kernel, stride))
    if min(out) < 1:
        raise ValueError(f"{op}: kernel_size {kernel} is larger than the padded input "
                         f"{tuple(n + 2 * p for n, p in zip(x.shape[2:], padding))} (input {x.shape})")
    return kernel, stride, padding, out


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """Mean of every kh×kw window (zero padding counts, like PyTorch's default) -> (N, C, Ho, Wo).

    Ho = (H + 2*padding - kh) // stride + 1; stride defaults to kernel_size.
    """
    x = as_tensor(input)
    kernel, stride, padding, (Ho, Wo) = _pool_arguments("avg_pool2d", x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    weight = Tensor._wrap(np.full((1, 1) + kernel, 1 / (kernel[0] * kernel[1]), dtype=x.dtype))   # (1, 1, kh, kw)
    y = conv2d(x.reshape(N * C, 1, H, W), weight, None, stride, padding)  # every channel as its own image
    return y.reshape(N, C, Ho, Wo)


class MaxPool(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        y, index = kernels.max_pool2d(x.data, kernel, stride, padding)   # index: h*W + w of each maximum
        ctx.index, ctx.size = index, x.shape[2:]
        ctx.unique = all(s >= k for s, k in zip(stride, kernel))          # windows apart: no pixel won twice
        return y

    # y = x[index]:  dx = zeros with g added at index (where windows overlap, one pixel can get several)
    @staticmethod
    def backward(ctx, grad):
        return ScatterPixels.apply(grad, ctx.index, ctx.size, ctx.unique), None, None, None


def max_pool2d(input, kernel_size, stride=None, padding=0):
    """Maximum of every kh×kw window -> (N, C, Ho, Wo); the gradient goes to the maximum's pixel.

    Ho = (H + 2*padding - kh) // stride + 1; stride defaults to kernel_size. The maximum and where it
    is come from the kernel layer (kernels.max_pool2d); the backward is the scatter above, whose own
    backward is the gather, so max pooling differentiates twice.
    """
    x = as_tensor(input)
    kernel, stride, padding, _ = _pool_arguments("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool.apply(x, kernel, stride, padding)


def interpolate(input, size=None, scale_factor=None, mode="nearest"):
    """Resize input (N, C, H, W) to `size`, or by the integer `scale_factor`, taking the nearest pixel.

    Output pixel (ho, wo) reads input pixel (floor(ho * H / Ho), floor(wo * W / Wo)), like PyTorch's 'nearest'.
    """
    x = as_tensor(input)
    if mode != "nearest":
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; only 'nearest'")
    if x.ndim != 4:
        raise ValueError(f"interpolate: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"interpolate: give exactly one of size and scale_factor, got size={size!r}, "
                         f"scale_factor={scale_factor!r}")
    if size is not None:
        out = _pair("interpolate", "size", size, 1)
    else:
        def whole(v):                                # 2.0 -> 2, so nn.Upsample's floats are accepted
            return int(v) if isinstance(v, float) and v.is_integer() else v

        scale_factor = tuple(map(whole, scale_factor)) if isinstance(scale_factor, (tuple, list)) else whole(scale_factor)
        scale = _pair("interpolate", "scale_factor (an integer here)", scale_factor, 1)
        out = (x.shape[2] * scale[0], x.shape[3] * scale[1])
    (H, W), (Ho, Wo) = x.shape[2:], out
    rows = np.arange(Ho) * H // Ho                                        # (Ho,) nearest input row
    cols = np.arange(Wo) * W // Wo                                        # (Wo,) nearest input column
    index = (rows.reshape(Ho, 1) * W + cols).reshape(1, 1, Ho, Wo)        # flat positions, the same for every image
    return GatherPixels.apply(x, _device.asarray(index, device=x.device))  # on x's device, as the gather needs
