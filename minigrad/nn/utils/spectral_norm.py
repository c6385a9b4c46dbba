"""Spectral normalisation (Miyato et al., 2018): divide a layer's weight by its largest singular value.

    W_sn = W / sigma(W),   sigma(W) = uᵀ W v    (W reshaped to a matrix (h, w))

u and v estimate the top singular vectors by power iteration, a few multiplications per step:
    v <- normalize(Wᵀ u),   u <- normalize(W v)
One iteration per forward in training mode is enough, since W changes little between steps and u, v
are kept (as buffers) from the last one. u and v are constants for the gradient; the gradient flows
through sigma into W. This keeps a GAN discriminator 1-Lipschitz per layer, which stabilises training.

After spectral_norm(module), the learned Parameter is `weight_orig`, the buffers are `weight_u` and
`weight_v` (PyTorch's names), and `module.weight` is recomputed by a forward pre-hook before each call.
"""
import numpy as np

from ... import random
from ...autograd import no_grad
from ...tensor import Tensor
from ..parameter import Parameter


def _normalize(a, eps):
    return a / max(np.linalg.norm(a), eps)


class SpectralNorm:
    """The forward pre-hook: before each forward, module.<name> = <name>_orig / sigma."""

    def __init__(self, name, n_power_iterations, dim, eps):
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def weight_matrix(self, weight):
        """The weight as a matrix (h, w): `dim` moved to the front, the other dims flattened."""
        if self.dim != 0:
            order = [self.dim] + [d for d in range(weight.ndim) if d != self.dim]
            weight = weight.permute(*order)
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        matrix = self.weight_matrix(weight)                             # (h, w), differentiable
        if do_power_iteration:
            W = matrix.data
            for _ in range(self.n_power_iterations):                    # in place on the buffers, no graph
                v.data[...] = _normalize(W.T @ u.data, self.eps)        # (w,)
                u.data[...] = _normalize(W @ v.data, self.eps)          # (h,)
        # copies: a later forward updates u and v in place before this graph's backward may run
        u_const, v_const = Tensor._wrap(u.data.copy()), Tensor._wrap(v.data.copy())
        sigma = u_const @ (matrix @ v_const)                            # uᵀ W v, a 0-d Tensor
        return weight / sigma

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))


def _default_dim(module):
    from ..conv import ConvTranspose2d
    return 1 if isinstance(module, ConvTranspose2d) else 0           # the output-channel axis of the weight


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Apply spectral normalisation to module.<name> (in place); returns the module.

    Args:
        module: e.g. a Linear or Conv2d.
        name: the parameter to normalise ('weight').
        n_power_iterations: power iterations per forward in training mode (1).
        eps: keeps the normalisation of u and v away from division by zero (1e-12).
        dim: the weight axis that becomes the matrix rows (None: 1 for ConvTranspose2d, else 0).
    """
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            raise RuntimeError(f"spectral_norm: {name!r} of {type(module).__name__} is already spectrally normalised")
    dim = _default_dim(module) if dim is None else dim
    fn = SpectralNorm(name, n_power_iterations, dim % weight.ndim, eps)
    h, w = fn.weight_matrix(weight.detach()).shape
    rng = random.generator()
    u = _normalize(rng.standard_normal(h), eps).astype(weight.dtype)
    v = _normalize(rng.standard_normal(w), eps).astype(weight.dtype)

    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    module.register_buffer(name + "_u", Tensor(u))
    module.register_buffer(name + "_v", Tensor(v))
    with no_grad():
        setattr(module, name, fn.compute_weight(module, do_power_iteration=False))   # until the first forward
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module, name="weight"):
    """Undo spectral_norm: module.<name> becomes a Parameter again, holding the normalised weight."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            with no_grad():
                weight = hook.compute_weight(module, do_power_iteration=False)
            del module._forward_pre_hooks[key]
            break
    else:
        raise ValueError(f"remove_spectral_norm: spectral_norm of {name!r} not found in {type(module).__name__}")
    object.__delattr__(module, name)
    del module._parameters[name + "_orig"]
    del module._buffers[name + "_u"], module._buffers[name + "_v"]
    setattr(module, name, Parameter(weight.data.copy()))
    return module
