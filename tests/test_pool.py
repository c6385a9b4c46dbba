"""avg_pool2d, max_pool2d, interpolate: gradients, PyTorch agreement, errors."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from minigrad import Tensor, gradcheck, gradgradcheck
from minigrad.ops.pool import avg_pool2d, interpolate, max_pool2d


def distinct_values(rng, shape):
    """Values at least 0.1 apart, so no window has a tie that finite differences could flip."""
    n = int(np.prod(shape))
    return Tensor(rng.permutation(n).reshape(shape) * 0.1 - n * 0.05, dtype=np.float64, requires_grad=True)


@st.composite
def pool_configs(draw):
    size = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    kernel = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    assume(all(k <= n + 2 * p for n, k, p in zip(size, kernel, padding)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size
    return shape, kernel, stride, padding, draw(st.integers(0, 2**16))


@pytest.mark.parametrize("pool", [avg_pool2d, max_pool2d])
@given(config=pool_configs())
def test_pool_gradcheck(pool, config):
    shape, kernel, stride, padding, seed = config
    x = distinct_values(np.random.default_rng(seed), shape)
    f = lambda x: pool(x, kernel, stride, padding)  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("pool", ["avg_pool2d", "max_pool2d"])
@given(config=pool_configs())
def test_pool_matches_torch(pool, config):
    torch = pytest.importorskip("torch")
    shape, kernel, stride, padding, seed = config
    x = distinct_values(np.random.default_rng(seed), shape)
    tx = torch.tensor(x.data, requires_grad=True)
    y = {"avg_pool2d": avg_pool2d, "max_pool2d": max_pool2d}[pool](x, kernel, stride, padding)
    ty = getattr(torch.nn.functional, pool)(tx, kernel, stride, padding)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_pools_keep_float32(rng):
    x = Tensor(rng.standard_normal((2, 3, 4, 4)).astype(np.float32))
    assert avg_pool2d(x, 2).dtype == max_pool2d(x, 2).dtype == interpolate(x, scale_factor=2).dtype == np.float32


@given(size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       how=st.sampled_from([{"scale_factor": 2}, {"scale_factor": (1, 3)}, {"scale_factor": 2.0}, {"scale_factor": (3.0, 1)},
                            {"size": (4, 5)}, {"size": 2}, {"size": (1, 1)}]),
       seed=st.integers(0, 2**16))
def test_interpolate_gradcheck_and_torch(size, how, seed):
    x = Tensor(np.random.default_rng(seed).standard_normal((2, 2) + size), requires_grad=True)
    f = lambda x: interpolate(x, **how)  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(f(x).data, torch.nn.functional.interpolate(torch.tensor(x.data), **how).numpy())


def test_interpolate_by_two_repeats_each_pixel():
    x = Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(interpolate(x, scale_factor=2).data[0, 0],
                                  [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


@pytest.mark.parametrize("call, error, message", [
    (lambda x: avg_pool2d(x.reshape(3, 5, 5), 2), ValueError,
     r"avg_pool2d: expected a 4-D input .* got shape \(3, 5, 5\)"),
    (lambda x: max_pool2d(x, 3, padding=2), ValueError,
     r"max_pool2d: padding \(2, 2\) must be at most half of kernel_size \(3, 3\)"),
    (lambda x: max_pool2d(x, 6), ValueError,
     r"max_pool2d: kernel_size \(6, 6\) is larger than the padded input \(5, 5\)"),
    (lambda x: avg_pool2d(x, 2, stride=0), ValueError, r"avg_pool2d: stride must be >= 1"),
    (lambda x: interpolate(x, scale_factor=1.5), TypeError, r"interpolate: scale_factor .* must be an int or a pair"),
    (lambda x: interpolate(x, scale_factor=2, mode="bilinear"), NotImplementedError,
     r"interpolate: mode 'bilinear' is not supported"),
    (lambda x: interpolate(x), ValueError, r"interpolate: give exactly one of size and scale_factor"),
    (lambda x: interpolate(x, size=(0, 3)), ValueError, r"interpolate: size must be >= 1"),
])
def test_errors(call, error, message):
    x = Tensor(np.zeros((1, 3, 5, 5)))
    with pytest.raises(error, match=message):
        call(x)
