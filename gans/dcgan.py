"""The DCGAN of the TensorFlow tutorial (lecture notes 004), line for line in minigrad.

Keras builds images channels-last (N, 28, 28, 1); minigrad, like PyTorch, channels-first (N, 1, 28, 28).
Keras's padding="same" with a 5x5 kernel is padding=2 here, and a stride-2 transposed convolution
needs output_padding=1 to double 7 -> 14 -> 28 exactly. Keras's LeakyReLU slope defaults to 0.3
(PyTorch's to 0.01), so it is written out.

Train it with `python -m gans.train_dcgan` (the loop, outputs and checkpoints are in train.py).
With `--loss`, `--n-critic` or a stabiliser flag the same two networks are trained by the gallery's
configurable step instead (adversarial.py: D step, then G step, as in the PyTorch lecture).
"""
import minigrad
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.optim as optim

from . import adversarial
from .train import GAN, apply_gradients

SLOPE = 0.3          # tf.keras.layers.LeakyReLU()'s default alpha


def make_generator_model(noise_dim=100):
    """noise (N, noise_dim) -> images (N, 1, 28, 28) in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(noise_dim, 7 * 7 * 256, bias=False),      # Dense(7*7*256, use_bias=False)
        nn.BatchNorm1d(7 * 7 * 256),
        nn.LeakyReLU(SLOPE),
        nn.Unflatten(1, (256, 7, 7)),                        # Reshape((7, 7, 256))        -> (N, 256, 7, 7)
        nn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False),                  # (N, 128, 7, 7)
        nn.BatchNorm2d(128),
        nn.LeakyReLU(SLOPE),
        nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),  # (N, 64, 14, 14)
        nn.BatchNorm2d(64),
        nn.LeakyReLU(SLOPE),
        nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False),    # (N, 1, 28, 28)
        nn.Tanh(),
    )


def make_discriminator_model():
    """images (N, 1, 28, 28) -> one logit each (N, 1): positive for real, negative for fake."""
    return nn.Sequential(
        nn.Conv2d(1, 64, 5, stride=2, padding=2),           # (N, 64, 14, 14)
        nn.LeakyReLU(SLOPE),
        nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, stride=2, padding=2),         # (N, 128, 7, 7)
        nn.LeakyReLU(SLOPE),
        nn.Dropout(0.3),
        nn.Flatten(),                                       # (N, 6272)
        nn.Linear(128 * 7 * 7, 1),
    )


# cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
def discriminator_loss(real_output, fake_output):
    real_loss = F.binary_cross_entropy_with_logits(real_output, minigrad.ones_like(real_output))
    fake_loss = F.binary_cross_entropy_with_logits(fake_output, minigrad.zeros_like(fake_output))
    return real_loss + fake_loss


def generator_loss(fake_output):
    return F.binary_cross_entropy_with_logits(fake_output, minigrad.ones_like(fake_output))


def make_train_step(generator, discriminator, generator_optimizer, discriminator_optimizer, noise_dim):
    def train_step(images, noise=None):                 # noise: drawn here unless given (tests pass their own)
        if noise is None:
            noise = minigrad.randn(len(images), noise_dim)

        generated_images = generator(noise)
        real_output = discriminator(images)
        fake_output = discriminator(generated_images)

        gen_loss = generator_loss(fake_output)
        disc_loss = discriminator_loss(real_output, fake_output)

        # The tutorial's two GradientTapes: each loss is differentiated w.r.t. its own network only.
        gradients_of_generator = minigrad.grad(gen_loss, generator.parameters(), retain_graph=True)
        gradients_of_discriminator = minigrad.grad(disc_loss, discriminator.parameters())

        apply_gradients(generator_optimizer, zip(gradients_of_generator, generator.parameters()))
        apply_gradients(discriminator_optimizer, zip(gradients_of_discriminator, discriminator.parameters()))
        return {"loss_d": disc_loss, "loss_g": gen_loss,
                "d_x": real_output.sigmoid().mean(), "d_g_z": fake_output.sigmoid().mean()}
    return train_step


def build(args):
    if adversarial.uses_options(args):          # --loss, --n-critic or a stabiliser: the gallery's step
        return adversarial.build_gan("dcgan", lambda: make_generator_model(args.latent_dim),
                                     make_discriminator_model, args)
    generator = make_generator_model(args.latent_dim)
    discriminator = make_discriminator_model()
    generator_optimizer = optim.Adam(generator.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    discriminator_optimizer = optim.Adam(discriminator.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    train_step = make_train_step(generator, discriminator, generator_optimizer, discriminator_optimizer,
                                 args.latent_dim)
    return GAN("dcgan", generator, discriminator, generator_optimizer, discriminator_optimizer, train_step,
               latent_dim=args.latent_dim, value_range=(-1.0, 1.0))
