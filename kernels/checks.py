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
