"""python -m gans.translate: run a trained CycleGAN generator over a folder of pictures.

    python -m gans.translate --checkpoint runs/cyclegan/generator.ckpt --direction AtoB --input DIR --out DIR

--checkpoint is the generator.ckpt (or checkpoint.ckpt) that gans.train_cyclegan wrote, or its
generator.safetensors (--export-safetensors, gans.export); it holds both generators and the sizes
they were built with. Every picture in --input is brought to the
training size (shorter side resized, centre cropped; --size to choose another multiple of 4: the
generator is fully convolutional), translated by G (AtoB) or F (BtoA), and written to --out as a
PNG of the same name.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

import minigrad

from . import cyclegan, data, image_folders, images
from .checkpoint import CheckpointError, load_generator, load_weights
from .validate import UserError, check_input_file, check_out_folder


def load_translator(path, direction):
    """(the generator of `direction` in eval mode, the settings it was trained with)."""
    name, settings, state = load_generator(path)
    if name != "cyclegan":
        raise CheckpointError(f"{path}: a {name} checkpoint; gans.translate needs one written by gans.train_cyclegan")
    generators, _ = cyclegan.build_networks(settings)
    load_weights(generators, state, path, "CycleGAN generators")
    generators.eval()
    return (generators.a_to_b if direction == "AtoB" else generators.b_to_a), settings


def translate_folder(generator, input_dir, out_dir, size, channels, batch_size=8):
    """Translate every picture in input_dir into out_dir; returns the paths written."""
    paths = image_folders.image_paths(input_dir)
    written = []
    readable, skipped, first_error = [], 0, None
    for path in paths:                               # unreadable files are skipped, and counted once
        try:
            readable.append((path, image_folders.load_picture(path, size, channels)))
        except data.DatasetError as err:
            skipped += 1
            first_error = first_error or err
    if not readable:
        raise data.DatasetError(f"{input_dir}: none of its {len(paths)} picture files could be read "
                                f"(the first: {first_error})")
    os.makedirs(out_dir, exist_ok=True)
    if skipped:
        print(f"warning: skipped {skipped} of {len(paths)} files in {input_dir} that could not be read",
              file=sys.stderr)
    for start in range(0, len(readable), batch_size):
        chunk = [path for path, _ in readable[start:start + batch_size]]
        x = image_folders.scale(np.stack([picture for _, picture in readable[start:start + batch_size]]))
        with minigrad.no_grad():
            y = images.to_uint8(generator(minigrad.tensor(x)).data)          # (n, H, W) or (n, H, W, 3)
        for path, picture in zip(chunk, y):
            target = os.path.join(out_dir, os.path.splitext(os.path.basename(path))[0] + ".png")
            Image.fromarray(picture).save(target)
            written.append(target)
    return written


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True,
                   help="generator.ckpt, checkpoint.ckpt or generator.safetensors of gans.train_cyclegan")
    p.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB")
    p.add_argument("--input", required=True, metavar="DIR", help="a folder of pictures")
    p.add_argument("--out", required=True, metavar="DIR", help="where the translations go")
    p.add_argument("--size", type=int, default=None, help="side to translate at (default: the training size)")
    args = p.parse_args(argv)
    if args.size is not None and (args.size < 4 or args.size % 4):
        p.error(f"--size {args.size}: must be a positive multiple of 4 (the generator halves it twice)")
    try:
        check_input_file(args.checkpoint, "--checkpoint")
        check_out_folder(args.out)
        generator, settings = load_translator(args.checkpoint, args.direction)
        size = args.size or settings["image_size"]
        written = translate_folder(generator, args.input, args.out, size, settings["channels"])
    except (CheckpointError, data.DatasetError, UserError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    print(f"translated {len(written)} pictures {args.direction} into {args.out}/")
    return written


if __name__ == "__main__":
    main()
