"""python -m gans.train_dcgan: the TensorFlow tutorial's DCGAN on Fashion-MNIST (see dcgan.py).

The default run is one epoch at batch 64 (60,000 images, 937 steps), sized to show garments within
about 15 minutes on 2 CPU cores (a step measured 0.49 s with the NumPy kernels on 2 idle cores, so
about 8 minutes), with a sample grid every 100 steps for the progress GIF. `--epochs 50
--batch-size 256` is the tutorial's full run. Ctrl-C saves a checkpoint; the same command with
--resume carries on exactly where it stopped.
"""
from . import dcgan, train

DEFAULTS = dict(epochs=1, batch_size=64, lr=1e-4, beta1=0.9, beta2=0.999, latent_dim=100,
                sample_every=100, out="runs/dcgan")


def main(argv=None):
    parser = train.make_parser(__doc__.splitlines()[0], **DEFAULTS)
    return train.run(parser.parse_args(argv), dcgan.build)


if __name__ == "__main__":
    main()
