"""Adam's update of one parameter, in place: the inner loop of minigrad.optim.Adam (PyTorch's order).

    g              = grad + weight_decay * param                       (L2 penalty, not AdamW's)
    exp_avg        = lerp(exp_avg, g, 1 - beta1)                        m = beta1 m + (1 - beta1) g
    exp_avg_sq     = beta2 * exp_avg_sq + (1 - beta2) * g * g           v
    max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)                    (amsgrad, when given; used below)
    param          = param - lr / (1 - beta1**step) * m / (sqrt(v) / sqrt(1 - beta2**step) + eps)

The fast backends fuse it into one pass over the five arrays; written out, NumPy makes about ten.
"""
import numpy as np


def lerp_(start, end, weight):
    """start += weight * (end - start), in place, rounded the way torch.lerp_ rounds.

    For weight < 0.5 the step from `start` is the accurate form, otherwise the step back from `end`.
    """
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
    return start


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    """Updates param, exp_avg, exp_avg_sq (and max_exp_avg_sq unless None) in place; step counts from 1."""
    if weight_decay != 0:
        grad = grad + weight_decay * param
    lerp_(exp_avg, grad, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    v = exp_avg_sq
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    denom = np.sqrt(v) / (1 - beta2 ** step) ** 0.5 + eps
    param -= (lr / (1 - beta1 ** step)) * exp_avg / denom
