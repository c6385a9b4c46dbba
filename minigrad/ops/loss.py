"""Loss functions: binary_cross_entropy (+ with_logits), mse_loss, l1_loss, cross_entropy, nll_loss.

Each computes a loss per element (or per sample) and then reduces it: reduction='mean' (the
default), 'sum', or 'none' (the unreduced losses). The two binary cross entropies are Functions,
for numerical care at the edges; the rest are written with other ops.
"""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from .activation import log_softmax, softplus
from .common import as_tensor
from .elementwise import clamp, log, sigmoid

REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss                                                          # 'none' (checked in _check)


def _check(op, input, target, reduction, same_shape=True):
    """input and target as float Tensors of one dtype and one shape; a clear error otherwise."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    input = as_tensor(input)
    target = as_tensor(target, like=input)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating point tensor, got {input.dtype}")
    if target.dtype != input.dtype:
        if target.dtype.kind == "f":
            raise TypeError(f"{op}: target is {target.dtype} but input is {input.dtype}; convert one of them")
        target = Tensor._wrap(target.data.astype(input.dtype))          # 0/1 integer labels are fine
    if same_shape and target.shape != input.shape:
        raise ValueError(f"{op}: target shape {target.shape} must be the same as input shape {input.shape}")
    return input, target


# ----------------------------------------------------------------------------- binary cross entropy

class BinaryCrossEntropy(Function):
    @staticmethod
    def forward(ctx, p, t):
        ctx.save_for_backward(p, t)
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p.data), -100)                    # log(0) = -inf is clamped, like PyTorch
            log_1mp = np.maximum(np.log1p(-p.data), -100)
        return -(t.data * log_p + (1 - t.data) * log_1mp)

    # d/dp = (p - t) / (p (1 - p))  (denominator kept >= 1e-12);  d/dt = log(1 - p) - log(p)
    @staticmethod
    def backward(ctx, grad):
        p, t = ctx.saved_tensors
        grad_p = grad_t = None
        if ctx.needs_input_grad[0]:
            grad_p = grad * (p - t) / clamp(p * (1 - p), min=1e-12)
        if ctx.needs_input_grad[1]:
            grad_t = grad * (clamp(log(1 - p), min=-100) - clamp(log(p), min=-100))
        return grad_p, grad_t


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) for probabilities p = input in [0, 1]; each log is clamped at -100.

    weight (broadcastable to input) rescales each element's loss.
    """
    p, t = _check("binary_cross_entropy", input, target, reduction)
    if p.numel() and (p.data.min() < 0 or p.data.max() > 1):
        raise ValueError(f"binary_cross_entropy: input must hold probabilities in [0, 1], got values from "
                         f"{p.data.min():.4g} to {p.data.max():.4g}; for logits use binary_cross_entropy_with_logits")
    if t.numel() and not (t.data.min() >= 0 and t.data.max() <= 1):               # NaN fails too
        raise ValueError(f"binary_cross_entropy: target must hold probabilities in [0, 1], got values from "
                         f"{t.data.min():.4g} to {t.data.max():.4g} (shape {t.shape}); outside [0, 1] the loss "
                         "can be negative")
    loss = BinaryCrossEntropy.apply(p, t)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


class BinaryCrossEntropyWithLogits(Function):
    @staticmethod
    def forward(ctx, x, t):
        ctx.save_for_backward(x, t)
        a = x.data
        return np.maximum(a, 0) - a * t.data + np.log1p(np.exp(-np.abs(a)))   # exp never overflows

    # loss = max(x, 0) - x t + log(1 + exp(-|x|)) = softplus(x) - x t:  d/dx = sigmoid(x) - t,  d/dt = -x
    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved_tensors
        grad_x = grad * (sigmoid(x) - t) if ctx.needs_input_grad[0] else None
        grad_t = -grad * x if ctx.needs_input_grad[1] else None
        return grad_x, grad_t


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(x), t) without ever forming sigmoid(x): finite for any logit.

    pos_weight (broadcastable to input, typically (C,)) weighs the positive term:
    loss = (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x).
    """
    x, t = _check("binary_cross_entropy_with_logits", input, target, reduction)
    if pos_weight is None:
        loss = BinaryCrossEntropyWithLogits.apply(x, t)
    else:
        loss = (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- regression losses

def mse_loss(input, target, reduction="mean"):
    """(input - target)^2 per element."""
    x, t = _check("mse_loss", input, target, reduction)
    diff = x - t
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target| per element."""
    x, t = _check("l1_loss", input, target, reduction)
    return _reduce((x - t).abs(), reduction)


# ----------------------------------------------------------------------------- classification losses

def _class_targets(op, input, target):
    """Check class-index targets: input (N, C) or (N, C, d1, ...), target (N,) or (N, d1, ...) in [0, C)."""
    data = target.data if isinstance(target, Tensor) else np.asarray(target)
    if input.ndim < 1:
        raise ValueError(f"{op}: expected input of shape (N, C) or (N, C, d1, ...), got a 0-d tensor")
    expected = (input.shape[:1] + input.shape[2:]) if input.ndim >= 2 else ()
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold class indices (an integer tensor), got {data.dtype}")
    if data.shape != expected:
        raise ValueError(f"{op}: target shape {data.shape} does not match input shape {input.shape}; "
                         f"expected {expected} (input without its class axis 1)")
    C = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if data.size and (data.min() < 0 or data.max() >= C):
        raise IndexError(f"{op}: target holds class indices from {data.min()} to {data.max()}, "
                         f"but the input has {C} classes")
    return data


def _classes_last(x):
    """(N, C, d1, ...) -> (N * d1 * ..., C); (C,) -> (1, C)."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim > 2:
        x = x.permute(0, *range(2, x.ndim), 1)                           # (N, d1, ..., C)
    return x.reshape(-1, x.shape[-1])


def _weighted_mean_or_sum(loss, picked_weight, reduction):
    """'mean' with class weights divides by the total weight of the targets, like PyTorch."""
    if reduction == "mean" and picked_weight is not None:
        return loss.sum() / picked_weight.sum()
    return _reduce(loss, reduction)


def nll_loss(input, target, weight=None, reduction="mean"):
    """Negative log likelihood: -input[n, target[n]] * weight[target[n]], for log-probabilities input (N, C, *)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"nll_loss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    logp = as_tensor(input)
    classes = _class_targets("nll_loss", logp, target)
    flat, rows = _classes_last(logp), classes.reshape(-1)
    loss = -flat[np.arange(rows.size), rows]                             # (M,)
    picked_weight = None
    if weight is not None:
        picked_weight = as_tensor(weight, like=logp)[rows]
        loss = loss * picked_weight
    return _weighted_mean_or_sum(loss.reshape(classes.shape), picked_weight, reduction)


def cross_entropy(input, target, weight=None, reduction="mean", label_smoothing=0.0):
    """nll_loss(log_softmax(input, 1), target) for logits input (N, C, *) and class indices target (N, *).

    With label_smoothing s the target is the mixture (1 - s) one_hot + s / C (uniform).
    A float target of input's shape is taken as class probabilities instead.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = as_tensor(input)
    if logits.dtype.kind != "f":
        raise TypeError(f"cross_entropy: input must hold float logits, got {logits.dtype}")
    class_dim = 1 if logits.ndim >= 2 else 0
    logp = log_softmax(logits, class_dim)
    C = logits.shape[class_dim]
    w = None if weight is None else as_tensor(weight, like=logits)
    if w is not None and w.shape != (C,):
        raise ValueError(f"cross_entropy: weight must have shape ({C},), got {w.shape}")
    w_b = None if w is None else w.reshape((C,) + (1,) * (logits.ndim - class_dim - 1))   # broadcasts on the class axis

    target_data = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target_data.dtype.kind == "f":                                    # class probabilities
        if target_data.shape != logits.shape:
            raise ValueError(f"cross_entropy: probability targets must have the input's shape {logits.shape}, "
                             f"got {target_data.shape}")
        probs = as_tensor(target, like=logits)
        if label_smoothing:
            probs = probs * (1 - label_smoothing) + label_smoothing / C
        terms = probs * logp if w_b is None else probs * logp * w_b
        return _reduce(-terms.sum(class_dim), reduction)

    loss = nll_loss(logp, target, w, reduction="none")                  # (N, *)
    picked_weight = None if w is None else w[_class_targets("cross_entropy", logits, target)]
    if label_smoothing:
        uniform = -(logp if w_b is None else logp * w_b).sum(class_dim) / C    # loss against the uniform target
        loss = loss * (1 - label_smoothing) + uniform * label_smoothing
    return _weighted_mean_or_sum(loss, picked_weight, reduction)
