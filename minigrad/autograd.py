"""Reverse-mode automatic differentiation: Function, the backward walk, grad(), no_grad.

Every differentiable op is a subclass of `Function` with two static methods side by side:

    forward(ctx, *inputs)       arrays in (via `t.data`), one array out; save what backward needs on ctx
    backward(ctx, grad_output)  Tensor in, one gradient (Tensor or None) per input of forward

`Function.apply` runs forward, wraps the array in a Tensor, and, when any input requires a gradient,
links that Tensor to the ctx: the ctx *is* the graph node. Each node remembers where its inputs
came from (`ctx.next`): another node, a leaf Tensor (a parameter), or None (a constant).

backward is written with Tensor ops, so when it runs with grad mode on (`create_graph=True`) it
records a graph of its own, and gradients of gradients work (WGAN-GP's gradient penalty).
"""
import contextlib

import numpy as np

from . import device as _device

_grad_enabled = True
_detect_anomaly = False


# ----------------------------------------------------------------------------- grad mode

def is_grad_enabled():
    return _grad_enabled


@contextlib.contextmanager
def set_grad_enabled(mode):
    """Turn graph recording on or off inside a `with` block (also usable as a decorator)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, bool(mode)
    try:
        yield
    finally:
        _grad_enabled = previous


def no_grad():
    """`with no_grad():` ops record no graph (evaluation, optimizer updates)."""
    return set_grad_enabled(False)


def enable_grad():
    return set_grad_enabled(True)


def set_detect_anomaly(mode):
    """When on, backward checks every gradient for NaN/inf and names the op that produced it."""
    global _detect_anomaly
    _detect_anomaly = bool(mode)


def is_anomaly_enabled():
    return _detect_anomaly


# ----------------------------------------------------------------------------- Function

class Function:
    """Base class of every op. Subclasses define forward(ctx, ...) and backward(ctx, grad)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        if _device._loaded_cupy() is not None:     # only then can two inputs sit on different devices
            _device.same_device(cls.__name__.lower(), *(a.data for a in args if isinstance(a, Tensor)))
        ctx = Context(cls, args)
        data = cls.forward(ctx, *args, **kwargs)
        requires_grad = _grad_enabled and True in ctx.needs_input_grad
        out = Tensor._wrap(data, requires_grad=requires_grad, grad_fn=ctx if requires_grad else None)
        _share_version_of_view(out, args)
        if requires_grad:
            if ctx.keep_output:
                ctx._output_data = data
                ctx._output_version = out._version, out._version.value
        return out


def _share_version_of_view(out, args):
    """An output that is a view of an input's memory (reshape, permute, slicing) shares its version counter."""
    data = out.data
    base = getattr(data, "base", None)
    for a in args:
        arr = getattr(a, "data", None)                # Tensors only: other arguments have no array
        if isinstance(arr, np.ndarray) and (arr is data or (base is not None and (arr is base or arr.base is base))):
            out._version = a._version
            return


class Context:
    """The graph node of one op call: what backward needs, and where the inputs came from."""

    def __init__(self, fn, args):
        self.fn = fn
        self.name = fn.__name__
        # One entry per positional input: True when a gradient must flow back to it.
        self.needs_input_grad = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
        # Edges of the graph: the node that made each input, the leaf Tensor itself, or None.
        self.next = tuple([_edge(a) if need else None for a, need in zip(args, self.needs_input_grad)])
        self.keep_output = False      # forward sets this to read `ctx.output` in backward
        self._output_data = None
        self._saved = ()
        self._saved_versions = self._saved_values = ()
        self.freed = False

    def save_for_backward(self, *tensors):
        """Keep `tensors` for backward, with their versions: backward refuses if one changed in place."""
        self._saved = tensors
        self._saved_versions = tuple(getattr(t, "_version", None) for t in tensors)
        self._saved_values = tuple(v.value if v is not None else 0 for v in self._saved_versions)

    @property
    def saved_tensors(self):
        self._check_not_freed()
        for i, (version, value) in enumerate(zip(self._saved_versions, self._saved_values)):
            if version is not None and version.value != value:
                self._modified(f"input {i} of shape {self._saved[i].shape}", version, value)
        return self._saved

    def _modified(self, what, version, value):
        raise RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an inplace operation: "
            f"{what}, saved by {self.name}, is at version {version.value}; expected version {value} instead "
            f"(last changed by {version.last_op}). Change a clone() instead, or make the change before {self.name}.")

    @property
    def output(self):
        """The op's own output, as a Tensor linked to this node (for d tanh = 1 - tanh^2 etc.)."""
        self._check_not_freed()
        if self._output_data is None:
            raise RuntimeError(f"{self.name}.backward read ctx.output, but forward did not set ctx.keep_output")
        version, value = self._output_version
        if version.value != value:
            self._modified(f"its output of shape {self._output_data.shape}", version, value)
        out = Tensor._wrap(self._output_data, requires_grad=True, grad_fn=self)
        out._version = version
        return out

    def free(self):
        """Drop what backward needed; a later backward through this node raises."""
        self._saved = self._saved_versions = ()
        self._output_data = None
        self.freed = True

    def _check_not_freed(self):
        if self.freed:
            raise RuntimeError(
                f"Trying to backward through {self.name} a second time: its saved values were freed "
                f"by the first backward. Pass retain_graph=True to the first backward() if you need it twice.")

    def __repr__(self):
        return f"<{self.name}Backward>"


def _edge(t):
    return t.grad_fn if t.grad_fn is not None else t


# ----------------------------------------------------------------------------- the backward walk

def _topological_order(roots):
    """Nodes reachable from `roots`, each after every node that feeds gradient into it.

    Iterative depth-first search (a 10,000-op chain must not hit Python's recursion limit):
    a node is appended once all of its inputs' nodes are, then the list is reversed.
    """
    order, visited = [], set()
    for root in roots:
        if root is None or id(root) in visited:
            continue
        stack = [(root, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for parent in node.next:
                if isinstance(parent, Context) and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def _run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=None):
    """Push gradients from `outputs` back through the graph, each node once, in topological order.

    With `inputs=None` gradients accumulate into the `.grad` of every leaf reached (backward()).
    Otherwise only the paths that lead to `inputs` are walked, no `.grad` is touched, and the
    gradients are returned in a dict keyed by id(input's node or leaf) (grad()).
    """
    grads = {}                      # id(node or leaf) -> gradient accumulated so far
    for out, g in zip(outputs, grad_outputs):
        _accumulate(grads, _edge(out), g)
    order = _topological_order([o.grad_fn for o in outputs])

    wanted, leads, narrowed = None, None, []
    if inputs is not None:
        wanted = {id(_edge(t)) for t in inputs}
        kept, leads = _prune(order, wanted)
        order = [node for node, _ in kept]
        # Ask each node only for the gradients on a path to an input (a conv skips its weight
        # gradient when grad() wants d/dx); restored below, since a retained graph is reused.
        narrowed = [(node, node.needs_input_grad) for node, _ in kept]
        for node, needs in kept:
            node.needs_input_grad = tuple(a and b for a, b in zip(node.needs_input_grad, needs))
    reached = {}                    # id -> leaf whose .grad backward() accumulated into, in walk order
    try:
        _walk(order, grads, wanted, leads, retain_graph, create_graph, reached)
    finally:
        for node, needs in narrowed:
            node.needs_input_grad = needs
    _run_post_accumulate_grad_hooks(reached.values())
    return grads


def _run_post_accumulate_grad_hooks(leaves):
    """Each leaf's .grad is final once the walk is over: now its hooks may read it (Tensor.register_...)."""
    for leaf in leaves:
        for hook in list(getattr(leaf, "_post_accumulate_grad_hooks", {}).values()):
            hook(leaf)


def _walk(order, grads, wanted, leads, retain_graph, create_graph, reached):
    with set_grad_enabled(create_graph):
        for node in order:
            if wanted is not None and id(node) in wanted:
                continue                          # grad() stops at a non-leaf input
            grad = grads.pop(id(node), None)
            if grad is None:
                continue                          # no gradient reached this node
            node._check_not_freed()
            input_grads = node.fn.backward(node, grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if not retain_graph:
                node.free()
            for parent, g in zip(node.next, input_grads):
                if parent is None or g is None:
                    continue
                if _detect_anomaly:
                    _check_finite(node, g)
                if wanted is None and isinstance(parent, Tensor):
                    # A leaf reached by backward(): accumulate into .grad (a copy, never an alias).
                    g = g if create_graph else Tensor._wrap(g.data.copy())
                    parent.grad = g if parent.grad is None else parent.grad + g
                    reached[id(parent)] = parent
                elif wanted is None or id(parent) in wanted or id(parent) in leads:
                    _accumulate(grads, parent, g)


def _accumulate(grads, key, g):
    k = id(key)
    grads[k] = g if k not in grads else grads[k] + g


def _prune(order, wanted):
    """Nodes from which a wanted input can be reached, each with the input gradients it must compute."""
    leads, kept = set(), []
    for node in reversed(order):                  # inputs before the nodes they feed
        needs = tuple(p is not None and (id(p) in wanted or id(p) in leads) for p in node.next)
        if any(needs) or id(node) in wanted:
            leads.add(id(node))
            kept.append((node, needs))
    kept.reverse()
    return kept, leads


def _check_finite(node, g):
    arr = _device.to_host(g.data)                   # anomaly mode is for debugging: a copy to the host is fine
    if not np.all(np.isfinite(arr)):
        bad = "NaN" if np.isnan(arr).any() else "inf"
        raise RuntimeError(f"anomaly detected: {node.name}.backward produced {bad} in a gradient of shape {arr.shape}")


# ----------------------------------------------------------------------------- public entry points

def backward(tensor, gradient=None, retain_graph=False, create_graph=False):
    """d tensor / d leaf, accumulated into every reachable leaf's `.grad` (see Tensor.backward)."""
    if not tensor.requires_grad:
        raise RuntimeError("backward: tensor does not require grad and has no grad_fn "
                           "(was it made under no_grad(), or from tensors without requires_grad=True?)")
    gradient = _seed_gradient("backward", tensor, gradient)
    if tensor.grad_fn is None:                    # a leaf: d tensor/d tensor is the identity
        g = gradient if create_graph else Tensor._wrap(gradient.data.copy())
        tensor.grad = g if tensor.grad is None else tensor.grad + g
        _run_post_accumulate_grad_hooks([tensor])
        return
    _run_backward([tensor], [gradient], retain_graph or create_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple; `.grad` is not touched.

    With create_graph=True the result is itself differentiable (a gradient penalty can be backpropagated).
    """
    single_input = isinstance(inputs, Tensor)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) does not require grad")
    for o in outputs:
        if not o.requires_grad:
            raise RuntimeError(f"grad: output of shape {o.shape} does not require grad")
    seeds = [_seed_gradient("grad", o, g) for o, g in zip(outputs, grad_outputs)]
    retain_graph = create_graph if retain_graph is None else retain_graph
    grads = _run_backward(outputs, seeds, retain_graph, create_graph, inputs=inputs)

    result = []
    for i, t in enumerate(inputs):
        g = grads.get(id(_edge(t)))
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                               "pass allow_unused=True if this is expected")
        if g is not None and not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)


def _seed_gradient(where, tensor, gradient):
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(f"{where}: gradient can be implicitly created only for scalar outputs, "
                               f"but the output has shape {tensor.shape}; pass gradient=... of that shape")
        return Tensor._wrap(_device.array_module(tensor.data).ones_like(tensor.data))
    if not isinstance(gradient, Tensor):
        gradient = Tensor._wrap(_device.asarray(gradient, dtype=tensor.data.dtype, device=tensor.device))
    if gradient.shape != tensor.shape:
        raise RuntimeError(f"{where}: gradient has shape {gradient.shape} but the output has shape {tensor.shape}")
    return gradient


# tensor.py imports this module before it defines Tensor, so the name is bound here, last.
from .tensor import Tensor  # noqa: E402
