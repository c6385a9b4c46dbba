"""Batch normalisation, the NumPy reference, for x of shape (N, C, *) (per channel c, over N and *).

Forward:   x̂ = (x - mean) * invstd,  invstd = 1 / sqrt(var + eps),  y = gamma * x̂ + beta
    training: mean and (biased) var of the batch; running stats updated with the unbiased var:
              running = (1 - momentum) * running + momentum * batch
    eval:     mean and var are the running stats (constants).

Backward, with m = N * prod(*) values per channel and sums over those values:
    grad_beta  = sum(g)
    grad_gamma = sum(g * x̂)
    grad_x     = gamma * invstd * (g - sum(g)/m - x̂ * sum(g * x̂)/m)     training (mean, var depend on x)
               = gamma * invstd * g                                     eval
"""
import numpy as np


def _axes_and_shape(x):
    """The axes a channel's statistics run over, and the shape that broadcasts a (C,) array against x."""
    axes = (0,) + tuple(range(2, x.ndim))                                 # every axis but the channel axis
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)                         # (1, C, 1, ...)
    return axes, shape


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    """-> (y, mean, invstd); y like x, mean and invstd (C,). gamma/beta None mean 1 and 0."""
    axes, shape = _axes_and_shape(x)
    if training:
        mean = x.mean(axis=axes)                                          # (C,)
        var = x.var(axis=axes)                                            # (C,), biased: divides by m
        m = x.size // x.shape[1]
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * (m / max(m - 1, 1))           # unbiased: divides by m - 1
    else:
        mean, var = running_mean.copy(), running_var                      # a copy: running_mean may change later
    invstd = (1 / np.sqrt(var + eps)).astype(x.dtype)                     # (C,)
    y = (x - mean.reshape(shape)) * invstd.reshape(shape)                 # x̂
    if gamma is not None:
        y *= gamma.reshape(shape)
    if beta is not None:
        y += beta.reshape(shape)
    return y, mean.astype(x.dtype, copy=False), invstd


def batch_norm_backward(grad_y, x, gamma, mean, invstd, training, needs):
    """-> (grad_x, grad_gamma, grad_beta), each None where needs[i] is False."""
    axes, shape = _axes_and_shape(x)
    need_x, need_gamma, need_beta = needs
    x_hat = (x - mean.reshape(shape)) * invstd.reshape(shape)             # like x
    sum_g = grad_y.sum(axis=axes)                                         # (C,)
    sum_g_xhat = (grad_y * x_hat).sum(axis=axes)                          # (C,)
    grad_x = None
    if need_x:
        scale = invstd if gamma is None else gamma * invstd               # (C,)
        if training:
            m = x.size // x.shape[1]
            grad_x = grad_y - (sum_g / m).reshape(shape) - x_hat * (sum_g_xhat / m).reshape(shape)
            grad_x *= scale.reshape(shape)
        else:
            grad_x = grad_y * scale.reshape(shape)
    return (grad_x,
            sum_g_xhat if need_gamma else None,
            sum_g if need_beta else None)
