"""Optimizers (update parameters from their gradients) and learning-rate schedulers.

    opt = minigrad.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss.backward(); opt.step(); opt.zero_grad()
"""
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adam import Adam  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .lbfgs import LBFGS  # noqa: F401
from . import lr_scheduler  # noqa: F401
