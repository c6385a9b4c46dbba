"""Optimizers: closed forms worked out by hand, PyTorch as a yardstick, state_dict round trips, errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
from minigrad import optim
from minigrad.tensor import Tensor


def param(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


def set_grad(p, g):
    p.grad = Tensor(np.array(g, dtype=p.data.dtype))


# ----------------------------------------------------------------------------- closed forms
# Loss 0.5 * a * p^2 (gradient a * p) or a linear loss (constant gradient); values worked out by hand.

def test_sgd_plain_is_geometric_decay_on_a_quadratic():
    a, lr, p0 = np.array([1.0, 3.0]), 0.1, np.array([2.0, -1.0])
    p = param(p0)
    opt = optim.SGD([p], lr=lr)
    for _ in range(3):
        set_grad(p, a * p.data)
        opt.step()
    np.testing.assert_allclose(p.data, p0 * (1 - lr * a) ** 3, rtol=1e-14)


def test_sgd_momentum_two_steps():
    lr, m, g0, g1 = 0.1, 0.9, np.array([1.0, -2.0]), np.array([0.5, 4.0])
    p = param([0.0, 0.0])
    opt = optim.SGD([p], lr=lr, momentum=m)
    set_grad(p, g0), opt.step()
    np.testing.assert_allclose(p.data, -lr * g0, rtol=1e-14)          # first buffer is the gradient
    set_grad(p, g1), opt.step()
    np.testing.assert_allclose(p.data, -lr * g0 - lr * (m * g0 + g1), rtol=1e-14)


def test_sgd_nesterov_dampening_and_weight_decay_first_steps():
    lr, m, wd = 0.1, 0.5, 0.01
    p = param([2.0])
    opt = optim.SGD([p], lr=lr, momentum=m, nesterov=True, weight_decay=wd)
    set_grad(p, [1.0]), opt.step()
    g0 = 1.0 + wd * 2.0
    p1 = 2.0 - lr * (g0 + m * g0)                                      # nesterov looks one buffer ahead
    np.testing.assert_allclose(p.data, [p1], rtol=1e-14)

    q = param([2.0])
    opt = optim.SGD([q], lr=lr, momentum=m, dampening=0.25)
    set_grad(q, [1.0]), opt.step()
    set_grad(q, [3.0]), opt.step()
    np.testing.assert_allclose(q.data, [2.0 - lr * 1.0 - lr * (m * 1.0 + 0.75 * 3.0)], rtol=1e-14)


def test_adam_constant_gradient_moves_lr_per_step():
    # With a constant gradient both bias-corrected moments are exact: m_hat = g, v_hat = g^2.
    lr, eps, g = 0.01, 1e-8, np.array([0.5, -2.0, 1e-3])
    p = param([1.0, 1.0, 1.0])
    opt = optim.Adam([p], lr=lr, eps=eps)
    for _ in range(3):
        set_grad(p, g)
        opt.step()
    np.testing.assert_allclose(p.data, 1.0 - 3 * lr * g / (np.abs(g) + eps), rtol=1e-12)


def test_adam_two_steps_and_amsgrad_keeps_the_largest_second_moment():
    lr, b1, b2, eps, g0, g1 = 0.1, 0.9, 0.999, 1e-8, 2.0, 0.0
    for amsgrad in (False, True):
        p = param([1.0])
        opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, amsgrad=amsgrad)
        set_grad(p, [g0]), opt.step()
        p1 = 1.0 - lr * g0 / (abs(g0) + eps)
        np.testing.assert_allclose(p.data, [p1], rtol=1e-12)
        set_grad(p, [g1]), opt.step()
        m2 = b1 * (1 - b1) * g0 + (1 - b1) * g1
        v1, v2 = (1 - b2) * g0 ** 2, b2 * (1 - b2) * g0 ** 2 + (1 - b2) * g1 ** 2
        v = max(v1, v2) if amsgrad else v2                          # g1 = 0 makes v shrink: v2 < v1
        p2 = p1 - lr * (m2 / (1 - b1 ** 2)) / (np.sqrt(v / (1 - b2 ** 2)) + eps)
        np.testing.assert_allclose(p.data, [p2], rtol=1e-12)


def test_adam_weight_decay_adds_to_the_gradient():
    p, q = param([3.0]), param([3.0])
    opt_p, opt_q = optim.Adam([p], lr=0.1, weight_decay=0.5), optim.Adam([q], lr=0.1)
    for _ in range(2):
        set_grad(p, [1.0]), set_grad(q, [1.0 + 0.5 * q.data[0]])
        opt_p.step(), opt_q.step()
    np.testing.assert_allclose(p.data, q.data, rtol=1e-14)


def test_rmsprop_first_steps_plain_centered_momentum():
    lr, alpha, eps, g = 0.01, 0.9, 1e-8, 2.0
    p = param([1.0])
    optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps)
    opt = optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps)
    set_grad(p, [g]), opt.step()
    np.testing.assert_allclose(p.data, [1.0 - lr * g / (np.sqrt(1 - alpha) * g + eps)], rtol=1e-12)

    p = param([1.0])
    opt = optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, centered=True)
    set_grad(p, [g]), opt.step()
    # s - a^2 = (1 - alpha) g^2 - (1 - alpha)^2 g^2 = alpha (1 - alpha) g^2
    np.testing.assert_allclose(p.data, [1.0 - lr * g / (np.sqrt(alpha * (1 - alpha)) * g + eps)], rtol=1e-12)

    p, m = param([1.0]), 0.5
    opt = optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, momentum=m)
    set_grad(p, [g]), opt.step()
    buf1 = g / (np.sqrt(1 - alpha) * g + eps)
    set_grad(p, [g]), opt.step()
    s2 = alpha * (1 - alpha) * g * g + (1 - alpha) * g * g
    buf2 = m * buf1 + g / (np.sqrt(s2) + eps)
    np.testing.assert_allclose(p.data, [1.0 - lr * buf1 - lr * buf2], rtol=1e-12)


def test_updates_keep_the_parameter_dtype_and_array():
    for cls in (optim.SGD, optim.Adam, optim.RMSprop):
        p = param([1.0, 2.0], dtype=np.float32)
        data = p.data
        opt = cls([p], lr=0.1)
        set_grad(p, [0.5, 0.5])
        opt.step()
        assert p.data is data and p.data.dtype == np.float32


def test_parameters_without_grad_are_skipped_and_step_runs_the_closure():
    p, q = param([1.0]), param([1.0])
    opt = optim.Adam([p, q], lr=0.1)
    set_grad(p, [1.0])
    assert opt.step(lambda: 42.0) == 42.0
    assert q.data[0] == 1.0 and p.data[0] != 1.0 and q not in opt.state


def test_trains_through_autograd():
    x = param([3.0, -2.0])
    target = np.array([1.0, 1.0])
    opt = optim.SGD([x], lr=0.25, momentum=0.5)
    for _ in range(60):
        opt.zero_grad()
        diff = x - Tensor(target)
        (diff * diff).sum().backward()
        opt.step()
    np.testing.assert_allclose(x.data, target, atol=1e-6)


def test_zero_grad():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    set_grad(p, [3.0, 4.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


# ----------------------------------------------------------------------------- against PyTorch

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.5, 0.999), weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.6, 0.9), amsgrad=True, eps=1e-6)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
]


def run_both(torch, name, kwargs, dtype, steps=6, seed=0, groups=False):
    """Same start, same gradients for minigrad and torch; return both final parameter lists."""
    rng = np.random.default_rng(seed)
    starts = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), ()]]
    ours = [Tensor(s.copy(), requires_grad=True) for s in starts]
    theirs = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    if groups:
        opt = getattr(optim, name)([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.003}], **kwargs)
        topt = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.003}],
                                          foreach=False, **kwargs)
    else:
        opt = getattr(optim, name)(ours, **kwargs)
        topt = getattr(torch.optim, name)(theirs, foreach=False, **kwargs)
    for step in range(steps):
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if step == 2 and i == 1:              # a parameter without a gradient is skipped by both
                p.grad, tp.grad = None, None
                continue
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad, tp.grad = Tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    return [p.data for p in ours], [tp.detach().numpy() for tp in theirs]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_matches_torch(name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs = run_both(torch, name, kwargs, dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for a, b in zip(ours, theirs):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_matches_torch_with_param_groups(name):
    torch = pytest.importorskip("torch")
    kwargs = {"SGD": dict(lr=0.1, momentum=0.9), "Adam": dict(lr=0.01), "RMSprop": dict(lr=0.01)}[name]
    ours, theirs = run_both(torch, name, kwargs, np.float64, groups=True)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@given(lr=st.floats(1e-4, 0.5), b1=st.floats(0.0, 0.99), b2=st.floats(0.5, 0.9999),
       wd=st.sampled_from([0.0, 0.1]), amsgrad=st.booleans())
def test_adam_matches_torch_on_drawn_hyperparameters(lr, b1, b2, wd, amsgrad):
    torch = pytest.importorskip("torch")
    kwargs = dict(lr=lr, betas=(b1, b2), weight_decay=wd, amsgrad=amsgrad)
    ours, theirs = run_both(torch, "Adam", kwargs, np.float64, steps=4)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@given(lr=st.floats(1e-4, 0.5), momentum=st.floats(0.0, 0.99), alpha=st.floats(0.5, 0.999),
       centered=st.booleans(), nesterov=st.booleans())
def test_sgd_and_rmsprop_match_torch_on_drawn_hyperparameters(lr, momentum, alpha, centered, nesterov):
    torch = pytest.importorskip("torch")
    sgd = dict(lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)
    rms = dict(lr=lr, momentum=momentum, alpha=alpha, centered=centered)
    for name, kwargs in (("SGD", sgd), ("RMSprop", rms)):
        ours, theirs = run_both(torch, name, kwargs, np.float64, steps=4)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_state_dict_layout_matches_torch():
    torch = pytest.importorskip("torch")
    p, tp = param([1.0, 2.0]), torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt, topt = optim.Adam([p], lr=0.01, amsgrad=True), torch.optim.Adam([tp], lr=0.01, amsgrad=True)
    set_grad(p, [1.0, -1.0])
    tp.grad = torch.tensor([1.0, -1.0], dtype=torch.float64)
    opt.step(), topt.step()
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert set(ours["state"][0]) == set(theirs["state"][0])
    assert ours["state"][0]["step"] == int(theirs["state"][0]["step"])
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        np.testing.assert_allclose(ours["state"][0][key], theirs["state"][0][key].numpy(), rtol=1e-14)
    assert set(ours["param_groups"][0]) <= set(theirs["param_groups"][0])
    assert ours["param_groups"][0]["params"] == [0]


# ----------------------------------------------------------------------------- state_dict round trip

@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5))])
def test_state_dict_round_trip_through_a_checkpoint_continues_identically(name, kwargs, tmp_path):
    rng = np.random.default_rng(1)
    grads = [[rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
             for _ in range(6)]
    ps = [param(np.ones((2, 3)), np.float32), param(np.zeros(4), np.float32)]
    opt = getattr(optim, name)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.003}], **kwargs)

    def run(opt, params, steps):
        for g in steps:
            for p, gi in zip(params, g):
                set_grad(p, gi)
            opt.step()

    run(opt, ps, grads[:3])
    minigrad.save({"optimizer": opt.state_dict(), "params": [p.data for p in ps]}, tmp_path / "opt.ckpt")
    run(opt, ps, grads[3:])

    ckpt = minigrad.load(tmp_path / "opt.ckpt")
    qs = [Tensor(a, requires_grad=True) for a in ckpt["params"]]
    resumed = getattr(optim, name)([{"params": qs[:1]}, {"params": qs[1:]}], **kwargs)
    resumed.load_state_dict(ckpt["optimizer"])
    assert resumed.param_groups[1]["lr"] == 0.003
    run(resumed, qs, grads[3:])
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.data, q.data)
        assert q.data.dtype == np.float32


def test_state_dict_is_a_snapshot_and_loading_copies():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    set_grad(p, [1.0]), opt.step()
    sd = opt.state_dict()
    set_grad(p, [1.0]), opt.step()
    assert sd["state"][0]["momentum_buffer"][0] == 1.0
    q = param([1.0])
    other = optim.SGD([q], lr=0.1, momentum=0.9)
    other.load_state_dict(sd)
    set_grad(q, [1.0]), other.step()
    assert sd["state"][0]["momentum_buffer"][0] == 1.0


def test_load_state_dict_rejects_a_different_layout():
    opt = optim.Adam([param([1.0]), param([1.0, 2.0])], lr=0.1)
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters in the state dict but 2"):
        opt.load_state_dict(optim.Adam([param([1.0])]).state_dict())
    small = optim.Adam([param([1.0]), param([1.0])])
    for p in small.param_groups[0]["params"]:
        set_grad(p, [1.0])
    small.step()
    with pytest.raises(ValueError, match="state 'exp_avg' of parameter 1 has shape"):
        opt.load_state_dict(small.state_dict())


# ----------------------------------------------------------------------------- LBFGS

def quadratic_closure(x, A, b, counter=None):
    """Loss 0.5 x.A.x - b.x; the closure sets the gradient A x - b by hand, as backward() would."""
    def closure():
        if counter is not None:
            counter.append(1)
        v = x.data
        x.grad = Tensor(A @ v - b)
        return Tensor(np.array(0.5 * v @ A @ v - b @ v))
    return closure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_reaches_the_closed_form_minimum_of_a_quadratic(line_search_fn):
    rng = np.random.default_rng(0)
    M = rng.standard_normal((6, 6))
    A = M @ M.T + 6 * np.eye(6)                       # symmetric positive definite
    b = rng.standard_normal(6)
    x = Tensor(np.zeros(6), requires_grad=True)
    opt = optim.LBFGS([x], lr=1, max_iter=50, line_search_fn=line_search_fn,
                      tolerance_grad=1e-12, tolerance_change=0.0)
    opt.step(quadratic_closure(x, A, b))
    np.testing.assert_allclose(x.data, np.linalg.solve(A, b), rtol=1e-7, atol=1e-9)


def test_lbfgs_through_autograd_with_two_parameters():
    w, c = param([3.0, -1.0]), param([[0.5], [2.0]])
    target_w, target_c = np.array([1.0, 2.0]), np.array([[-1.0], [0.25]])
    scale = Tensor(np.array([1.0, 10.0]))

    def closure():
        opt.zero_grad()
        dw, dc = w - Tensor(target_w), c - Tensor(target_c)
        loss = (dw * dw * scale).sum() + (dc * dc).sum()
        loss.backward()
        return loss

    opt = optim.LBFGS([w, c], max_iter=100, line_search_fn="strong_wolfe")
    loss = opt.step(closure)
    assert isinstance(loss, Tensor)
    np.testing.assert_allclose(w.data, target_w, atol=1e-6)
    np.testing.assert_allclose(c.data, target_c, atol=1e-6)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch_on_rosenbrock(line_search_fn):
    torch = pytest.importorskip("torch")

    def rosenbrock_grad(v):
        x, y = v
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])

    x = Tensor(np.array([-1.5, 2.0]), requires_grad=True)
    tx = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)

    def closure():
        f, g = rosenbrock_grad(x.data)
        x.grad = Tensor(g)
        return f

    def tclosure():
        f, g = rosenbrock_grad(tx.detach().numpy())
        tx.grad = torch.tensor(g)
        return f

    kwargs = dict(lr=0.5 if line_search_fn is None else 1, max_iter=15, history_size=5,
                  line_search_fn=line_search_fn)
    opt, topt = optim.LBFGS([x], **kwargs), torch.optim.LBFGS([tx], **kwargs)
    for _ in range(3):
        opt.step(closure)
        topt.step(tclosure)
        np.testing.assert_allclose(x.data, tx.detach().numpy(), rtol=1e-9)
    assert opt.state[x]["func_evals"] == topt.state[tx]["func_evals"]
    assert opt.state[x]["n_iter"] == topt.state[tx]["n_iter"]


def test_lbfgs_respects_max_eval_and_stops_at_a_stationary_point():
    A, b = np.diag([1.0, 100.0]), np.array([1.0, 1.0])
    x, calls = Tensor(np.zeros(2), requires_grad=True), []
    optim.LBFGS([x], max_iter=40, max_eval=7).step(quadratic_closure(x, A, b, calls))
    assert len(calls) <= 7
    x, calls = Tensor(np.linalg.solve(A, b), requires_grad=True), []
    optim.LBFGS([x]).step(quadratic_closure(x, A, b, calls))
    assert len(calls) == 1                             # the gradient is already zero


# ----------------------------------------------------------------------------- errors

def test_clear_errors():
    p = param([1.0])
    with pytest.raises(ValueError, match="invalid lr -0.1"):
        optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="invalid beta parameter at index 0"):
        optim.Adam([p], betas=(-0.1, 0.9))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="does not require grad"):
        optim.SGD([Tensor(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="nesterov momentum requires momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="invalid eps"):
        optim.RMSprop([p], eps=-1.0)
    with pytest.raises(ValueError, match="per-parameter options"):
        optim.LBFGS([{"params": [p]}, {"params": [param([2.0])]}])
    with pytest.raises(RuntimeError, match="needs a closure"):
        optim.LBFGS([p]).step()
    set_grad(p, [1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"gradient of shape \(2,\) does not match its parameter of shape \(1,\)"):
        optim.SGD([p], lr=0.1).step()


def test_add_param_group_fills_defaults():
    p, q = param([1.0]), param([2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": q, "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    assert "SGD (" in repr(opt)


def test_lbfgs_state_dict_round_trip_through_a_checkpoint(tmp_path):
    A, b = np.array([[3.0, 1.0, 0.0], [1.0, 4.0, 0.5], [0.0, 0.5, 2.0]]), np.array([1.0, -2.0, 0.5])
    x = Tensor(np.array([5.0, 5.0, 5.0]), requires_grad=True)
    opt = optim.LBFGS([x], max_iter=2, history_size=2)
    opt.step(quadratic_closure(x, A, b))
    minigrad.save({"opt": opt.state_dict(), "x": x.data}, tmp_path / "lbfgs.ckpt")
    opt.step(quadratic_closure(x, A, b))

    ckpt = minigrad.load(tmp_path / "lbfgs.ckpt")
    y = Tensor(ckpt["x"], requires_grad=True)
    resumed = optim.LBFGS([y], max_iter=2, history_size=2)
    resumed.load_state_dict(ckpt["opt"])
    resumed.step(quadratic_closure(y, A, b))
    np.testing.assert_array_equal(x.data, y.data)
