"""minigrad.nn: Module and the layers, with PyTorch's names, arguments and default initialisation.

Reading order: module.py (Module: registration, state_dict, train/eval), parameter.py, linear.py,
containers.py, conv.py, norm.py, parallel.py, activation.py, misc.py, init.py, functional.py, utils/spectral_norm.py.
"""
from . import functional, init, utils  # noqa: F401
from .activation import ELU, SELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh  # noqa: F401
from .containers import ModuleList, Sequential  # noqa: F401
from .conv import Conv2d, ConvTranspose2d  # noqa: F401
from .linear import Identity, Linear  # noqa: F401
from .misc import (AvgPool2d, Dropout, Embedding, Flatten, MaxPool2d, ReflectionPad2d, Unflatten,  # noqa: F401
                   Upsample)
from .module import Module  # noqa: F401
from .norm import BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm, SyncBatchNorm  # noqa: F401
from . import parallel  # noqa: F401
from .parameter import Parameter  # noqa: F401
