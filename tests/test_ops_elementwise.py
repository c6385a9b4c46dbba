"""Elementwise ops: finite-difference gradients (first and second order) on hypothesis-drawn shapes
with broadcasting, comparisons, dtype rules, error messages, and PyTorch as a yardstick."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import minigrad as mg
from minigrad import gradcheck, gradgradcheck

shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)
seeds = st.integers(0, 2**16)


def leaf(shape, seed, low=-2.0, high=2.0, away=0.0):
    """A float64 leaf of uniform values in [low, high], with |x - k| >= away for the kinks k of the op at 0."""
    x = np.random.default_rng(seed).uniform(low, high, shape)
    if away:
        x = np.where(np.abs(x) < away, np.sign(x + 1e-12) * away + x, x)
    return mg.tensor(x, dtype=mg.float64, requires_grad=True)


# ----------------------------------------------------------------------------- binary ops, broadcasting

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "maximum": mg.maximum,
    "minimum": mg.minimum,
}


def binary_inputs(name, shapes_pair, seed):
    sa, sb = shapes_pair.input_shapes
    if name == "pow":                       # a > 0 so that a ** b and log(a) are defined
        return leaf(sa, seed, 0.5, 2.0), leaf(sb, seed + 1, -1.5, 1.5)
    if name == "div":
        return leaf(sa, seed), leaf(sb, seed + 1, 0.5, 2.0)
    if name in ("maximum", "minimum"):      # a on the grid 0.2k, b on 0.2k + 0.1: never a tie
        a, b = leaf(sa, seed), leaf(sb, seed + 1)
        a.data[...] = np.round(a.data / 0.2) * 0.2
        b.data[...] = np.round(b.data / 0.2) * 0.2 + 0.1
        return a, b
    return leaf(sa, seed), leaf(sb, seed + 1)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes_pair=pairs, seed=seeds)
def test_binary_gradients_broadcast(name, shapes_pair, seed):
    a, b = binary_inputs(name, shapes_pair, seed)
    assert gradcheck(BINARY[name], (a, b))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
@given(shapes_pair=pairs, seed=seeds)
def test_binary_second_derivatives(name, shapes_pair, seed):
    a, b = binary_inputs(name, shapes_pair, seed)
    assert gradgradcheck(BINARY[name], (a, b))


@given(shape=shapes, seed=seeds, p=st.sampled_from([2, 3, 0.5, -1, -1.5, 0]))
def test_pow_tensor_scalar(shape, seed, p):
    a = leaf(shape, seed, 0.5, 2.0)
    assert gradcheck(lambda x: x ** p, (a,))
    assert gradgradcheck(lambda x: x ** p, (a,))


@given(shape=shapes, seed=seeds, base=st.sampled_from([2.0, 0.5, 3]))
def test_pow_scalar_tensor(shape, seed, base):
    b = leaf(shape, seed)
    assert gradcheck(lambda x: base ** x, (b,))
    assert gradgradcheck(lambda x: base ** x, (b,))


def test_pow_matches_numpy_in_all_three_forms():
    a, b = mg.tensor([1.5, 2.0]), mg.tensor([2.0, -1.0])
    np.testing.assert_allclose((a ** 2).data, [2.25, 4.0])
    np.testing.assert_allclose((2 ** b).data, [4.0, 0.5])
    np.testing.assert_allclose((a ** b).data, [2.25, 0.5])


# ----------------------------------------------------------------------------- unary ops

UNARY = {  # name: (function, low, high, away from kink)
    "neg": (lambda x: -x, -2, 2, 0),
    "exp": (mg.exp, -2, 2, 0),
    "log": (mg.log, 0.3, 3, 0),
    "sqrt": (mg.sqrt, 0.3, 3, 0),
    "tanh": (mg.tanh, -2, 2, 0),
    "sigmoid": (mg.sigmoid, -4, 4, 0),
    "abs": (mg.abs, -2, 2, 0.1),
    "relu": (mg.relu, -2, 2, 0.1),
    "clamp": (lambda x: x.clamp(-0.5, 1.0), -2, 2, 0),
    "clamp_min": (lambda x: x.clamp(min=0.25), -2, 2, 0),
    "clone": (mg.clone, -2, 2, 0),
}
TWICE = ["neg", "exp", "log", "sqrt", "tanh", "sigmoid", "clone", "relu"]   # relu: its backward is the kernels' slope mask


def unary_input(name, shape, seed):
    _, low, high, away = UNARY[name]
    x = leaf(shape, seed, low, high, away)
    if name.startswith("clamp"):            # keep off the clamp bounds
        for bound in (-0.5, 1.0, 0.25):
            x.data[np.abs(x.data - bound) < 0.05] += 0.1
    return x


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_gradients(name, shape, seed):
    assert gradcheck(UNARY[name][0], (unary_input(name, shape, seed),))


@pytest.mark.parametrize("name", TWICE)
@given(shape=shapes, seed=seeds)
def test_unary_second_derivatives(name, shape, seed):
    assert gradgradcheck(UNARY[name][0], (unary_input(name, shape, seed),))


@given(shapes_pair=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), seed=seeds)
def test_where_gradients_broadcast(shapes_pair, seed):
    sc, sa, sb = shapes_pair.input_shapes
    cond = mg.tensor(np.random.default_rng(seed).random(sc) > 0.5)
    a, b = leaf(sa, seed + 1), leaf(sb, seed + 2)
    assert gradcheck(lambda x, y: mg.where(cond, x, y), (a, b))
    assert gradgradcheck(lambda x, y: mg.where(cond, x * y, y), (a, b))


def test_where_sends_each_gradient_to_the_chosen_side():
    x = mg.tensor([-1.0, 4.0], requires_grad=True)
    mg.where(x > 0, x * 2, x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 2.0])


@given(shape=shapes, seed=seeds)
def test_cast_is_differentiable_both_ways(shape, seed):
    a = leaf(shape, seed)
    # the function is linear, so a large step is exact up to float32 rounding of x +- eps
    assert gradcheck(lambda x: x.float().double() * 3, (a,), eps=1e-2)
    y = a.float()
    assert y.dtype == np.float32
    (y * 2).sum().backward()
    assert a.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.data, 2.0)


def test_cast_to_int_has_no_grad():
    a = mg.tensor([1.7, -2.2], requires_grad=True)
    assert not a.long().requires_grad
    assert a.to(mg.int64).tolist() == [1, -2]


def test_clone_copies():
    a = mg.tensor([1.0, 2.0])
    c = a.clone()
    c.data[0] = 5
    assert a.data[0] == 1.0


def test_maximum_splits_ties_evenly():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([1.0, 3.0], requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.5, 0.0])
    np.testing.assert_allclose(b.grad.data, [0.5, 1.0])


def test_sigmoid_does_not_overflow():
    y = mg.sigmoid(mg.tensor([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])


# ----------------------------------------------------------------------------- comparisons, dtypes, errors

def test_comparisons_give_bool_tensors_without_grad():
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [(a == 2, [False, True, False]), (a != 2, [True, False, True]),
                             (a < 2, [True, False, False]), (a <= 2, [True, True, False]),
                             (a > 2, [False, False, True]), (a >= 2, [False, True, True])]:
        assert result.dtype == np.bool_
        assert not result.requires_grad
        assert result.tolist() == expected


def test_python_numbers_keep_the_tensor_dtype():
    a = mg.tensor([1.0, 2.0])
    assert (a * 2).dtype == np.float32
    assert (2.5 - a).dtype == np.float32
    assert (a ** 2).dtype == np.float32
    assert (mg.tensor([1, 2]) * 0.5).dtype == np.float32
    assert (mg.tensor([1, 2]) + 1).dtype == np.int64


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        mg.zeros(2, 3) + mg.zeros(4)


def test_mixed_float_dtypes_raise():
    with pytest.raises(TypeError, match="mul: mixed dtypes float32 and float64"):
        mg.zeros(2) * mg.zeros(2, dtype=mg.float64)


def test_math_on_integers_asks_for_float():
    with pytest.raises(TypeError, match="exp: expected a floating point tensor, got int64"):
        mg.exp(mg.tensor([1, 2]))


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp"):
        mg.zeros(2).clamp()


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.5, 2, (3, 4)), rng.uniform(-1, 1, (4,))
    funcs = [
        (lambda a, b: (a * b - a / (b + 3)) ** 2, lambda a, b: (a * b - a / (b + 3)) ** 2),
        (lambda a, b: mg.sigmoid(a) * mg.tanh(b) + mg.sqrt(a) * mg.log(a),
         lambda a, b: torch.sigmoid(a) * torch.tanh(b) + torch.sqrt(a) * torch.log(a)),
        (lambda a, b: mg.maximum(a - 1, b).exp() + (a - 1).relu() + (b.abs() ** a),
         lambda a, b: torch.maximum(a - 1, b).exp() + (a - 1).relu() + (b.abs() ** a)),
        (lambda a, b: (a - 1).clamp(-0.3, 0.4) * 2 ** b, lambda a, b: (a - 1).clamp(-0.3, 0.4) * 2 ** b),
    ]
    for ours, theirs in funcs:
        a, b = mg.tensor(x, requires_grad=True), mg.tensor(y, requires_grad=True)
        ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        out, tout = ours(a, b), theirs(ta, tb)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10)
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(a.grad.data, ta.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(b.grad.data, tb.grad.numpy(), rtol=1e-10)
