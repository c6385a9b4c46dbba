"""The NumPy reference kernels against their definitions, written as plain nested loops on tiny sizes."""
import itertools

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from kernels import reference as ref


# ----------------------------------------------------------------------------- definitions, one loop per sum

def every(*sizes):
    """Every index tuple of an array of shape `sizes` (nested loops, flattened)."""
    return itertools.product(*map(range, sizes))


def conv2d_loops(x, w, b, stride, padding, dilation):
    (N, C, H, W), (O, _, kh, kw) = x.shape, w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho, Wo = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((N, O, Ho, Wo))
    for n, o, ho, wo, c, i, j in every(N, O, Ho, Wo, C, kh, kw):
        h, v = ho * sh + i * dh - ph, wo * sw + j * dw - pw
        if 0 <= h < H and 0 <= v < W:
            y[n, o, ho, wo] += w[o, c, i, j] * x[n, c, h, v]
    return y if b is None else y + b.reshape(1, O, 1, 1)


def conv_transpose2d_loops(x, w, b, stride, padding, output_padding, dilation):
    (N, O, H, W), (_, C, kh, kw) = x.shape, w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    Ho, Wo = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1, (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    y = np.zeros((N, C, Ho, Wo))
    for n, o, h, v, c, i, j in every(N, O, H, W, C, kh, kw):
        ho, wo = h * sh + i * dh - ph, v * sw + j * dw - pw
        if 0 <= ho < Ho and 0 <= wo < Wo:
            y[n, c, ho, wo] += w[o, c, i, j] * x[n, o, h, v]
    return y if b is None else y + b.reshape(1, C, 1, 1)


def conv2d_weight_loops(x, gy, weight_shape, stride, padding, dilation):
    (N, C, H, W), (_, O, Ho, Wo), (_, _, kh, kw) = x.shape, gy.shape, weight_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    gw = np.zeros(weight_shape)
    for n, o, ho, wo, c, i, j in every(N, O, Ho, Wo, C, kh, kw):
        h, v = ho * sh + i * dh - ph, wo * sw + j * dw - pw
        if 0 <= h < H and 0 <= v < W:
            gw[o, c, i, j] += gy[n, o, ho, wo] * x[n, c, h, v]
    return gw


# ----------------------------------------------------------------------------- hypothesis-drawn configurations

@st.composite
def conv_configs(draw):
    N, C, O = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kernel = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    seed = draw(st.integers(0, 2**16))
    return N, C, O, (H, W), kernel, stride, padding, dilation, output_padding, seed


def conv2d_output_size(size, kernel, stride, padding, dilation):
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))


@given(conv_configs(), st.booleans())
def test_conv2d_matches_loops(config, with_bias):
    N, C, O, size, kernel, stride, padding, dilation, _, seed = config
    assume(min(conv2d_output_size(size, kernel, stride, padding, dilation)) >= 1)
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, C) + size), rng.standard_normal((O, C) + kernel)
    b = rng.standard_normal(O) if with_bias else None
    np.testing.assert_allclose(ref.conv2d(x, w, b, stride, padding, dilation),
                               conv2d_loops(x, w, b, stride, padding, dilation), rtol=1e-12, atol=1e-12)


@given(conv_configs(), st.booleans())
def test_conv_transpose2d_matches_loops(config, with_bias):
    N, C, O, size, kernel, stride, padding, dilation, output_padding, seed = config
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1
           for n, k, s, p, d, op in zip(size, kernel, stride, padding, dilation, output_padding)]
    assume(min(out) >= 1)
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal((N, O) + size), rng.standard_normal((O, C) + kernel)
    b = rng.standard_normal(C) if with_bias else None
    y = ref.conv_transpose2d(x, w, b, stride, padding, output_padding, dilation)
    assert y.flags.c_contiguous
    np.testing.assert_allclose(y, conv_transpose2d_loops(x, w, b, stride, padding, output_padding, dilation),
                               rtol=1e-12, atol=1e-12)


@given(conv_configs())
def test_conv2d_weight_matches_loops(config):
    N, C, O, size, kernel, stride, padding, dilation, _, seed = config
    out = conv2d_output_size(size, kernel, stride, padding, dilation)
    assume(min(out) >= 1)
    rng = np.random.default_rng(seed)
    x, gy = rng.standard_normal((N, C) + size), rng.standard_normal((N, O) + out)
    np.testing.assert_allclose(ref.conv2d_weight(x, gy, (O, C) + kernel, stride, padding, dilation),
                               conv2d_weight_loops(x, gy, (O, C) + kernel, stride, padding, dilation),
                               rtol=1e-12, atol=1e-12)


@given(conv_configs())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(config):
    # <conv2d(x), y> = <x, conv_transpose2d(y)> for every x, y: the definition of the adjoint
    N, C, O, size, kernel, stride, padding, dilation, _, seed = config
    out = conv2d_output_size(size, kernel, stride, padding, dilation)
    assume(min(out) >= 1)
    output_padding = tuple(n - ((o - 1) * s - 2 * p + d * (k - 1) + 1)
                           for n, o, k, s, p, d in zip(size, out, kernel, stride, padding, dilation))
    rng = np.random.default_rng(seed)
    x, w, y = (rng.standard_normal(shape) for shape in [(N, C) + size, (O, C) + kernel, (N, O) + out])
    left = np.sum(ref.conv2d(x, w, None, stride, padding, dilation) * y)
    right = np.sum(x * ref.conv_transpose2d(y, w, None, stride, padding, output_padding, dilation))
    assert left == pytest.approx(right, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_kernels_keep_the_dtype(dtype, rng):
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in [(2, 3, 6, 6), (4, 3, 3, 3), (4,)])
    y = ref.conv2d(x, w, b, (2, 2), (1, 1), (1, 1))
    assert y.dtype == dtype and y.flags.c_contiguous
    assert ref.conv_transpose2d(y, w, b[:3], (2, 2), (1, 1), (1, 1), (1, 1)).dtype == dtype
    assert ref.conv2d_weight(x, y, w.shape, (2, 2), (1, 1), (1, 1)).dtype == dtype
    y64 = ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), (2, 2), (1, 1), (1, 1))
    np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-4 * np.abs(y64).max())


# ----------------------------------------------------------------------------- batch norm

def batch_norm_loops(x, gamma, beta, mean, var, eps):
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        y[:, c] = (x[:, c] - mean[c]) / np.sqrt(var[c] + eps) * gamma[c] + beta[c]
    return y


batch_norm_shapes = st.sampled_from([(4, 3), (2, 3, 5), (2, 2, 3, 3), (3, 1, 2, 2), (2, 4, 1)])


@given(batch_norm_shapes, st.floats(0.0, 1.0), st.integers(0, 2**16))
def test_batch_norm_training_matches_loops(shape, momentum, seed):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.random(C) + 0.5
    expected_mean, expected_var = running_mean.copy(), running_var.copy()
    per_channel = [x[:, c].ravel() for c in range(C)]
    batch_mean = np.array([v.mean() for v in per_channel])
    batch_var = np.array([v.var() for v in per_channel])
    unbiased = np.array([v.var(ddof=1) for v in per_channel])

    y, mean, invstd = ref.batch_norm(x, gamma, beta, running_mean, running_var, True, momentum, 1e-5)
    np.testing.assert_allclose(y, batch_norm_loops(x, gamma, beta, batch_mean, batch_var, 1e-5), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mean, batch_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(batch_var + 1e-5), rtol=1e-12)
    np.testing.assert_allclose(running_mean, (1 - momentum) * expected_mean + momentum * batch_mean, atol=1e-12)
    np.testing.assert_allclose(running_var, (1 - momentum) * expected_var + momentum * unbiased, atol=1e-12)


def test_batch_norm_eval_uses_running_stats_and_changes_nothing(rng):
    x = rng.standard_normal((3, 2, 2, 2))
    running_mean, running_var = rng.standard_normal(2), rng.random(2) + 0.5
    before = running_mean.copy(), running_var.copy()
    y, mean, invstd = ref.batch_norm(x, None, None, running_mean, running_var, False, 0.1, 1e-5)
    np.testing.assert_allclose(y, batch_norm_loops(x, np.ones(2), np.zeros(2), *before, 1e-5), rtol=1e-12)
    np.testing.assert_array_equal(running_mean, before[0])
    np.testing.assert_array_equal(running_var, before[1])
    assert mean is not running_mean                   # a later running update must not change saved statistics


def test_batch_norm_without_running_stats(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y, mean, invstd = ref.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    assert y.dtype == mean.dtype == invstd.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@given(shape=batch_norm_shapes, seed=st.integers(0, 2**16))
def test_batch_norm_backward_matches_finite_differences(training, shape, seed):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x, gy = rng.standard_normal(shape), rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    running_mean, running_var = rng.standard_normal(C), rng.random(C) + 0.5

    def loss(x, gamma, beta):                          # <batch_norm(x), gy>; running stats left alone
        y, _, _ = ref.batch_norm(x, gamma, beta, running_mean.copy(), running_var.copy(), training, 0.1, 1e-5)
        return np.sum(y * gy)

    _, mean, invstd = ref.batch_norm(x, gamma, beta, running_mean.copy(), running_var.copy(), training, 0.1, 1e-5)
    grads = ref.batch_norm_backward(gy, x, gamma, mean, invstd, training, (True, True, True))
    args = [x, gamma, beta]
    for k, (arg, analytic) in enumerate(zip(args, grads)):
        numeric = np.zeros_like(arg)
        for idx in np.ndindex(arg.shape):
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[k][idx] += 1e-6
            minus[k][idx] -= 1e-6
            numeric[idx] = (loss(*plus) - loss(*minus)) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


def test_batch_norm_backward_skips_unneeded_gradients(rng):
    x, gy = rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 2))
    _, mean, invstd = ref.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    gx, gg, gb = ref.batch_norm_backward(gy, x, None, mean, invstd, True, (True, False, False))
    assert gx is not None and gg is None and gb is None
    gx, gg, gb = ref.batch_norm_backward(gy, x, None, mean, invstd, True, (False, True, True))
    assert gx is None and gg.shape == gb.shape == (2,)
