"""python -m gans.twin_bench: the main job's DCGAN trained by minigrad and by PyTorch from the same initial weights.

    python -m gans.twin_bench --steps 1000              both runs, then the FD of each (gans/evaluate.py)
    python -m gans.twin_bench --steps 5 --no-dropout    lockstep check: the losses agree step by step

minigrad builds G and D (dcgan.py, seeded by --seed) and trains them with the main job's step
(dcgan.make_train_step: the tutorial's two tapes, Adam lr 2e-4 and beta1 0.5, batch 16). The initial
weights travel to PyTorch twins of the same layers through .safetensors files (load_state_dict with
strict=True). Both runs see the same batches (data.Batches) and the same noise: before each minigrad
step the noise it is about to draw is drawn from a copy of minigrad's RNG state and handed to PyTorch.
What still differs: D's dropout masks (each framework draws its own; --no-dropout sets p = 0 in both,
and then the runs agree up to float rounding, which training amplifies), and every kernel's order of
summation. Needs torch, which the library never imports: like gans.bench, this is a yardstick (a *bench.py file, the
only kind test_layering lets import torch).
"""
import argparse
import os
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np

import minigrad

from . import classifier, data, dcgan, evaluate


def torch_twins(tnn, dropout):
    """PyTorch's dcgan.make_generator_model and make_discriminator_model, layer for layer (same state_dict names)."""
    slope = dcgan.SLOPE
    generator = tnn.Sequential(
        tnn.Linear(100, 7 * 7 * 256, bias=False), tnn.BatchNorm1d(7 * 7 * 256), tnn.LeakyReLU(slope),
        tnn.Unflatten(1, (256, 7, 7)),
        tnn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False), tnn.BatchNorm2d(128), tnn.LeakyReLU(slope),
        tnn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False), tnn.BatchNorm2d(64),
        tnn.LeakyReLU(slope),
        tnn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False), tnn.Tanh())
    discriminator = tnn.Sequential(
        tnn.Conv2d(1, 64, 5, stride=2, padding=2), tnn.LeakyReLU(slope), tnn.Dropout(dropout),
        tnn.Conv2d(64, 128, 5, stride=2, padding=2), tnn.LeakyReLU(slope), tnn.Dropout(dropout),
        tnn.Flatten(), tnn.Linear(128 * 7 * 7, 1))
    return generator, discriminator


def copy_through_safetensors(ours, theirs, folder, name):
    """minigrad's weights into the torch twin via a .safetensors file, strictly."""
    from safetensors.torch import load_file
    path = os.path.join(folder, f"{name}.safetensors")
    minigrad.save_safetensors(ours.state_dict(), path)
    theirs.load_state_dict(load_file(path), strict=True)


def torch_train_step(torch, G, D, opt_g, opt_d):
    """dcgan.make_train_step in PyTorch: both losses from one forward pass, each network's own gradients."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def step(images, noise):
        fake = G(noise)
        real_out, fake_out = D(images), D(fake)
        gen_loss = bce(fake_out, torch.ones_like(fake_out))
        disc_loss = bce(real_out, torch.ones_like(real_out)) + bce(fake_out, torch.zeros_like(fake_out))
        g_grads = torch.autograd.grad(gen_loss, list(G.parameters()), retain_graph=True)
        d_grads = torch.autograd.grad(disc_loss, list(D.parameters()))
        for opt, params, grads in ((opt_g, G.parameters(), g_grads), (opt_d, D.parameters(), d_grads)):
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()
        return float(disc_loss.detach()), float(gen_loss.detach())
    return step


def images_of(generate, latent_dim, n, seed):
    """n images in eval mode from the noise gans.evaluate would draw."""
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    return np.concatenate([generate(noise[i:i + 500]) for i in range(0, n, 500)])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=1000, help="training steps of each run (the main job: 4688)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-dropout", action="store_true", help="p = 0 in both Ds: the runs then agree in lockstep")
    p.add_argument("--eval-n", type=int, default=2000, help="images scored per run (0: no FD)")
    p.add_argument("--data", default=data.DEFAULT_ROOT, metavar="DIR")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("error: gans.twin_bench needs PyTorch (pip install torch); minigrad itself never imports it",
              file=sys.stderr)
        raise SystemExit(2)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        images_u8, labels = data.load("train", root=args.data, limit=args.limit)
    except data.DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    batches = data.Batches(images_u8, labels, args.batch_size, seed=args.seed)

    minigrad.manual_seed(args.seed)
    gan = dcgan.build(SimpleNamespace(latent_dim=100, lr=2e-4, beta1=0.5, beta2=0.999))
    G_t, D_t = torch_twins(torch.nn, 0.0 if args.no_dropout else 0.3)
    if args.no_dropout:
        for m in gan.discriminator.modules():
            if isinstance(m, minigrad.nn.Dropout):
                m.p = 0.0
    with tempfile.TemporaryDirectory() as folder:
        copy_through_safetensors(gan.generator, G_t, folder, "generator")
        copy_through_safetensors(gan.discriminator, D_t, folder, "discriminator")
    step_t = torch_train_step(torch, G_t, D_t, torch.optim.Adam(G_t.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                              torch.optim.Adam(D_t.parameters(), lr=2e-4, betas=(0.5, 0.999)))
    ours, theirs, seconds = [], [], [0.0, 0.0]
    for step in range(args.steps):
        real, _ = batches.batch(step)
        state = minigrad.get_rng_state()
        noise = minigrad.randn(len(real), 100).data.copy()        # the noise minigrad's step draws first
        minigrad.set_rng_state(state)
        start = time.perf_counter()
        metrics = gan.train_step(minigrad.tensor(real))
        seconds[0] += time.perf_counter() - start
        ours.append((metrics["loss_d"].item(), metrics["loss_g"].item()))
        start = time.perf_counter()
        theirs.append(step_t(torch.from_numpy(real), torch.from_numpy(noise)))
        seconds[1] += time.perf_counter() - start
    ours, theirs = np.array(ours), np.array(theirs)
    report(args, ours, theirs, seconds)
    if args.eval_n:
        model = classifier.load_classifier()
        test_images = data.scale(data.load("test", root=args.data)[0])
        gan.generator.eval()
        G_t.eval()
        with minigrad.no_grad():
            fake_ours = images_of(lambda z: gan.generator(minigrad.tensor(z)).data, 100, args.eval_n, args.seed)
        with torch.no_grad():
            fake_theirs = images_of(lambda z: G_t(torch.from_numpy(z)).numpy(), 100, args.eval_n, args.seed)
        for name, fake in (("minigrad", fake_ours), ("PyTorch", fake_theirs)):
            fd, shares = evaluate.score(model, fake, test_images)
            print(f"{name:>8}: FD {fd:.1f} on {args.eval_n} images, class shares {np.round(shares * 100).astype(int).tolist()} %")
    return ours, theirs


def report(args, ours, theirs, seconds):
    n = len(ours)
    print(f"{n} steps at batch {args.batch_size}, seed {args.seed}, dropout {'off' if args.no_dropout else '0.3'}; "
          f"s/step minigrad {seconds[0] / n:.3f}, PyTorch {seconds[1] / n:.3f}")
    for k in range(min(n, 5)):
        print(f"  step {k + 1}: loss_d {ours[k, 0]:.6f} vs {theirs[k, 0]:.6f}, loss_g {ours[k, 1]:.6f} vs {theirs[k, 1]:.6f}")
    edges = sorted({0, n // 4, n // 2, 3 * n // 4, n})
    for lo, hi in zip(edges, edges[1:]):
        print(f"  steps {lo + 1}-{hi}: mean loss_d {ours[lo:hi, 0].mean():.3f} vs {theirs[lo:hi, 0].mean():.3f}, "
              f"loss_g {ours[lo:hi, 1].mean():.3f} vs {theirs[lo:hi, 1].mean():.3f}")


if __name__ == "__main__":
    main()
