"""python -m gans.train_dcgan: the TensorFlow tutorial's DCGAN on Fashion-MNIST (see dcgan.py).

The tutorial's network, trained for a CPU budget: the default run is 1.25 epochs (75,000 images) in
batches of 16 with the DCGAN paper's Adam (lr 2e-4, beta1 0.5), about a quarter of an hour on 2
cores, with a sample grid every 250 steps for the progress GIF. Small batches mean more updates per
second of CPU, and that is what makes garments appear early: at the same image budget, batch 64 with
the tutorial's lr 1e-4 still gave blobs (the README has the numbers). `--epochs 50 --batch-size 256
--lr 1e-4 --beta1 0.9` is the tutorial's full run. Ctrl-C saves a checkpoint; the same command with
--resume carries on exactly where it stopped.

The gallery's flags (adversarial.py, stabilizers.py) pick another loss or add a stabiliser:

    python -m gans.train_dcgan --loss wgan-gp --n-critic 5 --lr 1e-4 --beta1 0 --beta2 0.9
    python -m gans.train_dcgan --loss hinge --spectral-norm --lr-d 4e-4 --lr-g 1e-4

`--arch dcgan64` trains the PyTorch lecture's 64x64 RGB DCGAN (dcgan64.py) on any folder of
pictures instead (folder_data.py), with the lecture's settings as defaults (z of 128, Adam 2e-4,
beta1 0.5, real label 0.9):

    python -m gans.train_dcgan --arch dcgan64 --data ~/Pictures/dogs --epochs 5
"""
import argparse
import sys

from . import adversarial, dcgan, dcgan64, folder_data, losses, train

DEFAULTS = dict(epochs=1.25, batch_size=16, lr=2e-4, beta1=0.5, beta2=0.999, latent_dim=100,
                sample_every=250, out="runs/dcgan")
DCGAN64_DEFAULTS = dict(epochs=1, batch_size=32, lr=2e-4, beta1=0.5, beta2=0.999, latent_dim=128,
                        sample_every=100, out="runs/dcgan64", data=None, real_label=None)
SETTINGS = ("width",) + adversarial.flag_names()         # checkpointed with the run (train.run)


def make_parser(arch="dcgan"):
    parser = train.make_parser(__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("dcgan", "dcgan64"), default="dcgan",
                        help="dcgan: the TF tutorial's 28x28 Fashion-MNIST model; dcgan64: 64x64 RGB, --data DIR")
    parser.add_argument("--width", type=int, default=64, help="dcgan64: channel width (64: the lecture's 1024..64)")
    adversarial.add_flags(parser)
    parser.set_defaults(**(DCGAN64_DEFAULTS if arch == "dcgan64" else DEFAULTS))
    return parser


def main(argv=None):
    known = argparse.ArgumentParser(add_help=False)                     # the defaults depend on --arch
    known.add_argument("--arch", default="dcgan")
    arch = known.parse_known_args(argv)[0].arch
    args = train.parse_args(make_parser(arch), argv)
    if args.arch == "dcgan64":
        if args.data is None:
            print("error: --arch dcgan64 needs --data DIR, a folder of .jpg/.png pictures", file=sys.stderr)
            raise SystemExit(2)
        if args.real_label is None:                     # the lecture's 0.9, where the loss has labels
            args.real_label = 0.9 if losses.get_loss(args.loss).uses_labels else 1.0
    try:
        adversarial.check_flags(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    if args.arch == "dcgan64":
        return train.run(args, dcgan64.build, load_batches=folder_data.batches, settings=SETTINGS)
    return train.run(args, dcgan.build, settings=SETTINGS)


if __name__ == "__main__":
    main()
