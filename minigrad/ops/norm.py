"""Normalisation: batch_norm (through `kernels`), instance_norm (batch norm of each sample) and layer_norm.

All three compute x̂ = (x - mean) / sqrt(var + eps) and y = weight * x̂ + bias; they differ in which
values share a mean: batch norm per channel over (N, H, W), instance norm per (sample, channel) over
(H, W), layer norm per sample over the trailing `normalized_shape` axes.
"""
import numpy as np

import kernels

from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from .common import as_tensor


def _c(t):
    return None if t is None else np.ascontiguousarray(t.data)


def _channel_axes(x):
    """The axes a channel's statistics run over, and the shape that broadcasts a (C,) tensor against x."""
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        # running_mean / running_var are arrays (or None) that the kernel updates in place
        y, mean, invstd = kernels.batch_norm(_c(x), _c(weight), _c(bias), running_mean, running_var,
                                             training, momentum, eps)
        ctx.save_for_backward(x, weight)
        ctx.mean, ctx.invstd, ctx.training, ctx.eps = mean, invstd, training, eps
        return y

    # y = w x̂ + b:  db = Σg,  dw = Σ g x̂,  dx = w·invstd·(g - mean(g) - x̂·mean(g x̂))   (eval: dx = w·invstd·g)
    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        needs = tuple(ctx.needs_input_grad[:3])
        if is_grad_enabled():                       # create_graph=True: build the gradient from Tensor ops
            grads = _batch_norm_backward_ops(ctx, grad, x, weight, needs)
        else:
            grads = kernels.batch_norm_backward(_c(grad), _c(x), _c(weight), ctx.mean, ctx.invstd, ctx.training, needs)
            grads = tuple(None if g is None else Tensor._wrap(g) for g in grads)
        return grads + (None,) * 5


def _batch_norm_backward_ops(ctx, grad, x, weight, needs):
    """The same formulas as kernels.batch_norm_backward, recorded as a graph so they can be differentiated."""
    axes, shape = _channel_axes(x)
    if ctx.training:                                # mean and invstd are functions of x: recompute them as ops
        centered = x - x.mean(axes, keepdim=True)
        invstd = 1 / ((centered * centered).mean(axes, keepdim=True) + ctx.eps).sqrt()
    else:                                           # running statistics: constants
        centered = x - Tensor._wrap(ctx.mean.reshape(shape))
        invstd = Tensor._wrap(ctx.invstd.reshape(shape))
    x_hat = centered * invstd
    scale = invstd if weight is None else weight.reshape(shape) * invstd
    grad_x = grad_w = grad_b = None
    if needs[0]:
        if ctx.training:
            grad_x = scale * (grad - grad.mean(axes, keepdim=True) - x_hat * (grad * x_hat).mean(axes, keepdim=True))
        else:
            grad_x = scale * grad
    if needs[1]:
        grad_w = (grad * x_hat).sum(axes)
    if needs[2]:
        grad_b = grad.sum(axes)
    return grad_x, grad_w, grad_b


def _check_per_channel(op, name, t, x):
    if t is None:
        return None
    t = as_tensor(t)
    if t.shape != (x.shape[1],):
        raise ValueError(f"{op}: {name} must have shape ({x.shape[1]},) for an input of shape {x.shape}, got {t.shape}")
    if t.dtype != x.dtype:
        raise TypeError(f"{op}: {name} is {t.dtype} but input is {x.dtype}")
    return t


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel of input (N, C, *) by batch statistics (training) or running ones (eval).

    running_mean / running_var: (C,) Tensors updated in place when training, or None.
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *), got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"batch_norm: input must be float32 or float64, got {x.dtype}")
    running_mean = _check_per_channel("batch_norm", "running_mean", running_mean, x)
    running_var = _check_per_channel("batch_norm", "running_var", running_var, x)
    weight = _check_per_channel("batch_norm", "weight", weight, x)
    bias = _check_per_channel("batch_norm", "bias", bias, x)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    if training and x.numel() // max(x.shape[1], 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    return BatchNorm.apply(x, weight, bias,
                           None if running_mean is None else running_mean.data,
                           None if running_var is None else running_var.data,
                           bool(training), float(momentum), float(eps))


class InstanceNorm(Function):
    """Batch norm of x viewed as (1, N*C, *): each (sample, channel) gets its own statistics, and the
    per-channel weight and bias are tiled over the samples. One op, where reshape -> batch_norm ->
    reshape was three forward and two more in backward (the CycleGAN demo step runs 78 of these)."""

    @staticmethod
    def forward(ctx, x, weight, bias, tiled_mean, tiled_var, use_input_stats, momentum, eps):
        N, C = x.shape[:2]
        flat = _c(x).reshape((1, N * C) + x.shape[2:])
        y, mean, invstd = kernels.batch_norm(flat, _tiled(weight, N), _tiled(bias, N), tiled_mean, tiled_var,
                                             use_input_stats, momentum, eps)
        ctx.save_for_backward(x, weight)
        ctx.mean, ctx.invstd, ctx.training, ctx.eps = mean, invstd, use_input_stats, eps
        return y.reshape(x.shape)

    # batch norm's gradients on the (1, N*C, *) view; weight's and bias's summed back over the samples
    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        N, C = x.shape[:2]
        flat = (1, N * C) + x.shape[2:]
        needs = tuple(ctx.needs_input_grad[:3])
        if is_grad_enabled():                       # create_graph=True: the same, recorded as Tensor ops
            per_instance = None if weight is None else weight.reshape(1, C).expand(N, C).reshape(N * C)
            grads = _batch_norm_backward_ops(ctx, grad.reshape(flat), x.reshape(flat), per_instance, needs)
        else:
            grads = kernels.batch_norm_backward(_c(grad).reshape(flat), _c(x).reshape(flat), _tiled(weight, N),
                                                ctx.mean, ctx.invstd, ctx.training, needs)
            grads = tuple(None if g is None else Tensor._wrap(g) for g in grads)
        grad_x, grad_w, grad_b = grads
        grad_x = None if grad_x is None else grad_x.reshape(x.shape)
        grad_w = None if grad_w is None else grad_w.reshape(N, C).sum(0)
        grad_b = None if grad_b is None else grad_b.reshape(N, C).sum(0)
        return (grad_x, grad_w, grad_b) + (None,) * 5


def _tiled(t, n):
    """A (C,) Tensor's values repeated for n samples, (n*C,), as an array; None stays None."""
    return None if t is None else np.tile(_c(t), n)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) of input (N, C, *) over its own values: batch norm of (1, N*C, *)."""
    x = as_tensor(input)
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, *) with spatial axes, got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"instance_norm: input must be float32 or float64, got {x.dtype}")
    N, C = x.shape[:2]
    running_mean = _check_per_channel("instance_norm", "running_mean", running_mean, x)
    running_var = _check_per_channel("instance_norm", "running_var", running_var, x)
    weight = _check_per_channel("instance_norm", "weight", weight, x)
    bias = _check_per_channel("instance_norm", "bias", bias, x)
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ValueError("instance_norm: running_mean and running_var are required when use_input_stats=False")
    if use_input_stats and x.numel() // max(N * C, 1) <= 1:
        raise ValueError(f"instance_norm: expected more than 1 value per (sample, channel) when using input "
                         f"statistics, got input of shape {x.shape}")
    tiled_mean = None if running_mean is None else _tiled(running_mean, N)
    tiled_var = None if running_var is None else _tiled(running_var, N)
    y = InstanceNorm.apply(x, weight, bias, tiled_mean, tiled_var, bool(use_input_stats), float(momentum),
                           float(eps))
    if use_input_stats:                             # the running update is linear: average it over the samples
        for running, tiled in ((running_mean, tiled_mean), (running_var, tiled_var)):
            if running is not None:
                running.data[...] = tiled.reshape(N, C).mean(axis=0)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` axes of input; weight and bias have that shape."""
    x = as_tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if len(shape) == 0 or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} must match the last axes of the input, "
                         f"got input of shape {x.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and as_tensor(t).shape != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got {as_tensor(t).shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - x.mean(axes, keepdim=True)
    variance = (centered * centered).mean(axes, keepdim=True)
    y = centered / (variance + eps).sqrt()                                # x̂ = (x - mean) / sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
