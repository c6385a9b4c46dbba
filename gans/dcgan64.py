"""The 64x64 RGB DCGAN of the PyTorch lecture (notes 001, the Kaggle dogs demo), for any folder of pictures.

    G: z (N, 128) viewed as (N, 128, 1, 1), then ConvTranspose 4x4 up to 1024, 512, 256, 128, 64
       channels (4 -> 8 -> 16 -> 32 -> 64 pixels) with BatchNorm and ReLU, a 3x3 ConvTranspose to
       3 channels and tanh: (N, 3, 64, 64) in [-1, 1].
    D: Conv 4x4 stride 2 to 32, 64, 128, 256 channels (64 -> 32 -> 16 -> 8 -> 4 pixels) with
       LeakyReLU 0.2, BatchNorm on the last two, then a 4x4 convolution to one logit: (N, 1).

The lecture's D ends in a sigmoid and its loss is BCELoss; here D returns the logit and the loss
(losses.py, non-saturating by default) works on logits: the same numbers, computed stably. The
lecture trains with real_label = 0.9 (one-sided label smoothing), the default of `--arch dcgan64`.
`width` scales every layer (64: the lecture's sizes; smaller for quick tests).

Train it with `python -m gans.train_dcgan --arch dcgan64 --data DIR`.
"""
import minigrad.nn as nn

from . import adversarial

IMAGE_SIZE = 64


class Generator(nn.Module):
    def __init__(self, nz=128, channels=3, width=64):
        super().__init__()
        self.nz = nz

        def convlayer(n_input, n_output, k_size=4, stride=2, padding=0):
            return [nn.ConvTranspose2d(n_input, n_output, k_size, stride=stride, padding=padding, bias=False),
                    nn.BatchNorm2d(n_output),
                    nn.ReLU()]

        self.model = nn.Sequential(
            *convlayer(nz, width * 16, 4, 1, 0),            # (N, 1024, 4, 4): a fully connected layer as a convolution
            *convlayer(width * 16, width * 8, 4, 2, 1),     # (N, 512, 8, 8)
            *convlayer(width * 8, width * 4, 4, 2, 1),      # (N, 256, 16, 16)
            *convlayer(width * 4, width * 2, 4, 2, 1),      # (N, 128, 32, 32)
            *convlayer(width * 2, width, 4, 2, 1),          # (N, 64, 64, 64)
            nn.ConvTranspose2d(width, channels, 3, 1, 1),   # (N, 3, 64, 64)
            nn.Tanh(),
        )

    def forward(self, z):
        return self.model(z.reshape(-1, self.nz, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, channels=3, width=64):
        super().__init__()
        w = width // 2

        def convlayer(n_input, n_output, k_size=4, stride=2, padding=0, bn=False):
            block = [nn.Conv2d(n_input, n_output, k_size, stride=stride, padding=padding, bias=False)]
            if bn:
                block.append(nn.BatchNorm2d(n_output))
            block.append(nn.LeakyReLU(0.2))
            return block

        self.model = nn.Sequential(
            *convlayer(channels, w, 4, 2, 1),               # (N, 32, 32, 32)
            *convlayer(w, w * 2, 4, 2, 1),                  # (N, 64, 16, 16)
            *convlayer(w * 2, w * 4, 4, 2, 1, bn=True),     # (N, 128, 8, 8)
            *convlayer(w * 4, w * 8, 4, 2, 1, bn=True),     # (N, 256, 4, 4)
            nn.Conv2d(w * 8, 1, 4, 1, 0, bias=False),       # (N, 1, 1, 1): a fully connected layer as a convolution
        )

    def forward(self, images):
        return self.model(images).reshape(-1, 1)            # the logit; the lecture applies sigmoid here


def build(args):
    width = getattr(args, "width", 64)
    return adversarial.build_gan("dcgan64", lambda: Generator(args.latent_dim, 3, width),
                                 lambda: Discriminator(3, width), args, d_body=lambda D: D.model,
                                 d_input_shape=(3, IMAGE_SIZE, IMAGE_SIZE))
