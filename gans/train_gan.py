"""python -m gans.train_gan: the lecture's simple fully connected GAN on Fashion-MNIST (see gan.py).

The lecture trains 50 epochs with batches of 32; the default here is a few epochs, which already
shows garment shapes, since every step is cheap (no convolutions).
"""
from . import gan, train

DEFAULTS = dict(epochs=5, batch_size=32, lr=1e-3, latent_dim=30, out="runs/gan")


def main(argv=None):
    parser = train.make_parser(__doc__.splitlines()[0], **DEFAULTS)
    return train.run(train.parse_args(parser, argv), gan.build)


if __name__ == "__main__":
    main()
