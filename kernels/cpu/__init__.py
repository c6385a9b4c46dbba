"""The C++ kernels (kernels/cpu/*.cpp, built by CMake into kernels._cpu), behind the kernel contract.

`load()` returns this module once the extension imports, or raises ImportError when it was not built;
kernels/__init__.py calls it when the "cpp" backend is chosen. The functions below have the contract's
names and arguments (see kernels/__init__.py). Each one checks its arguments the way minigrad's ops do
(dtype float32/float64, one dtype per call, shapes, channel counts), makes arrays C-contiguous, and
hands them to C++, which checks the shapes once more and never reads memory it was not given.

The GEMM under the convolutions: the hand-written one in gemm.cpp by default, SciPy's OpenBLAS
sgemm/dgemm with `set_gemm("blas")`. Alone on one thread OpenBLAS is 10-15% faster (~88-92 vs ~78-80
GFLOP/s on the layers' shapes), but in a training step its own thread pool fights our OpenMP threads
for the 2 cores: the whole DCGAN step measured 188-193 ms (batch 16) and 433-462 ms (batch 64) with
OpenBLAS against 139-140 and 373-384 ms with the built-in GEMM, whose threads are OpenMP's too.
`python -m kernels.bench --gemm` compares the two GEMMs alone.
"""
import os

import numpy as np

from .. import checks
from ..reference.adam import adam_step as reference_adam_step

__all__ = ["load", "set_gemm", "conv2d", "conv_transpose2d", "conv2d_weight", "batch_norm",
           "batch_norm_backward", "leaky_relu", "leaky_relu_backward", "max_pool2d", "reflection_pad2d",
           "reflection_pad2d_backward", "matmul", "adam_step"]

DEFAULT_GEMM = "builtin"      # see above: one thread pool for the whole step
_ext = None          # the kernels._cpu extension module, once loaded


def load():
    """This module, with the extension loaded; ImportError when kernels._cpu was not built."""
    global _ext
    if _ext is None:
        # libgomp's own default is kept: after a parallel loop its threads spin (GOMP_SPINCOUNT 300000,
        # ~10 ms here) before they sleep, so the next kernel, a few hundred microseconds of Python later,
        # finds them awake. OMP_WAIT_POLICY=PASSIVE, this module's default until the built-in GEMM
        # replaced OpenBLAS's threads, puts them to sleep after every loop, and waking them costs more
        # than most of a step's kernels: CycleGAN demo step 177-221 ms passive against 97-122 spinning,
        # 28x28 DCGAN batch 16 56-64 against 39-54 (alternating runs, AVX-512 machine, README's Speed).
        try:
            from .. import _cpu
        except ImportError as err:
            raise ImportError("the C++ extension kernels._cpu is not built (`pip install -e .` builds it "
                              f"with CMake and a C++17 compiler): {err}") from None
        _ext = _cpu
        set_gemm(DEFAULT_GEMM)
        # Opt-in: MINIGRAD_KEEP_FREED_MEMORY=1 asks glibc (mallopt) to keep freed memory for reuse rather
        # than unmapping arrays above its mmap threshold (at most 32 MB), which the next step faults in
        # again page by page. It pays for large arrays: 64x64 DCGAN at batch 64, 36-44 K -> ~170 page faults
        # and 0.5 s -> 22-52 ms of system time per step, 3.4-3.6 -> 2.9-3.2 s (four alternating pairs). It
        # is not the default because it cost the main job: 28x28 DCGAN at batch 16, 86.5-95.2 against
        # 77.4-84.5 ms per step in six alternating pairs of 40 steps (README, Speed).
        if os.environ.get("MINIGRAD_KEEP_FREED_MEMORY") == "1":
            _cpu.keep_freed_memory()
    import sys
    return sys.modules[__name__]


def set_gemm(name):
    """Use the built-in GEMM ("builtin") or SciPy's BLAS ("blas") under the convolutions."""
    ext = _extension()
    if name == "builtin":
        ext.set_blas(None, None)
    elif name == "blas":
        try:
            from scipy.linalg import cython_blas
        except ImportError:
            raise ImportError("set_gemm('blas') needs SciPy (its cython_blas exports sgemm/dgemm)") from None
        ext.set_blas(cython_blas.__pyx_capi__["sgemm"], cython_blas.__pyx_capi__["dgemm"])
    else:
        raise ValueError(f"set_gemm: unknown GEMM {name!r}; choose 'builtin' or 'blas'")


def _extension():
    if _ext is None:
        load()
    return _ext


# ---- argument checks, in the words minigrad's ops use

def _arrays(op, **named):
    """The named arrays (None stays None) as C-contiguous arrays of the first one's float dtype."""
    first_name, first = next(iter(named.items()))
    first = np.asarray(first)
    if first.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {first_name} has dtype {first.dtype}; expected float32 or float64")
    out = []
    for name, a in named.items():
        if a is None:
            out.append(None)
            continue
        a = np.asarray(a)
        if a.dtype != first.dtype:
            raise TypeError(f"{op}: {name} has dtype {a.dtype} but {first_name} has {first.dtype} "
                            f"({name} {a.shape}, {first_name} {first.shape}); all arrays of one call share a dtype")
        out.append(np.ascontiguousarray(a))
    return out


# ---- the contract

def conv2d(x, weight, bias, stride, padding, dilation):
    x, weight, bias = _arrays("conv2d", x=x, weight=weight, bias=bias)
    checks.conv2d_shapes(x, weight, bias)
    stride, padding, dilation = checks.geometry("conv2d", stride, padding, dilation)
    for axis in (0, 1):
        if x.shape[2 + axis] + 2 * padding[axis] < dilation[axis] * (weight.shape[2 + axis] - 1) + 1:
            raise ValueError(f"conv2d: the kernel {weight.shape[2:]} (dilation {dilation}) is larger than the "
                             f"padded input (input {x.shape}, padding {padding})")
    return _extension().conv2d(x, weight, bias, stride, padding, dilation)


def conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation):
    x, weight, bias = _arrays("conv_transpose2d", x=x, weight=weight, bias=bias)
    checks.conv_transpose2d_shapes(x, weight, bias)
    stride, padding, dilation = checks.geometry("conv_transpose2d", stride, padding, dilation)
    output_padding = checks.pair("conv_transpose2d", "output_padding", output_padding, 0)
    for axis in (0, 1):
        size = ((x.shape[2 + axis] - 1) * stride[axis] - 2 * padding[axis]
                + dilation[axis] * (weight.shape[2 + axis] - 1) + output_padding[axis] + 1)
        if x.shape[2 + axis] < 1 or size < 1:
            raise ValueError(f"conv_transpose2d: output size {size} along axis {2 + axis} is not positive "
                             f"(input {x.shape}, weight {weight.shape}, stride {stride}, padding {padding})")
    return _extension().conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation)


def conv2d_weight(x, grad_y, weight_shape, stride, padding, dilation):
    x, grad_y = _arrays("conv2d_weight", x=x, grad_y=grad_y)
    checks.ndim("conv2d_weight", "input", x, 4, "(N, C, H, W)")
    checks.ndim("conv2d_weight", "grad_y", grad_y, 4, "(N, O, Ho, Wo)")
    weight_shape = tuple(int(n) for n in weight_shape)
    if len(weight_shape) != 4 or x.shape[0] != grad_y.shape[0] or x.shape[1] != weight_shape[1] \
            or grad_y.shape[1] != weight_shape[0] or min(weight_shape[2:]) < 1:
        raise ValueError(f"conv2d_weight: input {x.shape} and grad_y {grad_y.shape} do not fit weight_shape "
                         f"{weight_shape} (expected (N, C, H, W), (N, O, Ho, Wo) and (O, C, kh, kw))")
    stride, padding, dilation = checks.geometry("conv2d_weight", stride, padding, dilation)
    return _extension().conv2d_weight(x, grad_y, weight_shape, stride, padding, dilation)


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    x, gamma, beta = _arrays("batch_norm", x=x, gamma=gamma, beta=beta)
    checks.batch_norm_shapes(x, gamma, beta, running_mean, running_var, training)
    # The running statistics are updated in place; C++ writes into them directly when it can, else into
    # a contiguous copy that is written back (so a strided or other-dtype buffer still gets the update).
    stats = [running_mean, running_var]
    work = [s if s is None or (s.dtype == x.dtype and s.flags.c_contiguous and s.flags.writeable)
            else np.ascontiguousarray(s, dtype=x.dtype) for s in stats]
    y, mean, invstd = _extension().batch_norm(x, gamma, beta, work[0], work[1], bool(training),
                                              float(momentum), float(eps))
    for original, copy in zip(stats, work):
        if training and copy is not original:
            original[...] = copy
    return y, mean, invstd


def batch_norm_backward(grad_y, x, gamma, mean, invstd, training, needs):
    grad_y, x, gamma, mean, invstd = _arrays("batch_norm_backward", grad_y=grad_y, x=x, gamma=gamma,
                                             mean=mean, invstd=invstd)
    needs = checks.batch_norm_backward_shapes(grad_y, x, gamma, mean, invstd, needs)
    return _extension().batch_norm_backward(grad_y, x, gamma, mean, invstd, bool(training), needs)


def leaky_relu(x, negative_slope):
    (x,) = _arrays("leaky_relu", x=x)
    return _extension().leaky_relu(x, float(negative_slope))


def leaky_relu_backward(grad_y, x, negative_slope):
    grad_y, x = _arrays("leaky_relu_backward", grad_y=grad_y, x=x)
    if grad_y.shape != x.shape:
        raise ValueError(f"leaky_relu_backward: grad_y {grad_y.shape} and input {x.shape} differ in shape")
    return _extension().leaky_relu_backward(grad_y, x, float(negative_slope))


def max_pool2d(x, kernel_size, stride, padding):
    (x,) = _arrays("max_pool2d", x=x)
    return _extension().max_pool2d(x, *checks.pool_geometry(x, kernel_size, stride, padding))


def reflection_pad2d(x, padding):
    (x,) = _arrays("reflection_pad2d", x=x)
    return _extension().reflection_pad2d(x, checks.reflection_padding("reflection_pad2d", x, padding))


def reflection_pad2d_backward(grad_y, padding):
    (grad_y,) = _arrays("reflection_pad2d_backward", grad_y=grad_y)
    padding = checks.reflection_padding("reflection_pad2d_backward", grad_y, padding, name="grad_y")
    return _extension().reflection_pad2d_backward(grad_y, padding)


def matmul(a, b):
    """a @ b: 2-D float products in the C++ GEMM, anything else (batched, 1-D, integer) in NumPy.

    Why not leave them all to NumPy: its OpenBLAS keeps its own threads, which busy-wait for a while
    after every product. In a DCGAN step the products of nn.Linear ran there, and the spinning threads
    then took a core from the convolutions' OpenMP threads. Through gemm.cpp the products share the
    convolutions' threads: alternating steps in one process (batch 64, 2 cores) measured 383/364 ms
    with NumPy's product and 282/296 ms with this one. A transposed operand (a .T view, as in Linear's x @ W.T and in
    every backward) is passed as a transpose flag, not copied.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return np.matmul(a, b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a.shape[1]} != {b.shape[0]})")
    (a, trans_a), (b, trans_b) = _gemm_operand(a), _gemm_operand(b)
    return _extension().gemm(a, b, trans_a, trans_b)


def _gemm_operand(m):
    """m as (C-contiguous array, transpose flag): a Fortran-ordered m is the transpose of m.T."""
    if m.flags.c_contiguous:
        return m, False
    if m.flags.f_contiguous:
        return m.T, True
    return np.ascontiguousarray(m), False


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    """One fused pass in C++ (adam.cpp) when the arrays it updates in place are writeable, C-contiguous and of
    one float dtype (minigrad's parameters and optimizer state always are); otherwise the reference's
    NumPy code, which updates any array in place."""
    state = [param, exp_avg, exp_avg_sq] + ([] if max_exp_avg_sq is None else [max_exp_avg_sq])
    fused = (all(isinstance(a, np.ndarray) and a.dtype == param.dtype and a.shape == param.shape
                 and a.flags.c_contiguous and a.flags.writeable for a in state)
             and param.dtype in (np.float32, np.float64) and np.shape(grad) == param.shape)
    if not fused:
        return reference_adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                                   weight_decay)
    grad = np.asarray(grad, dtype=param.dtype, order="C")             # (ascontiguousarray makes 0-d 1-d)
    _extension().adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, int(step), float(lr), float(beta1),
                           float(beta2), float(eps), float(weight_decay))
