"""python -m gans.cyclegan_bench: seconds per CycleGAN training iteration, per kernel backend and in PyTorch.

One iteration is what gans.train_cyclegan does per batch (cyclegan.make_train_step): both generators
forward, both cycles back, the identity passes, the generators' Adam step, then both discriminators
on real images and pooled fakes and their Adam step. Timed at two sizes:

    full   256x256 RGB, batch 1, width 64, 9 residual blocks, 70x70 PatchGAN (the paper's setting)
    demo   32x32 grey, batch 8, the defaults of gans.train_cyclegan (the Fashion-MNIST demo)

for every kernel backend available here ("numpy", "cpp") and for PyTorch on the CPU with the same
architecture when torch is installed (a yardstick only; the library never imports it). Prints the
median seconds per iteration and the ratio to PyTorch. --quick: one timed iteration after one warm-up.
"""
import argparse
import statistics
import time

import numpy as np

import kernels
import minigrad
import minigrad.optim as optim

from . import cyclegan

SIZES = {   # name: (image size, channels, batch, width, residual blocks, discriminator layers)
    "full": (256, 3, 1, 64, 9, 3),
    "demo": (32, 1, 8, 16, 3, 2),
}


def time_minigrad(size, channels, batch, width, blocks, d_layers, repeats, warmup=1):
    return _median_time(minigrad_step(size, channels, batch, width, blocks, d_layers), repeats, warmup)


def minigrad_step(size, channels, batch, width, blocks, d_layers):
    """One CycleGAN iteration of minigrad, as a function of nothing (random images of the size)."""
    minigrad.manual_seed(0)
    settings = dict(channels=channels, width=width, res_blocks=blocks, d_layers=d_layers)
    generators, discriminators = cyclegan.build_networks(settings)
    opt_g = optim.Adam(generators.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(discriminators.parameters(), lr=2e-4, betas=(0.5, 0.999))
    step = cyclegan.make_train_step(generators, discriminators, opt_g, opt_d, [],
                                    cyclegan.ImagePool(), cyclegan.ImagePool())
    rng = np.random.default_rng(0)
    a, b = (minigrad.tensor(rng.uniform(-1, 1, (batch, channels, size, size)).astype(np.float32)) for _ in "ab")
    return lambda: step(a, b)


# ----------------------------------------------------------------------------- the same networks in PyTorch

def torch_generator(channels, width, blocks):
    """cyclegan.make_generator, layer for layer, in PyTorch."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(),
                                       nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

        def forward(self, x):
            return x + self.block(x)

    k = width
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(channels, k, 7), nn.InstanceNorm2d(k), nn.ReLU(),
        nn.Conv2d(k, 2 * k, 3, 2, 1), nn.InstanceNorm2d(2 * k), nn.ReLU(),
        nn.Conv2d(2 * k, 4 * k, 3, 2, 1), nn.InstanceNorm2d(4 * k), nn.ReLU(),
        *[Block(4 * k) for _ in range(blocks)],
        nn.ConvTranspose2d(4 * k, 2 * k, 3, 2, 1, 1), nn.InstanceNorm2d(2 * k), nn.ReLU(),
        nn.ConvTranspose2d(2 * k, k, 3, 2, 1, 1), nn.InstanceNorm2d(k), nn.ReLU(),
        nn.ReflectionPad2d(3), nn.Conv2d(k, channels, 7), nn.Tanh())


def torch_discriminator(channels, width, n_layers):
    """cyclegan.make_discriminator, layer for layer, in PyTorch."""
    from torch import nn
    layers = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
    c = width
    for i in range(1, n_layers + 1):
        c_out = width * min(2 ** i, 8)
        layers += [nn.Conv2d(c, c_out, 4, 2 if i < n_layers else 1, 1), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2)]
        c = c_out
    return nn.Sequential(*layers, nn.Conv2d(c, 1, 4, 1, 1))


def torch_train_step(G, F, D_A, D_B, opt_g, opt_d, lambda_cycle=10.0, lambda_identity=0.5):
    """cyclegan.make_train_step in PyTorch (no pool: the newest fakes go straight to D)."""
    import torch
    mse, l1 = torch.nn.functional.mse_loss, torch.nn.functional.l1_loss

    def step(real_a, real_b):
        fake_b, fake_a = G(real_a), F(real_b)
        rec_a, rec_b = F(fake_b), G(fake_a)
        sa, sb = D_A(fake_a), D_B(fake_b)
        adv_ab, adv_ba = mse(sb, torch.ones_like(sb)), mse(sa, torch.ones_like(sa))
        cycle_a, cycle_b = lambda_cycle * l1(rec_a, real_a), lambda_cycle * l1(rec_b, real_b)
        idt_ab = lambda_identity * lambda_cycle * l1(G(real_b), real_b)
        idt_ba = lambda_identity * lambda_cycle * l1(F(real_a), real_a)
        loss_g = adv_ab + adv_ba + cycle_a + cycle_b + idt_ab + idt_ba
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

        def d_loss(D, real, fake):
            r, f = D(real), D(fake.detach())
            return 0.5 * (mse(r, torch.ones_like(r)) + mse(f, torch.zeros_like(f)))
        loss_d = d_loss(D_A, real_a, fake_a) + d_loss(D_B, real_b, fake_b)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        return {"loss_g": loss_g.item(), "loss_d": loss_d.item(), "adv_ab": adv_ab.item(),
                "cycle_a": cycle_a.item(), "idt_ab": idt_ab.item()}
    return step


def time_torch(size, channels, batch, width, blocks, d_layers, repeats, warmup=1):
    return _median_time(torch_step(size, channels, batch, width, blocks, d_layers), repeats, warmup)


def torch_step(size, channels, batch, width, blocks, d_layers):
    """The same iteration in PyTorch."""
    import itertools

    import torch
    torch.manual_seed(0)
    G, F = torch_generator(channels, width, blocks), torch_generator(channels, width, blocks)
    D_A, D_B = torch_discriminator(channels, width, d_layers), torch_discriminator(channels, width, d_layers)
    opt_g = torch.optim.Adam(itertools.chain(G.parameters(), F.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=2e-4, betas=(0.5, 0.999))
    step = torch_train_step(G, F, D_A, D_B, opt_g, opt_d)
    a, b = (torch.rand(batch, channels, size, size) * 2 - 1 for _ in "ab")
    return lambda: step(a, b)


def _median_time(fn, repeats, warmup):
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def available_backends():
    names = []
    for name in kernels.BACKENDS:
        try:
            kernels.set_backend(name)
            names.append(name)
        except ImportError:
            print(f"(backend {name} not built here; skipped)")
    return names


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one timed iteration after one warm-up")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="demo,full", help="which of: " + ", ".join(SIZES))
    args = p.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    backends = available_backends()
    rows = []
    sizes = args.sizes.split(",")
    # minigrad first, PyTorch last: once PyTorch is loaded and has run, its OpenMP threads keep spinning on
    # the cores and slowed our C++ kernels 8x in the same process (measured: 0.44 s -> 3.6 s per demo iteration).
    for name in sizes:
        for backend in backends:
            kernels.set_backend(backend)
            seconds = time_minigrad(*SIZES[name], repeats)
            rows.append([name, backend, seconds, None])
            print(f"{name:5s} {backend:6s} {seconds:8.3f} s/iter", flush=True)
    try:                                  # imported only now: even starting its thread pool slowed us down
        import torch
        torch_threads = torch.get_num_threads()
    except ImportError:
        torch = None
    for name in sizes:
        if torch is not None:
            torch_s = time_torch(*SIZES[name], repeats)
            for row in rows:
                if row[0] == name:
                    row[3] = torch_s
            print(f"{name:5s} {'torch':6s} {torch_s:8.3f} s/iter  ({torch_threads} threads)", flush=True)
    print("\n| size | setting | backend | s / iteration | x PyTorch CPU |\n|---|---|---|---|---|")
    for name, backend, seconds, torch_s in rows:
        size, channels, batch, width, blocks, d_layers = SIZES[name]
        setting = f"{size}x{size}x{channels}, batch {batch}, width {width}, {blocks} blocks, D layers {d_layers}"
        ratio = f"{seconds / torch_s:.1f}" if torch_s else "-"
        print(f"| {name} | {setting} | {backend} | {seconds:.3f} | {ratio} |")
        if torch_s and backend == backends[-1]:
            print(f"| {name} | {setting} | PyTorch | {torch_s:.3f} | 1.0 |")
    return rows


if __name__ == "__main__":
    main()
