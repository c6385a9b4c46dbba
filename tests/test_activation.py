"""Activations: gradients by finite differences (first and second order), values against PyTorch, errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
from minigrad import gradcheck, gradgradcheck
from minigrad.nn import functional as F

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2 ** 16)


def _input(shape, seed, off_kink=False):
    x = np.random.default_rng(seed).standard_normal(shape) * 2
    if off_kink:
        x = np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)      # keep |x| >= 0.1 away from 0
    return minigrad.tensor(x, dtype=minigrad.float64, requires_grad=True)


@given(shapes, seeds, st.sampled_from([0.01, 0.2, 1.5]))
def test_leaky_relu_gradients(shape, seed, slope):
    x = _input(shape, seed, off_kink=True)
    assert gradcheck(lambda a: F.leaky_relu(a, slope), [x])
    assert gradgradcheck(lambda a: F.leaky_relu(a, slope) * a, [x])     # second derivative is nonzero here


@given(shapes, seeds)
def test_elu_selu_softplus_gradients(shape, seed):
    x = _input(shape, seed, off_kink=True)
    for fn in (lambda a: F.elu(a, 0.7), F.selu, F.softplus):
        assert gradcheck(fn, [x])
        assert gradgradcheck(fn, [x])


@given(shapes, seeds, st.integers(-3, 2))
def test_softmax_log_softmax_gradients(shape, seed, dim):
    dim = dim % len(shape)
    x = _input(shape, seed)
    for fn in (F.softmax, F.log_softmax):
        assert gradcheck(lambda a: fn(a, dim), [x])
        assert gradgradcheck(lambda a: fn(a, dim), [x])


def test_leaky_relu_double_backward_is_slope_mask():
    x = minigrad.tensor([-2.0, 3.0], dtype=minigrad.float64, requires_grad=True)
    g = minigrad.tensor([1.0, 1.0], dtype=minigrad.float64, requires_grad=True)
    y = F.leaky_relu(x, 0.2)
    gx, = minigrad.grad(y, x, grad_outputs=g, create_graph=True)
    ggx, = minigrad.grad(gx.sum(), g)
    np.testing.assert_allclose(ggx.data, [0.2, 1.0])


def test_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32) * 3
    t = torch.tensor(x)
    cases = [
        (F.leaky_relu(x, 0.2), torch.nn.functional.leaky_relu(t, 0.2)),
        (F.elu(x, 0.5), torch.nn.functional.elu(t, 0.5)),
        (F.selu(x), torch.nn.functional.selu(t)),
        (F.softplus(x), torch.nn.functional.softplus(t)),
        (F.softmax(x, 1), torch.softmax(t, 1)),
        (F.log_softmax(x, 0), torch.log_softmax(t, 0)),
        (F.relu(x), torch.relu(t)),
        (F.tanh(x), torch.tanh(t)),
        (F.sigmoid(x), torch.sigmoid(t)),
    ]
    for ours, theirs in cases:
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_is_stable_for_large_inputs():
    x = minigrad.tensor([[1000.0, 0.0, -1000.0]])
    assert np.isfinite(F.softmax(x, 1).data).all()
    np.testing.assert_allclose(F.log_softmax(x, 1).data, [[0.0, -1000.0, -2000.0]])
    np.testing.assert_allclose(F.softplus(minigrad.tensor([1000.0, -1000.0])).data, [1000.0, 0.0])


def test_softmax_requires_dim():
    with pytest.raises(TypeError, match="dim is required"):
        F.softmax(minigrad.ones(2, 3), None)
    with pytest.raises(IndexError, match="softmax"):
        F.softmax(minigrad.ones(2, 3), 2)


def test_dropout_mask_scaling_and_seed():
    x = minigrad.ones(200, 50)
    minigrad.manual_seed(3)
    y = F.dropout(x, 0.3)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    minigrad.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.3).data, y.data)          # reproducible
    assert F.dropout(x, 0.3, training=False) is x
    assert not F.dropout(x, 1.0).data.any()


def test_dropout_gradient_uses_the_same_mask():
    x = minigrad.randn(5, 6, requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, (y.data != 0) * 2.0)


@pytest.mark.parametrize("p", [-0.1, 1.5, "a"])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(minigrad.ones(2), p)


def test_embedding_gradient_adds_repeated_rows():
    w = minigrad.tensor(np.arange(12.0).reshape(4, 3), dtype=minigrad.float64, requires_grad=True)
    idx = minigrad.tensor(np.array([[0, 2], [2, 3]]))
    out = F.embedding(idx, w)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.data[1, 0], [6, 7, 8])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data[:, 0], [1, 0, 2, 1])
    assert gradcheck(lambda a: F.embedding(idx, a), [w])


def test_embedding_padding_idx_gets_no_gradient():
    w = minigrad.randn(4, 3, requires_grad=True)
    idx = minigrad.tensor(np.array([1, 0, 1]))
    out = F.embedding(idx, w, padding_idx=1)
    np.testing.assert_array_equal(out.data[0], w.data[1])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data[:, 0], [1, 0, 0, 0])


def test_embedding_errors():
    w = minigrad.randn(4, 3)
    with pytest.raises(IndexError, match=r"\[0, 4\)"):
        F.embedding(minigrad.tensor(np.array([4])), w)
    with pytest.raises(TypeError, match="integer"):
        F.embedding(minigrad.tensor([1.0]), w)


def test_one_hot():
    out = F.one_hot(minigrad.tensor(np.array([0, 2, 1])))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.data, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert F.one_hot(minigrad.tensor(np.array([[1]])), 4).shape == (1, 1, 4)
    with pytest.raises(IndexError):
        F.one_hot(minigrad.tensor(np.array([3])), 3)


def test_activation_rejects_integer_input():
    with pytest.raises(TypeError, match="leaky_relu: expected a floating point tensor"):
        F.leaky_relu(minigrad.tensor(np.array([1, 2])))
