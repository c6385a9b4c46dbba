"""matmul: every operand rank PyTorch accepts (1-D vectors, batched, broadcast batch dims),
first and second derivatives, values against NumPy / PyTorch, and the error on a mismatch."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from minigrad import gradcheck, gradgradcheck

seeds = st.integers(0, 2**16)
sides = st.integers(1, 3)


@st.composite
def matmul_shapes(draw):
    """Two shapes that matmul accepts: optional broadcasting batch dims, and 1-D cases."""
    m, n, p = draw(sides), draw(sides), draw(sides)
    batch = draw(st.lists(sides, max_size=2))
    batch_a = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, len(batch))):]
    batch_b = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, len(batch))):]
    a = (n,) if draw(st.integers(0, 4)) == 0 else tuple(batch_a) + (m, n)
    b = (n,) if draw(st.integers(0, 4)) == 0 else tuple(batch_b) + (n, p)
    return a, b


def leaf(shape, seed):
    return mg.tensor(np.random.default_rng(seed).uniform(-2, 2, shape), requires_grad=True)


@given(ab=matmul_shapes(), seed=seeds)
def test_matmul_values_and_gradients(ab, seed):
    a, b = leaf(ab[0], seed), leaf(ab[1], seed + 1)
    out = a @ b
    expected = np.matmul(a.data, b.data)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert gradcheck(lambda x, y: x @ y, (a, b))
    assert gradgradcheck(lambda x, y: mg.matmul(x, y), (a, b))


@given(m=sides, n=sides, p=sides, seed=seeds, transposed=st.sampled_from(["a", "b", "both"]))
def test_transposed_operands_get_gradients_in_their_own_layout(m, n, p, seed, transposed):
    """An operand that is a .T view (nn.Linear's W.T) has its gradient computed as (y^T x^T)^T: the same
    values, first and second order, and grad() returns it C-contiguous for the leaf behind the view."""
    a0 = leaf((n, m) if transposed in ("a", "both") else (m, n), seed)
    b0 = leaf((p, n) if transposed in ("b", "both") else (n, p), seed + 1)
    view_a = (lambda t: t.T) if transposed in ("a", "both") else (lambda t: t)
    view_b = (lambda t: t.T) if transposed in ("b", "both") else (lambda t: t)
    f = lambda x, y: view_a(x) @ view_b(y)
    assert gradcheck(f, (a0, b0))
    assert gradgradcheck(f, (a0, b0))
    g = np.random.default_rng(seed + 2).standard_normal((m, p))
    ga, gb = mg.grad((f(a0, b0) * mg.tensor(g)).sum(), [a0, b0])     # grad() hands out the array itself
    a, b = view_a(mg.tensor(a0.data)).data, view_b(mg.tensor(b0.data)).data
    np.testing.assert_allclose(view_a(ga).data, g @ b.T, rtol=1e-12)
    np.testing.assert_allclose(view_b(gb).data, a.T @ g, rtol=1e-12)
    assert ga.data.flags.c_contiguous and gb.data.flags.c_contiguous


def test_linear_weight_gradient_is_c_contiguous_like_the_weight():
    """What Adam reads in place: a Fortran-ordered 12544 x 100 gradient cost a copy per step."""
    layer, x = mg.nn.Linear(5, 7), mg.randn(3, 5)
    (grad_w,) = mg.grad(layer(x).sum(), [layer.weight])
    assert grad_w.data.flags.c_contiguous
    np.testing.assert_allclose(grad_w.data, np.ones((7, 3)) @ x.data, rtol=1e-6)


@given(ab=matmul_shapes(), seed=seeds)
def test_matmul_against_torch(ab, seed):
    torch = pytest.importorskip("torch")
    a, b = leaf(ab[0], seed), leaf(ab[1], seed + 1)
    ta, tb = torch.tensor(a.data, requires_grad=True), torch.tensor(b.data, requires_grad=True)
    out, tout = a @ b, ta @ tb
    assert out.shape == tuple(tout.shape)
    w = np.random.default_rng(seed + 2).standard_normal(out.shape)
    (out * mg.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.data, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_vector_cases_have_torch_shapes():
    v, m = mg.ones(3), mg.ones(3, 4)
    assert (v @ v).shape == ()
    assert (v @ m).shape == (4,)
    assert (m.T @ v).shape == (4,)
    assert (mg.ones(2, 5, 3) @ v).shape == (2, 5)
    assert (v @ mg.ones(2, 3, 4)).shape == (2, 4)


def test_float32_stays_float32():
    assert (mg.ones(2, 3) @ mg.ones(3, 2)).dtype == np.float32


def test_inner_dim_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied"):
        mg.ones(2, 3) @ mg.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(2,\)"):
        mg.ones(3) @ mg.ones(2)


def test_batch_mismatch_and_scalars():
    with pytest.raises(ValueError, match=r"matmul: batch dims of shapes \(2, 1, 3\) and \(3, 3, 1\) do not broadcast"):
        mg.ones(2, 1, 3) @ mg.ones(3, 3, 1)
    with pytest.raises(RuntimeError, match="matmul: both operands need at least 1 dim"):
        mg.matmul(mg.tensor(2.0), mg.ones(2))


def test_mixed_dtypes():
    with pytest.raises(TypeError, match="matmul: mixed dtypes float32 and float64"):
        mg.ones(2, 2) @ mg.ones(2, 2, dtype=mg.float64)
