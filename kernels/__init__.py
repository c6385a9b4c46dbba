"""The kernel contract: the hot ops, array in, array out, one signature for every backend.

Backends: "numpy" (kernels/reference/, the readable truth), "cpp" (kernels/cpu/, a pybind11
extension) and "cuda" (kernels/cuda/). minigrad's ops call the functions below and never know
which backend ran. This package imports nothing from minigrad.

The backend follows the data: a CuPy array goes to the CUDA kernels; a NumPy array to the C++ kernels
or the reference, as MINIGRAD_BACKEND (or set_backend) chose. Each function below looks at its first
array argument only; the backends refuse arrays of the other kind.

Conventions for every kernel:
  * arrays are C-contiguous float32 or float64 (all arguments of one call share the dtype);
  * images are NCHW; conv weights are (C_out, C_in, kh, kw) for conv2d and the *same array*
    drives conv_transpose2d, where it maps C_out channels back to C_in (PyTorch's layouts);
  * stride, padding, dilation, output_padding are (int, int) pairs;
  * backward kernels take `needs` (one bool per gradient) and return None where it is False.

    conv2d(x, weight, bias, stride, padding, dilation) -> y
        x (N, C, H, W), weight (O, C, kh, kw), bias (O,) or None -> y (N, O, Ho, Wo),
        Ho = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1   (likewise Wo)
    conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation) -> y
        the adjoint of conv2d in its input: x (N, O, H, W), weight (O, C, kh, kw), bias (C,) or None
        -> y (N, C, Ho, Wo), Ho = (H - 1)*sh - 2*ph + dh*(kh - 1) + oph + 1
        (so conv2d's input gradient is conv_transpose2d of the output gradient)
    conv2d_weight(x, grad_y, weight_shape, stride, padding, dilation) -> grad_weight
        d(conv2d)/d(weight): x (N, C, H, W), grad_y (N, O, Ho, Wo) -> (O, C, kh, kw);
        grad_y may be smaller than conv2d's output: only its first (Ho, Wo) windows of x are used
        (conv_transpose2d's weight gradient when output_padding >= stride)
    batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps) -> (y, mean, invstd)
        x (N, C, *), per channel c: y = gamma * (x - mean) * invstd + beta, invstd = 1/sqrt(var + eps).
        training: batch statistics (biased var), and running_* (C,) updated in place with
        running = (1 - momentum) * running + momentum * batch (unbiased var), when not None.
        eval: running statistics. gamma/beta may be None (taken as 1 and 0).
    batch_norm_backward(grad_y, x, gamma, mean, invstd, training, needs) -> (grad_x, grad_gamma, grad_beta)
    leaky_relu(x, negative_slope) -> y = x if x > 0 else negative_slope * x
    leaky_relu_backward(grad_y, x, negative_slope) -> grad_x = grad_y * (1 if x > 0 else negative_slope)
    max_pool2d(x, kernel_size, stride, padding) -> (y, index)
        x (N, C, H, W) -> y (N, C, Ho, Wo), the maximum of each kh x kw window (padding never wins), and
        index (N, C, Ho, Wo) int64, its position h*W + w in x: the first on ties, a NaN over any number
        (kernels/reference/pool.py). Its backward (a scatter of the gradient to index) is minigrad's.
    reflection_pad2d(x, padding) -> y
        x (N, C, H, W), padding (left, right, top, bottom) as in torch.nn.functional.pad, each width
        smaller than its dim -> y (N, C, top + H + bottom, left + W + right), the borders mirrored
        about the edge without repeating it (kernels/reference/pad.py).
    reflection_pad2d_backward(grad_y, padding) -> grad_x (N, C, H, W), its adjoint: each border
        gradient added onto the element it mirrors.
    matmul(a, b) -> a @ b, NumPy's matmul rules (the product under minigrad's matmul op and nn.Linear).
        Its own kernel so that, on the C++ backend, every heavy product of a training step runs on one
        thread pool (see kernels/cpu/__init__.py, matmul).
    adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)
        -> None: one Adam update, in place on param, exp_avg, exp_avg_sq and max_exp_avg_sq (None
        unless amsgrad); arrays of one shape and dtype, step >= 1 (kernels/reference/adam.py).
"""
import os
import sys

OWNER = "minigrad"   # minigrad checks this to tell this package from another distribution's `kernels`
NAMES = ("conv2d", "conv_transpose2d", "conv2d_weight", "batch_norm", "batch_norm_backward",
         "leaky_relu", "leaky_relu_backward", "max_pool2d", "reflection_pad2d", "reflection_pad2d_backward",
         "matmul", "adam_step")
BACKENDS = ("numpy", "cpp", "cuda")

_active = None       # the backend module in use, chosen on first use


def _load(name):
    if name == "numpy":
        from . import reference
        return reference
    if name == "cpp":
        from . import cpu
        return cpu.load()          # raises ImportError when the extension was not built
    if name == "cuda":
        from . import cuda
        return cuda.load()         # raises ImportError without CuPy or a GPU; takes CuPy arrays
    raise ValueError(f"unknown kernel backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _choose():
    """MINIGRAD_BACKEND if set (read here, once), else the C++ kernels when built, else NumPy."""
    requested = os.environ.get("MINIGRAD_BACKEND", "").strip().lower()
    if requested:
        return requested, _load(requested)
    try:
        return "cpp", _load("cpp")
    except ImportError as err:
        print(f"minigrad: C++ kernels unavailable ({err}); using the NumPy reference kernels", file=sys.stderr)
        return "numpy", _load("numpy")


def set_backend(name):
    """Switch every kernel to backend `name` for this process."""
    global _active
    _active = (name, _load(name))


def backend():
    """The name of the active backend."""
    return _impl()[0]


def _impl():
    global _active
    if _active is None:
        _active = _choose()
    return _active


def _for(a):
    """The backend module for array `a`: the CUDA kernels for a CuPy array, else the active host backend.
    (CuPy is looked up in sys.modules: if nothing imported it, `a` cannot be a CuPy array.)"""
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(a, cupy.ndarray):
        return _load("cuda")
    return _impl()[1]


# The dispatch point: one function per kernel, forwarding to the backend of its array.

def conv2d(x, weight, bias, stride, padding, dilation):
    return _for(x).conv2d(x, weight, bias, stride, padding, dilation)


def conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation):
    return _for(x).conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation)


def conv2d_weight(x, grad_y, weight_shape, stride, padding, dilation):
    return _for(x).conv2d_weight(x, grad_y, weight_shape, stride, padding, dilation)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    return _for(x).batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)


def batch_norm_backward(grad_y, x, gamma, mean, invstd, training, needs):
    return _for(x).batch_norm_backward(grad_y, x, gamma, mean, invstd, training, needs)


def leaky_relu(x, negative_slope):
    return _for(x).leaky_relu(x, negative_slope)


def leaky_relu_backward(grad_y, x, negative_slope):
    return _for(x).leaky_relu_backward(grad_y, x, negative_slope)


def max_pool2d(x, kernel_size, stride, padding):
    return _for(x).max_pool2d(x, kernel_size, stride, padding)


def reflection_pad2d(x, padding):
    return _for(x).reflection_pad2d(x, padding)


def reflection_pad2d_backward(grad_y, padding):
    return _for(grad_y).reflection_pad2d_backward(grad_y, padding)


def matmul(a, b):
    return _for(a).matmul(a, b)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    return _for(param).adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                                weight_decay)
