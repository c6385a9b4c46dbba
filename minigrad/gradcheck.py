"""gradcheck / gradgradcheck: compare backward() with central finite differences, in float64.

To keep the check cheap for ops with large outputs we project: s = sum(fn(x) * v) for a fixed
random v, whose gradient is vᵀJ. Its analytic value comes from one backward pass; its numeric
value, element by element, from (s(x + eps·e_i) - s(x - eps·e_i)) / 2eps. A wrong backward
shows up for almost every v, so one projection is a sharp test.
"""
import numpy as np

from . import autograd
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _outputs(fn, inputs):
    out = fn(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if o is not None]


def _projection(outputs, seed):
    rng = np.random.default_rng(seed)
    return [Tensor._wrap(rng.standard_normal(o.shape)) for o in outputs]


def _project(outputs, vs):
    return float(sum(np.sum(o.data * v.data) for o, v in zip(outputs, vs)))


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """True when fn's analytic gradients match finite differences for every float64 input that requires grad.

    On a mismatch raises GradcheckError naming the input, the element, and both values.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64")

    outputs = _outputs(fn, inputs)
    vs = _projection(outputs, seed)
    differentiable = [(o, v) for o, v in zip(outputs, vs) if o.requires_grad]
    if differentiable:
        analytic = autograd.grad([o for o, _ in differentiable], [inputs[i] for i in checked],
                                 grad_outputs=[v for _, v in differentiable], allow_unused=True)
    else:
        analytic = [None] * len(checked)

    for i, g in zip(checked, analytic):
        x = inputs[i].data
        g = np.zeros_like(x) if g is None else g.data
        flat = x.reshape(-1)           # a view: perturbing it perturbs the input in place
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps          # (grad mode stays on: fn may itself call grad())
            plus = _project(_outputs(fn, inputs), vs)
            flat[j] = old - eps
            minus = _project(_outputs(fn, inputs), vs)
            flat[j] = old
            numeric = (plus - minus) / (2 * eps)
            a = g.reshape(-1)[j]
            if not abs(a - numeric) <= atol + rtol * abs(numeric):
                if not raise_exception:
                    return False
                index = np.unravel_index(j, x.shape)
                raise GradcheckError(
                    f"gradcheck: gradient mismatch for input {i} (shape {x.shape}) at element {index}: "
                    f"analytic {a:.8g} vs numeric {numeric:.8g} (difference {a - numeric:.3g}, "
                    f"allowed {atol + rtol * abs(numeric):.3g})")
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=1):
    """Check second derivatives: gradcheck of x -> grad(fn(x)·v, x, create_graph=True)."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    vs = _projection(_outputs(fn, inputs), seed)

    def first_derivatives(*xs):
        outs = _outputs(fn, xs)
        wrt = [t for t in xs if isinstance(t, Tensor) and t.requires_grad]
        pairs = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
        grads = autograd.grad([o for o, _ in pairs], wrt, grad_outputs=[v for _, v in pairs],
                              create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    if not checked:
        raise ValueError("gradgradcheck: no input requires grad")
    return gradcheck(first_derivatives, inputs, eps, atol, rtol, raise_exception, seed + 1)
