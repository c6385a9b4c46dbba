"""Learning-rate schedulers: closed forms, PyTorch's sequences value for value, state_dict round trips."""
import numpy as np
import pytest

import minigrad
from minigrad import optim
from minigrad.optim import lr_scheduler
from minigrad.tensor import Tensor


def make_optimizer(lrs=(0.1, 0.02)):
    groups = [{"params": [Tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=lrs[0])


def sequence(scheduler, epochs=12):
    """The lrs of every group for epochs 0..epochs-1 (construction sets epoch 0)."""
    lrs = [scheduler.get_last_lr()]
    for _ in range(epochs - 1):
        scheduler.optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
    return lrs


def test_step_lr_closed_form():
    lrs = sequence(lr_scheduler.StepLR(make_optimizer(), step_size=3, gamma=0.5))
    for epoch, values in enumerate(lrs):
        np.testing.assert_allclose(values, [0.1 * 0.5 ** (epoch // 3), 0.02 * 0.5 ** (epoch // 3)], rtol=1e-14)


def test_linear_lr_closed_form_warms_up_then_stays():
    sched = lr_scheduler.LinearLR(make_optimizer(), start_factor=0.25, end_factor=1.0, total_iters=4)
    for epoch, values in enumerate(sequence(sched)):
        factor = 0.25 + 0.75 * min(epoch, 4) / 4
        np.testing.assert_allclose(values, [0.1 * factor, 0.02 * factor], rtol=1e-14)


def test_lambda_lr_per_group_functions():
    sched = lr_scheduler.LambdaLR(make_optimizer(), [lambda e: 0.9 ** e, lambda e: 1.0 / (e + 1)])
    for epoch, values in enumerate(sequence(sched)):
        np.testing.assert_allclose(values, [0.1 * 0.9 ** epoch, 0.02 / (epoch + 1)], rtol=1e-14)


def test_the_optimizer_uses_the_scheduled_lr():
    opt = make_optimizer(lrs=(0.5,))
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    p = opt.param_groups[0]["params"][0]
    for expected_lr in (0.5, 0.05):
        p.grad = Tensor(np.ones(2))
        before = p.data.copy()
        opt.step()
        np.testing.assert_allclose(before - p.data, [expected_lr] * 2, rtol=1e-12)
        sched.step()


def torch_sequence(torch, name, kwargs, epochs=12):
    params = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in (0.1, 0.02)]
    opt = torch.optim.SGD(params, lr=0.1)
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **kwargs)
    lrs = [sched.get_last_lr()]
    for _ in range(epochs - 1):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", dict(step_size=1)),
    ("StepLR", dict(step_size=4, gamma=0.3)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.5, total_iters=7)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=3)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e)),
])
def test_matches_torch_value_for_value(name, kwargs):
    torch = pytest.importorskip("torch")
    ours = sequence(getattr(lr_scheduler, name)(make_optimizer(), **kwargs), epochs=15)
    assert ours == torch_sequence(torch, name, kwargs, epochs=15)


class Warmup:
    """A callable object: LambdaLR keeps its attributes in the state_dict."""

    def __init__(self, length):
        self.length = length

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.length)


@pytest.mark.parametrize("make", [
    lambda opt: lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=6),
    lambda opt: lr_scheduler.LambdaLR(opt, Warmup(5)),
])
def test_state_dict_round_trip_resumes_the_same_sequence(make, tmp_path):
    opt = make_optimizer()
    sched = make(opt)
    for _ in range(3):
        opt.step()
        sched.step()
    minigrad.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "s.ckpt")
    expected = sequence(sched, epochs=6)

    ckpt = minigrad.load(tmp_path / "s.ckpt")
    opt2 = make_optimizer(lrs=(7.0, 7.0))
    opt2.load_state_dict(ckpt["optimizer"])
    sched2 = make(opt2)
    sched2.load_state_dict(ckpt["scheduler"])
    assert sequence(sched2, epochs=6) == expected


def test_lambda_state_dict_keeps_callable_objects_and_skips_functions():
    opt = make_optimizer()
    sched = lr_scheduler.LambdaLR(opt, [Warmup(8), lambda e: 1.0])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"length": 8}, None]
    other = lr_scheduler.LambdaLR(make_optimizer(), [Warmup(2), lambda e: 1.0])
    other.load_state_dict(state)
    assert other.lr_lambdas[0].length == 8


def test_resuming_with_last_epoch_keeps_the_current_lr():
    opt = make_optimizer()
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    resumed = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5, last_epoch=sched.last_epoch)
    assert resumed.get_last_lr() == sched.get_last_lr()


def test_clear_errors():
    opt = make_optimizer()
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="start_factor must be in"):
        lr_scheduler.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(TypeError, match="expected an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(make_optimizer(), step_size=1, last_epoch=3)
