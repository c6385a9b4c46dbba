"""The simple fully connected GAN of the lecture (notes 000, Keras), in minigrad.

codings_size = 30; the generator maps codings to a 28x28 image through Dense 100 and 150 (SELU) and
a sigmoid, so its pixels lie in [0, 1] and the real images are scaled to [0, 1] too (not [-1, 1]).
The discriminator says "real" with a sigmoid probability. Both losses are binary cross-entropy,
both optimizers RMSprop with Keras's defaults (lr 1e-3, rho 0.9).

Each training iteration has the lecture's two phases:
  1. train the discriminator on a batch of fakes (label 0) followed by the real batch (label 1);
  2. train the generator through the frozen discriminator, with every fake labelled 1.

Train it with `python -m gans.train_gan` (the loop, outputs and checkpoints are in train.py).
"""
import minigrad
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.optim as optim

from .train import GAN

RHO = 0.9            # keras.optimizers.RMSprop's default rho (PyTorch calls it alpha, default 0.99)


def make_generator(codings_size=30):
    """codings (N, codings_size) -> images (N, 1, 28, 28) in [0, 1]."""
    return nn.Sequential(
        nn.Linear(codings_size, 100), nn.SELU(),
        nn.Linear(100, 150), nn.SELU(),
        nn.Linear(150, 28 * 28), nn.Sigmoid(),
        nn.Unflatten(1, (1, 28, 28)),                 # Reshape([28, 28]), channel axis kept
    )


def make_discriminator():
    """images (N, 1, 28, 28) -> probability of being real (N, 1)."""
    return nn.Sequential(
        nn.Flatten(),                                 # (N, 784)
        nn.Linear(28 * 28, 150), nn.SELU(),
        nn.Linear(150, 100), nn.SELU(),
        nn.Linear(100, 1), nn.Sigmoid(),
    )


def set_trainable(model, trainable):
    """Keras's `model.trainable = ...`: frozen weights get no gradient."""
    for p in model.parameters():
        p.requires_grad_(trainable)


def make_train_step(generator, discriminator, d_optimizer, gan_optimizer, codings_size):
    def train_step(X_batch):
        batch_size = len(X_batch)
        # phase 1 - training the discriminator
        noise = minigrad.randn(batch_size, codings_size)
        with minigrad.no_grad():
            generated_images = generator(noise)
        X_fake_and_real = minigrad.cat([generated_images, X_batch])
        y1 = minigrad.cat([minigrad.zeros(batch_size, 1), minigrad.ones(batch_size, 1)])
        set_trainable(discriminator, True)
        d_output = discriminator(X_fake_and_real)
        d_loss = F.binary_cross_entropy(d_output, y1)
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()

        # phase 2 - training the generator
        noise = minigrad.randn(batch_size, codings_size)
        y2 = minigrad.ones(batch_size, 1)
        set_trainable(discriminator, False)
        gan_loss = F.binary_cross_entropy(discriminator(generator(noise)), y2)
        gan_optimizer.zero_grad()
        gan_loss.backward()
        gan_optimizer.step()
        set_trainable(discriminator, True)
        return {"loss_d": d_loss, "loss_g": gan_loss,
                "d_x": d_output[batch_size:].mean(), "d_g_z": d_output[:batch_size].mean()}
    return train_step


def build(args):
    generator = make_generator(args.latent_dim)
    discriminator = make_discriminator()
    d_optimizer = optim.RMSprop(discriminator.parameters(), lr=args.lr, alpha=RHO)
    gan_optimizer = optim.RMSprop(generator.parameters(), lr=args.lr, alpha=RHO)   # updates G only
    train_step = make_train_step(generator, discriminator, d_optimizer, gan_optimizer, args.latent_dim)
    return GAN("gan", generator, discriminator, gan_optimizer, d_optimizer, train_step,
               latent_dim=args.latent_dim, value_range=(0.0, 1.0))
