"""Reductions: gradients (first and second order) over drawn shapes, dims and keepdim; values and
(values, indices) against NumPy and PyTorch; tie and error behaviour."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import array_shapes

import minigrad as mg
from minigrad import gradcheck, gradgradcheck

seeds = st.integers(0, 2**16)


@st.composite
def shape_and_dims(draw, max_dims=3):
    """A shape with at least one dim, and a dim argument: None, an int (maybe negative) or a tuple."""
    shape = draw(array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=4))
    n = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-n, n - 1),
                         st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True).map(tuple)))
    return shape, dim, draw(st.booleans())


def leaf(shape, seed, low=-2.0, high=2.0):
    return mg.tensor(np.random.default_rng(seed).uniform(low, high, shape), requires_grad=True)


def distinct_leaf(shape, seed):
    """Values far apart from each other (a shuffled grid), so max/min have no near-ties."""
    n = int(np.prod(shape))
    values = np.random.default_rng(seed).permutation(n) * 0.3 - 0.15 * n
    return mg.tensor(values.reshape(shape), requires_grad=True)


def np_axis(dim):
    return dim if dim is None or isinstance(dim, int) else tuple(dim)


SMOOTH = {
    "sum": lambda x, d, k: x.sum(d, keepdim=k),
    "mean": lambda x, d, k: x.mean(d, keepdim=k),
    "var": lambda x, d, k: x.var(d, keepdim=k),
    "var_biased": lambda x, d, k: x.var(d, unbiased=False, keepdim=k),
    "std": lambda x, d, k: x.std(d, keepdim=k),
    "logsumexp": lambda x, d, k: mg.logsumexp(x, d, keepdim=k),
}


def usable(name, shape, dim):
    if name in ("var", "std"):   # unbiased needs at least 2 values per reduction
        dims = range(len(shape)) if dim is None else ([dim] if isinstance(dim, int) else dim)
        return int(np.prod([shape[d] for d in dims])) >= 2
    if name == "logsumexp":
        return dim is not None
    return True


@pytest.mark.parametrize("name", sorted(SMOOTH))
@given(sdk=shape_and_dims(), seed=seeds)
def test_reduction_gradients(name, sdk, seed):
    shape, dim, keepdim = sdk
    if not usable(name, shape, dim):
        return
    x = leaf(shape, seed)
    fn = lambda t: SMOOTH[name](t, dim, keepdim)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("name", sorted(SMOOTH))
@given(sdk=shape_and_dims(), seed=seeds)
def test_reduction_values_match_numpy(name, sdk, seed):
    shape, dim, keepdim = sdk
    if not usable(name, shape, dim):
        return
    x = np.random.default_rng(seed).uniform(-2, 2, shape)
    axis = np_axis(dim)
    expected = {
        "sum": lambda: np.sum(x, axis, keepdims=keepdim),
        "mean": lambda: np.mean(x, axis, keepdims=keepdim),
        "var": lambda: np.var(x, axis, ddof=1, keepdims=keepdim),
        "var_biased": lambda: np.var(x, axis, keepdims=keepdim),
        "std": lambda: np.std(x, axis, ddof=1, keepdims=keepdim),
        "logsumexp": lambda: np.log(np.sum(np.exp(x), axis, keepdims=keepdim)),
    }[name]()
    out = SMOOTH[name](mg.tensor(x), dim, keepdim)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["max", "min"])
@given(sdk=shape_and_dims(), seed=seeds)
def test_max_min_gradients(op, sdk, seed):
    shape, dim, keepdim = sdk
    x = distinct_leaf(shape, seed)
    if dim is None:
        fn = lambda t: getattr(t, op)()  # noqa: E731
    else:
        d = dim if isinstance(dim, int) else dim[0]
        fn = lambda t: getattr(t, op)(d, keepdim=keepdim).values  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(lambda t: fn(t) * fn(t), (x,))


@pytest.mark.parametrize("op", ["max", "min"])
@given(sdk=shape_and_dims(), seed=seeds)
def test_max_min_with_dim_returns_values_and_indices(op, sdk, seed):
    shape, dim, keepdim = sdk
    d = 0 if dim is None else (dim if isinstance(dim, int) else dim[0])
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float32)   # many ties
    values, indices = getattr(mg.tensor(x), op)(d, keepdim=keepdim)
    np_arg = np.argmax if op == "max" else np.argmin
    np.testing.assert_array_equal(indices.data, np_arg(x, axis=d, keepdims=keepdim))
    np.testing.assert_array_equal(values.data, getattr(np, op)(x, axis=d, keepdims=keepdim))
    assert indices.dtype == np.int64


def test_max_over_everything_shares_the_gradient_among_ties():
    x = mg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.data, [0, 0.5, 0.5, 0])


def test_max_with_dim_sends_the_gradient_to_the_first_tie():
    x = mg.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 1, 0]])


def test_argmax_argmin():
    x = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert x.argmax().item() == 3
    assert x.argmin().item() == 4
    assert x.argmax(1).tolist() == [1, 0]
    assert x.argmin(0, keepdim=True).tolist() == [[0, 1, 0]]
    assert x.argmax(1).dtype == np.int64


def test_var_correction_and_unbiased_agree():
    x = mg.tensor([1.0, 2.0, 4.0, 7.0])
    assert mg.var(x, correction=0).item() == pytest.approx(x.var(unbiased=False).item())
    assert mg.var(x, correction=1).item() == pytest.approx(np.var([1, 2, 4, 7], ddof=1))
    assert x.std(correction=2).item() == pytest.approx(np.std([1, 2, 4, 7], ddof=2))


def test_logsumexp_is_stable():
    x = mg.tensor([1000.0, 1000.0], dtype=mg.float64)
    assert mg.logsumexp(x, 0).item() == pytest.approx(1000 + np.log(2))
    y = mg.tensor([-np.inf, -np.inf])
    with np.errstate(divide="ignore"):             # log(0) = -inf is the right answer here
        assert mg.logsumexp(y, 0).item() == -np.inf


def test_mean_of_integers_asks_for_float():
    with pytest.raises(TypeError, match="mean: expected a floating point tensor"):
        mg.tensor([1, 2]).mean()


def test_bad_dim_names_the_op():
    with pytest.raises(IndexError, match="sum: dim 2 is out of range for a tensor with 2 dimensions"):
        mg.zeros(2, 3).sum(2)


def test_max_of_empty_raises():
    with pytest.raises(RuntimeError, match="max: the input"):
        mg.zeros(0).max()


def test_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    cases = [
        (lambda t: t.var(1).sum() + t.std((0, 2), keepdim=True).sum(), None),
        (lambda t: mg.logsumexp(t, (1, 2)).sum(), lambda t: torch.logsumexp(t, (1, 2)).sum()),
        (lambda t: t.max(2).values.sum() + t.min() * 2 + t.mean(), None),
    ]
    for ours, theirs in cases:
        theirs = theirs or ours
        a, ta = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, tout = ours(a), theirs(ta)
        np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-12)
        out.backward()
        tout.backward()
        np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), rtol=1e-10, atol=1e-14)
    values, indices = mg.tensor(x).max(1)
    tv, ti = torch.tensor(x).max(1)
    np.testing.assert_array_equal(indices.data, ti.numpy())
    np.testing.assert_allclose(values.data, tv.numpy())
