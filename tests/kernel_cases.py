"""What the fast-backend tests (test_kernels_cpu.py, test_kernels_cuda.py) share: the tolerance, the
comparison against the NumPy reference, and the hypothesis strategy for convolution geometries."""
import numpy as np
from hypothesis import strategies as st

# relative to the output's norm: float32 rounding through a K-term sum, float64 likewise
TOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def assert_close(out, expected, dtype):
    assert out.shape == expected.shape and out.dtype == expected.dtype
    scale = max(np.linalg.norm(expected.astype(np.float64)), 1e-30)
    err = np.linalg.norm(out.astype(np.float64) - expected) / scale
    assert err <= TOL[dtype], f"relative error {err:.3g} > {TOL[dtype]}"


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def conv_cases(draw, extra=7, channels=4, outputs=5, batch=3):
    """A conv2d geometry whose output is at least 1x1 (up to `extra` pixels more than the smallest)."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    smallest = [max(1, dilation[a] * (k[a] - 1) + 1 - 2 * padding[a]) for a in (0, 1)]
    H, W = (smallest[a] + draw(st.integers(0, extra)) for a in (0, 1))
    N, C, O = draw(st.integers(1, batch)), draw(st.integers(1, channels)), draw(st.integers(1, outputs))
    return dict(N=N, C=C, O=O, H=H, W=W, k=k, stride=stride, padding=padding, dilation=dilation,
                bias=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)), seed=draw(st.integers(0, 2**16)))
