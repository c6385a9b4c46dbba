"""python -m gans.bench: how long one full DCGAN training step takes, per kernel backend and in PyTorch.

One step is what gans.train_dcgan does per batch: G on noise, D on the real and the fake batch, both
losses, both gradients (the tutorial's two tapes), and an Adam update of each network. It is timed
at batch 64 and 128 for every kernel backend that is available here, and for PyTorch on the CPU with
the same architecture when torch is installed (a yardstick only; the library never imports it).
Prints the median milliseconds per step, images per second and the ratio to PyTorch.

The implementations take turns, round after round, so that all of them see the same machine: on a
shared 2-core machine the speed drifts by 10-30% over minutes, and timing one implementation after
the other put that drift into the ratios. Each turn is a short burst of steps of which only the later
ones are timed: the first one after a switch runs on caches the other implementation has just filled
and still meets the other's threads spinning (single interleaved steps measured both minigrad and
PyTorch 15-30% slower than back-to-back steps). PyTorch runs in a process of its own: its OpenMP
threads slowed our kernels when it shared our process.
"""
import argparse
import importlib.util
import multiprocessing
import statistics
import time
from types import SimpleNamespace

import numpy as np

import kernels
import minigrad

from . import dcgan


def minigrad_step(batch_size):
    """A function that runs one DCGAN training step of minigrad (on the active kernel backend)."""
    minigrad.manual_seed(0)
    args = SimpleNamespace(latent_dim=100, lr=1e-4, beta1=0.9, beta2=0.999)
    gan = dcgan.build(args)
    real = minigrad.tensor(np.random.default_rng(0).uniform(-1, 1, (batch_size, 1, 28, 28)).astype(np.float32))
    return lambda: gan.train_step(real)


def torch_step(batch_size):
    """The same model and step in PyTorch (channels-first, padding 2, output_padding 1, slope 0.3)."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    G = nn.Sequential(
        nn.Linear(100, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(0.3),
        nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(128, 64, 5, 2, 2, 1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(64, 1, 5, 2, 2, 1, bias=False), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(1, 64, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4)
    bce = nn.functional.binary_cross_entropy_with_logits
    real = torch.rand(batch_size, 1, 28, 28) * 2 - 1

    def step():
        fake = G(torch.randn(batch_size, 100))
        real_out, fake_out = D(real), D(fake)
        gen_loss = bce(fake_out, torch.ones_like(fake_out))
        disc_loss = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
        g_grads = torch.autograd.grad(gen_loss, list(G.parameters()), retain_graph=True)
        d_grads = torch.autograd.grad(disc_loss, list(D.parameters()))
        for p, g in zip(G.parameters(), g_grads):
            p.grad = g
        for p, g in zip(D.parameters(), d_grads):
            p.grad = g
        opt_g.step()
        opt_d.step()

    return step


def torch_worker(conn, batch_sizes):
    """PyTorch's side, in its own process: build one step per batch size, then time a burst on each request."""
    import torch
    steps = {bs: torch_step(bs) for bs in batch_sizes}
    for step in steps.values():
        step()                                            # warm-up
    conn.send(torch.get_num_threads())
    while (request := conn.recv()) is not None:
        bs, burst = request
        conn.send(burst_times(steps[bs], burst))


def start_torch(batch_sizes):
    """(a function timing a burst of PyTorch steps at a batch size, its thread count, a stop function), or None."""
    if importlib.util.find_spec("torch") is None:
        return None
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    worker = context.Process(target=torch_worker, args=(theirs, batch_sizes), daemon=True)
    worker.start()
    threads = ours.recv()

    def step(bs, burst):
        ours.send((bs, burst))
        return ours.recv()

    def stop():
        ours.send(None)
        worker.join()
    return step, threads, stop


def burst_times(step, burst):
    """Runs `burst` steps back to back; the seconds of each but the first."""
    times = []
    for i in range(burst):
        start = time.perf_counter()
        step()
        if i > 0:
            times.append(time.perf_counter() - start)
    return times


def on_backend(backend, step):
    """A function that times a burst of minigrad steps on this kernel backend."""
    def run(burst):
        kernels.set_backend(backend)
        return burst_times(step, burst)
    return run


def available_backends(wanted):
    names = []
    for name in wanted:
        try:
            kernels.set_backend(name)
        except ImportError as err:
            print(f"backend {name}: not available ({err})")
            continue
        names.append(name)
    return names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The first four time this file's DCGAN table; --all's rows fix their own batch, rounds and bursts
    # (gans/table_bench.py), so those flags are refused there rather than silently ignored.
    table_only = {"batch_sizes": "64,128", "rounds": 5, "burst": 3, "backends": ",".join(kernels.BACKENDS)}
    p.add_argument("--batch-sizes", default=None, help="default 64,128")
    p.add_argument("--rounds", type=int, default=None, help="turns of each implementation (default 5)")
    p.add_argument("--burst", type=int, default=None, help="steps per turn; all but the first are timed (default 3)")
    p.add_argument("--backends", default=None,
                   help="kernel backends to time, those of them available here (default: all)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--all", action="store_true", help="every model's step in one table (gans/table_bench.py)")
    p.add_argument("--rows", default=None, help="only these rows of --all, comma-separated (see --list); implies --all")
    p.add_argument("--list", action="store_true", help="the row names of --all")
    args = p.parse_args(argv)
    args.all = args.all or args.rows is not None
    if args.all or args.list:
        given = [f"--{name.replace('_', '-')}" for name in table_only if getattr(args, name) is not None]
        if given:
            raise SystemExit(f"error: {', '.join(given)}: not options of --all, whose rows fix their own batch and "
                             "rounds (--list names them; drop --all and --rows for the DCGAN table these flags shape)")
        from . import table_bench
        if args.list:
            print("\n".join(f"{name}: {row['label']}" for name, row in table_bench.ROWS.items()))
            return None
        with_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
        return table_bench.main(args.rows.split(",") if args.rows else None, with_torch)
    for name, default in table_only.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    runners = {}                                          # (name, batch) -> a function timing a burst
    for backend in available_backends(args.backends.split(",")):
        for bs in sizes:
            kernels.set_backend(backend)
            step = minigrad_step(bs)
            step()                                        # warm-up
            runners[(f"minigrad ({backend})", bs)] = on_backend(backend, step)
    yardstick = None if args.no_torch else start_torch(sizes)
    if yardstick is None and not args.no_torch:
        print("PyTorch not installed: no yardstick")
    if yardstick is not None:
        torch_timed, threads, stop = yardstick
        for bs in sizes:
            runners[(f"PyTorch CPU ({threads} threads)", bs)] = lambda burst, bs=bs: torch_timed(bs, burst)
    times = {key: [] for key in runners}
    for _ in range(args.rounds):                          # round after round, a burst of each
        for key, run in runners.items():
            times[key] += run(args.burst)
    if yardstick is not None:
        stop()
    rows = [(name, bs, statistics.median(times[(name, bs)])) for name, bs in runners]
    torch_ms = {bs: seconds for name, bs, seconds in rows if name.startswith("PyTorch")}
    print(f"\nDCGAN training step (G + D forward/backward, two Adam updates), median of {args.rounds} rounds x "
          f"{args.burst - 1} timed steps, implementations taking turns:")
    print(f"{'implementation':<28} {'batch':>5} {'ms/step':>9} {'images/s':>9} {'x PyTorch':>10}")
    for name, bs, seconds in rows:
        ratio = f"{seconds / torch_ms[bs]:.2f}" if bs in torch_ms else "-"
        print(f"{name:<28} {bs:>5} {seconds * 1e3:>9.1f} {bs / seconds:>9.0f} {ratio:>10}")
    return rows


if __name__ == "__main__":
    main()
