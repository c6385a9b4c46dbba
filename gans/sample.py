"""python -m gans.sample: images from a trained generator.

    python -m gans.sample --checkpoint runs/dcgan/generator.ckpt --n 64 --out grid.png
    python -m gans.sample --checkpoint runs/dcgan/generator.ckpt --interpolate --out walk.png
    python -m gans.sample --checkpoint runs/dcgan/generator.safetensors --out grid.png
    python -m gans.sample --checkpoint from_pytorch.safetensors --arch dcgan --out grid.png

A .safetensors generator (--export-safetensors, gans.export, or PyTorch's safetensors.torch.save_file
of the same layers) says which network it is in its metadata; a file without it needs --arch.

--interpolate draws rows of images walking in a straight line from one latent point to another
(--n rows of --steps images), which shows how smoothly the generator maps noise to garments.
"""
import argparse
import os
import sys

import numpy as np

import minigrad

from . import images
from .checkpoint import CheckpointError, load_generator, load_weights
from .validate import UserError, check_input_file, check_out_file, check_ranges

ARCHS = ("dcgan", "gan")                 # the generators make_generator builds
RULES = {"n": (1, None, True, True), "steps": (2, None, True, True), "seed": (0, None, True, True)}


def make_generator(name, settings):
    """A freshly built generator of model `name` with the settings it was trained with."""
    if not isinstance(settings.get("latent_dim"), int):
        raise CheckpointError(f"the checkpoint's settings have no latent_dim (settings: {settings})")
    if name == "dcgan":
        from .dcgan import make_generator_model
        return make_generator_model(settings["latent_dim"])
    if name == "gan":
        from .gan import make_generator
        return make_generator(settings["latent_dim"])
    raise CheckpointError(f"unknown model {name!r} in the checkpoint (expected dcgan or gan)")


def value_range(name):
    return (0.0, 1.0) if name == "gan" else (-1.0, 1.0)


def interpolation_noise(rng, rows, steps, latent_dim):
    """(rows * steps, latent_dim): each row walks linearly from one random point to another."""
    start, end = rng.standard_normal((2, rows, 1, latent_dim))
    t = np.linspace(0, 1, steps)[None, :, None]
    return ((1 - t) * start + t * end).reshape(rows * steps, latent_dim).astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="a generator.ckpt or checkpoint.ckpt written by a trainer, or a generator .safetensors")
    p.add_argument("--arch", choices=ARCHS, default=None,
                   help="the network in a .safetensors file that does not say (one PyTorch wrote)")
    p.add_argument("--n", type=int, default=64, help="images (with --interpolate: rows)")
    p.add_argument("--out", default="grid.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interpolate", action="store_true", help="walk between two latent points per row")
    p.add_argument("--steps", type=int, default=10, help="images per interpolation row")
    p.add_argument("--npy", default=None, help="also save the images as a .npy (for gans.evaluate --images)")
    args = p.parse_args(argv)
    try:
        check_ranges(args, RULES if args.interpolate else {k: v for k, v in RULES.items() if k != "steps"})
        check_input_file(args.checkpoint, "--checkpoint")
        check_out_file(args.out)
        if os.path.splitext(args.out)[1].lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".gif"):
            raise UserError(f"--out {args.out}: give a picture file name ending in .png (or .jpg)")
        if args.npy:
            check_out_file(args.npy, "--npy")
        name, settings, state_dict = load_generator(args.checkpoint, args.arch)
        generator = make_generator(name, settings)
        load_weights(generator, state_dict, args.checkpoint, f"{name} generator")
    except (CheckpointError, UserError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    generator.eval()
    rng = np.random.default_rng(args.seed)
    latent_dim = settings["latent_dim"]
    if args.interpolate:
        noise, nrow = interpolation_noise(rng, args.n, args.steps, latent_dim), args.steps
    else:
        noise, nrow = rng.standard_normal((args.n, latent_dim)).astype(np.float32), 8
    with minigrad.no_grad():
        fake = generator(minigrad.tensor(noise)).data
    images.save_grid(fake, args.out, nrow=nrow, value_range=value_range(name))
    if args.npy:
        np.save(args.npy, images.to_uint8(fake, value_range(name)))
    print(f"wrote {args.out} ({len(fake)} images from {args.checkpoint})")
    return args.out


if __name__ == "__main__":
    main()
