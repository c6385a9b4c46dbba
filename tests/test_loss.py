"""Losses: gradients by finite differences, values against PyTorch, stability at large logits, errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
from minigrad import gradcheck, gradgradcheck
from minigrad.nn import functional as F

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
seeds = st.integers(0, 2 ** 16)
reductions = st.sampled_from(["mean", "sum", "none"])


def _t(a, grad=True):
    return minigrad.tensor(np.asarray(a, dtype=np.float64), dtype=minigrad.float64, requires_grad=grad)


@given(shapes, seeds, reductions)
def test_bce_gradients(shape, seed, reduction):
    rng = np.random.default_rng(seed)
    p = _t(rng.uniform(0.05, 0.95, shape))
    t = _t(rng.uniform(0, 1, shape))
    w = _t(rng.uniform(0.5, 2, shape[-1:]), grad=False)
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), [p, t])
    assert gradcheck(lambda a: F.binary_cross_entropy(a, t, weight=w, reduction=reduction), [p])


@given(shapes, seeds, reductions)
def test_bce_with_logits_gradients(shape, seed, reduction):
    rng = np.random.default_rng(seed)
    x = _t(rng.standard_normal(shape) * 3)
    t = _t(rng.uniform(0, 1, shape))
    pw = _t(rng.uniform(0.5, 3, shape[-1:]))
    fn = lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction)  # noqa: E731
    assert gradcheck(fn, [x, t])
    assert gradgradcheck(fn, [x, t])
    assert gradcheck(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c, reduction=reduction),
                     [x, t, pw])


@given(shapes, seeds, reductions)
def test_mse_l1_gradients(shape, seed, reduction):
    rng = np.random.default_rng(seed)
    x, y = _t(rng.standard_normal(shape)), _t(rng.standard_normal(shape))
    y.data[np.abs(x.data - y.data) < 0.1] += 0.5                             # keep |x - y| off l1's kink
    assert gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, y])
    assert gradgradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, y])
    assert gradcheck(lambda a, b: F.l1_loss(a, b, reduction=reduction), [x, y])


@given(st.integers(1, 4), st.integers(2, 5), st.sampled_from([(), (3,), (2, 2)]), seeds, reductions,
       st.sampled_from([0.0, 0.2]), st.booleans())
def test_cross_entropy_and_nll_gradients(n, c, extra, seed, reduction, smoothing, weighted):
    rng = np.random.default_rng(seed)
    x = _t(rng.standard_normal((n, c) + extra) * 2)
    target = minigrad.tensor(rng.integers(0, c, (n,) + extra))
    w = _t(rng.uniform(0.5, 2, c), grad=False) if weighted else None
    assert gradcheck(lambda a: F.cross_entropy(a, target, w, reduction=reduction, label_smoothing=smoothing), [x])
    assert gradcheck(lambda a: F.nll_loss(a, target, w, reduction=reduction), [x])


def test_bce_with_logits_is_finite_and_exact_at_large_logits():
    x = _t([50.0, -50.0, 50.0, -50.0, 0.0])
    t = _t([1.0, 0.0, 0.0, 1.0, 1.0], grad=False)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.data, [np.log1p(np.exp(-50)), np.log1p(np.exp(-50)), 50.0, 50.0, np.log(2)],
                               rtol=1e-12)
    loss.sum().backward()
    sig = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(x.grad.data, sig - t.data, rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(x.grad.data))
    assert gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, t, reduction="sum"), [_t(x.data)])
    # float32 logits far beyond exp's range stay finite too
    big = minigrad.tensor([1e4, -1e4], requires_grad=True)
    out = F.binary_cross_entropy_with_logits(big, minigrad.tensor([0.0, 0.0]))
    out.backward()
    np.testing.assert_allclose(out.data, 5e3)
    np.testing.assert_allclose(big.grad.data, [0.5, 0.0])


def test_bce_clamps_log_at_minus_100():
    p = _t([0.0, 1.0, 1.0])
    t = _t([1.0, 0.0, 1.0], grad=False)
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss.data, [100.0, 100.0, 0.0])
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.data))


def test_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 2)) * 3
    t01 = rng.uniform(0, 1, (4, 3, 2))
    p = rng.uniform(0.01, 0.99, (4, 3, 2))
    w = rng.uniform(0.5, 2, 3)
    pw = rng.uniform(0.5, 2, (3, 1))
    cls = rng.integers(0, 3, (4, 2))
    T = torch.tensor
    for reduction in ("mean", "sum", "none"):
        pairs = [
            (F.binary_cross_entropy(p, t01, reduction=reduction), tf.binary_cross_entropy(T(p), T(t01), reduction=reduction)),
            (F.binary_cross_entropy_with_logits(x, t01, reduction=reduction, pos_weight=pw),
             tf.binary_cross_entropy_with_logits(T(x), T(t01), reduction=reduction, pos_weight=T(pw))),
            (F.binary_cross_entropy_with_logits(x, t01, weight=pw, reduction=reduction),
             tf.binary_cross_entropy_with_logits(T(x), T(t01), weight=T(pw), reduction=reduction)),
            (F.mse_loss(x, p, reduction=reduction), tf.mse_loss(T(x), T(p), reduction=reduction)),
            (F.l1_loss(x, p, reduction=reduction), tf.l1_loss(T(x), T(p), reduction=reduction)),
            (F.nll_loss(x, cls, reduction=reduction), tf.nll_loss(T(x), T(cls), reduction=reduction)),
        ]
        for smoothing in (0.0, 0.3):
            for weight in (None, w):
                pairs.append((F.cross_entropy(x, cls, None if weight is None else weight, reduction=reduction,
                                              label_smoothing=smoothing),
                              tf.cross_entropy(T(x), T(cls), None if weight is None else T(weight),
                                               reduction=reduction, label_smoothing=smoothing)))
            probs = rng.dirichlet(np.ones(3), (4, 2)).transpose(0, 2, 1)
            pairs.append((F.cross_entropy(x, probs, reduction=reduction, label_smoothing=smoothing),
                          tf.cross_entropy(T(x), T(probs), reduction=reduction, label_smoothing=smoothing)))
        for ours, theirs in pairs:
            assert ours.shape == tuple(theirs.shape)
            np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_unbatched_and_float32():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal(5).astype(np.float32)
    ours = F.cross_entropy(minigrad.tensor(x), minigrad.tensor(np.array(3)))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.data, torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(3)).numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits, F.binary_cross_entropy])
def test_shape_mismatch_and_bad_reduction(fn):
    a = minigrad.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=r"target shape \(3,\) must be the same as input shape \(2, 3\)"):
        fn(a, minigrad.full((3,), 0.5))
    with pytest.raises(ValueError, match="reduction must be one of"):
        fn(a, a, reduction="avg")


def test_class_target_errors():
    x = minigrad.randn(2, 3)
    with pytest.raises(IndexError, match="3 classes"):
        F.cross_entropy(x, minigrad.tensor(np.array([0, 3])))
    with pytest.raises(ValueError, match="does not match input shape"):
        F.cross_entropy(x, minigrad.tensor(np.array([0, 1, 2])))
    with pytest.raises(TypeError, match="class indices"):
        F.nll_loss(x, minigrad.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, minigrad.tensor(np.array([0, 1])), reduction="bad")


def test_bce_rejects_values_outside_0_1():
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(minigrad.tensor([1.5]), minigrad.tensor([1.0]))
