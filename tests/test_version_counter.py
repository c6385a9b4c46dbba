"""The version counter: an in-place change to a tensor an op saved for backward is an error, not a wrong gradient."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.optim as optim

# in-place method name -> a call on a tensor of shape (3,)
INPLACE = {
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(0.5),
    "copy_": lambda t: t.copy_(np.ones(3, np.float32)),
    "add_": lambda t: t.add_(1.0),
    "sub_": lambda t: t.sub_(minigrad.tensor([1.0, 2.0, 3.0])),
    "mul_": lambda t: t.mul_(2.0),
    "div_": lambda t: t.div_(2.0),
}

# op name as the error names it -> f(a) where `a` is saved for backward (or the output is kept)
SAVES_INPUT = {
    "Mul": lambda a: a * a,
    "Div": lambda a: 1.0 / a,
    "PowScalar": lambda a: a ** 3,
    "MatMul": lambda a: a @ minigrad.ones(3, 2),
    "Log": lambda a: a.log(),
}
KEEPS_OUTPUT = {                       # backward reads the op's own output
    "Exp": lambda a: a.exp(),
    "Tanh": lambda a: a.tanh(),
    "Sigmoid": lambda a: a.sigmoid(),
    "Sqrt": lambda a: a.sqrt(),
}


def positive(seed):
    return minigrad.tensor(np.random.default_rng(seed).uniform(0.5, 2.0, 3).astype(np.float32), requires_grad=True)


def test_the_issue_example_raises_instead_of_zeros():
    x = positive(0)
    a = x * 1
    b = a * a
    a.detach().zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*Mul.*zero_"):
        b.sum().backward()


@settings(max_examples=30, deadline=None)
@given(method=st.sampled_from(sorted(INPLACE)), op=st.sampled_from(sorted(SAVES_INPUT)), seed=st.integers(0, 99))
def test_changing_a_saved_input_in_place_is_caught(method, op, seed):
    x = positive(seed)
    a = x * 1                                     # a non-leaf the op saves
    y = SAVES_INPUT[op](a)
    INPLACE[method](a.detach())
    with pytest.raises(RuntimeError, match=rf"modified by an inplace operation.*saved by {op}.*{method}"):
        y.sum().backward()


@settings(max_examples=20, deadline=None)
@given(method=st.sampled_from(sorted(INPLACE)), op=st.sampled_from(sorted(KEEPS_OUTPUT)), seed=st.integers(0, 99))
def test_changing_a_kept_output_in_place_is_caught(method, op, seed):
    y = KEEPS_OUTPUT[op](positive(seed))
    INPLACE[method](y.detach())
    with pytest.raises(RuntimeError, match=rf"its output of shape \(3,\), saved by {op}.*{method}"):
        y.sum().backward()


@settings(max_examples=20, deadline=None)
@given(op=st.sampled_from(sorted(SAVES_INPUT) + sorted(KEEPS_OUTPUT)), seed=st.integers(0, 99))
def test_without_an_inplace_change_the_gradient_matches_a_fresh_graph(op, seed):
    fn = {**SAVES_INPUT, **KEEPS_OUTPUT}[op]
    x1, x2 = positive(seed), positive(seed)
    y1 = fn(x1 * 1)
    (x2 * 1).detach().add_(0.0)                   # an in-place change to another graph's tensor
    fn(x2 * 1).sum().backward()
    y1.sum().backward()
    np.testing.assert_array_equal(x1.grad.data, x2.grad.data)


@pytest.mark.parametrize("method", sorted(INPLACE))
def test_a_change_made_before_the_op_is_fine_and_counts(method):
    x = positive(1)
    a = (x * 1).detach()
    before = a._version.value
    INPLACE[method](a)
    assert a._version.value == before + 1 and a._version.last_op == method
    a.requires_grad_(True)
    (a * a).sum().backward()                      # the op saw the changed values: a correct gradient
    np.testing.assert_allclose(a.grad.data, 2 * a.data)


def test_an_op_that_saves_nothing_is_not_flagged():
    x = positive(2)
    a = x * 1
    y = a + 1                                     # Add's backward needs no values
    a.detach().mul_(3.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.ones(3, np.float32))


def test_inplace_arithmetic_checks_shapes_and_grad_mode():
    t = minigrad.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"add_: operand of shape \(4,\) does not broadcast to \(2, 3\)"):
        t.add_(np.ones(4))
    assert t._version.value == 0                  # a refused change is not counted
    w = minigrad.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="mul_: a tensor that requires grad cannot be changed in place"):
        w.mul_(2.0)
    with minigrad.no_grad():
        w.mul_(2.0).add_(1.0, alpha=3)
    np.testing.assert_array_equal(w.data, np.full(3, 3.0, np.float32))


@pytest.mark.parametrize("make_opt", [lambda p: optim.Adam(p, lr=1e-2), lambda p: optim.SGD(p, lr=1e-2, momentum=0.9),
                                      lambda p: optim.RMSprop(p, lr=1e-3)])
def test_optimizer_steps_and_batch_norm_statistics_are_not_flagged(make_opt):
    """The engine's own in-place work (kernels.adam_step, p.data -= ..., running stats) passes the check."""
    minigrad.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 1))
    opt = make_opt(net.parameters())
    x = minigrad.randn(4, 1, 6, 6)
    losses = []
    for _ in range(3):
        loss = F.binary_cross_entropy_with_logits(net(x), minigrad.ones(4, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_binary_cross_entropy_refuses_targets_outside_0_1():
    p = minigrad.tensor([0.2, 0.7])
    for bad in ([1.5, 0.0], [-0.1, 1.0], [float("nan"), 0.0]):
        with pytest.raises(ValueError, match=r"binary_cross_entropy: target must hold probabilities in \[0, 1\]"):
            F.binary_cross_entropy(p, minigrad.tensor(bad))
    assert F.binary_cross_entropy(p, minigrad.tensor([0.0, 1.0])).item() > 0


def test_a_view_shares_the_counter_of_the_tensor_it_views():
    x = positive(3)
    a = x * 1
    y = a.reshape(3, 1) * a.reshape(3, 1)         # Mul saves the reshape views of a
    a.detach().fill_(0.0)
    with pytest.raises(RuntimeError, match="saved by Mul.*fill_"):
        y.sum().backward()
    b = x * 1
    z = b * b
    b[1:].detach().zero_()                        # a slice of b changed in place
    with pytest.raises(RuntimeError, match="saved by Mul.*zero_"):
        z.sum().backward()
