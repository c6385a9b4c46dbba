"""SGD: stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay.

For each parameter p with gradient g (PyTorch's formulation, same order of operations):

    g = g + weight_decay * p
    buf = g                                   (first step)
    buf = momentum * buf + (1 - dampening) * g  (later steps)
    g = g + momentum * buf   if nesterov  else  g = buf
    p = p - lr * g
"""
import numpy as np

from ..device import array_module
from .optimizer import Optimizer, check_nonnegative


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        check_nonnegative("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov momentum requires momentum > 0 and dampening = 0, "
                             f"got momentum={momentum}, dampening={dampening}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns the closure's loss if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            for p, g in self._params_with_grad(group):
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = array_module(g).array(g)   # a copy (an array even for 0-d)
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * g
                    g = g + momentum * buf if group["nesterov"] else buf
                p.data -= lr * g
        return loss
