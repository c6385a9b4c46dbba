"""Benchmark the kernels on the DCGAN layer shapes: python -m kernels.bench [--quick] [--gemm] [--products].

For every layer of the 28x28 DCGAN (batch 64) and the 64x64 DCGAN (batch 16), times the forward and
the backward kernels (median of repeats) of the NumPy reference, the C++ backend and, when it is
installed, PyTorch's CPU kernels (in the same process, with torch.set_num_threads(cores), or --threads), and prints
milliseconds, speed-ups and the achieved GFLOP/s of the convolutions, next to the machine's float32
matmul rate (numpy @ on 1024x1024, a practical peak). `--gemm` adds a column for the C++ backend with
its other GEMM (the built-in one when SciPy's BLAS is the default, and vice versa).

Backward means every gradient a training step needs: conv2d -> input (conv_transpose2d) and weight
(conv2d_weight); conv_transpose2d -> input (conv2d) and weight (conv2d_weight); batch norm -> x, gamma,
beta; leaky relu -> x. FLOPs count 2 per multiply-add of the convolutions (backward = 2 x forward).
`--products` times, instead, the bare GEMMs that im2col hands the built-in GEMM (PRODUCTS below),
against NumPy's matmul of the same operands, in GFLOP/s.

Notes (2-core AMD EPYC with AVX-512, shared with other jobs, so +-20% noise):
  * GEMM choice. Prediction: OpenBLAS (through SciPy) would beat the hand-written GEMM by ~1.5x.
    Result: closer than predicted. On the layers' GEMM shapes, one thread, OpenBLAS 77-92 GFLOP/s vs
    built-in 65-80 (10-15% behind). But in a whole training step OpenBLAS's thread pool competes with
    our OpenMP threads for the 2 cores, and the built-in GEMM made the DCGAN step 1.2-1.35x faster
    (`python -m gans.bench`), so it is the default (DEFAULT_GEMM in kernels/cpu/__init__.py).
  * Threads. A first built-in GEMM synchronised its 2 threads after every packing step; with other
    processes on the cores each barrier could wait a whole scheduler slice (times jumped in 8 ms
    steps). Now each thread computes one slab of C with no barrier inside. On a shared machine
    compare backends with --threads 1 and OPENBLAS_NUM_THREADS=1: multithreaded timings there measure
    the scheduler more than the kernels.
  * Direct convolution (conv_direct.cpp) replaced im2col + GEMM wherever it measured faster (a batch of
    8+, 16+ channels on both sides, enough tiles; its direct_pays): every large 28x28 layer. It skips the kernel taps that land on the zero padding (31% of them on
    the 7x7 layers, 16% from 14x14 to 7x7). GF/s below counts every tap, as FLOP counters usually do,
    so a direct layer's rate can pass the matmul peak: the 7x7 layers reach ~280 by that count, ~195
    counting only the taps inside the image.
  * Weight-gradient GEMMs (B transposed, M = 64-128 output channels, K = tens of thousands of
    columns) ran at 40-90 GFLOP/s where the forward products ran at 120-280: packing B's transpose one
    float at a time cost about as much as the multiply-adds, and with C as small as 64 x 48 each thread
    packed all of B for half of C. Prediction: a register transpose of B's VL x VL blocks and splitting
    K between the threads when C is small would bring them within 1.5x of the forward products. Result
    (`--products`, 2 threads, the two builds back to back): 64x48x16384 38 -> 84, 128x1024x4096 149 ->
    283, 256x2048x1024 212 -> 312, 512x4096x256 157 -> 199 GFLOP/s (NumPy's OpenBLAS 154-200); the
    64x64 DCGAN's step at batch 16 went from 500-520 to 440 ms in one A/B, and the 28x28 DCGAN's did
    not move beyond the noise (its weight GEMMs were already at 220).
  * Batching samples into one GEMM (conv2d.cpp) was in from the start: with 4x4..7x7 outputs a
    per-sample GEMM has only 16..49 columns and re-reads the whole weight matrix per sample.
"""
import argparse
import importlib.util
import os
import statistics
import time

import numpy as np

from . import cpu as cpu_backend
from . import reference

Conv = "conv"
ConvT = "convT"


def layers():
    """(name, kind, shapes...) for both DCGANs."""
    out = []
    # 28x28 DCGAN, batch 64: G and D convolutions, BN and leaky ReLU at its widest.
    N = 64
    out += [("28 G ConvT 256->128 5x5 s1 7->7", ConvT, (N, 256, 7, 7), (256, 128, 5, 5), 1, 2, 0),
            ("28 G ConvT 128->64 5x5 s2 7->14", ConvT, (N, 128, 7, 7), (128, 64, 5, 5), 2, 2, 1),
            ("28 G ConvT 64->1 5x5 s2 14->28", ConvT, (N, 64, 14, 14), (64, 1, 5, 5), 2, 2, 1),
            ("28 D Conv 1->64 5x5 s2 28->14", Conv, (N, 1, 28, 28), (64, 1, 5, 5), 2, 2, 0),
            ("28 D Conv 64->128 5x5 s2 14->7", Conv, (N, 64, 14, 14), (128, 64, 5, 5), 2, 2, 0),
            ("28 BN (64,256,7,7)", "bn", (N, 256, 7, 7)),
            ("28 BN (64,128,7,7)", "bn", (N, 128, 7, 7)),
            ("28 BN (64,64,14,14)", "bn", (N, 64, 14, 14)),
            ("28 LeakyReLU (64,64,14,14)", "lrelu", (N, 64, 14, 14))]
    # 64x64 DCGAN, batch 16: ConvT 4x4 s2 p1 from 4x4 up, Conv 4x4 s2 p1 down.
    N, size = 16, 4
    for c_in, c_out in ((1024, 512), (512, 256), (256, 128), (128, 64), (64, 3)):
        out.append((f"64 G ConvT {c_in}->{c_out} 4x4 s2 {size}->{2 * size}", ConvT,
                    (N, c_in, size, size), (c_in, c_out, 4, 4), 2, 1, 0))
        size *= 2
    for c_in, c_out in ((3, 64), (64, 128), (128, 256), (256, 512)):
        out.append((f"64 D Conv {c_in}->{c_out} 4x4 s2 {size}->{size // 2}", Conv,
                    (N, c_in, size, size), (c_out, c_in, 4, 4), 2, 1, 0))
        size //= 2
    out += [("64 BN (16,512,8,8)", "bn", (N, 512, 8, 8)),
            ("64 BN (16,64,64,64)", "bn", (N, 64, 64, 64)),
            ("64 LeakyReLU (16,64,32,32)", "lrelu", (N, 64, 32, 32))]
    return out


def median_ms(fn, repeats):
    fn()                                                       # warm up (allocations, thread pools)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def output_padding_for(x_shape, y_shape, w_shape, s, p):
    """The output_padding that makes conv_transpose2d of conv2d's output the size of its input."""
    return tuple(x_shape[a] - ((y_shape[a] - 1) * s[a - 2] - 2 * p[a - 2] + w_shape[a] - 1 + 1) for a in (2, 3))


def numpy_like(k):
    """forward/backward closures for a kernels-contract module `k` (the reference or the C++ one)."""
    def conv(x, w, s, p, op):
        s, p, d = (s, s), (p, p), (1, 1)
        y = k.conv2d(x, w, None, s, p, d)
        gy = np.ones_like(y)
        op = output_padding_for(x.shape, y.shape, w.shape, s, p)
        return (lambda: k.conv2d(x, w, None, s, p, d),
                lambda: (k.conv_transpose2d(gy, w, None, s, p, op, d), k.conv2d_weight(x, gy, w.shape, s, p, d)))

    def convT(x, w, s, p, op):
        s, p, op, d = (s, s), (p, p), (op, op), (1, 1)
        y = k.conv_transpose2d(x, w, None, s, p, op, d)
        gy = np.ones_like(y)
        return (lambda: k.conv_transpose2d(x, w, None, s, p, op, d),
                lambda: (k.conv2d(gy, w, None, s, p, d), k.conv2d_weight(gy, x, w.shape, s, p, d)))

    def bn(x):
        g, b = np.ones(x.shape[1], x.dtype), np.zeros(x.shape[1], x.dtype)
        rm, rv = np.zeros_like(g), np.ones_like(g)
        _, mean, invstd = k.batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5)
        return (lambda: k.batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5),
                lambda: k.batch_norm_backward(x, x, g, mean, invstd, True, (True, True, True)))

    def lrelu(x):
        return lambda: k.leaky_relu(x, 0.2), lambda: k.leaky_relu_backward(x, x, 0.2)
    return {Conv: conv, ConvT: convT, "bn": bn, "lrelu": lrelu}


def torch_like(torch):
    aten = torch.ops.aten

    def conv_any(transposed):
        def make(x, w, s, p, op):
            x, w = torch.from_numpy(x), torch.from_numpy(w)
            f = torch.nn.functional
            fwd = (lambda: f.conv_transpose2d(x, w, None, s, p, op)) if transposed else (lambda: f.conv2d(x, w, None, s, p))
            gy = torch.ones_like(fwd())
            return fwd, lambda: aten.convolution_backward(gy, x, w, None, [s, s], [p, p], [1, 1], transposed,
                                                          [op, op] if transposed else [0, 0], 1, [True, True, False])
        return make

    def bn(x):
        x = torch.from_numpy(x)
        g, b = torch.ones(x.shape[1]), torch.zeros(x.shape[1])
        rm, rv = torch.zeros_like(g), torch.ones_like(g)
        _, mean, invstd = aten.native_batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5)
        return (lambda: aten.native_batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5),
                lambda: aten.native_batch_norm_backward(x, x, g, rm, rv, mean, invstd, True, 1e-5, [True, True, True]))

    def lrelu(x):
        x = torch.from_numpy(x)
        return (lambda: torch.nn.functional.leaky_relu(x, 0.2),
                lambda: aten.leaky_relu_backward(x, x, 0.2, False))
    return {Conv: conv_any(False), ConvT: conv_any(True), "bn": bn, "lrelu": lrelu}


def conv_gflop(kind, x_shape, w_shape, s, p, op):
    """Forward FLOPs (2 per multiply-add) of a conv or transposed conv layer, in GFLOP."""
    N, _, H, W = x_shape
    A, B, kh, kw = w_shape                                   # (O, C, kh, kw) for conv, (C_in, C_out, ..) for convT
    if kind == ConvT:
        return 2.0 * N * A * B * kh * kw * H * W / 1e9       # every input pixel meets every kernel tap
    Ho, Wo = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
    return 2.0 * N * A * B * kh * kw * Ho * Wo / 1e9


# (M, N, K, op(A) transposed, op(B) transposed): conv2d (W @ columns), conv_transpose2d (W^T @ x) and
# conv2d_weight (gy @ columns^T) of the 64x64 DCGAN at batch 16 and the 28x28 one at batch 64.
PRODUCTS = [
    ("64x64 D 3->64 weight", 64, 48, 16384, False, True),
    ("64x64 D 64->128 weight", 128, 1024, 4096, False, True),
    ("64x64 D 128->256 weight", 256, 2048, 1024, False, True),
    ("64x64 D 256->512 weight", 512, 4096, 256, False, True),
    ("28x28 D 64->128 weight", 128, 1600, 3136, False, True),
    ("64x64 G 128->64 transposed", 1024, 4096, 128, True, False),
    ("64x64 D 64->128 forward", 128, 4096, 1024, False, False),
    ("28x28 G 128->64 forward-like", 3200, 3136, 256, False, False),
]


def products(repeats, threads):
    from . import _cpu
    rng = np.random.default_rng(0)
    print(f"the convolutions' GEMMs, float32, medians of {repeats}; {threads} C++ threads, NumPy with its own")
    print(f"{'product':30s} {'M x N x K':>18s} {'op':>5s} {'ours GF/s':>10s} {'numpy GF/s':>11s} {'ours/numpy':>10s}")
    for name, M, N, K, ta, tb in PRODUCTS:
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        A, B = (a.T if ta else a), (b.T if tb else b)
        gflop = 2 * M * N * K / 1e9
        ours = gflop / (median_ms(lambda: _cpu.gemm(a, b, ta, tb), repeats) / 1e3)
        ref = gflop / (median_ms(lambda: A @ B, repeats) / 1e3)
        op = ("T" if ta else "N") + ("T" if tb else "N")
        print(f"{name:30s} {f'{M}x{N}x{K}':>18s} {op:>5s} {ours:10.1f} {ref:11.1f} {ours / ref:10.2f}")


def matmul_gflops(repeats):
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    return 2 * 1024 ** 3 / 1e9 / (median_ms(lambda: a @ a, repeats) / 1e3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 28x28 layers only")
    parser.add_argument("--gemm", action="store_true", help="also time the C++ backend on SciPy's BLAS")
    parser.add_argument("--products", action="store_true", help="time the bare GEMMs under the convolutions")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) NumPy reference")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for the C++ kernels and torch (BLAS threads follow OPENBLAS_NUM_THREADS)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7

    cpu = cpu_backend.load()
    from . import _cpu
    _cpu.set_num_threads(args.threads)
    if args.products:
        print(f"numpy float32 matmul 1024x1024: {matmul_gflops(repeats):.1f} GFLOP/s")
        return products(repeats * 3, args.threads)
    backends = {}
    if not args.no_numpy:
        backends["numpy"] = numpy_like(reference)
    backends["cpp"] = numpy_like(cpu)
    other_gemm = "builtin" if cpu_backend.DEFAULT_GEMM == "blas" else "blas"
    if args.gemm:
        backends["cpp+" + other_gemm] = numpy_like(cpu)
    # PyTorch is imported only after every minigrad timing (below): once loaded and run, its OpenMP
    # threads keep spinning on the cores and slowed our C++ kernels several-fold in the same process.
    torch_found = importlib.util.find_spec("torch") is not None
    if torch_found:
        backends["torch"] = None

    peak = matmul_gflops(repeats)
    print(f"cores {os.cpu_count()}, threads {args.threads} (OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}), C++ kernels: {_cpu.simd}, {_cpu.num_threads()} OpenMP threads, "
          f"GEMM {cpu_backend.DEFAULT_GEMM}; torch {'installed' if torch_found else 'not installed'}")
    print(f"numpy float32 matmul 1024x1024: {peak:.1f} GFLOP/s; all arrays float32; times are medians of {repeats}")
    print("GF/s counts every kernel tap; the direct convolution skips those on the padding, so it can pass 100%")
    names = list(backends)
    header = f"{'layer':34s} {'pass':4s} " + " ".join(f"{n + ' ms':>11s}" for n in names)
    header += "".join(f" {n + '/cpp':>10s}" for n in names if n != "cpp") + f" {'cpp GF/s':>9s} {'%peak':>6s}"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    cases = []
    for name, kind, *shape in layers():
        if args.quick and not name.startswith("28"):
            continue
        x = rng.standard_normal(shape[0]).astype(np.float32)
        extra = [rng.standard_normal(shape[1]).astype(np.float32)] + list(shape[2:]) if kind in (Conv, ConvT) else []
        cases.append((name, kind, shape, x, extra, {}))
    # every minigrad timing is taken before PyTorch is even imported (see above)
    for backend in sorted(backends, key=lambda n: n == "torch"):
        if backend == "torch":
            import torch
            torch.set_num_threads(args.threads)
            backends["torch"] = torch_like(torch)
        for name, kind, shape, x, extra, times in cases:
            cpu.set_gemm(other_gemm if backend == "cpp+" + other_gemm else cpu_backend.DEFAULT_GEMM)
            fwd, bwd = backends[backend][kind](x, *extra)
            times[backend] = (median_ms(fwd, repeats), median_ms(bwd, repeats))
    cpu.set_gemm(cpu_backend.DEFAULT_GEMM)
    for name, kind, shape, x, extra, times in cases:
        gflop = conv_gflop(kind, shape[0], *shape[1:]) if kind in (Conv, ConvT) else None
        for i, label in enumerate(("fwd", "bwd")):
            row = f"{name if i == 0 else '':34s} {label:4s} " + " ".join(f"{times[n][i]:11.3f}" for n in names)
            row += "".join(f" {times[n][i] / times['cpp'][i]:10.2f}" for n in names if n != "cpp")
            if gflop is not None:
                rate = gflop * (1 if i == 0 else 2) / (times["cpp"][i] / 1e3)
                row += f" {rate:9.1f} {100 * rate / peak:5.0f}%"
            print(row)

if __name__ == "__main__":
    main()
