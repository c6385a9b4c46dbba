"""Shape and indexing ops: gradients (first and second order) on drawn shapes, values against
NumPy / PyTorch, scatter-add of repeated indices, pad modes, and the error messages."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import array_shapes

import minigrad as mg
from minigrad import gradcheck, gradgradcheck
from minigrad.ops import pad

seeds = st.integers(0, 2**16)
shapes = array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3)


def leaf(shape, seed):
    return mg.tensor(np.random.default_rng(seed).uniform(-2, 2, shape), requires_grad=True)


def check_both_orders(fn, *inputs):
    """gradcheck, and gradgradcheck of fn(x) * fn(x) (a linear op's own second derivative is zero)."""
    assert gradcheck(fn, inputs)
    assert gradgradcheck(lambda *xs: fn(*xs) * fn(*xs), inputs)


# ----------------------------------------------------------------------------- reshapes and permutes

@given(shape=shapes, seed=seeds, data=st.data())
def test_reshape_flatten_squeeze_unsqueeze(shape, seed, data):
    x = leaf(shape, seed)
    n = len(shape)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start, n - 1))
    check_both_orders(lambda t: t.reshape(-1, shape[-1]), x)
    check_both_orders(lambda t: t.flatten(start, end), x)
    assert x.flatten(start, end).shape == shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
    d = data.draw(st.integers(-n - 1, n))
    assert x.unsqueeze(d).shape == np.expand_dims(x.data, d).shape
    check_both_orders(lambda t: t.unsqueeze(d).squeeze(), x)
    assert x.squeeze().shape == np.squeeze(x.data).shape


@given(shape=shapes, seed=seeds, data=st.data())
def test_permute_transpose(shape, seed, data):
    x = leaf(shape, seed)
    dims = data.draw(st.permutations(range(len(shape))))
    check_both_orders(lambda t: t.permute(*dims), x)
    np.testing.assert_array_equal(x.permute(dims).data, np.transpose(x.data, dims))
    d0, d1 = data.draw(st.integers(-len(shape), len(shape) - 1)), data.draw(st.integers(0, len(shape) - 1))
    check_both_orders(lambda t: t.transpose(d0, d1), x)
    np.testing.assert_array_equal(x.transpose(d0, d1).data, np.swapaxes(x.data, d0, d1))
    check_both_orders(lambda t: t.T, x)


@given(shape=shapes, seed=seeds, data=st.data())
def test_expand(shape, seed, data):
    base = tuple(1 if data.draw(st.booleans()) else n for n in shape)
    x = leaf(base, seed)
    target = (2,) + shape
    check_both_orders(lambda t: t.expand(*target), x)
    assert x.expand(2, *(-1 for _ in base)).shape == (2,) + base


def test_squeeze_of_a_dim_that_is_not_one_leaves_it():
    assert mg.zeros(2, 1, 3).squeeze(0).shape == (2, 1, 3)
    assert mg.zeros(2, 1, 3, 1).squeeze((1, 3)).shape == (2, 3)


# ----------------------------------------------------------------------------- split, chunk, cat, stack

@given(shape=shapes, seed=seeds, data=st.data())
def test_split_chunk(shape, seed, data):
    x = leaf(shape, seed)
    d = data.draw(st.integers(0, len(shape) - 1))
    size = data.draw(st.integers(1, 3))
    pieces = x.split(size, d)
    assert [p.shape[d] for p in pieces] == [len(r) for r in np.array_split(np.arange(shape[d]),
                                                                           range(size, shape[d], size))]
    check_both_orders(lambda t: mg.cat([p * (i + 1) for i, p in enumerate(t.split(size, d))], d), x)
    chunks = data.draw(st.integers(1, 4))
    torch_like = -(-shape[d] // chunks)
    assert [p.shape[d] for p in x.chunk(chunks, d)][0] == torch_like
    check_both_orders(lambda t: t.chunk(chunks, d)[-1], x)


@given(shape=shapes, seed=seeds, data=st.data())
def test_cat_stack(shape, seed, data):
    d = data.draw(st.integers(0, len(shape) - 1))
    other = shape[:d] + (data.draw(st.integers(1, 3)),) + shape[d + 1:]
    a, b = leaf(shape, seed), leaf(other, seed + 1)
    check_both_orders(lambda s, t: mg.cat([s, t, s], d), a, b)
    np.testing.assert_array_equal(mg.cat([a, b], d).data, np.concatenate([a.data, b.data], d))
    c = leaf(shape, seed + 2)
    sd = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check_both_orders(lambda s, t: mg.stack([s, t], sd), a, c)
    np.testing.assert_array_equal(mg.stack([a, c], sd).data, np.stack([a.data, c.data], sd))


def test_split_into_sections():
    x = mg.arange(6)
    assert [p.tolist() for p in x.split([1, 2, 3])] == [[0], [1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match=r"split: sections \[1, 2\] sum to 3, but dim 0 has size 6"):
        x.split([1, 2])


def test_cat_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\) but tensor 0 has shape \(3, 3\)"):
        mg.cat([mg.zeros(3, 3), mg.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(2,\)"):
        mg.stack([mg.zeros(3), mg.zeros(2)])


# ----------------------------------------------------------------------------- pad

@st.composite
def pad_args(draw, reflect):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=2 if reflect else 1, max_side=4))
    k = draw(st.integers(1, len(shape)))
    widths = []
    for i in range(k):
        limit = shape[-1 - i] - 1 if reflect else 3
        widths += [draw(st.integers(0, limit)), draw(st.integers(0, limit))]
    return shape, tuple(widths)


@given(args=pad_args(reflect=False), seed=seeds, value=st.sampled_from([0, 1.5]))
def test_constant_pad(args, seed, value):
    shape, widths = args
    x = leaf(shape, seed)
    check_both_orders(lambda t: pad(t, widths, "constant", value), x)


@given(args=pad_args(reflect=True), seed=seeds)
def test_reflect_pad(args, seed):
    shape, widths = args
    x = leaf(shape, seed)
    check_both_orders(lambda t: pad(t, widths, "reflect"), x)
    # The values too (gradcheck alone would pass a wrong pad with a matching adjoint): np.pad's, any dims,
    # in float32 through the kernels and in int64 through the reference.
    last_first = [tuple(widths[i:i + 2]) for i in range(0, len(widths), 2)]
    per_dim = [(0, 0)] * (len(shape) - len(last_first)) + last_first[::-1]
    for dtype in (np.float32, np.int64):
        a = (x.data * 10).astype(dtype)
        np.testing.assert_array_equal(pad(mg.tensor(a), widths, "reflect").data, np.pad(a, per_dim, mode="reflect"))


def test_pad_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    for widths, mode in [((1, 2), "constant"), ((1, 2, 0, 3), "constant"), ((2, 1, 3, 2), "reflect"),
                         ((1, 1, 1, 1, 2, 0), "constant")]:
        a, ta = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, tout = pad(a, widths, mode, 0.5 if mode == "constant" else 0), \
            F.pad(ta, widths, mode=mode, value=0.5 if mode == "constant" else None)
        np.testing.assert_array_equal(out.data, tout.detach().numpy())
        w = np.random.default_rng(1).standard_normal(out.shape)
        (out * mg.tensor(w)).sum().backward()
        (tout * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), rtol=1e-12)


def test_pad_errors():
    with pytest.raises(ValueError, match=r"pad: reflect padding \(3, 0\) of dim 1 must be smaller than its size 3"):
        pad(mg.zeros(2, 3), (3, 0), "reflect")
    with pytest.raises(ValueError, match="pad: expected an even number of widths"):
        pad(mg.zeros(2, 3), (1, 1, 1), "constant")
    with pytest.raises(ValueError, match="pad: mode must be"):
        pad(mg.zeros(2, 3), (1, 1), "circular")


# ----------------------------------------------------------------------------- getitem

INDEXES = [
    (1,), (slice(None, None, -1),), (slice(1, None, 2), Ellipsis), (Ellipsis, -1), (None, 0, slice(None)),
    ([0, 0, 1],), (np.array([[1, 0], [1, 1]]),), (slice(None), [2, 0, 2]), ([1, 0], [0, 2]),
    (Ellipsis, None, slice(None, 1)),
]


@pytest.mark.parametrize("index", INDEXES, ids=[str(i) for i in range(len(INDEXES))])
@given(seed=seeds)
def test_getitem(index, seed):
    x = leaf((2, 3, 4), seed)
    np.testing.assert_array_equal(x[index].data, x.data[tuple(np.asarray(i) if isinstance(i, list) else i
                                                             for i in index)])
    check_both_orders(lambda t: t[index], x)


@given(seed=seeds)
def test_getitem_with_masks_and_tensors(seed):
    x = leaf((3, 4), seed)
    mask = x.data > 0
    np.testing.assert_array_equal(x[mg.tensor(mask)].data, x.data[mask])
    check_both_orders(lambda t: t[mg.tensor(mask)], x)
    rows = mg.tensor([2, 0, 2, 2])
    check_both_orders(lambda t: t[rows, 1:], x)
    check_both_orders(lambda t: t[x.data[:, 0] > 0], x)


def test_repeated_indices_accumulate():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


def test_getitem_errors():
    with pytest.raises(IndexError, match=r"getitem: cannot index a tensor of shape \(2, 3\)"):
        mg.zeros(2, 3)[5]
    with pytest.raises(IndexError, match="index arrays must hold integers or booleans"):
        mg.zeros(3)[mg.tensor([0.0, 1.0])]
