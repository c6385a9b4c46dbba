"""L-BFGS: a quasi-Newton method that builds a curvature model from the last few steps.

All parameters are seen as one flat vector x with gradient g. After each step the pair
(s = x_new - x_old, y = g_new - g_old) is kept (the last `history_size` of them); the
"two-loop recursion" turns them into d = -H g, where H approximates the inverse Hessian,
without ever forming a matrix:

    q = g;  for i newest..oldest:  a_i = rho_i s_i.q;  q -= a_i y_i       (rho_i = 1 / y_i.s_i)
    r = H0 q  with H0 = s.y / y.y of the newest pair
    for i oldest..newest:  b = rho_i y_i.r;  r += (a_i - b) s_i           d = -r

The step along d is `lr` (the first step is shortened to lr * min(1, 1/|g|_1)), or is chosen by
a strong-Wolfe line search (line_search_fn="strong_wolfe", see line_search.py).

`step(closure)` needs a closure that zeroes the gradients, recomputes the loss, calls backward()
and returns the loss; one step runs up to `max_iter` iterations and `max_eval` closure calls.
This follows PyTorch's LBFGS (same stopping rules, same state names), written over NumPy.
"""
import numpy as np

from ..device import array_module
from .line_search import strong_wolfe
from .optimizer import Optimizer, check_nonnegative


class LBFGS(Optimizer):
    _state_has_param_shape = False         # the state holds flat vectors over all parameters

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        check_nonnegative("LBFGS", lr=lr)
        if max_iter < 1 or history_size < 1:
            raise ValueError(f"LBFGS: max_iter and history_size must be >= 1, got {max_iter} and {history_size}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size,
                        line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ------------------------------------------------------------------ the flat view of all parameters
    def _flat_grad(self):
        """Every parameter's gradient, flattened and concatenated (zeros where a gradient is None)."""
        xp = array_module(self._params[0].data)
        parts = [xp.zeros(p.data.size, p.data.dtype) if p.grad is None else p.grad.data.reshape(-1)
                 for p in self._params]
        return xp.concatenate(parts)

    def _add_to_params(self, step_size, direction):
        """x += step_size * direction, slice by slice, in place on each parameter."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += step_size * direction[offset:offset + n].reshape(p.data.shape)
            offset += n

    def _set_params(self, flat):
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data[...] = flat[offset:offset + n].reshape(p.data.shape)
            offset += n

    def _evaluate_along(self, closure, x, t, d):
        """Loss and flat gradient at x + t d; the parameters are put back to x afterwards."""
        self._add_to_params(t, d)
        loss = _as_float(self._evaluate(closure))
        flat_grad = self._flat_grad()
        self._set_params(x)
        return loss, flat_grad

    # ------------------------------------------------------------------ one step = up to max_iter iterations
    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that recomputes the loss and calls backward()")
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._evaluate(closure)
        loss = _as_float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss                      # already at a stationary point

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad = state.get("H_diag"), state.get("prev_flat_grad")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- the direction d = -H g
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, H_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y.dot(s))
                if ys > 1e-10:                    # keep the pair only if the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y.dot(y))
                d = _two_loop(-flat_grad, old_dirs, old_stps, ro, H_diag)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # ---- the step length t
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad.dot(d))         # directional derivative; must be negative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = array_module(self._params[0].data).concatenate([p.data.reshape(-1) for p in self._params])

                def along(x, step, direction):
                    return self._evaluate_along(closure, x, step, direction)

                loss, flat_grad, t, ls_func_evals = strong_wolfe(along, x_init, t, d, loss, flat_grad, gtd,
                                                                 max_ls=max_eval - current_evals)
                self._add_to_params(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_to_params(t, d)         # fixed step; re-evaluate unless this was the last iteration
                opt_cond = False
                if n_iter != max_iter:
                    loss = _as_float(self._evaluate(closure))
                    flat_grad = self._flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping rules
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break                             # the step no longer moves the parameters
            if abs(loss - prev_loss) < tolerance_change:
                break                             # the loss no longer changes

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss


def _as_float(loss):
    """The closure's loss (a one-element Tensor or a number) as a Python float."""
    return float(loss.item() if hasattr(loss, "item") else loss)


def _two_loop(q, old_dirs, old_stps, ro, H_diag):
    """d = -H g from q = -g and the stored pairs (y_i = old_dirs[i], s_i = old_stps[i])."""
    al = [0.0] * len(old_dirs)
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = float(old_stps[i].dot(q)) * ro[i]
        q -= al[i] * old_dirs[i]
    r = q * H_diag
    for i in range(len(old_dirs)):
        be_i = float(old_dirs[i].dot(r)) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return r
