"""The C++ kernels (kernels/cpu) against the NumPy reference (kernels/reference), the truth.

Skipped when the extension kernels._cpu is not built. Tolerances are relative to the output's norm:
||cpp - ref|| <= tol * ||ref||, tol = 1e-5 for float32 and 1e-12 for float64 (both GEMMs sum the same
products in a different order, so a few ulps per output, far below these bounds; an indexing bug is O(1)).
Every convolution test runs with both GEMMs under it: the built-in one and SciPy's BLAS (when installed).
"""
import contextlib

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

_cpu = pytest.importorskip("kernels._cpu", reason="C++ kernels not built (pip install -e .)")

from kernels import cpu as cpu_backend  # noqa: E402
from kernel_cases import DTYPES, TOL, assert_close, conv_cases, randn  # noqa: F401
from kernels import reference as ref  # noqa: E402
import kernels  # noqa: E402
from minigrad import gradcheck, gradgradcheck  # noqa: E402
from minigrad.ops.conv import conv2d, conv_transpose2d  # noqa: E402
from test_conv import configs, conv2d_fits, tensor, transpose_fits  # noqa: E402

cpu = cpu_backend.load()
GEMMS = ["builtin", "blas"]


@pytest.fixture(params=GEMMS, scope="module")
def gemm(request):
    if request.param == "blas":
        pytest.importorskip("scipy")
    cpu.set_gemm(request.param)
    yield request.param
    cpu.set_gemm(cpu_backend.DEFAULT_GEMM)


def check_conv2d_and_weight_grad(case):
    rng, dt = np.random.default_rng(case["seed"]), case["dtype"]
    x = randn(rng, (case["N"], case["C"], case["H"], case["W"]), dt)
    w = randn(rng, (case["O"], case["C"]) + case["k"], dt)
    b = randn(rng, (case["O"],), dt) if case["bias"] else None
    geom = case["stride"], case["padding"], case["dilation"]
    y = ref.conv2d(x, w, b, *geom)
    assert_close(cpu.conv2d(x, w, b, *geom), y, dt)
    gy = randn(rng, y.shape, dt)
    assert_close(cpu.conv2d_weight(x, gy, w.shape, *geom), ref.conv2d_weight(x, gy, w.shape, *geom), dt)


def check_conv_transpose2d(case, data):
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
    assert_close(cpu.conv_transpose2d(x, w, b, *args), ref.conv_transpose2d(x, w, b, *args), dt)


@contextlib.contextmanager
def _switched(setter, mode):
    """setter(mode) inside the block (the extension's setters return the old mode), the old mode restored after."""
    old = setter(mode)
    try:
        yield
    finally:
        setter(old)


def conv_path(mode):
    """The convolutions' path inside the block: 2 planes, 1 direct, -1 im2col + GEMM, 0 by shape."""
    return _switched(_cpu.set_direct, mode)


@given(case=conv_cases())
def test_conv2d_and_weight_grad_match_reference(gemm, case):
    with conv_path(-1):                         # im2col + GEMM: the shapes drawn here would mostly go to planes
        check_conv2d_and_weight_grad(case)


@given(case=conv_cases(), data=st.data())
def test_conv_transpose2d_matches_reference(gemm, case, data):
    with conv_path(-1):
        check_conv_transpose2d(case, data)


@given(case=conv_cases(extra=9), budget=st.integers(1, 200), data=st.data())
def test_conv_row_bands_match_reference(case, budget, data):
    # A column budget smaller than one sample's columns makes the C++ convolutions work a band of output
    # rows at a time (a 256x256 VGG layer in real use); budgets below one output row give one-row bands.
    old = cpu._extension().set_column_budget(budget)
    try:
        with conv_path(-1):
            check_conv2d_and_weight_grad(case)
            check_conv_transpose2d(case, data)
    finally:
        cpu._extension().set_column_budget(old)


@given(case=conv_cases(channels=40, outputs=40, batch=11), data=st.data())
def test_direct_convolutions_match_reference(case, data):
    # conv_direct.cpp forced on every geometry, including the ones it would leave to im2col: batches and
    # channel counts on both sides of the tile sizes (8 samples, 32 float / 16 double lanes), so the
    # zero-padded samples and channels are exercised, and strides, dilations, paddings and output paddings.
    with conv_path(1):
        check_conv2d_and_weight_grad(case)
        check_conv_transpose2d(case, data)


@given(case=conv_cases(outputs=4, batch=3), data=st.data())
def test_plane_convolutions_match_reference(case, data):
    # conv_planes.cpp forced on every geometry, with 1-4 output channels (where it is used by shape) and
    # batches of 1-3 (so conv2d splits one sample's rows into bands for the threads).
    with conv_path(2):
        check_conv2d_and_weight_grad(case)
        check_conv_transpose2d(case, data)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,stride,bias", [(1, (1, 1), True), (3, (2, 1), False)])
def test_pixel_tiles_with_channel_blocks_match_reference(dtype, N, stride, bias, rng):
    # Batches under 8 at horizontal stride 1 take tiles of 8 pixels of an output row (conv_direct.cpp);
    # 200 channels x 3x3 taps overflow one ~192 KB block of packed weights, so the sum over channels runs
    # in two blocks, the second adding onto the first. The drawn cases above never have that many.
    x, w = randn(rng, (N, 200, 6, 11), dtype), randn(rng, (40, 200, 3, 3), dtype)
    b = randn(rng, (40,), dtype) if bias else None
    for mode in (0, 1):
        with conv_path(mode):
            y = ref.conv2d(x, w, b, stride, (1, 1), (1, 1))
            assert_close(cpu.conv2d(x, w, b, stride, (1, 1), (1, 1)), y, dtype)
            gy = randn(rng, (N, 200, 6, 11), dtype)             # the transpose at stride 1: 200 -> 40 channels
            wt = randn(rng, (200, 40, 3, 3), dtype)
            bt = randn(rng, (40,), dtype) if bias else None
            args = (1, 1), (1, 1), (0, 0), (1, 1)
            assert_close(cpu.conv_transpose2d(gy, wt, bt, *args), ref.conv_transpose2d(gy, wt, bt, *args), dtype)


def winograd(mode):
    """Stride-1 3x3 convolutions inside the block: 1 Winograd wherever it fits, -1 never, 0 by shape."""
    return _switched(_cpu.set_winograd, mode)


@given(N=st.integers(1, 3), C=st.integers(1, 24), O=st.integers(1, 24), H=st.integers(1, 20),
       W=st.one_of(st.integers(1, 12), st.integers(30, 75)), padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       bias=st.booleans(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
@example(N=2, C=20, O=17, H=35, W=67, padding=(0, 0), bias=True, dtype=np.float32, seed=0)   # odd edges, 16-tile strips
@example(N=1, C=3, O=40, H=2, W=33, padding=(2, 1), bias=False, dtype=np.float64, seed=1)
@example(N=1, C=1, O=1, H=3, W=3, padding=(0, 0), bias=False, dtype=np.float64, seed=0)   # 1x1 onto 3x3: 4 tiles in a block of 8
def test_winograd_convolutions_match_reference(N, C, O, H, W, padding, bias, dtype, seed):
    # conv_winograd.cpp forced on stride-1 3x3 conv2d, its weight gradient and conv_transpose2d: odd output sizes (half tiles at
    # the edges), rows of 30+ tiles (whole 8- and 16-tile strips, the vector paths) and short ones, batches
    # whose tiles run from one sample into the next, channel counts on both sides of the 6-row panels.
    assume(H + 2 * padding[0] >= 3 and W + 2 * padding[1] >= 3)
    rng = np.random.default_rng(seed)
    x, w = randn(rng, (N, C, H, W), dtype), randn(rng, (O, C, 3, 3), dtype)
    b, bt = (randn(rng, (O,), dtype), randn(rng, (C,), dtype)) if bias else (None, None)
    geom = (1, 1), padding, (1, 1)
    with winograd(1):
        f64 = dtype == np.float64
        y = ref.conv2d(x, w, b, *geom)
        assert _cpu.conv_path("conv2d", x.shape, w.shape, *geom, (0, 0), f64) == "winograd"
        assert _cpu.conv_path("conv_transpose2d", y.shape, w.shape, *geom, (0, 0), f64) == "winograd"
        assert _cpu.conv_path("conv2d_weight", x.shape, w.shape, *geom, (0, 0), f64) == "winograd"
        assert_close(cpu.conv2d(x, w, b, *geom), y, dtype)
        gy = randn(rng, y.shape, dtype)
        assert_close(cpu.conv2d_weight(x, gy, w.shape, *geom), ref.conv2d_weight(x, gy, w.shape, *geom), dtype)
        args = (1, 1), padding, (0, 0), (1, 1)
        assert_close(cpu.conv_transpose2d(gy, w, bt, *args), ref.conv_transpose2d(gy, w, bt, *args), dtype)


@pytest.mark.parametrize("N,C,O,H,paths", [
    (1, 64, 64, 64, ("winograd", "winograd")),      # VGG19 / CycleGAN-like: Winograd
    (1, 512, 512, 16, ("pixels", "im2col")),        # 64 tiles against 512 channels: reading U costs what it saves
    (1, 512, 512, 25, ("winograd", "im2col")),      # 169 tiles; the weight gradient's sums would be 16 MB
    (8, 128, 128, 8, ("direct", "direct")),         # batch 8 on 8x8: the direct path's tiles of samples
    (8, 128, 128, 16, ("winograd", "winograd")),    # batch 8 on 16x16: 512 tiles
    (1, 3, 64, 32, ("im2col", "im2col")),           # 3 input channels: the transforms would be the work
    (16, 8, 32, 8, "by vector width")])             # 8 channels in: see below
def test_winograd_by_shape(N, C, O, H, paths, rng):
    if paths == "by vector width":
        # Not Winograd; conv2d goes direct where 8 channels fill half the micro-tile's two vectors (AVX2:
        # 8 floats a vector), im2col where they do not (AVX-512: 16), as direct_pays says; the weight
        # gradient, whose tile lanes run over those 8 channels, takes im2col on both.
        paths = ("im2col",) * 2 if _cpu.simd == "avx512" else ("direct", "im2col")
    x, w = randn(rng, (N, C, H, H), np.float32), randn(rng, (O, C, 3, 3), np.float32)
    with conv_path(0), winograd(0):
        assert (_cpu.conv_path("conv2d", x.shape, w.shape, (1, 1), (1, 1)),
                _cpu.conv_path("conv2d_weight", x.shape, w.shape, (1, 1), (1, 1))) == paths
        assert _cpu.conv_path("conv2d", x.shape, w.shape, (2, 2), (1, 1)) != "winograd"     # stride 2
        assert _cpu.conv_path("conv2d", x.shape, (O, C, 5, 5), (1, 1), (2, 2)) != "winograd"  # 5x5
        geom = (1, 1), (1, 1), (1, 1)
        y = ref.conv2d(x, w, None, *geom)
        assert_close(cpu.conv2d(x, w, None, *geom), y, np.float32)
        assert_close(cpu.conv2d_weight(x, y, w.shape, *geom), ref.conv2d_weight(x, y, w.shape, *geom), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C,O,H,stride,paths", [
    (16, 64, 128, 14, 2, ("direct",) * 3),                  # DCGAN-like: tiles of 8 samples
    (2, 64, 128, 7, 2, ("im2col",) * 3),                    # batch of 2, stride 2: im2col
    (2, 64, 128, 9, 1, ("pixels", "pixels", "im2col")),     # batch of 2, stride 1: tiles of 8 pixels
    (16, 1, 64, 12, 2, ("im2col",) * 3),                    # 1 channel: im2col
    (8, 32, 16, 8, 2, ("im2col", "direct", "im2col")),      # 4x4 output: few tiles
    (8, 16, 1, 32, 2, ("planes", "direct", "direct*planes")),    # to 1 channel
    (8, 16, 3, 32, 2, ("direct",) * 3),                     # to RGB, batch 8
    (8, 16, 32, 32, 2, ("direct", "im2col", "direct*im2col")),    # strided transpose onto 32x32: im2col; 16 channels
    (8, 24, 32, 16, 1, ("direct", "direct", "direct*im2col")),    # 24 channels
    (1, 64, 3, 16, 2, ("planes",) * 3)])                    # to RGB, batch 1
def test_default_path_by_shape_matches_reference(dtype, N, C, O, H, stride, paths, rng):
    # By shape (the default mode): which path each of the three products takes, and that it is right.
    # "direct*other": the weight gradient's direct path pads the C input channels to whole tiles of NR = two
    # vectors, and is only taken where that adds at most a third (16 channels: not with AVX-512 float32).
    nr = 2 * {"avx512": 64, "avx2": 32, "avx": 32}.get(_cpu.simd, 16) // np.dtype(dtype).itemsize
    fills = 3 * (-(-C // nr) * nr) <= 4 * C
    paths = tuple(("direct" if fills else p.split("*")[1]) if p.startswith("direct*") else p for p in paths)
    x, w = randn(rng, (N, C, H, H), dtype), randn(rng, (O, C, 5, 5), dtype)
    geom = (stride, stride), (2, 2), (1, 1)
    with conv_path(0):
        y = ref.conv2d(x, w, None, *geom)
        op = (H + 4 - 5) % stride, (H + 4 - 5) % stride    # the output padding that gives x's size back
        args = geom[0], geom[1], op, geom[2]
        f64 = dtype == np.float64
        assert (_cpu.conv_path("conv2d", x.shape, w.shape, *geom, (0, 0), f64),
                _cpu.conv_path("conv_transpose2d", y.shape, w.shape, *geom, op, f64),
                _cpu.conv_path("conv2d_weight", x.shape, w.shape, *geom, (0, 0), f64)) == paths
        assert_close(cpu.conv2d(x, w, None, *geom), y, dtype)
        assert_close(cpu.conv2d_weight(x, y, w.shape, *geom), ref.conv2d_weight(x, y, w.shape, *geom), dtype)
        assert_close(cpu.conv_transpose2d(y, w, None, *args), ref.conv_transpose2d(y, w, None, *args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_batches_split_into_several_gemm_groups(gemm, dtype, rng):
    # C*kh*kw * Ho*Wo = 200 * 10^4 = 2M column entries per sample: the 4M-entry buffer holds two samples,
    # so N = 3 runs one group of two (the side-by-side layout) and one of one (straight into y).
    x, w, b = randn(rng, (3, 8, 100, 100), dtype), randn(rng, (2, 8, 5, 5), dtype), randn(rng, (2,), dtype)
    geom = (1, 1), (2, 2), (1, 1)
    y = ref.conv2d(x, w, b, *geom)
    assert_close(cpu.conv2d(x, w, b, *geom), y, dtype)
    assert_close(cpu.conv2d_weight(x, y, w.shape, *geom), ref.conv2d_weight(x, y, w.shape, *geom), dtype)
    assert_close(cpu.conv_transpose2d(y, w, b[:1].repeat(8), (1, 1), (2, 2), (0, 0), (1, 1)),
                 ref.conv_transpose2d(y, w, b[:1].repeat(8), (1, 1), (2, 2), (0, 0), (1, 1)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (7, 33, 300), (130, 70, 513), (9, 2100, 17)])
def test_gemm_matches_numpy_with_ragged_edges_and_transposes(gemm, dtype, M, N, K, rng):
    for ta in (False, True):
        for tb in (False, True):
            a = randn(rng, (K, M) if ta else (M, K), dtype)
            b = randn(rng, (N, K) if tb else (K, N), dtype)
            expected = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
            assert_close(_cpu.gemm(a, b, ta, tb), expected.astype(dtype), dtype)


@given(M=st.integers(1, 70), N=st.integers(1, 70), K=st.one_of(st.integers(1, 80), st.integers(2048, 5000)),
       ta=st.booleans(), tb=st.booleans(), dtype=st.sampled_from(DTYPES), accumulate=st.booleans(),
       threads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
@example(M=33, N=70, K=4100, ta=False, tb=True, dtype=np.float32, accumulate=True, threads=2, seed=1)  # K split
@example(M=70, N=47, K=2049, ta=True, tb=True, dtype=np.float64, accumulate=False, threads=2, seed=2)
def test_gemm_with_a_long_shared_dimension_matches_numpy(M, N, K, ta, tb, dtype, accumulate, threads, seed):
    """Small C, long K: on 2 threads gemm.cpp splits K between them and adds the partial products (with
    beta = 1, into what C held); transposed B is packed a VL x VL block at a time, ragged columns alone."""
    rng = np.random.default_rng(seed)
    a = randn(rng, (K, M) if ta else (M, K), dtype)
    b = randn(rng, (N, K) if tb else (K, N), dtype)
    c = randn(rng, (M, N), dtype) if accumulate else None
    expected = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b) + (c if accumulate else 0)
    old_threads, old_gemm = _cpu.num_threads(), _cpu.gemm_backend()
    _cpu.set_num_threads(threads)
    cpu.set_gemm("builtin")                     # the split and the packing are the built-in GEMM's
    try:
        got = _cpu.gemm(a, b, ta, tb, c)
    finally:
        _cpu.set_num_threads(old_threads)
        cpu.set_gemm(old_gemm)
    assert_close(got, expected.astype(dtype), dtype)


@given(m=st.integers(0, 40), k=st.integers(0, 40), n=st.integers(0, 40), dtype=st.sampled_from(DTYPES),
       layout_a=st.sampled_from(["C", "F", "strided"]), layout_b=st.sampled_from(["C", "F", "strided"]),
       seed=st.integers(0, 2**16))
def test_matmul_matches_numpy_for_every_memory_layout(m, k, n, dtype, layout_a, layout_b, seed):
    """kernels.cpu.matmul (the product under minigrad's matmul op) = NumPy's, whatever the operands' strides:
    a Fortran-ordered operand (a .T view) becomes a transpose flag, a strided one a copy."""
    rng = np.random.default_rng(seed)

    def operand(rows, cols, layout):
        if layout == "C":
            return randn(rng, (rows, cols), dtype)
        if layout == "F":
            return randn(rng, (cols, rows), dtype).T
        return randn(rng, (rows, 2 * cols), dtype)[:, ::2]

    a, b = operand(m, k, layout_a), operand(k, n, layout_b)
    out = cpu.matmul(a, b)
    assert out.shape == (m, n) and out.dtype == dtype
    assert_close(out, (a.astype(np.float64) @ b).astype(dtype), dtype)


def test_matmul_hands_batched_and_mismatched_products_to_numpy_or_a_clear_error(rng):
    a, b = randn(rng, (3, 4, 5), np.float32), randn(rng, (5, 2), np.float32)
    np.testing.assert_array_equal(cpu.matmul(a, b), np.matmul(a, b))           # batched: NumPy's
    with pytest.raises(ValueError, match=r"matmul: shapes \(4, 5\) and \(4, 5\)"):
        cpu.matmul(a[0], a[0])


@st.composite
def bn_cases(draw):
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5))) + tuple(
        draw(st.lists(st.integers(1, 6), min_size=0, max_size=2)))
    return dict(shape=shape, dtype=draw(st.sampled_from(DTYPES)), training=draw(st.booleans()),
                affine=draw(st.booleans()), running=draw(st.booleans()), seed=draw(st.integers(0, 2**16)),
                momentum=draw(st.sampled_from([0.1, 0.5, 1.0])), eps=draw(st.sampled_from([1e-5, 1e-3])))


@given(case=bn_cases())
def test_batch_norm_matches_reference(case):
    rng, dt, C = np.random.default_rng(case["seed"]), case["dtype"], case["shape"][1]
    x = randn(rng, case["shape"], dt) * 3 + 2
    gamma, beta = (randn(rng, (C,), dt), randn(rng, (C,), dt)) if case["affine"] else (None, None)
    running = case["running"] or not case["training"]
    stats = [randn(rng, (C,), dt), np.abs(randn(rng, (C,), dt)) + 0.5] if running else [None, None]
    ref_stats = [None if s is None else s.copy() for s in stats]
    args = case["training"], case["momentum"], case["eps"]
    out = cpu.batch_norm(x, gamma, beta, *stats, *args)
    expected = ref.batch_norm(x, gamma, beta, *ref_stats, *args)
    for o, e in zip(out, expected):
        assert_close(o, e, dt)
    for s, e in zip(stats, ref_stats):
        if s is not None:
            assert_close(s, e, dt)                       # running stats updated in place, like the reference


@given(n=st.integers(1, 5), c=st.integers(1, 700), dt=st.sampled_from(DTYPES), training=st.booleans(),
       seed=st.integers(0, 2**16))
def test_batch_norm_1d_rows_path_matches_reference(n, c, dt, training, seed):
    """(N, C) input takes the C++ row-sweeping path, in blocks of 256 channels: forward and backward."""
    rng = np.random.default_rng(seed)
    x, gy = randn(rng, (n, c), dt) * 3 + 2, randn(rng, (n, c), dt)
    gamma, beta = randn(rng, (c,), dt), randn(rng, (c,), dt)
    stats = [randn(rng, (c,), dt), np.abs(randn(rng, (c,), dt)) + 0.5]
    ref_stats = [s.copy() for s in stats]
    out = cpu.batch_norm(x, gamma, beta, *stats, training, 0.1, 1e-5)
    expected = ref.batch_norm(x, gamma, beta, *ref_stats, training, 0.1, 1e-5)
    for o, e in zip(list(out) + stats, list(expected) + ref_stats):
        assert_close(o, e, dt)
    args = gy, x, gamma, expected[1], expected[2], training, (True, True, True)
    for o, e in zip(cpu.batch_norm_backward(*args), ref.batch_norm_backward(*args)):
        assert_close(o, e, dt)


@given(case=bn_cases(), needs=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_batch_norm_backward_matches_reference_and_honours_needs(case, needs):
    rng, dt, C = np.random.default_rng(case["seed"]), case["dtype"], case["shape"][1]
    x, gy = randn(rng, case["shape"], dt) * 3 + 2, randn(rng, case["shape"], dt)
    gamma = randn(rng, (C,), dt) if case["affine"] else None
    mean, invstd = randn(rng, (C,), dt), (np.abs(randn(rng, (C,), dt)) + 0.5)
    args = gy, x, gamma, mean, invstd, case["training"], needs
    for o, e, need in zip(cpu.batch_norm_backward(*args), ref.batch_norm_backward(*args), needs):
        if not need:
            assert o is None
        else:
            assert_close(o, e, dt)


@given(shape=st.lists(st.integers(0, 7), min_size=0, max_size=4), dtype=st.sampled_from(DTYPES),
       slope=st.sampled_from([0.0, 0.01, 0.2, -1.5]), seed=st.integers(0, 2**16))
def test_leaky_relu_forward_backward_equal_reference_exactly(shape, dtype, slope, seed):
    rng = np.random.default_rng(seed)
    x, gy = randn(rng, shape, dtype), randn(rng, shape, dtype)
    x.flat[::3] = 0                                      # x = 0 takes the slope branch in both
    np.testing.assert_array_equal(cpu.leaky_relu(x, slope), ref.leaky_relu(x, slope))
    np.testing.assert_array_equal(cpu.leaky_relu_backward(gy, x, slope), ref.leaky_relu_backward(gy, x, slope))


def test_non_contiguous_inputs_give_correct_results(rng):
    x = randn(rng, (2, 3, 12, 10), np.float32)[:, :, ::2, ::-1]      # strided and reversed
    w = randn(rng, (3, 4, 5, 3), np.float32).transpose(1, 0, 2, 3)   # (4, 3, 5, 3), not contiguous
    geom = (1, 2), (1, 0), (1, 1)
    y = ref.conv2d(x, w, None, *geom)
    assert_close(cpu.conv2d(x, w, None, *geom), y, np.float32)
    gy = randn(rng, y.shape[::-1], np.float32).T
    assert_close(cpu.conv2d_weight(x, gy, w.shape, *geom), ref.conv2d_weight(x, gy, w.shape, *geom), np.float32)
    xt = randn(rng, (2, 4, 6, 5), np.float32)[..., ::-1]
    args = (2, 2), (1, 1), (1, 0), (1, 1)
    assert_close(cpu.conv_transpose2d(xt, w, None, *args), ref.conv_transpose2d(xt, w, None, *args), np.float32)
    xb = randn(rng, (6, 5, 4), np.float64).transpose(1, 0, 2)
    assert_close(cpu.batch_norm(xb, None, None, None, None, True, 0.1, 1e-5)[0],
                 ref.batch_norm(xb, None, None, None, None, True, 0.1, 1e-5)[0], np.float64)


def test_strided_running_stats_still_get_updated(rng):
    x = randn(rng, (4, 3, 5), np.float64)
    running = np.zeros((2, 3))
    rm, rv = running[0], np.ones(6)[::2]                  # a row (contiguous) and a strided view
    expected_rm, expected_rv = np.zeros(3), np.ones(3)
    cpu.batch_norm(x, None, None, rm, rv, True, 0.1, 1e-5)
    ref.batch_norm(x, None, None, expected_rm, expected_rv, True, 0.1, 1e-5)
    assert_close(rm, expected_rm, np.float64)
    assert_close(rv, expected_rv, np.float64)


def test_bad_arguments_raise_clear_errors(rng):
    x, w = randn(rng, (2, 3, 8, 8), np.float32), randn(rng, (4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: input has 2 channels but weight expects 3"):
        cpu.conv2d(x[:, :2], w, None, 1, 0, 1)
    with pytest.raises(TypeError, match=r"conv2d: weight has dtype float64 but x has float32"):
        cpu.conv2d(x, w.astype(np.float64), None, 1, 0, 1)
    with pytest.raises(TypeError, match=r"conv2d: x has dtype int64"):
        cpu.conv2d(x.astype(np.int64), w, None, 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: bias has shape \(3,\)"):
        cpu.conv2d(x, w, np.zeros(3, np.float32), 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: the kernel"):
        cpu.conv2d(x[:, :, :2, :2], w, None, 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: stride"):
        cpu.conv2d(x, w, None, 0, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D"):
        cpu.conv2d(x[0], w, None, 1, 0, 1)
    with pytest.raises(ValueError, match=r"conv_transpose2d: input has 3 channels but weight expects 4"):
        cpu.conv_transpose2d(x, w, None, 1, 0, 0, 1)
    with pytest.raises(ValueError, match=r"conv_transpose2d: output size"):
        cpu.conv_transpose2d(randn(rng, (1, 4, 1, 1), np.float32), w, None, 1, 2, 0, 1)
    with pytest.raises(ValueError, match=r"conv2d_weight"):
        cpu.conv2d_weight(x, randn(rng, (2, 5, 6, 6), np.float32), w.shape, 1, 0, 1)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(2,\)"):
        cpu.batch_norm(x, None, None, np.zeros(2, np.float32), np.ones(3, np.float32), True, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: eval mode"):
        cpu.batch_norm(x, None, None, None, None, False, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"leaky_relu_backward: grad_y"):
        cpu.leaky_relu_backward(x[:1], x, 0.2)


def test_the_raw_extension_rejects_bad_shapes_instead_of_crashing(rng):
    x, w = randn(rng, (2, 3, 8, 8), np.float32), randn(rng, (4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="conv2d"):
        _cpu.conv2d(x[:, :2].copy(), w, None, (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="conv2d"):
        _cpu.conv2d(x, w, None, (1, 1), (0, 0), (9, 9))
    with pytest.raises(ValueError, match="stride"):
        _cpu.conv2d(x, w, None, (0, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="conv2d_weight"):
        _cpu.conv2d_weight(x, randn(rng, (2, 4, 9, 9), np.float32), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="running_mean"):
        _cpu.batch_norm(x, None, None, np.zeros(6, np.float32)[::2], None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="bias"):
        _cpu.conv_transpose2d(randn(rng, (1, 4, 2, 2), np.float32), w, np.zeros(1, np.float32),
                              (1, 1), (0, 0), (0, 0), (1, 1))


@given(N=st.integers(1, 2), C=st.integers(1, 3), O=st.integers(1, 3), H=st.integers(1, 6), W=st.integers(1, 6),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)), with_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_gradcheck_through_winograd(N, C, O, H, W, padding, with_bias, seed):
    # Stride-1 3x3 conv2d and conv_transpose2d on conv_winograd.cpp (forced), float64: first derivatives
    # (conv2d's input gradient is the transpose, so Winograd too), then second ones.
    assume(H + 2 * padding[0] >= 3 and W + 2 * padding[1] >= 3)
    assume(H + 2 - 2 * padding[0] >= 1 and W + 2 - 2 * padding[1] >= 1)       # the transpose's output
    rng = np.random.default_rng(seed)
    x, w, xt = tensor(rng, N, C, H, W), tensor(rng, O, C, 3, 3), tensor(rng, N, O, H, W)
    b, bt = tensor(rng, O), tensor(rng, C)
    previous = kernels.backend()
    kernels.set_backend("cpp")
    try:
        with winograd(1):
            conv = lambda x, w, b: conv2d(x, w, b if with_bias else None, 1, padding)  # noqa: E731
            convt = lambda x, w, b: conv_transpose2d(x, w, b if with_bias else None, 1, padding)  # noqa: E731
            assert gradcheck(conv, (x, w, b))
            assert gradcheck(convt, (xt, w, bt))
            assert gradgradcheck(conv, (x, w, b))
    finally:
        kernels.set_backend(previous)


@pytest.mark.parametrize("mode", [1, 2])
@given(config=configs(max_size=5), with_bias=st.booleans())
def test_gradcheck_through_the_direct_and_plane_paths(mode, config, with_bias):
    # minigrad's conv ops with the C++ backend and conv_direct.cpp (mode 1: tiles of samples, or of pixels
    # for batches under 8) or conv_planes.cpp (mode 2) forced: first derivatives of conv2d and
    # conv_transpose2d (their backward passes are conv_transpose2d and conv2d_weight), then second ones.
    N, C, O, size, kernel, stride, padding, dilation, output_padding, seed = config
    assume(conv2d_fits(size, kernel, padding, dilation))
    assume(transpose_fits(size, kernel, stride, padding, dilation, output_padding))
    rng = np.random.default_rng(seed)
    x, w, xt = tensor(rng, N, C, *size), tensor(rng, O, C, *kernel), tensor(rng, N, O, *size)
    b, bt = tensor(rng, O), tensor(rng, C)
    previous = kernels.backend()
    kernels.set_backend("cpp")
    try:
        with conv_path(mode):
            conv = lambda x, w, b: conv2d(x, w, b if with_bias else None, stride, padding, dilation)  # noqa: E731
            convt = lambda x, w, b: conv_transpose2d(x, w, b if with_bias else None, stride,  # noqa: E731
                                                     padding, output_padding, 1, dilation)
            assert gradcheck(conv, (x, w, b))
            assert gradcheck(convt, (xt, w, bt))
            assert gradgradcheck(conv, (x, w, b))
    finally:
        kernels.set_backend(previous)


@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9),
       kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       data=st.data(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_max_pool2d_equals_reference_exactly(N, C, H, W, kernel, stride, data, dtype, seed):
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)
    assume(H + 2 * padding[0] >= kernel[0] and W + 2 * padding[1] >= kernel[1])
    rng = np.random.default_rng(seed)
    x = randn(rng, (N, C, H, W), dtype).round(1)                 # rounded: ties, which the first tap wins
    x.flat[::7] = np.nan                                         # a NaN wins its window
    y, index = cpu.max_pool2d(x, kernel, stride, padding)
    y_ref, index_ref = ref.max_pool2d(x, kernel, stride, padding)
    assert y.dtype == dtype and index.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(index, index_ref)


def test_max_pool2d_refuses_bad_geometry_in_one_line(rng):
    x = randn(rng, (1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half of kernel_size \(2, 2\)"):
        cpu.max_pool2d(x, 2, 2, 2)
    with pytest.raises(ValueError, match=r"max_pool2d: kernel_size \(5, 5\) is larger than the padded input"):
        cpu.max_pool2d(x, 5, 1, 0)
    with pytest.raises(ValueError, match=r"max_pool2d: x must be 4-D"):
        cpu.max_pool2d(x[0], 2, 2, 0)


@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9), data=st.data(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_reflection_pad2d_and_backward_equal_reference_exactly(N, C, H, W, data, dtype, seed):
    # Every width from 0 to one less than its dim (a width of H - 1 mirrors all but the edge row).
    padding = (data.draw(st.integers(0, W - 1)), data.draw(st.integers(0, W - 1)),
               data.draw(st.integers(0, H - 1)), data.draw(st.integers(0, H - 1)))
    check_reflection_pad2d(N, C, H, W, padding, dtype, seed)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reflection_pad2d_over_threads_equals_reference(dtype):
    # 2 x 40 planes of 24 x 24 padded by CycleGAN's 3: over 2^15 elements, so the planes go to OpenMP.
    check_reflection_pad2d(2, 40, 24, 24, (3, 3, 3, 3), dtype, seed=0)


def check_reflection_pad2d(N, C, H, W, padding, dtype, seed):
    rng = np.random.default_rng(seed)
    x = randn(rng, (N, C, H, W), dtype)
    y = cpu.reflection_pad2d(x, padding)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref.reflection_pad2d(x, padding))
    gy = randn(rng, y.shape, dtype)
    np.testing.assert_array_equal(cpu.reflection_pad2d_backward(gy, padding), ref.reflection_pad2d_backward(gy, padding))


def test_reflection_pad2d_refuses_bad_padding_in_one_line(rng):
    x = randn(rng, (1, 2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"reflection_pad2d: padding \(left, right, top, bottom\) = \(0, 0, 3, 0\) "
                                         r"must be smaller than the image's 3 x 4"):
        cpu.reflection_pad2d(x, (0, 0, 3, 0))
    with pytest.raises(ValueError, match=r"reflection_pad2d: padding must be 4 ints >= 0"):
        cpu.reflection_pad2d(x, (1, -1, 0, 0))
    with pytest.raises(ValueError, match=r"reflection_pad2d: padding must be 4 ints >= 0"):
        cpu.reflection_pad2d(x, (1, 1))
    with pytest.raises(ValueError, match=r"reflection_pad2d: x must be 4-D"):
        cpu.reflection_pad2d(x[0], (1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"reflection_pad2d_backward: padding .* smaller than the image's 1 x 2 "
                                         r"in each dim \(grad_y \(1, 2, 3, 4\)\)"):
        cpu.reflection_pad2d_backward(x, (1, 1, 1, 1))


def adam_states(rng, shape, dtype, amsgrad):
    param = randn(rng, shape, dtype)
    moments = [np.zeros(shape, dtype) for _ in range(3 if amsgrad else 2)]
    return [param] + moments + ([None] if not amsgrad else [])


@given(shape=st.sampled_from([(1,), (7,), (3, 5), (40000,)]), dtype=st.sampled_from(DTYPES),
       beta1=st.sampled_from([0.0, 0.5, 0.9]), beta2=st.sampled_from([0.9, 0.999]),
       weight_decay=st.sampled_from([0.0, 0.01]), amsgrad=st.booleans(), seed=st.integers(0, 2**16))
def test_adam_step_matches_reference_over_several_steps(shape, dtype, beta1, beta2, weight_decay, amsgrad, seed):
    # Both lerp forms (1 - beta1 below and from 0.5 up), weight decay, amsgrad; 40000 elements take the
    # OpenMP path. Five steps, so the bias corrections and the moments' history count.
    rng = np.random.default_rng(seed)
    ours = adam_states(rng, shape, dtype, amsgrad)
    theirs = [None if a is None else a.copy() for a in ours]
    for step in range(1, 6):
        grad = randn(rng, shape, dtype)
        hyper = (step, 2e-3, beta1, beta2, 1e-8, weight_decay)
        cpu.adam_step(*ours[:1], grad, *ours[1:], *hyper)
        ref.adam_step(*theirs[:1], grad, *theirs[1:], *hyper)
        for a, b in zip(ours, theirs):
            if a is not None:
                assert_close(a, b, dtype)
    assert not np.array_equal(ours[0], adam_states(np.random.default_rng(seed), shape, dtype, amsgrad)[0])


def test_adam_step_updates_strided_state_in_place_through_the_reference(rng):
    # A non-contiguous parameter cannot go to C++ without a copy, which would lose the update: the
    # reference's NumPy code updates it in place instead, with the same result.
    big = randn(rng, (6, 8), np.float32)
    param, expected = big[:, ::2], big[:, ::2].copy()
    m, v = np.zeros_like(expected), np.zeros_like(expected)
    m2, v2 = m.copy(), v.copy()
    grad = randn(rng, expected.shape, np.float32)
    cpu.adam_step(param, grad, m, v, None, 1, 1e-2, 0.9, 0.999, 1e-8, 0.0)
    ref.adam_step(expected, grad, m2, v2, None, 1, 1e-2, 0.9, 0.999, 1e-8, 0.0)
    np.testing.assert_array_equal(big[:, ::2], expected)
    np.testing.assert_array_equal(m, m2)


def test_adam_step_rejects_mismatched_state_clearly(rng):
    param, grad = randn(rng, (4,), np.float32), randn(rng, (4,), np.float32)
    with pytest.raises(ValueError, match=r"adam_step: exp_avg .*\(4,\), got shape \(5,\)"):
        _cpu.adam_step(param, grad, np.zeros(5, np.float32), np.zeros(4, np.float32), None, 1, 1e-3, 0.9, 0.999,
                       1e-8, 0.0)
    with pytest.raises(ValueError, match="adam_step: step counts from 1"):
        _cpu.adam_step(param, grad, np.zeros(4, np.float32), np.zeros(4, np.float32), None, 0, 1e-3, 0.9, 0.999,
                       1e-8, 0.0)


def test_freed_memory_is_kept_for_the_next_step_on_glibc():
    # kernels.cpu.load() asks glibc (mallopt) to keep freed memory instead of unmapping it; the call
    # reports whether glibc took both settings. Elsewhere it is a no-op that says False.
    import platform
    assert _cpu.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")
