"""The engine: accumulation, grad(), retained and freed graphs, no_grad, deep graphs, anomaly mode,
memory over a training-like loop, and second derivatives through a gradient penalty (WGAN-GP)."""
import gc

import numpy as np
import pytest

import minigrad as mg
from minigrad import gradcheck
from minigrad.autograd import Context


def test_backward_accumulates_into_grad_across_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2 + 3, 4 + 3])


def test_backward_reaches_a_leaf_through_two_paths_once():
    x = mg.tensor(3.0, requires_grad=True)
    y = x * 2
    (y * y + y).backward()              # d/dx (4x^2 + 2x) = 8x + 2
    assert x.grad.item() == pytest.approx(26.0)


def test_grad_does_not_touch_dot_grad_and_matches_backward():
    x = mg.tensor([0.5, -1.0], requires_grad=True)
    g, = mg.grad((x.exp() * x).sum(), x)
    assert x.grad is None
    np.testing.assert_allclose(g.data, np.exp(x.data) * (1 + x.data), rtol=1e-6)
    assert not g.requires_grad


def test_grad_with_create_graph_gives_second_derivatives():
    x = mg.tensor([0.3, 1.2], dtype=mg.float64, requires_grad=True)
    g, = mg.grad((x ** 3).sum(), x, create_graph=True)       # 3x^2
    assert g.requires_grad
    gg, = mg.grad(g.sum(), x)                                  # 6x
    np.testing.assert_allclose(gg.data, 6 * x.data)


def test_grad_allow_unused():
    x, y = mg.tensor(1.0, requires_grad=True), mg.tensor(2.0, requires_grad=True)
    out = x * 3
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        mg.grad(out, [x, y], retain_graph=True)
    gx, gy = mg.grad(out, [x, y], allow_unused=True)
    assert gx.item() == 3.0 and gy is None


def test_grad_with_respect_to_a_non_leaf():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    out = (h * h).sum()
    gh, = mg.grad(out, h)
    np.testing.assert_allclose(gh.data, 2 * h.data)


def test_retain_graph_allows_a_second_backward():
    x = mg.tensor(2.0, requires_grad=True)
    y = x.exp() * x
    y.backward(retain_graph=True)
    first = x.grad.item()
    y.backward()
    assert x.grad.item() == pytest.approx(2 * first)


def test_second_backward_through_a_freed_graph_names_the_op():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through (Sum|Mul) a second time.*retain_graph=True"):
        y.backward()


def test_backward_of_a_non_scalar_needs_a_gradient():
    x = mg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2, 3\)"):
        (x * 2).backward()
    (x * 2).backward(mg.ones(2, 3))
    np.testing.assert_allclose(x.grad.data, 2.0)
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the output has shape \(2, 3\)"):
        (x * 2).backward(mg.ones(3))


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (mg.ones(2) * 2).sum().backward()


def test_no_grad_builds_no_graph():
    x = mg.ones(3, requires_grad=True)
    with mg.no_grad():
        y = (x * 2).exp().sum()
    assert not y.requires_grad and y.grad_fn is None
    y2 = (x * 2).sum()
    assert y2.requires_grad and y2.grad_fn is not None


def test_detach_cuts_the_graph():
    x = mg.tensor(2.0, requires_grad=True)
    y = x * x.detach()
    y.backward()
    assert x.grad.item() == 2.0


def test_a_ten_thousand_op_chain_does_not_recurse():
    x = mg.tensor(1.0, dtype=mg.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000)


def test_anomaly_mode_names_the_op_that_made_a_nan():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    mg.set_detect_anomaly(True)
    try:
        with np.errstate(divide="ignore"):
            with pytest.raises(RuntimeError, match="anomaly detected: Sqrt.backward produced inf"):
                x.sqrt().sum().backward()
    finally:
        mg.set_detect_anomaly(False)
    assert not mg.is_anomaly_enabled()


def test_without_anomaly_mode_the_inf_just_propagates():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad.data[0])


def _live_contexts():
    gc.collect()
    return sum(type(o) is Context for o in gc.get_objects())


def test_memory_stays_flat_over_a_training_loop():
    w = mg.randn(8, 8, dtype=mg.float64, requires_grad=True)
    x = mg.randn(4, 8, dtype=mg.float64)
    counts = []
    for step in range(50):
        h = (x @ w).tanh()
        loss = (h * h).mean() + mg.logsumexp(h, 1).mean()
        loss.backward()
        with mg.no_grad():
            w.data -= 0.01 * w.grad.data
        w.grad = None
        if step in (5, 49):
            counts.append(_live_contexts())
    assert counts[1] <= counts[0]


def test_gradient_penalty_second_derivative_matches_finite_differences():
    """WGAN-GP: penalty(w) = sum_i ||d f(x_i; w) / d x_i||^2, differentiated in w through grad(create_graph=True)."""
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w1 = mg.tensor(rng.standard_normal((4, 5)) * 0.5, requires_grad=True)
    w2 = mg.tensor(rng.standard_normal((5, 1)) * 0.5, requires_grad=True)

    def penalty(w1, w2):
        critic = ((x @ w1).tanh() @ w2).sigmoid().sum()
        gx, = mg.grad(critic, x, create_graph=True)
        return ((gx * gx).sum(1).sqrt() - 1).pow(2).mean()

    assert gradcheck(penalty, (w1, w2))
    p = penalty(w1, w2)
    p.backward()
    assert w1.grad is not None and w2.grad is not None and x.grad is not None


def test_requires_grad_only_for_floats():
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        mg.tensor([1, 2], requires_grad=True)


def test_in_place_change_of_a_parameter_needs_no_grad():
    w = mg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="zero_: a tensor that requires grad"):
        w.zero_()
    with mg.no_grad():
        w.zero_()
    assert w.tolist() == [0.0, 0.0]


def test_backward_runs_each_node_once_on_a_diamond():
    x = mg.tensor(1.5, dtype=mg.float64, requires_grad=True)
    a = x.exp()
    out = a * a + a.tanh()             # a feeds two ops; its own backward must run once
    out.backward()
    e = np.exp(1.5)
    expected = 2 * e * e + (1 - np.tanh(e) ** 2) * e
    assert x.grad.item() == pytest.approx(expected)
