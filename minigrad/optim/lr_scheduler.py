"""Learning-rate schedulers: change each parameter group's "lr" once per epoch (or per step).

Call `scheduler.step()` after `optimizer.step()`. Construction already takes the first step
(epoch 0), so `get_last_lr()` is the learning rate the first epoch trains with. Like PyTorch,
StepLR and LinearLR update the *current* lr multiplicatively each step (so an lr changed by hand
keeps being scaled), and the schedules match torch.optim.lr_scheduler value for value.
"""
import numbers
import types

from .optimizer import Optimizer


class LRScheduler:
    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr'; to resume with "
                                   "last_epoch >= 0, load the optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._resuming = last_epoch != -1
        self.step()                              # epoch 0 (or, when resuming, keep the current lrs)
        self._resuming = False

    def get_lr(self):
        """The learning rates for epoch `self.last_epoch`, one per parameter group."""
        raise NotImplementedError

    def get_last_lr(self):
        """The learning rates set by the latest step()."""
        return list(self._last_lr)

    def step(self):
        self.last_epoch += 1
        if self._resuming:
            values = [group["lr"] for group in self.optimizer.param_groups]
        else:
            values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer: numbers and lists, ready for minigrad.save."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore the schedule, and the optimizer's lrs to the last ones it set.

        (Unlike PyTorch, which leaves in place the lr that constructing the scheduler just set, so a
        freshly built LinearLR would apply its start_factor a second time on resume.)
        """
        self.__dict__.update(state_dict)
        self._restore_lrs()

    def _restore_lrs(self):
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the learning rate by `gamma` every `step_size` epochs: lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); one function for all groups or a list with one per group.

    state_dict() leaves the functions out (they cannot be stored in a checkpoint); a callable
    object's attributes are kept, as in PyTorch.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n_groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n_groups:
                raise ValueError(f"LambdaLR: expected {n_groups} lr_lambdas (one per parameter group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n_groups
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * f(self.last_epoch) for f, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        state = {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if _is_plain_function(f) else dict(vars(f)) for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved_lambdas = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(state)
        for f, saved in zip(self.lr_lambdas, saved_lambdas):
            if saved is not None:
                vars(f).update(saved)
        self._restore_lrs()


class LinearLR(LRScheduler):
    """Scale the learning rate by a factor that moves linearly from start_factor to end_factor
    over `total_iters` epochs, then stays at end_factor (warm-up):

        lr(epoch) = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        if not isinstance(total_iters, numbers.Integral) or total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a positive integer, got {total_iters!r}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self.last_epoch > self.total_iters:
            return self._current_lrs()
        # ratio of this epoch's factor to the previous one's
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._current_lrs()]


def _is_plain_function(f):
    """A def or lambda (not storable), as opposed to a callable object whose attributes can be saved."""
    return isinstance(f, (types.FunctionType, types.BuiltinFunctionType)) or not hasattr(f, "__dict__")
