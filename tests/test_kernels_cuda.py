"""The CUDA kernels (kernels/cuda) against the NumPy reference (kernels/reference), the truth.

Three layers, so that most of it runs without a GPU:
  * nvcc: every .cu source compiles for sm_90 and defines its float and double kernels (skipped without nvcc).
  * "emulated": the launcher kernels/cuda/__init__.py runs on NumPy arrays, and its kernels run on the
    CPU: each .cu file is compiled by g++ under a small shim that plays CUDA's execution model (a block
    is `blockDim` real threads with a barrier for __syncthreads, __shared__ memory is one per block,
    blocks run one after another, arguments arrive as CuPy packs them: one pointer per argument). So
    the kernels' own source, the launcher's geometry, grids, argument order and types are all checked
    here; what only a GPU can check is NVRTC, CuPy's calls, and real parallel hardware.
  * "gpu": the same tests on CuPy arrays and the real kernels (skipped without CuPy or a GPU).
Every output and scratch buffer is poisoned with NaN before each run, so an element no thread writes
shows. Tolerances are relative to the output's norm: 1e-5 for float32, 1e-12 for float64.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kernels.cuda as cuda
from cuda_emulation import CXX, build
from kernel_cases import DTYPES, TOL, assert_close, conv_cases, randn  # noqa: F401
from kernels import reference as ref

NVCC = shutil.which("nvcc") or next((p for p in ["/usr/local/cuda/bin/nvcc"] if os.path.exists(p)), None)
# The backend fixture is safe to share between examples: every allocation is poisoned afresh.
FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.data_too_large])


# ---- layer 1: nvcc compiles every source

@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@pytest.mark.parametrize("source", sorted(cuda.KERNELS))
def test_cuda_source_compiles_with_nvcc_for_sm90(source, tmp_path):
    ptx = tmp_path / "out.ptx"
    run = subprocess.run([NVCC, "-std=c++17", "-arch=sm_90", "--ptx", os.path.join(cuda.SOURCE_DIR, source),
                          "-o", str(ptx)], capture_output=True, text=True)
    assert run.returncode == 0, f"nvcc failed on {source}:\n{run.stderr}"
    entries = [line for line in ptx.read_text().splitlines() if ".entry" in line]
    for name in cuda.KERNELS[source]:
        for code in "fd":                                     # name<float>, name<double> (Itanium mangling)
            assert any(f"{len(name)}{name}I{code}E" in e for e in entries), f"no {name}<{code}> kernel in {source}"


@pytest.mark.parametrize("source", sorted(cuda.KERNELS))
def test_cuda_sources_include_nothing_since_nvrtc_has_no_standard_headers(source):
    with open(os.path.join(cuda.SOURCE_DIR, source)) as f:
        assert not [line for line in f if line.lstrip().startswith("#include")]


# ---- layer 2: the CUDA execution model, emulated on the CPU (tests/cuda_emulation.py)

@pytest.fixture(scope="module")
def emulated_modules(tmp_path_factory):
    if CXX is None:
        pytest.skip("no C++ compiler to emulate the CUDA kernels with")
    out = tmp_path_factory.mktemp("cuda_emulated")
    return {source: build(os.path.join(cuda.SOURCE_DIR, source), names, str(out))
            for source, names in cuda.KERNELS.items()}


def _gpu():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA GPU")
    except Exception as err:
        pytest.skip(f"no CUDA GPU ({err})")
    return cupy


def _poison(dtype):
    """What an unwritten buffer holds: NaN, or for integer buffers (max_pool2d's index) -7."""
    return np.nan if np.dtype(dtype).kind == "f" else -7


@pytest.fixture(params=["emulated", "gpu"])
def backend(request, monkeypatch):
    """(kernels, to_device, to_host): the launcher on emulated kernels, or on the GPU; outputs poisoned."""
    if request.param == "emulated":
        for source, module in request.getfixturevalue("emulated_modules").items():
            monkeypatch.setitem(cuda._modules, source, module)
        monkeypatch.setattr(cuda, "xp", np)
        monkeypatch.setattr(cuda, "MAX_BLOCKS", 3)              # few blocks: the grid-stride loops go round
        monkeypatch.setattr(cuda, "_empty", lambda shape, dtype: np.full(shape, _poison(dtype), dtype))
        return cuda, np.array, np.asarray
    cupy = _gpu()
    kernels = cuda.load()
    monkeypatch.setattr(cuda, "_empty", lambda shape, dtype: cupy.full(shape, _poison(dtype), dtype))
    return kernels, cupy.asarray, cupy.asnumpy


@FIXTURE_OK
@given(case=conv_cases(extra=6, channels=3, outputs=4))
def test_conv2d_and_weight_grad_match_reference(backend, case):
    k, dev, host = backend
    rng, dt = np.random.default_rng(case["seed"]), case["dtype"]
    x = randn(rng, (case["N"], case["C"], case["H"], case["W"]), dt)
    w = randn(rng, (case["O"], case["C"]) + case["k"], dt)
    b = randn(rng, (case["O"],), dt) if case["bias"] else None
    geom = case["stride"], case["padding"], case["dilation"]
    y = ref.conv2d(x, w, b, *geom)
    assert_close(host(k.conv2d(dev(x), dev(w), None if b is None else dev(b), *geom)), y, dt)
    gy = randn(rng, y.shape, dt)
    assert_close(host(k.conv2d_weight(dev(x), dev(gy), w.shape, *geom)), ref.conv2d_weight(x, gy, w.shape, *geom), dt)
    if y.shape[2] > 1:                                           # grad_y with fewer windows than conv2d makes
        gy = gy[:, :, :-1]
        assert_close(host(k.conv2d_weight(dev(x), dev(gy), w.shape, *geom)),
                     ref.conv2d_weight(x, gy, w.shape, *geom), dt)


@FIXTURE_OK
@given(case=conv_cases(extra=6, channels=3, outputs=4), data=st.data())
def test_conv_transpose2d_matches_reference(backend, case, data):
    k, dev, host = backend
    rng, dt = np.random.default_rng(case["seed"]), case["dtype"]
    (sh, sw), (dh, dw) = case["stride"], case["dilation"]
    output_padding = (data.draw(st.integers(0, max(sh, dh) - 1)), data.draw(st.integers(0, max(sw, dw) - 1)))
    x = randn(rng, (case["N"], case["O"], case["H"], case["W"]), dt)
    w = randn(rng, (case["O"], case["C"]) + case["k"], dt)
    b = randn(rng, (case["C"],), dt) if case["bias"] else None
    args = case["stride"], case["padding"], output_padding, case["dilation"]
    Ho = (case["H"] - 1) * sh - 2 * case["padding"][0] + dh * (case["k"][0] - 1) + output_padding[0] + 1
    Wo = (case["W"] - 1) * sw - 2 * case["padding"][1] + dw * (case["k"][1] - 1) + output_padding[1] + 1
    assume(Ho >= 1 and Wo >= 1)
    out = k.conv_transpose2d(dev(x), dev(w), None if b is None else dev(b), *args)
    assert_close(host(out), ref.conv_transpose2d(x, w, b, *args), dt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_batches_split_into_several_groups(backend, dtype, rng, monkeypatch):
    k, dev, host = backend
    # K*L = (3*2*2) * (7*7) column entries per sample; a budget of two samples' makes groups of 2, 2, 1
    monkeypatch.setattr(cuda, "_COLUMN_BUDGET", 2 * 12 * 49)
    x, w, b = randn(rng, (5, 3, 8, 8), dtype), randn(rng, (2, 3, 2, 2), dtype), randn(rng, (2,), dtype)
    geom = (1, 1), (0, 0), (1, 1)
    y = ref.conv2d(x, w, b, *geom)
    assert_close(host(k.conv2d(dev(x), dev(w), dev(b), *geom)), y, dtype)
    assert_close(host(k.conv2d_weight(dev(x), dev(y), w.shape, *geom)), ref.conv2d_weight(x, y, w.shape, *geom), dtype)
    bt = b[:1].repeat(3)
    args = (1, 1), (0, 0), (0, 0), (1, 1)
    assert_close(host(k.conv_transpose2d(dev(y), dev(w), dev(bt), *args)), ref.conv_transpose2d(y, w, bt, *args), dtype)


@st.composite
def bn_cases(draw):
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4))) + tuple(
        draw(st.lists(st.integers(1, 9), min_size=0, max_size=2)))
    return dict(shape=shape, dtype=draw(st.sampled_from(DTYPES)), training=draw(st.booleans()),
                affine=draw(st.booleans()), running=draw(st.booleans()), seed=draw(st.integers(0, 2**16)),
                momentum=draw(st.sampled_from([0.1, 0.5, 1.0])), eps=draw(st.sampled_from([1e-5, 1e-3])))


@FIXTURE_OK
@given(case=bn_cases())
def test_batch_norm_matches_reference(backend, case):
    k, dev, host = backend
    rng, dt, C = np.random.default_rng(case["seed"]), case["dtype"], case["shape"][1]
    x = randn(rng, case["shape"], dt) * 3 + 2
    gamma, beta = (randn(rng, (C,), dt), randn(rng, (C,), dt)) if case["affine"] else (None, None)
    running = case["running"] or not case["training"]
    stats = [randn(rng, (C,), dt), np.abs(randn(rng, (C,), dt)) + 0.5] if running else [None, None]
    dev_stats = [None if s is None else dev(s) for s in stats]
    args = case["training"], case["momentum"], case["eps"]
    out = k.batch_norm(dev(x), *(None if a is None else dev(a) for a in (gamma, beta)), *dev_stats, *args)
    expected = ref.batch_norm(x, gamma, beta, *stats, *args)
    for o, e in zip(out, expected):
        assert_close(host(o), e, dt)
    for s, e in zip(dev_stats, stats):
        if s is not None:
            assert_close(host(s), e, dt)                       # running stats updated in place, like the reference


@FIXTURE_OK
@given(case=bn_cases(), needs=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_batch_norm_backward_matches_reference_and_honours_needs(backend, case, needs):
    k, dev, host = backend
    rng, dt, C = np.random.default_rng(case["seed"]), case["dtype"], case["shape"][1]
    x, gy = randn(rng, case["shape"], dt) * 3 + 2, randn(rng, case["shape"], dt)
    gamma = randn(rng, (C,), dt) if case["affine"] else None
    mean, invstd = randn(rng, (C,), dt), (np.abs(randn(rng, (C,), dt)) + 0.5)
    args = gy, x, gamma, mean, invstd
    out = k.batch_norm_backward(*(None if a is None else dev(a) for a in args), case["training"], needs)
    for o, e, need in zip(out, ref.batch_norm_backward(*args, case["training"], needs), needs):
        if not need:
            assert o is None
        else:
            assert_close(host(o), e, dt)


def test_batch_norm_reduces_channels_longer_than_a_block(backend, rng):
    k, dev, host = backend
    x = randn(rng, (3, 2, 300), np.float64) * 3 + 2            # 900 values per channel: 3.5 per thread
    rm, rv = np.zeros(2), np.ones(2)
    drm, drv = dev(rm), dev(rv)
    y, mean, invstd = k.batch_norm(dev(x), None, None, drm, drv, True, 0.1, 1e-5)
    for o, e in zip((y, mean, invstd, drm, drv), ref.batch_norm(x, None, None, rm, rv, True, 0.1, 1e-5) + (rm, rv)):
        assert_close(host(o), e, np.float64)
    gy = randn(rng, x.shape, np.float64)
    for o, e in zip(k.batch_norm_backward(dev(gy), dev(x), None, mean, invstd, True, (True, True, True)),
                    ref.batch_norm_backward(gy, x, None, host(mean), host(invstd), True, (True, True, True))):
        assert_close(host(o), e, np.float64)


@FIXTURE_OK
@given(shape=st.lists(st.integers(0, 7), min_size=0, max_size=4), dtype=st.sampled_from(DTYPES),
       slope=st.sampled_from([0.0, 0.01, 0.2, -1.5]), seed=st.integers(0, 2**16))
def test_leaky_relu_forward_backward_equal_reference_exactly(backend, shape, dtype, slope, seed):
    k, dev, host = backend
    rng = np.random.default_rng(seed)
    x, gy = randn(rng, shape, dtype), randn(rng, shape, dtype)
    x.flat[::3] = 0                                              # x = 0 takes the slope branch in both
    y = host(k.leaky_relu(dev(x), slope))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref.leaky_relu(x, slope))
    np.testing.assert_array_equal(host(k.leaky_relu_backward(dev(gy), dev(x), slope)),
                                  ref.leaky_relu_backward(gy, x, slope))


@FIXTURE_OK
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9),
       kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       data=st.data(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_max_pool2d_equals_reference_exactly(backend, N, C, H, W, kernel, stride, data, dtype, seed):
    k, dev, host = backend
    padding = tuple(data.draw(st.integers(0, kk // 2)) for kk in kernel)
    assume(H + 2 * padding[0] >= kernel[0] and W + 2 * padding[1] >= kernel[1])
    rng = np.random.default_rng(seed)
    x = randn(rng, (N, C, H, W), dtype).round(1)                 # rounded: ties, which the first tap wins
    x.flat[::7] = np.nan                                         # a NaN wins its window
    y, index = k.max_pool2d(dev(x), kernel, stride, padding)
    y_ref, index_ref = ref.max_pool2d(x, kernel, stride, padding)
    np.testing.assert_array_equal(host(y), y_ref)
    np.testing.assert_array_equal(host(index), index_ref)


@FIXTURE_OK
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9), data=st.data(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_reflection_pad2d_and_backward_equal_reference_exactly(backend, N, C, H, W, data, dtype, seed):
    k, dev, host = backend
    padding = (data.draw(st.integers(0, W - 1)), data.draw(st.integers(0, W - 1)),
               data.draw(st.integers(0, H - 1)), data.draw(st.integers(0, H - 1)))
    rng = np.random.default_rng(seed)
    x = randn(rng, (N, C, H, W), dtype)
    y = host(k.reflection_pad2d(dev(x), padding))
    np.testing.assert_array_equal(y, ref.reflection_pad2d(x, padding))
    gy = randn(rng, y.shape, dtype)
    np.testing.assert_array_equal(host(k.reflection_pad2d_backward(dev(gy), padding)),
                                  ref.reflection_pad2d_backward(gy, padding))


def test_bad_arguments_raise_clear_errors(backend, rng):
    k, dev, _ = backend
    x, w = dev(randn(rng, (2, 3, 8, 8), np.float32)), dev(randn(rng, (4, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: input has 2 channels but weight expects 3"):
        k.conv2d(x[:, :2], w, None, 1, 0, 1)
    with pytest.raises(TypeError, match=r"conv2d: weight has dtype float64 but x has float32"):
        k.conv2d(x, w.astype(np.float64), None, 1, 0, 1)
    with pytest.raises(TypeError, match=r"conv2d: x has dtype int64"):
        k.conv2d(x.astype(np.int64), w, None, 1, 0, 1)
    with pytest.raises(TypeError, match=r"conv2d: weight is a builtins.list; the CUDA kernels take CuPy arrays"):
        k.conv2d(x, [[1.0]], None, 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: bias has shape \(3,\)"):
        k.conv2d(x, w, dev(np.zeros(3, np.float32)), 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: the kernel"):
        k.conv2d(x[:, :, :2, :2], w, None, 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: stride"):
        k.conv2d(x, w, None, 0, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D"):
        k.conv2d(x[0], w, None, 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv_transpose2d: input has 3 channels but weight expects 4"):
        k.conv_transpose2d(x, w, None, 1, 0, 0, 1)
    with pytest.raises(ValueError, match=r"conv_transpose2d: output size"):
        k.conv_transpose2d(dev(randn(rng, (1, 4, 1, 1), np.float32)), w, None, 1, 2, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d_weight: input"):
        k.conv2d_weight(x, dev(randn(rng, (2, 5, 6, 6), np.float32)), w.shape, 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d_weight: grad_y \(2, 4, 7, 6\) has more windows"):
        k.conv2d_weight(x, dev(randn(rng, (2, 4, 7, 6), np.float32)), w.shape, 1, 0, 1)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(2,\)"):
        k.batch_norm(x, None, None, dev(np.zeros(2, np.float32)), dev(np.ones(3, np.float32)), True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: eval mode"):
        k.batch_norm(x, None, None, None, None, False, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"leaky_relu_backward: grad_y"):
        k.leaky_relu_backward(x[:1], x, 0.2)
    with pytest.raises(ValueError, match=r"reflection_pad2d: padding \(left, right, top, bottom\) = \(8, 0, 0, 0\)"):
        k.reflection_pad2d(x, (8, 0, 0, 0))


def test_strided_and_other_dtype_running_stats_still_get_updated(backend, rng):
    k, dev, host = backend
    x = randn(rng, (4, 3, 5), np.float64)
    rm, rv = dev(np.zeros(6))[::2], dev(np.ones(3, np.float32))     # strided; float32 under float64 input
    expected_rm, expected_rv = np.zeros(3), np.ones(3)
    k.batch_norm(dev(x), None, None, rm, rv, True, 0.1, 1e-5)
    ref.batch_norm(x, None, None, expected_rm, expected_rv, True, 0.1, 1e-5)
    assert_close(host(rm), expected_rm, np.float64)
    assert_close(host(rv), expected_rv.astype(np.float32), np.float32)


# ---- layer 3: load() says clearly why the GPU backend is unavailable

def test_load_raises_a_clear_import_error_without_cupy(monkeypatch):
    monkeypatch.setattr(cuda, "xp", None)
    monkeypatch.setitem(sys.modules, "cupy", None)             # `import cupy` now raises ImportError
    with pytest.raises(ImportError, match=r"CUDA kernels need CuPy and an NVIDIA GPU, and CuPy is not installed"):
        cuda.load()


def test_load_here_returns_the_backend_only_with_cupy_and_a_gpu(monkeypatch):
    monkeypatch.setattr(cuda, "xp", None)
    try:
        import cupy
        has_gpu = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_gpu = False
    if has_gpu:
        assert cuda.load() is cuda
    else:
        with pytest.raises(ImportError, match=r"the CUDA kernels need (CuPy and )?an NVIDIA GPU"):
            cuda.load()


@FIXTURE_OK
@given(dtype=st.sampled_from(DTYPES), amsgrad=st.booleans(), weight_decay=st.sampled_from([0.0, 0.01]),
       seed=st.integers(0, 2**16))
def test_adam_step_matches_reference_in_place(backend, dtype, amsgrad, weight_decay, seed):
    k, dev, host = backend
    rng = np.random.default_rng(seed)
    theirs = [randn(rng, (3, 33), dtype)] + [np.zeros((3, 33), dtype) for _ in range(3 if amsgrad else 2)]
    ours = [dev(a) for a in theirs]
    if not amsgrad:
        theirs.append(None)
        ours.append(None)
    for step in range(1, 4):
        grad = randn(rng, (3, 33), dtype)
        k.adam_step(ours[0], dev(grad), *ours[1:], step, 1e-2, 0.9, 0.999, 1e-8, weight_decay)
        ref.adam_step(theirs[0], grad, *theirs[1:], step, 1e-2, 0.9, 0.999, 1e-8, weight_decay)
    for a, b in zip(ours, theirs):
        if b is not None:
            assert_close(host(a), b, dtype)
