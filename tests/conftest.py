"""Shared test settings: hypothesis profiles ("ci" keeps the suite fast; "thorough" for local digging),
and `fake_cuda`, the NumPy-backed stand-in for CuPy (tests/fake_cupy.py) under which "cuda" tensors run."""
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def fake_cuda(monkeypatch):
    """minigrad on a pretend GPU: sys.modules["cupy"] is tests/fake_cupy.py, whose arrays refuse to mix with
    host arrays and whose RawModule runs our .cu kernels under the CPU emulation of CUDA. Returns the fake module."""
    import fake_cupy
    import kernels.cuda
    import minigrad.random

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(kernels.cuda, "xp", None)              # load() imports the fake
    monkeypatch.setattr(kernels.cuda, "_modules", {})
    monkeypatch.setattr(kernels.cuda, "MAX_BLOCKS", 8)         # few emulated blocks; the grid-stride loops go round
    monkeypatch.setattr(minigrad.random, "_device_generators", {})
    fake_cupy.launches.clear()
    return fake_cupy
