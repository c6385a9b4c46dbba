"""Convolution layers: Conv2d and ConvTranspose2d (NCHW, PyTorch's weight layouts and default init)."""
import math

import numpy as np

from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter
from ..ops.conv import _pair


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: arguments, parameters, init and repr."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding,
                 groups, bias, padding_mode, weight_shape, dtype):
        super().__init__()
        layer = type(self).__name__
        if groups != 1:
            raise NotImplementedError(f"{layer}: groups={groups} is not supported; only groups=1")
        if padding_mode not in ("zeros", "reflect"):
            raise ValueError(f"{layer}: padding_mode must be 'zeros' or 'reflect', got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(layer, "kernel_size", kernel_size, 1)
        self.stride = _pair(layer, "stride", stride, 1)
        self.padding = _pair(layer, "padding", padding, 0)
        self.dilation = _pair(layer, "dilation", dilation, 1)
        self.output_padding = _pair(layer, "output_padding", output_padding, 0)
        self.groups, self.padding_mode = groups, padding_mode
        dtype = np.float32 if dtype is None else dtype
        self.weight = Parameter(np.empty(weight_shape + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: weight and bias from U(-k, k), k = 1/sqrt(fan_in), fan_in = weight.shape[1] * kh * kw."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over an (N, C_in, H, W) input.

    Args:
        in_channels, out_channels: channels of input and output.
        kernel_size, stride (1), padding (0), dilation (1): an int or an (h, w) pair.
        bias: learn a per-channel bias (default True).
        padding_mode: 'zeros' (default) or 'reflect'.

    Shape: (N, C_in, H, W) -> (N, C_out, Ho, Wo), Ho = (H + 2*padding - dilation*(kh - 1) - 1) // stride + 1.
    Weight: (C_out, C_in, kh, kw).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0, groups, bias,
                         padding_mode, (out_channels, in_channels), dtype)

    def forward(self, input):
        if self.padding_mode == "reflect":
            ph, pw = self.padding
            input = F.pad(input, (pw, pw, ph, ph), mode="reflect")
            return F.conv2d(input, self.weight, self.bias, self.stride, 0, self.dilation)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (the gradient of Conv2d with respect to its input): upsamples by `stride`.

    Args:
        in_channels, out_channels: channels of input and output.
        kernel_size, stride (1), padding (0), output_padding (0), dilation (1): an int or an (h, w) pair.
            output_padding adds rows/columns at the bottom/right (it picks one of the sizes a strided
            Conv2d maps to the same output size).
        bias: learn a per-channel bias (default True).

    Shape: (N, C_in, H, W) -> (N, C_out, Ho, Wo),
        Ho = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1.
    Weight: (C_in, C_out, kh, kw).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d: only padding_mode='zeros' is supported, got {padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, output_padding, groups,
                         bias, padding_mode, (in_channels, out_channels), dtype)

    def forward(self, input):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  1, self.dilation)
