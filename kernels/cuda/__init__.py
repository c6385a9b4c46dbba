"""The CUDA kernels (kernels/cuda/*.cu), launched through CuPy, behind the kernel contract.

`load()` returns this module when CuPy imports and sees a GPU, and raises ImportError saying which of
the two is missing otherwise; kernels/__init__.py calls it when the "cuda" backend is chosen. The
functions below have the contract's names, arguments and returns (see kernels/__init__.py) and take
and return CuPy arrays. Each one checks its arguments like the C++ backend (kernels/cpu), makes arrays
C-contiguous, allocates the outputs and launches the kernels of one .cu file.

Each .cu file is compiled by NVRTC through `cupy.RawModule` the first time one of its kernels runs
(then CuPy caches the binary on disk). The kernels are templates over the element type; RawModule's
`name_expressions` instantiates "im2col<float>" and "im2col<double>", and `get_function` looks them
up by that name.

The matrix products of the convolutions (conv2d.cu does only im2col/col2im) run in cuBLAS through
CuPy's matmul. Samples go through in groups whose column buffer stays under _COLUMN_BUDGET elements.
"""
import math
import os
import sys

import numpy as np

from .. import checks
from ..reference.adam import adam_step as reference_adam_step

__all__ = ["load", "conv2d", "conv_transpose2d", "conv2d_weight", "batch_norm", "batch_norm_backward",
           "leaky_relu", "leaky_relu_backward", "max_pool2d", "reflection_pad2d", "reflection_pad2d_backward",
           "matmul", "adam_step"]

SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
KERNELS = {                                   # source file -> the kernel templates it defines
    "conv2d.cu": ("im2col", "col2im", "add_channel_bias"),
    "batch_norm.cu": ("batch_norm_forward", "batch_norm_backward"),
    "leaky_relu.cu": ("leaky_relu_forward", "leaky_relu_backward"),
    "pool.cu": ("max_pool2d_forward",),
    "pad.cu": ("reflection_pad2d_forward", "reflection_pad2d_backward"),
}
THREADS = 256                                 # threads per block (batch_norm.cu's kThreads: a power of two)
MAX_BLOCKS = 65535                            # grid cap; the grid-stride loops cover any size
_COLUMN_BUDGET = 1 << 26                      # im2col buffer cap in elements (256 MB of float32)
_C_TYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

xp = None            # the cupy module, once load() succeeded
_modules = {}        # source file -> compiled cupy.RawModule


def load():
    """This module, once CuPy imports and a CUDA GPU is visible; ImportError saying what is missing."""
    global xp
    if xp is None:
        try:
            import cupy
        except ImportError as err:
            raise ImportError("the CUDA kernels need CuPy and an NVIDIA GPU, and CuPy is not installed "
                              f"(pip install cupy-cuda12x, matching your CUDA version): {err}") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as err:      # CUDARuntimeError: no driver, or no device
            raise ImportError(f"the CUDA kernels need an NVIDIA GPU, and CUDA reports none: {err}") from None
        if count < 1:
            raise ImportError("the CUDA kernels need an NVIDIA GPU, and CUDA reports none (device count 0)")
        xp = cupy
    return sys.modules[__name__]


def _kernel(source, name, dtype):
    """The compiled kernel `name<T>` of `source`, T the C type of dtype; compiles the file on first use."""
    module = _modules.get(source)
    if module is None:
        with open(os.path.join(SOURCE_DIR, source)) as f:
            code = f.read()
        names = [f"{kernel}<{c_type}>" for kernel in KERNELS[source] for c_type in ("float", "double")]
        module = xp.RawModule(code=code, options=("-std=c++17",), name_expressions=names)
        _modules[source] = module
    return module.get_function(f"{name}<{_C_TYPE[np.dtype(dtype)]}>")


def _arg(value):
    """A kernel argument: arrays and NumPy scalars as they are, ints as long long, floats as double,
    None as a null pointer."""
    if value is None:
        return np.uint64(0)
    if isinstance(value, (bool, np.bool_)):
        return np.int32(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float64(value)
    return value


def _launch(kernel, total, *args, blocks=None):
    """Run kernel over `total` work items (grid-stride), or on exactly `blocks` blocks when given."""
    if blocks is None:
        if total <= 0:
            return
        blocks = min(-(-total // THREADS), MAX_BLOCKS)
    if blocks > 0:
        kernel((blocks,), (THREADS,), tuple(_arg(a) for a in args))


def _empty(shape, dtype):
    """Every output and scratch buffer comes from here (the tests fill them with NaN, to see unwritten ones)."""
    return xp.empty(shape, dtype=dtype)


# ---- argument checks, in the words of the C++ backend (kernels/cpu)

def _arrays(op, **named):
    """The named arrays (None stays None) as C-contiguous CuPy arrays of the first one's float dtype."""
    first_name, first = next(iter(named.items()))
    out = []
    for name, a in named.items():
        if a is None:
            out.append(None)
            continue
        if not isinstance(a, xp.ndarray):
            raise TypeError(f"{op}: {name} is a {type(a).__module__}.{type(a).__name__}; the CUDA kernels take "
                            "CuPy arrays on the GPU (move it there with cupy.asarray)")
        if a is first and a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: {name} has dtype {a.dtype}; expected float32 or float64")
        if a.dtype != first.dtype:
            raise TypeError(f"{op}: {name} has dtype {a.dtype} but {first_name} has {first.dtype} "
                            f"({name} {a.shape}, {first_name} {first.shape}); all arrays of one call share a dtype")
        out.append(xp.ascontiguousarray(a))
    return out


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _groups(N, per_sample):
    """(n0, S) slices of the batch whose im2col buffers hold at most _COLUMN_BUDGET elements."""
    G = max(1, min(N, _COLUMN_BUDGET // max(per_sample, 1)))
    return [(n0, min(G, N - n0)) for n0 in range(0, N, G)]


# ---- the contract

def conv2d(x, weight, bias, stride, padding, dilation):
    x, weight, bias = _arrays("conv2d", x=x, weight=weight, bias=bias)
    checks.conv2d_shapes(x, weight, bias)
    (sh, sw), (ph, pw), (dh, dw) = checks.geometry("conv2d", stride, padding, dilation)
    N, C, H, W = x.shape
    O, _, kh, kw = weight.shape
    Ho, Wo = _conv_out(H, kh, sh, ph, dh), _conv_out(W, kw, sw, pw, dw)
    if Ho < 1 or Wo < 1:
        raise ValueError(f"conv2d: the kernel {weight.shape[2:]} (dilation {(dh, dw)}) is larger than the "
                         f"padded input (input {x.shape}, padding {(ph, pw)})")
    K, L = C * kh * kw, Ho * Wo
    y = _empty((N, O, Ho, Wo), x.dtype)
    y3, w2 = y.reshape(N, O, L), weight.reshape(O, K)
    im2col = _kernel("conv2d.cu", "im2col", x.dtype)
    for n0, S in _groups(N, K * L):
        cols = _empty((S, K, L), x.dtype)
        _launch(im2col, cols.size, x[n0:n0 + S], cols, S, C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw)
        xp.matmul(w2, cols, out=y3[n0:n0 + S])                   # (O, K) @ (S, K, L) -> (S, O, L)
    if bias is not None:
        _launch(_kernel("conv2d.cu", "add_channel_bias", x.dtype), y.size, y, bias, N, O, L)
    return y


def conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation):
    x, weight, bias = _arrays("conv_transpose2d", x=x, weight=weight, bias=bias)
    checks.conv_transpose2d_shapes(x, weight, bias)
    stride, padding, dilation = checks.geometry("conv_transpose2d", stride, padding, dilation)
    output_padding = checks.pair("conv_transpose2d", "output_padding", output_padding, 0)
    N, O, H, W = x.shape
    _, C, kh, kw = weight.shape
    out = []
    for axis, (size, k) in enumerate(((H, kh), (W, kw))):
        n = (size - 1) * stride[axis] - 2 * padding[axis] + dilation[axis] * (k - 1) + output_padding[axis] + 1
        if size < 1 or n < 1:
            raise ValueError(f"conv_transpose2d: output size {n} along axis {2 + axis} is not positive "
                             f"(input {x.shape}, weight {weight.shape}, stride {stride}, padding {padding})")
        out.append(n)
    Ho, Wo = out
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    K, L = C * kh * kw, H * W
    y = _empty((N, C, Ho, Wo), x.dtype)
    wT, x3 = weight.reshape(O, K).T, x.reshape(N, O, L)
    col2im = _kernel("conv2d.cu", "col2im", x.dtype)
    for n0, S in _groups(N, K * L):
        cols = _empty((S, K, L), x.dtype)
        xp.matmul(wT, x3[n0:n0 + S], out=cols)                  # (K, O) @ (S, O, L) -> (S, K, L)
        # the image is y (C, Ho, Wo); the column grid is x's (H, W)
        _launch(col2im, S * C * Ho * Wo, cols, bias, y[n0:n0 + S], S, C, Ho, Wo, kh, kw, H, W,
                sh, sw, ph, pw, dh, dw)
    return y


def conv2d_weight(x, grad_y, weight_shape, stride, padding, dilation):
    x, grad_y = _arrays("conv2d_weight", x=x, grad_y=grad_y)
    checks.ndim("conv2d_weight", "input", x, 4, "(N, C, H, W)")
    checks.ndim("conv2d_weight", "grad_y", grad_y, 4, "(N, O, Ho, Wo)")
    weight_shape = tuple(int(n) for n in weight_shape)
    if len(weight_shape) != 4 or x.shape[0] != grad_y.shape[0] or x.shape[1] != weight_shape[1] \
            or grad_y.shape[1] != weight_shape[0] or min(weight_shape[2:]) < 1:
        raise ValueError(f"conv2d_weight: input {x.shape} and grad_y {grad_y.shape} do not fit weight_shape "
                         f"{weight_shape} (expected (N, C, H, W), (N, O, Ho, Wo) and (O, C, kh, kw))")
    (sh, sw), (ph, pw), (dh, dw) = checks.geometry("conv2d_weight", stride, padding, dilation)
    N, C, H, W = x.shape
    O, _, kh, kw = weight_shape
    _, _, Ho, Wo = grad_y.shape
    if Ho > _conv_out(H, kh, sh, ph, dh) or Wo > _conv_out(W, kw, sw, pw, dw):
        raise ValueError(f"conv2d_weight: grad_y {grad_y.shape} has more windows than conv2d makes of input "
                         f"{x.shape} with kernel {(kh, kw)}, stride {(sh, sw)}, padding {(ph, pw)}, "
                         f"dilation {(dh, dw)}")
    K, L = C * kh * kw, Ho * Wo
    grad_w = xp.zeros((O, K), dtype=x.dtype)
    gy3 = grad_y.reshape(N, O, L)
    im2col = _kernel("conv2d.cu", "im2col", x.dtype)
    for n0, S in _groups(N, K * L):
        cols = _empty((S, K, L), x.dtype)
        _launch(im2col, cols.size, x[n0:n0 + S], cols, S, C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw)
        grad_w += xp.tensordot(gy3[n0:n0 + S], cols, axes=([0, 2], [0, 2]))   # sum over samples, pixels
    return grad_w.reshape(weight_shape)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    x, gamma, beta = _arrays("batch_norm", x=x, gamma=gamma, beta=beta)
    checks.batch_norm_shapes(x, gamma, beta, running_mean, running_var, training)
    N, C, S = x.shape[0], x.shape[1], math.prod(x.shape[2:])
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if a is not None and not isinstance(a, xp.ndarray):
            raise TypeError(f"batch_norm: {name} is a {type(a).__module__}.{type(a).__name__}; the CUDA "
                            "kernels take CuPy arrays on the GPU (move it there with cupy.asarray)")
    # The kernel updates the running statistics in place; a strided or other-dtype buffer gets a
    # contiguous copy that is written back afterwards.
    stats = [running_mean, running_var]
    work = [s if s is None or (s.dtype == x.dtype and s.flags.c_contiguous) else xp.ascontiguousarray(s, x.dtype)
            for s in stats]
    y, mean, invstd = _empty(x.shape, x.dtype), _empty((C,), x.dtype), _empty((C,), x.dtype)
    _launch(_kernel("batch_norm.cu", "batch_norm_forward", x.dtype), 0, x, gamma, beta, work[0], work[1],
            bool(training), float(momentum), float(eps), y, mean, invstd, N, C, S, blocks=C)
    for original, copy in zip(stats, work):
        if training and copy is not original:
            original[...] = copy
    return y, mean, invstd


def batch_norm_backward(grad_y, x, gamma, mean, invstd, training, needs):
    grad_y, x, gamma, mean, invstd = _arrays("batch_norm_backward", grad_y=grad_y, x=x, gamma=gamma,
                                             mean=mean, invstd=invstd)
    needs = checks.batch_norm_backward_shapes(grad_y, x, gamma, mean, invstd, needs)
    N, C, S = x.shape[0], x.shape[1], math.prod(x.shape[2:])
    grad_x = _empty(x.shape, x.dtype) if needs[0] else None
    grad_gamma = _empty((C,), x.dtype) if needs[1] else None
    grad_beta = _empty((C,), x.dtype) if needs[2] else None
    if any(needs):
        _launch(_kernel("batch_norm.cu", "batch_norm_backward", x.dtype), 0, grad_y, x, gamma, mean, invstd,
                bool(training), grad_x, grad_gamma, grad_beta, N, C, S, blocks=C)
    return grad_x, grad_gamma, grad_beta


def leaky_relu(x, negative_slope):
    (x,) = _arrays("leaky_relu", x=x)
    y = _empty(x.shape, x.dtype)
    _launch(_kernel("leaky_relu.cu", "leaky_relu_forward", x.dtype), x.size,
            x, x.dtype.type(negative_slope), y, x.size)
    return y


def leaky_relu_backward(grad_y, x, negative_slope):
    grad_y, x = _arrays("leaky_relu_backward", grad_y=grad_y, x=x)
    if grad_y.shape != x.shape:
        raise ValueError(f"leaky_relu_backward: grad_y {grad_y.shape} and input {x.shape} differ in shape")
    grad_x = _empty(x.shape, x.dtype)
    _launch(_kernel("leaky_relu.cu", "leaky_relu_backward", x.dtype), x.size,
            grad_y, x, x.dtype.type(negative_slope), grad_x, x.size)
    return grad_x


def max_pool2d(x, kernel_size, stride, padding):
    (x,) = _arrays("max_pool2d", x=x)
    (kh, kw), (sh, sw), (ph, pw) = checks.pool_geometry(x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y, index = _empty((N, C, Ho, Wo), x.dtype), _empty((N, C, Ho, Wo), np.int64)
    _launch(_kernel("pool.cu", "max_pool2d_forward", x.dtype), y.size,
            x, y, index, N * C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo)
    return y, index


def reflection_pad2d(x, padding):
    (x,) = _arrays("reflection_pad2d", x=x)
    left, right, top, bottom = checks.reflection_padding("reflection_pad2d", x, padding)
    N, C, H, W = x.shape
    y = _empty((N, C, top + H + bottom, left + W + right), x.dtype)
    _launch(_kernel("pad.cu", "reflection_pad2d_forward", x.dtype), y.size,
            x, y, N * C, H, W, left, right, top, bottom)
    return y


def reflection_pad2d_backward(grad_y, padding):
    (grad_y,) = _arrays("reflection_pad2d_backward", grad_y=grad_y)
    left, right, top, bottom = checks.reflection_padding("reflection_pad2d_backward", grad_y, padding, name="grad_y")
    N, C = grad_y.shape[:2]
    H, W = grad_y.shape[2] - top - bottom, grad_y.shape[3] - left - right
    grad_x = _empty((N, C, H, W), grad_y.dtype)
    _launch(_kernel("pad.cu", "reflection_pad2d_backward", grad_y.dtype), grad_x.size,
            grad_y, grad_x, N * C, H, W, left, right, top, bottom)
    return grad_x


def matmul(a, b):
    """a @ b in cuBLAS, through CuPy (what np.matmul on CuPy arrays dispatches to anyway)."""
    return xp.matmul(a, b)


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    """The reference's array code (kernels/reference/adam.py) on CuPy arrays: NumPy's ufuncs and in-place
    operators dispatch to CuPy, each one a GPU kernel. Not fused; minigrad's parameters live in host memory,
    so only the kernel tests reach this."""
    reference_adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)
