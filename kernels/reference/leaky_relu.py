"""Leaky ReLU, the NumPy reference.

    y = x                  if x > 0
        negative_slope * x otherwise
    dy/dx = 1 if x > 0 else negative_slope       (at x = 0 we take the slope branch, like PyTorch)
"""
import numpy as np


def leaky_relu(x, negative_slope):
    return np.where(x > 0, x, x * np.asarray(negative_slope, dtype=x.dtype))


def leaky_relu_backward(grad_y, x, negative_slope):
    return np.where(x > 0, grad_y, grad_y * np.asarray(negative_slope, dtype=grad_y.dtype))
