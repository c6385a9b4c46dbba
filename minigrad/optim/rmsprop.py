"""RMSprop: divide the gradient by a running root-mean-square of recent gradients.

For each parameter p with gradient g (PyTorch's formulation and order):

    g = g + weight_decay * p
    s = alpha * s + (1 - alpha) * g * g           (running mean of g^2)
    a = alpha * a + (1 - alpha) * g               (centered only: running mean of g)
    avg = sqrt(s - a * a) + eps   if centered   else   sqrt(s) + eps
    buf = momentum * buf + g / avg;  p = p - lr * buf     (momentum > 0)
    p = p - lr * g / avg                                   (otherwise)
"""
import numpy as np

from kernels.reference.adam import lerp_       # torch's lerp rounding, shared with Adam's reference kernel

from ..device import array_module
from .optimizer import Optimizer, check_nonnegative


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        check_nonnegative("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns the closure's loss if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
            for p, g in self._params_with_grad(group):
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["square_avg"] = array_module(p.data).zeros_like(p.data)
                    if momentum > 0:
                        state["momentum_buffer"] = array_module(p.data).zeros_like(p.data)
                    if group["centered"]:
                        state["grad_avg"] = array_module(p.data).zeros_like(p.data)
                state["step"] += 1
                square_avg = state["square_avg"]

                if weight_decay != 0:
                    g = g + weight_decay * p.data
                square_avg *= alpha
                square_avg += (1 - alpha) * g * g
                if group["centered"]:
                    grad_avg = lerp_(state["grad_avg"], g, 1 - alpha)
                    avg = np.sqrt(square_avg - grad_avg * grad_avg)
                else:
                    avg = np.sqrt(square_avg)
                avg += eps

                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    buf += g / avg
                    p.data -= lr * buf
                else:
                    p.data -= lr * g / avg
        return loss
