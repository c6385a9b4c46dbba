"""Argument checks shared by the fast backends (kernels/cpu, kernels/cuda), in the words minigrad's ops use.

They look only at shapes and Python values, so they work on NumPy and CuPy arrays alike; each backend
converts its arrays (dtype, contiguity, device) itself.
"""
import numpy as np


def pair(op, name, value, minimum):
    """An int or a pair of ints >= minimum, as a pair."""
    both = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(both) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in both):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return tuple(int(v) for v in both)


def geometry(op, stride, padding, dilation):
    return pair(op, "stride", stride, 1), pair(op, "padding", padding, 0), pair(op, "dilation", dilation, 1)


def ndim(op, name, a, n, layout):
    if a.ndim != n:
        raise ValueError(f"{op}: {name} must be {n}-D {layout}, got shape {a.shape}")


def vector(op, name, a, n, of):
    if a is not None and a.shape != (n,):
        raise ValueError(f"{op}: {name} has shape {a.shape} but {of} has {n} channels, so expected ({n},)")


def conv2d_shapes(x, weight, bias):
    """x (N, C, H, W), weight (O, C, kh, kw), bias (O,) or None."""
    ndim("conv2d", "input", x, 4, "(N, C, H, W)")
    ndim("conv2d", "weight", weight, 4, "(O, C, kh, kw)")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but weight expects {weight.shape[1]} "
                         f"(input {x.shape}, weight {weight.shape})")
    vector("conv2d", "bias", bias, weight.shape[0], "weight")


def conv_transpose2d_shapes(x, weight, bias):
    """x (N, O, H, W), weight (O, C, kh, kw), bias (C,) or None."""
    ndim("conv_transpose2d", "input", x, 4, "(N, O, H, W)")
    ndim("conv_transpose2d", "weight", weight, 4, "(O, C, kh, kw)")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"conv_transpose2d: input has {x.shape[1]} channels but weight expects {weight.shape[0]} "
                         f"(input {x.shape}, weight {weight.shape})")
    vector("conv_transpose2d", "bias", bias, weight.shape[1], "weight's dim 1")


def batch_norm_shapes(x, gamma, beta, running_mean, running_var, training):
    """x (N, C, *); gamma, beta, running_mean, running_var (C,) or None; eval mode needs the running stats."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *), got shape {x.shape}")
    for name, a in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)):
        vector("batch_norm", name, a, x.shape[1], "input")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and running_var")


def batch_norm_backward_shapes(grad_y, x, gamma, mean, invstd, needs):
    """grad_y and x one (N, C, *) shape, the per-channel vectors (C,); returns `needs` as 3 bools."""
    if x.ndim < 2 or grad_y.shape != x.shape:
        raise ValueError(f"batch_norm_backward: grad_y {grad_y.shape} and input {x.shape} must share one "
                         "(N, C, *) shape")
    for name, a in (("gamma", gamma), ("mean", mean), ("invstd", invstd)):
        vector("batch_norm_backward", name, a, x.shape[1], "input")
    needs = tuple(bool(n) for n in needs)
    if len(needs) != 3:
        raise ValueError(f"batch_norm_backward: needs must be 3 bools (x, gamma, beta), got {needs}")
    return needs


def pool_geometry(x, kernel_size, stride, padding):
    """max_pool2d's (kernel, stride, padding) as pairs, checked against x (N, C, H, W)."""
    ndim("max_pool2d", "x", x, 4, "(N, C, H, W)")
    kernel, stride, padding = (pair("max_pool2d", "kernel_size", kernel_size, 1), pair("max_pool2d", "stride", stride, 1),
                               pair("max_pool2d", "padding", padding, 0))
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"max_pool2d: padding {padding} must be at most half of kernel_size {kernel}")
    if any(n + 2 * p < k for n, p, k in zip(x.shape[2:], padding, kernel)):
        raise ValueError(f"max_pool2d: kernel_size {kernel} is larger than the padded input (input {x.shape}, "
                         f"padding {padding})")
    return kernel, stride, padding


def reflection_padding(op, a, padding, name="x"):
    """reflection_pad2d's padding (left, right, top, bottom) as 4 ints, checked against the unpadded
    image: `a` is x (N, C, H, W), or for the backward grad_y, which is larger by the widths."""
    ndim(op, name, a, 4, "(N, C, H, W)")
    widths = tuple(padding)
    if len(widths) != 4 or not all(isinstance(p, (int, np.integer)) and p >= 0 for p in widths):
        raise ValueError(f"{op}: padding must be 4 ints >= 0 (left, right, top, bottom), got {padding!r}")
    left, right, top, bottom = (int(p) for p in widths)
    H, W = a.shape[2:]
    if name != "x":
        H, W = H - top - bottom, W - left - right
    if max(top, bottom) >= H or max(left, right) >= W:
        raise ValueError(f"{op}: padding (left, right, top, bottom) = {widths} must be smaller than the image's "
                         f"{H} x {W} in each dim ({name} {a.shape})")
    return left, right, top, bottom
