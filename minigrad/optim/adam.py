"""Adam: per-parameter step sizes from running averages of the gradient and its square.

For each parameter p with gradient g, at step t = 1, 2, ... (PyTorch's formulation and order):

    g = g + weight_decay * p                      (L2 penalty, not AdamW's decoupled decay)
    m = beta1 * m + (1 - beta1) * g               (first moment; computed as a lerp, like torch)
    v = beta2 * v + (1 - beta2) * g * g           (second moment)
    v_max = max(v_max, v)                         (amsgrad only; then v_max is used below)
    denom = sqrt(v) / sqrt(1 - beta2**t) + eps
    p = p - lr / (1 - beta1**t) * m / denom       (the two bias corrections undo the zero start)

The update itself is a kernel, kernels.adam_step (written out in NumPy in kernels/reference/adam.py):
the C++ backend does it in one fused pass instead of NumPy's ten or so over the parameter.
"""
import numpy as np

import kernels

from ..device import array_module
from .optimizer import Optimizer, check_nonnegative


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        check_nonnegative("Adam", lr=lr, eps=eps, weight_decay=weight_decay)
        check_betas("Adam", betas)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns the closure's loss if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p, g in self._params_with_grad(group):
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    xp = array_module(p.data)                  # the state lives on the parameter's device
                    state["exp_avg"] = xp.zeros_like(p.data)
                    state["exp_avg_sq"] = xp.zeros_like(p.data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = xp.zeros_like(p.data)
                state["step"] += 1
                kernels.adam_step(p.data, g, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                                  state["step"], lr, beta1, beta2, eps, weight_decay)
        return loss


def check_betas(optimizer, betas):
    """Both betas must lie in [0, 1)."""
    if len(betas) != 2:
        raise ValueError(f"{optimizer}: betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{optimizer}: invalid beta parameter at index {i}: {beta!r}; must be in [0, 1)")
