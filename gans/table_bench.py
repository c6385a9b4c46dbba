"""python -m gans.bench --all: every model's training step, minigrad (C++ kernels) against PyTorch CPU, one table.

Each row is timed by two processes made for it alone, one per framework, so that neither framework's
threads nor caches touch the other's numbers and each process's peak memory (ru_maxrss) is that row's.
The two take turns: `rounds` bursts each, alternating, every burst's first step untimed (see bench.py
for why); the figure is the median over the timed steps. GFLOP/s counts the multiply-adds of the
convolutions and matrix products that pass through `kernels/` during one minigrad step (forward and
backward), and is given for both frameworks from that count. The PyTorch twins: bench.py (28x28
DCGAN), step_bench.py (64x64 DCGAN, cGAN), cyclegan_bench.py, style_bench.py.

    python -m gans.bench --all                     every row
    python -m gans.bench --all --rows dcgan-16     one row (names: --list)
"""
import multiprocessing
import resource
import statistics
import time

import numpy as np

import kernels
import minigrad

from . import bench, cyclegan_bench, step_bench, style_bench, vgg

CYCLEGAN = cyclegan_bench.SIZES


# ----------------------------------------------------------------------------- the rows

def dcgan(batch):
    return dict(label=f"28x28 DCGAN, batch {batch}", minigrad=lambda: bench.minigrad_step(batch),
                torch=lambda: bench.torch_step(batch), rounds=5, burst=3)


def dcgan64(batch):
    return dict(label=f"64x64 DCGAN, batch {batch}", minigrad=lambda: step_bench.minigrad_dcgan64(batch),
                torch=lambda: step_bench.torch_dcgan64(batch), rounds=3 if batch >= 64 else 5, burst=2 if batch >= 64 else 3)


def conditional(batch):
    return dict(label=f"cGAN (28x28), batch {batch}", minigrad=lambda: step_bench.minigrad_cgan(batch),
                torch=lambda: step_bench.torch_cgan(batch), rounds=5, burst=3)


def cyclegan(size):
    shape = CYCLEGAN[size]
    return dict(label=f"CycleGAN {size} ({shape[0]}x{shape[0]}, batch {shape[2]})",
                minigrad=lambda: cyclegan_bench.minigrad_step(*shape), torch=lambda: cyclegan_bench.torch_step(*shape),
                rounds=3 if size == "full" else 5, burst=2 if size == "full" else 3)


def style(size):
    def parts():
        minigrad.manual_seed(0)
        return style_bench.minigrad_step_fn(vgg.VGG19Features("max"), "vgg", size, np.random.default_rng(0))

    def torch_twin():
        _, loss_fn, content, style_image = parts()        # the same weights and images, then PyTorch's step
        return style_bench.torch_step_fn(loss_fn, content, style_image)
    return dict(label=f"style transfer step, VGG19 at {size} px", minigrad=lambda: parts()[0], torch=torch_twin,
                rounds=3, burst=2 if size >= 400 else 3)


ROWS = {"dcgan-16": dcgan(16), "dcgan-64": dcgan(64), "dcgan-128": dcgan(128),
        "dcgan64-16": dcgan64(16), "dcgan64-64": dcgan64(64), "cgan-16": conditional(16),
        "cyclegan-demo": cyclegan("demo"), "cyclegan-full": cyclegan("full"),
        "style-256": style(256), "style-400": style(400)}


# ----------------------------------------------------------------------------- one framework's process

def _flops_of(step):
    """Multiply-adds x 2 of the kernel-layer convolutions and matrix products in one call of step()."""
    counted = [0]
    originals = {name: getattr(kernels, name) for name in ("conv2d", "conv_transpose2d", "conv2d_weight", "matmul")}

    def conv2d(x, w, *rest):
        y = originals["conv2d"](x, w, *rest)
        counted[0] += 2 * y.size * int(np.prod(w.shape[1:]))               # per output: C/g * kh * kw
        return y

    def conv_transpose2d(x, w, *rest):
        counted[0] += 2 * x.size * int(np.prod(w.shape[1:]))               # per input: C_out/g * kh * kw
        return originals["conv_transpose2d"](x, w, *rest)

    def conv2d_weight(x, grad_y, weight_shape, *rest):
        counted[0] += 2 * grad_y.size * int(np.prod(weight_shape[1:]))
        return originals["conv2d_weight"](x, grad_y, weight_shape, *rest)

    def matmul(a, b):
        y = originals["matmul"](a, b)
        counted[0] += 2 * y.size * a.shape[-1]
        return y
    for name, fn in (("conv2d", conv2d), ("conv_transpose2d", conv_transpose2d),
                     ("conv2d_weight", conv2d_weight), ("matmul", matmul)):
        setattr(kernels, name, fn)
    try:
        step()
    finally:
        for name, fn in originals.items():
            setattr(kernels, name, fn)
    return counted[0]


def _worker(conn, row_name, framework):
    """Build the row's step, say (flops, threads), then time a burst per request; at the end, the peak RSS."""
    row = ROWS[row_name]
    if framework == "minigrad":
        kernels.set_backend("cpp")
        step = row["minigrad"]()
        step()                                                             # warm-up
        info = (_flops_of(step), None)
    else:
        import torch
        step = row["torch"]()
        step()
        info = (None, torch.get_num_threads())
    conn.send(info)
    while (burst := conn.recv()) is not None:
        conn.send(bench.burst_times(step, burst))
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)   # bytes (Linux gives KiB)


class _Process:
    def __init__(self, row_name, framework):
        self.conn, theirs = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=_worker, args=(theirs, row_name, framework),
                                                                    daemon=True)
        self.process.start()
        self.flops, self.threads = self.conn.recv()

    def burst(self, n):
        self.conn.send(n)
        return self.conn.recv()

    def stop(self):
        self.conn.send(None)
        peak = self.conn.recv()
        self.process.join()
        return peak


def time_row(row_name, with_torch):
    """{framework: (median seconds, peak bytes)}, the FLOPs of a step, PyTorch's thread count."""
    row = ROWS[row_name]
    procs = {"minigrad": _Process(row_name, "minigrad")}
    if with_torch:
        procs["torch"] = _Process(row_name, "torch")
    times = {name: [] for name in procs}
    for _ in range(row["rounds"]):
        for name, proc in procs.items():
            times[name] += proc.burst(row["burst"])
    result = {name: (statistics.median(times[name]), proc.stop()) for name, proc in procs.items()}
    return result, procs["minigrad"].flops, procs["torch"].threads if with_torch else None


def matmul_rate():
    """The machine's float32 matmul rate, GFLOP/s (the README's one-liner)."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    a @ a
    start = time.perf_counter()
    for _ in range(10):
        a @ a
    return 10 * 2 * 2048 ** 3 / (time.perf_counter() - start) / 1e9


def main(rows=None, with_torch=True):
    names = rows or list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise SystemExit(f"error: --rows {','.join(unknown)}: unknown; choose from {', '.join(ROWS)}")
    before = matmul_rate()
    print(f"float32 matmul of this machine: {before:.0f} GFLOP/s; C++ kernels; medians; each framework in its own process")
    lines = []
    for name in names:
        result, flops, threads = time_row(name, with_torch)
        ours, our_peak = result["minigrad"]
        cells = [ROWS[name]["label"], f"{ours * 1e3:.1f}", f"{flops / ours / 1e9:.0f}", f"{our_peak / 2 ** 20:.0f}"]
        if "torch" in result:
            theirs, their_peak = result["torch"]
            cells += [f"{theirs * 1e3:.1f}", f"{flops / theirs / 1e9:.0f}", f"{their_peak / 2 ** 20:.0f}",
                      f"**{ours / theirs:.2f}**"]
        else:
            cells += ["-"] * 4
        lines.append("| " + " | ".join(cells) + " |")
        print(f"  {name}: done", flush=True)
    after = matmul_rate()
    print("\n| model and batch | minigrad ms | minigrad GFLOP/s | minigrad peak MiB | PyTorch ms | PyTorch GFLOP/s "
          "| PyTorch peak MiB | minigrad / PyTorch |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    print(f"\nmatmul rate before / after: {before:.0f} / {after:.0f} GFLOP/s"
          + (f"; PyTorch {threads} threads" if with_torch else ""))
