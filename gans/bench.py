"""python -m gans.bench: how long one full DCGAN training step takes, per kernel backend and in PyTorch.

One step is what gans.train_dcgan does per batch: G on noise, D on the real and the fake batch, both
losses, both gradients (the tutorial's two tapes), and an Adam update of each network. It is timed
at batch 64 and 128 for every kernel backend that is available here, and for PyTorch on the CPU with
the same architecture when torch is installed (a yardstick only; the library never imports it).
Prints the median milliseconds per step, images per second and the ratio to PyTorch.
"""
import argparse
import statistics
import time
from types import SimpleNamespace

import numpy as np

import kernels
import minigrad

from . import dcgan


def time_minigrad(batch_size, repeats, warmup=1):
    minigrad.manual_seed(0)
    args = SimpleNamespace(latent_dim=100, lr=1e-4, beta1=0.9, beta2=0.999)
    gan = dcgan.build(args)
    real = minigrad.tensor(np.random.default_rng(0).uniform(-1, 1, (batch_size, 1, 28, 28)).astype(np.float32))
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        gan.train_step(real)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_torch(batch_size, repeats, warmup=1):
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

    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times), torch.get_num_threads()


def available_backends():
    names = []
    for name in kernels.BACKENDS:
        try:
            kernels.set_backend(name)
        except ImportError as err:
            print(f"backend {name}: not available ({err})")
            continue
        names.append(name)
    return names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", default="64,128")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per setting (after one warm-up step)")
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    rows = []
    for backend in available_backends():
        kernels.set_backend(backend)
        for bs in sizes:
            rows.append((f"minigrad ({backend})", bs, time_minigrad(bs, args.repeats)))
    torch_ms = {}
    if not args.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch not installed: no yardstick")
        else:
            for bs in sizes:
                seconds, threads = time_torch(bs, args.repeats)
                torch_ms[bs] = seconds
                rows.append((f"PyTorch CPU ({threads} threads)", bs, seconds))
    print(f"\nDCGAN training step (G + D forward/backward, two Adam updates), median of {args.repeats}:")
    print(f"{'implementation':<28} {'batch':>5} {'ms/step':>9} {'images/s':>9} {'x PyTorch':>10}")
    for name, bs, seconds in rows:
        ratio = f"{seconds / torch_ms[bs]:.2f}" if bs in torch_ms else "-"
        print(f"{name:<28} {bs:>5} {seconds * 1e3:>9.1f} {bs / seconds:>9.0f} {ratio:>10}")
    return rows


if __name__ == "__main__":
    main()
