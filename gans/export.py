"""python -m gans.export: a trained generator as a .safetensors file that PyTorch loads.

    python -m gans.export --checkpoint runs/dcgan/generator.ckpt --out dcgan_generator.safetensors

--checkpoint is a generator.ckpt or checkpoint.ckpt of any trainer (gans.train_gan, train_dcgan,
train_cgan, train_cyclegan); trainers given --export-safetensors write OUT/generator.safetensors
themselves. The tensor names are the generator's state_dict keys, which are PyTorch's for the same
layers ("0.weight", "1.running_mean", "1.num_batches_tracked", ...); the metadata records the arch
and its settings, so gans.sample, gans.evaluate and gans.translate read the file back with no flags.
In PyTorch: model.load_state_dict(safetensors.torch.load_file(path), strict=True).
"""
import argparse
import sys

from .checkpoint import CheckpointError, load_generator, save_generator_safetensors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a generator.ckpt or checkpoint.ckpt written by a trainer")
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    args = p.parse_args(argv)
    if not args.out.endswith(".safetensors"):
        p.error(f"--out {args.out}: the file name must end in .safetensors (that is how the loaders tell the format)")
    try:
        name, settings, state_dict = load_generator(args.checkpoint)
        save_generator_safetensors(args.out, name, settings, state_dict)
    except (CheckpointError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    print(f"wrote {args.out} ({name} generator, {len(state_dict)} tensors)")
    return args.out


if __name__ == "__main__":
    main()
