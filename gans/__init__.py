"""A gallery of GANs built on minigrad; start with `python -m gans.train_dcgan`.

Reading order: data.py (Fashion-MNIST), dcgan.py and gan.py (the lecture's models), train.py (the one
training loop they share), images.py (grids, GIF, loss plot), evaluate.py (the quality number).
"""
import sys as _sys

try:
    import minigrad as _minigrad   # noqa: F401  (every command's first import: a broken set-up stops here)
except ImportError as _err:
    if _err.name != "kernels":
        raise
    _sys.exit(f"error: {_err}")
