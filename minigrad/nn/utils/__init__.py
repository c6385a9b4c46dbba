"""Helpers that change modules: spectral normalisation."""
from .spectral_norm import remove_spectral_norm, spectral_norm  # noqa: F401
