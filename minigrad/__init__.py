"""minigrad: a small reverse-mode autodiff tensor library, written to be read.

Reading order: tensor.py (the Tensor), autograd.py (Function and the backward walk),
ops/ (one family of ops per file), nn/ (Module and layers), optim/, serialization.py,
safetensors_io.py, gradcheck.py.
"""
import numpy as _np

def _check_kernels():
    """minigrad's kernel layer is the top-level package `kernels`; so is another PyPI distribution's
    (Hugging Face's kernel loader). Stop in one line when Python finds that one instead of ours."""
    import importlib.util
    spec = importlib.util.find_spec("kernels")
    if spec is None:
        raise ImportError("minigrad's `kernels` package is missing: reinstall minigrad (pip install .)",
                          name="kernels")
    try:
        import kernels
        ours = getattr(kernels, "OWNER", None) == "minigrad"
    except ImportError:                    # ours imports nothing that could fail
        ours = False
    if not ours:
        raise ImportError(f"minigrad needs its own `kernels` package but Python found another one, "
                          f"{spec.origin}; install minigrad into a virtual environment of its own "
                          "(python3 -m venv .venv && . .venv/bin/activate && pip install .)", name="kernels")


_check_kernels()

from . import autograd  # noqa: F401
from .autograd import (no_grad, enable_grad, set_grad_enabled, is_grad_enabled,  # noqa: F401
                       set_detect_anomaly, is_anomaly_enabled, grad)
from .tensor import Tensor  # noqa: F401
from . import device  # noqa: F401  (the array seam: numpy or cupy)
from .device import Device  # noqa: F401  (like torch.device: Device("cuda:0"))
from . import cuda  # noqa: F401  (minigrad.cuda.is_available(), device_count(), synchronize())
from . import random  # noqa: F401
from .random import manual_seed, initial_seed, get_rng_state, set_rng_state  # noqa: F401
from .creation import (tensor, zeros, ones, empty, full, arange, eye, randn, rand, randint,  # noqa: F401
                       randperm, zeros_like, ones_like, full_like, randn_like, rand_like)
from .ops import (add, sub, mul, div, neg, pow, exp, log, sqrt, tanh, sigmoid, abs, relu,  # noqa: F401
                  clamp, maximum, minimum, eq, ne, lt, le, gt, ge, sum, mean, var, std, max, min,
                  logsumexp, argmax, argmin, reshape, flatten, permute, transpose, squeeze, unsqueeze,
                  split, chunk, cat, stack, where, matmul, clone)
from .gradcheck import gradcheck, gradgradcheck  # noqa: F401
from .serialization import save, load  # noqa: F401
from .safetensors_io import save_safetensors, load_safetensors, safetensors_metadata  # noqa: F401
from . import nn, optim  # noqa: F401
from . import distributed  # noqa: F401  (minigrad.distributed, as torch.distributed: MPI only on init())

# dtypes: NumPy's, so `t.dtype == minigrad.float32` and `zeros(2, dtype=minigrad.float64)` both work
float32 = _np.float32
float64 = _np.float64
int64 = _np.int64
bool_ = _np.bool_
clip = clamp
concat = cat


def backend():
    """The name of the kernel backend the hot ops run on: "numpy" or "cpp" (see kernels/__init__.py)."""
    import kernels
    return kernels.backend()


def set_backend(name):
    """Run the hot ops on kernel backend `name` ("numpy", "cpp" or "cuda") from now on, in this process."""
    import kernels
    kernels.set_backend(name)
