"""Tensor.register_post_accumulate_grad_hook and Optimizer.register_step_pre_hook (what DDP builds on)."""
import numpy as np
import pytest

import minigrad
from minigrad import nn, optim


def test_post_accumulate_hook_sees_the_final_gradient_once_per_backward():
    w = nn.Parameter(np.array([1.0, 2.0]))
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.data.copy()))
    ((w * w).sum() + (3 * w).sum()).backward()              # two paths into w: one call, with their sum
    np.testing.assert_allclose(seen, [[5.0, 7.0]])
    w.sum().backward()                                      # accumulated: the hook sees .grad after this one
    np.testing.assert_allclose(seen[-1], [6.0, 8.0])
    handle.remove()
    w.sum().backward()
    assert len(seen) == 2


def test_post_accumulate_hook_on_a_leaf_root_and_not_from_grad():
    w = nn.Parameter(np.array([1.0, 2.0]))
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(1))
    minigrad.grad((w * w).sum(), [w])                       # grad() does not accumulate: no call
    assert seen == []
    w.backward(minigrad.ones(2, dtype=minigrad.float64))
    assert seen == [1]
    with pytest.raises(RuntimeError, match="only a leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1), lambda p: optim.Adam(p),
                                  lambda p: optim.RMSprop(p)])
def test_step_pre_hook_runs_before_every_subclass_step_and_can_change_the_gradient(make):
    w = nn.Parameter(np.array([1.0]))
    opt = make([w])
    calls = []

    def zero_the_gradient(o, args, kwargs):
        calls.append(o)
        w.grad = minigrad.zeros_like(w)
    handle = opt.register_step_pre_hook(zero_the_gradient)
    w.grad = minigrad.tensor([1.0])
    opt.step()
    assert calls == [opt] and w.data[0] == 1.0             # the hook ran first: a zero gradient, no move
    handle.remove()
    w.grad = minigrad.tensor([1.0])
    opt.step()
    assert len(calls) == 1 and w.data[0] < 1.0
