"""minigrad: a small reverse-mode autodiff tensor library, written to be read.

Reading order: tensor.py (the Tensor), autograd.py (Function and the backward walk),
ops/ (one family of ops per file), nn/ (Module and layers), optim/, serialization.py, gradcheck.py.
"""
from . import autograd  # noqa: F401
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled  # noqa: F401
from .tensor import Tensor  # noqa: F401
from .gradcheck import gradcheck, gradgradcheck  # noqa: F401

float32 = "float32"
float64 = "float64"
int64 = "int64"
