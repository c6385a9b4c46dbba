"""Optional extras: import a package that only some commands need, or say in one line how to get it."""
import importlib

# extra name in setup.py -> the packages it installs
EXTRAS = {"style": ("h5py", "scikit-image")}


class MissingExtra(ImportError):
    """An optional package is not installed; the message is the one line a command prints."""


def require(module, extra, purpose):
    """`import module`, or raise MissingExtra naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{purpose} needs the {module!r} package, which minigrad's {extra!r} extra installs: "
                           f"pip install \".[{extra}]\" (from the clone), or pip install "
                           f"{' '.join(EXTRAS[extra])}") from None
