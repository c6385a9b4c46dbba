"""Optimizer: the base class that holds parameter groups and per-parameter state.

An optimizer owns `param_groups`, a list of dicts, each with a "params" list and that group's
hyperparameters (lr, momentum, ...), exactly like PyTorch. `state[p]` is a dict of NumPy arrays and
numbers for parameter p (momentum buffers, Adam's moments, the step count).

Subclasses implement `step()`. Updates run in place on `p.data` with NumPy, outside the autograd
graph, in the dtype of the parameter: an optimizer step is bookkeeping, not part of the model.

state_dict() names each parameter by its position across all groups (0, 1, 2, ...), so a
checkpoint can be loaded into a fresh optimizer built over a fresh model with the same layout.
"""
import functools

import numpy as np

from ..autograd import enable_grad
from ..device import array_module, asarray, is_device_array
from ..hooks import RemovableHandle
from ..tensor import Tensor


def _runs_step_pre_hooks(step):
    @functools.wraps(step)
    def step_with_hooks(self, *args, **kwargs):
        for hook in list(self.__dict__.get("_step_pre_hooks", {}).values()):
            hook(self, args, kwargs)
        return step(self, *args, **kwargs)
    return step_with_hooks


class _Required:
    """Marks a hyperparameter that has no default and must be given (like torch's `required`)."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    _state_has_param_shape = True          # every state array has its parameter's shape (not so for LBFGS)

    def __init_subclass__(cls, **kwargs):
        """Every subclass's step() first runs the hooks of register_step_pre_hook."""
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _runs_step_pre_hooks(cls.__dict__["step"])

    def register_step_pre_hook(self, hook):
        """Call hook(optimizer, args, kwargs) before each step() (torch's name and signature); returns a
        RemovableHandle. minigrad.distributed averages the gradients over the ranks this way."""
        if "_step_pre_hooks" not in self.__dict__:
            self._step_pre_hooks = {}
        handle = RemovableHandle(self._step_pre_hooks)
        self._step_pre_hooks[handle.id] = hook
        return handle

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}                      # parameter (hashed by identity) -> dict of state
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("optimizer: params must be an iterable of Tensors or of dicts, got a single Tensor; "
                            "wrap it in a list: [tensor]")
        if isinstance(params, dict):
            params = [params]
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a dict {"params": [...], **hyperparameters}; missing hyperparameters take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("add_param_group: params must be an ordered collection (a set has no fixed order, "
                            "so the state_dict indices would change between runs); use a list")
        else:
            params = list(params) if params is not None else []
        if not params:
            raise ValueError(f"{type(self).__name__}: a parameter group has an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but parameter {i} of the group "
                                f"is a {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: parameter {i} of the group (shape {p.shape}) does not "
                                 "require grad; create it with requires_grad=True")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf Tensor (parameter {i}, "
                                 f"shape {p.shape}); optimize the leaf it was computed from")
        group["params"] = params

        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{type(self).__name__}: parameter group didn't specify a value of "
                                 f"required hyperparameter {name!r}")
            group.setdefault(name, default)

        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter appears twice in the same group")
        if any(id(p) in seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ------------------------------------------------------------------ the training-loop calls
    def zero_grad(self, set_to_none=True):
        """Forget the gradients of every parameter (None by default, or zero-filled arrays)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor._wrap(array_module(p.grad.data).zeros_like(p.grad.data))

    def step(self, closure=None):
        raise NotImplementedError

    def _evaluate(self, closure):
        """Run the closure (which recomputes the loss and calls backward) with grad mode on."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group):
        """(parameter, gradient array in the parameter's dtype) for every parameter that has a gradient."""
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad.data
            if g.shape != p.data.shape:
                raise RuntimeError(f"{type(self).__name__}.step: gradient of shape {g.shape} does not match its "
                                   f"parameter of shape {p.data.shape}")
            yield p, g.astype(p.data.dtype, copy=False)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [indices]}]}.

        Arrays are copies, so the snapshot does not change when training goes on.
        """
        index_of, groups, next_index = {}, [], 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index_of[id(p)] = next_index
                packed["params"].append(next_index)
                next_index += 1
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index_of[id(p)]] = _copy_state(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by state_dict() into this optimizer's parameters."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups', "
                             f"got {type(state_dict).__name__}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter groups "
                             f"but the optimizer has {len(self.param_groups)}")
        param_of = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} parameters "
                                 f"in the state dict but {len(group['params'])} in the optimizer")
            for index, p in zip(saved["params"], group["params"]):
                param_of[int(index)] = p

        self.state = {}
        for index, saved_state in state_dict["state"].items():
            p = param_of.get(int(index))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, which no group lists")
            self.state[p] = _state_for(p, saved_state, name, index, self._state_has_param_shape)
        for group, saved in zip(self.param_groups, saved_groups):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if isinstance(value, list) and key == "betas" else value


def _copy_state(value):
    if isinstance(value, np.ndarray) or is_device_array(value):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy_state(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_state(v) for v in value)
    return value


def _state_for(p, saved_state, name, index, check_shape):
    """A parameter's saved state, copied, floating arrays cast to the parameter's dtype."""
    state = {}
    for key, value in saved_state.items():
        if isinstance(value, Tensor):
            value = value.data
        if (isinstance(value, np.ndarray) or is_device_array(value)) and value.dtype.kind == "f":
            if check_shape and value.shape != p.data.shape:
                raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {index} has shape "
                                 f"{value.shape} but the parameter has shape {p.data.shape}")
            value = asarray(value, device=p.device)        # onto the parameter's device (a checkpoint's are on the host)
            state[key] = value.astype(p.data.dtype)       # astype copies
        else:
            state[key] = _copy_state(value)
    return state


def check_nonnegative(optimizer, **values):
    """Raise a clear ValueError for the first hyperparameter below zero, NaN or infinite."""
    for key, value in values.items():
        if not 0.0 <= value < float("inf"):
            raise ValueError(f"{optimizer}: invalid {key} {value!r}: must be >= 0 and finite")
