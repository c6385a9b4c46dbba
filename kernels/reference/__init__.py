"""NumPy reference kernels: the truth every fast backend is tested against. Read these first."""
from .leaky_relu import leaky_relu, leaky_relu_backward  # noqa: F401
