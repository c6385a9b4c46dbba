"""NumPy reference kernels: the truth every fast backend is tested against. Read these first.

Reading order: conv2d.py (im2col + matmul), conv_transpose2d.py (its adjoint: matmul + col2im),
batch_norm.py, leaky_relu.py, pool.py, pad.py, adam.py. The matrix product (matmul) is NumPy's own. The signatures are the
contract in kernels/__init__.py.
"""
from .adam import adam_step  # noqa: F401
from .batch_norm import batch_norm, batch_norm_backward  # noqa: F401
from .conv2d import conv2d, conv2d_weight  # noqa: F401
from .conv_transpose2d import conv_transpose2d  # noqa: F401
from .leaky_relu import leaky_relu, leaky_relu_backward  # noqa: F401
from .pad import reflection_pad2d, reflection_pad2d_backward  # noqa: F401
from .pool import max_pool2d  # noqa: F401
from numpy import matmul  # noqa: F401  (a @ b: the reference matrix product is NumPy's)
