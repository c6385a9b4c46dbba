"""CycleGAN (Zhu, Park, Isola, Efros 2017): unpaired image-to-image translation, as in the paper.

Two generators translate between domains A and B, G: A -> B and F: B -> A, and two discriminators
judge each domain, D_B (is this a real B?) and D_A. Nothing pairs an A with a B; what keeps a
translation tied to its input is the cycle (lecture notes 003):

    L(G, F, D_A, D_B) = L_GAN(G, D_B) + L_GAN(F, D_A)                    look like the other domain
                      + lambda * (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)      come back when translated back
                      + 0.5 * lambda * (|G(b) - b|_1 + |F(a) - a|_1)      leave the other domain alone

with lambda = 10 and the least-squares GAN loss (LSGAN, notes 001, with the paper's labels real = 1,
fake = 0): D minimises (D(b) - 1)^2 + D(G(a))^2, halved; G minimises (D(G(a)) - 1)^2.
D sees fakes from a pool of the last 50 generated images rather than only the newest ones. Both
sides use Adam (lr 2e-4, beta1 0.5); the learning rate stays constant for the first half of training,
then decays linearly to zero.

Networks (section 4 and appendix 7.2 of the paper):
    generator      c7s1-k, d2k, d4k, R4k x n_blocks, u2k, uk, c7s1-3   (Johnson et al.'s ResNet)
                   reflection padding, instance norm, ReLU; tanh output in [-1, 1]
    discriminator  C64-C128-C256-C512 70x70 PatchGAN: 4x4 convs, instance norm (not on the first),
                   LeakyReLU 0.2, one score per overlapping 70x70 patch

Train it with `python -m gans.train_cyclegan` (the loop, outputs and checkpoints are in train.py).
"""
import numpy as np

import minigrad
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.optim as optim

from .losses import LSGAN
from .train import GAN, apply_gradients

LAMBDA_CYCLE = 10.0                  # lambda
LAMBDA_IDENTITY = 0.5                # identity loss weight, as a fraction of lambda
POOL_SIZE = 50


# ----------------------------------------------------------------------------- generator

class ResnetBlock(nn.Module):
    """R k: x + (pad, 3x3 conv, IN, ReLU, pad, 3x3 conv, IN)(x); the same shape in and out."""

    def __init__(self, channels):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
        )

    def forward(self, x):
        return x + self.block(x)


def make_generator(channels=3, width=64, n_blocks=9):
    """images (N, channels, H, W) -> translated images, same shape, in [-1, 1]; H and W multiples of 4.

    width is k in the paper's c7s1-k (64); 9 residual blocks for 256x256 images, 6 for 128x128.
    """
    k = width
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, k, 7),                 # c7s1-k  (N, k, H, W)
              nn.InstanceNorm2d(k), nn.ReLU(),
              nn.Conv2d(k, 2 * k, 3, stride=2, padding=1),                        # d2k     (N, 2k, H/2, W/2)
              nn.InstanceNorm2d(2 * k), nn.ReLU(),
              nn.Conv2d(2 * k, 4 * k, 3, stride=2, padding=1),                    # d4k     (N, 4k, H/4, W/4)
              nn.InstanceNorm2d(4 * k), nn.ReLU()]
    layers += [ResnetBlock(4 * k) for _ in range(n_blocks)]                       # R4k     (N, 4k, H/4, W/4)
    layers += [nn.ConvTranspose2d(4 * k, 2 * k, 3, stride=2, padding=1, output_padding=1),   # u2k (N, 2k, H/2, W/2)
               nn.InstanceNorm2d(2 * k), nn.ReLU(),
               nn.ConvTranspose2d(2 * k, k, 3, stride=2, padding=1, output_padding=1),       # uk  (N, k, H, W)
               nn.InstanceNorm2d(k), nn.ReLU(),
               nn.ReflectionPad2d(3), nn.Conv2d(k, channels, 7), nn.Tanh()]       # c7s1-3  (N, channels, H, W)
    return init_weights(nn.Sequential(*layers))


# ----------------------------------------------------------------------------- discriminator

def make_discriminator(channels=3, width=64, n_layers=3):
    """images (N, channels, H, W) -> a map of patch scores (N, 1, H', W'), one per overlapping patch.

    n_layers=3 is the paper's C64-C128-C256-C512 70x70 PatchGAN (receptive_field(3) == 70); fewer
    layers judge smaller patches and fit smaller images (n_layers=2: 34x34 patches).
    """
    layers = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]   # C64: no norm
    c = width
    for i in range(1, n_layers + 1):
        stride = 2 if i < n_layers else 1               # C128, C256 halve H and W; C512 keeps them
        c_out = width * min(2 ** i, 8)
        layers += [nn.Conv2d(c, c_out, 4, stride=stride, padding=1), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2)]
        c = c_out
    layers += [nn.Conv2d(c, 1, 4, stride=1, padding=1)]  # one score per patch
    return init_weights(nn.Sequential(*layers))


def receptive_field(n_layers=3):
    """Side of the input patch each score of make_discriminator(n_layers) sees (70 for the paper's)."""
    strides = [2] * n_layers + [1, 1]                   # the strides of its 4x4 convs, first to last
    side = 1
    for stride in reversed(strides):                    # walk back from one output score to the input
        side = (side - 1) * stride + 4
    return side


def init_weights(model, std=0.02):
    """The paper's initialisation: every conv weight from N(0, 0.02), biases zero."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


# ----------------------------------------------------------------------------- losses

_LSGAN = LSGAN()                     # gans/losses.py: D regresses real to 1 and fake to 0


def adversarial_loss(fake_scores):
    """G's side of LSGAN: mean (D(G(a)) - 1)^2, every patch score pulled towards "real"."""
    return _LSGAN.g_loss(None, fake_scores)


def discriminator_loss(real_scores, fake_scores):
    """0.5 * (mean (D(b) - 1)^2 + mean D(G(a))^2): halved, so D learns more slowly than G (section 7.1)."""
    return 0.5 * _LSGAN.d_loss(real_scores, fake_scores)


def cycle_loss(reconstructed, real, lam=LAMBDA_CYCLE):
    """lambda * |F(G(a)) - a|_1, the mean absolute error of the round trip."""
    return lam * F.l1_loss(reconstructed, real)


def identity_loss(same, real, lam=LAMBDA_CYCLE, weight=LAMBDA_IDENTITY):
    """weight * lambda * |G(b) - b|_1: an image already in the target domain should pass unchanged."""
    return weight * lam * F.l1_loss(same, real)


# ----------------------------------------------------------------------------- the pool of fakes

class ImagePool:
    """The last `size` generated images; D is trained on a mix of them and the newest (Shrivastava et al.).

    query(images): while the pool is filling, each image goes in and comes back out. Once it is full,
    each image is, with probability 1/2, swapped with a random stored one (the old one is returned),
    and otherwise returned as is. Draws come from minigrad's RNG, so a checkpoint replays them.
    (stabilizers.ReplayBuffer is the ring-buffer variant the other GANs use; this is the paper's.)
    """

    def __init__(self, size=POOL_SIZE):
        self.size = size
        self.images = []                                # arrays (C, H, W)

    def query(self, images):
        """images (N, C, H, W) Tensor -> (N, C, H, W) Tensor, detached from the graph."""
        if self.size == 0:
            return images.detach()
        rng = minigrad.random.generator()
        out = []
        for image in images.data:
            if len(self.images) < self.size:
                self.images.append(image.copy())
                out.append(image)
            elif rng.random() < 0.5:
                i = int(rng.integers(self.size))
                out.append(self.images[i])
                self.images[i] = image.copy()
            else:
                out.append(image)
        return minigrad.tensor(np.stack(out))

    def state_dict(self):
        return {"size": self.size, "images": [x.copy() for x in self.images]}

    def load_state_dict(self, state):
        self.size, self.images = int(state["size"]), [x.copy() for x in state["images"]]


# ----------------------------------------------------------------------------- the two pairs of networks

class Generators(nn.Module):
    """G = a_to_b and F = b_to_a, held together so one state_dict and one optimizer cover both."""

    def __init__(self, channels, width, n_blocks):
        super().__init__()
        self.a_to_b = make_generator(channels, width, n_blocks)
        self.b_to_a = make_generator(channels, width, n_blocks)

    def forward(self, images, direction="AtoB"):
        return (self.a_to_b if direction == "AtoB" else self.b_to_a)(images)


class Discriminators(nn.Module):
    """D_A (is this a real A?) and D_B (a real B?)."""

    def __init__(self, channels, width, n_layers):
        super().__init__()
        self.d_a = make_discriminator(channels, width, n_layers)
        self.d_b = make_discriminator(channels, width, n_layers)


class ConstantThenLinearDecay:
    """lr factor for LambdaLR: 1 until step `decay_start`, then a straight line down to 0 at `total`.

    The paper keeps 2e-4 for 100 epochs and decays it to zero over the next 100; here the same line
    is followed step by step (no staircase), over whatever length the run has. An object, not a
    lambda, so LambdaLR's state_dict keeps `total` and `decay_start` in the checkpoint.
    """

    def __init__(self, total, decay_start):
        self.total, self.decay_start = int(total), int(decay_start)

    def __call__(self, step):
        if step < self.decay_start:
            return 1.0
        return max(0.0, 1.0 - (step - self.decay_start) / max(1, self.total - self.decay_start))


# ----------------------------------------------------------------------------- one training step

def make_train_step(generators, discriminators, opt_g, opt_d, schedulers, pool_a, pool_b,
                    lambda_cycle=LAMBDA_CYCLE, lambda_identity=LAMBDA_IDENTITY):
    G, F_ = generators.a_to_b, generators.b_to_a           # the paper's G: A -> B and F: B -> A
    D_A, D_B = discriminators.d_a, discriminators.d_b
    g_params, d_params = list(generators.parameters()), list(discriminators.parameters())

    def train_step(real_a, real_b):
        fake_b = G(real_a)                                  # a translated to B
        fake_a = F_(real_b)
        rec_a = F_(fake_b)                                  # ... and back: F(G(a)) should be a
        rec_b = G(fake_a)

        # Generators: fool both discriminators, close both cycles, leave the other domain alone.
        adv_ab = adversarial_loss(D_B(fake_b))
        adv_ba = adversarial_loss(D_A(fake_a))
        cycle_a = cycle_loss(rec_a, real_a, lambda_cycle)
        cycle_b = cycle_loss(rec_b, real_b, lambda_cycle)
        loss_g = adv_ab + adv_ba + cycle_a + cycle_b
        idt_ab = idt_ba = minigrad.tensor(0.0)
        if lambda_identity > 0:
            idt_ab = identity_loss(G(real_b), real_b, lambda_cycle, lambda_identity)    # G(b) should be b
            idt_ba = identity_loss(F_(real_a), real_a, lambda_cycle, lambda_identity)   # F(a) should be a
            loss_g = loss_g + idt_ab + idt_ba
        apply_gradients(opt_g, zip(minigrad.grad(loss_g, g_params), g_params))

        # Discriminators: real images against fakes drawn from the pools of past translations.
        loss_d_a = discriminator_loss(D_A(real_a), D_A(pool_a.query(fake_a)))
        loss_d_b = discriminator_loss(D_B(real_b), D_B(pool_b.query(fake_b)))
        loss_d = loss_d_a + loss_d_b
        apply_gradients(opt_d, zip(minigrad.grad(loss_d, d_params), d_params))

        lr = opt_g.param_groups[0]["lr"]                    # the rate this step used
        for scheduler in schedulers:
            scheduler.step()
        return {"loss_d": loss_d, "loss_g": loss_g, "loss_d_a": loss_d_a, "loss_d_b": loss_d_b,
                "adv_ab": adv_ab, "adv_ba": adv_ba, "cycle_a": cycle_a, "cycle_b": cycle_b,
                "idt_ab": idt_ab, "idt_ba": idt_ba, "lr": lr}
    return train_step


def build_networks(settings):
    """(Generators, Discriminators) of the sizes in `settings` (a dict or the parsed flags)."""
    get = settings.get if isinstance(settings, dict) else lambda key: getattr(settings, key)
    generators = Generators(get("channels"), get("width"), get("res_blocks"))
    discriminators = Discriminators(get("channels"), get("width"), get("d_layers"))
    return generators, discriminators


# ----------------------------------------------------------------------------- what the shared loop gets

METRICS = ("loss_g", "loss_d", "cycle_a", "cycle_b", "adv_ab", "adv_ba", "idt_ab", "idt_ba",
           "loss_d_a", "loss_d_b", "lr")
PLOT = ("adv_ab", "adv_ba", "cycle_a", "cycle_b", "idt_ab", "idt_ba", "loss_d_a", "loss_d_b")


class PoolsAndSchedules:
    """The state of a CycleGAN run beyond networks and optimizers: both pools and both lr schedules."""

    def __init__(self, pool_a, pool_b, schedulers):
        self.pool_a, self.pool_b, self.schedulers = pool_a, pool_b, schedulers

    def state_dict(self):
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict(),
                "schedulers": [s.state_dict() for s in self.schedulers]}

    def load_state_dict(self, state):
        self.pool_a.load_state_dict(state["pool_a"])
        self.pool_b.load_state_dict(state["pool_b"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)


def build(args, total_steps):
    """The GAN for train.run: both generators, both discriminators, Adam(lr, (beta1, beta2)) for each pair,
    the lr held for the first `decay_from` share of `total_steps` and then decayed linearly to zero."""
    generators, discriminators = build_networks(args)
    betas = (args.beta1, args.beta2)
    opt_g = optim.Adam(generators.parameters(), lr=args.lr, betas=betas)
    opt_d = optim.Adam(discriminators.parameters(), lr=args.lr, betas=betas)
    decay_start = round(args.decay_from * total_steps)
    schedulers = [optim.lr_scheduler.LambdaLR(opt, ConstantThenLinearDecay(total_steps, decay_start))
                  for opt in (opt_g, opt_d)]
    pool_a, pool_b = ImagePool(args.pool_size), ImagePool(args.pool_size)
    train_step = make_train_step(generators, discriminators, opt_g, opt_d, schedulers, pool_a, pool_b,
                                 args.lambda_cycle, args.lambda_identity)
    return GAN("cyclegan", generators, discriminators, opt_g, opt_d, train_step, latent_dim=0,
               two_domains=True, metrics=METRICS, plot=PLOT,
               extra_state=PoolsAndSchedules(pool_a, pool_b, schedulers),
               schedule={"lr_decay_steps": total_steps, "lr_decay_start": decay_start})


def round_trips(generators, a, b):
    """The rows of a sample grid: a, G(a), F(G(a)), b, F(b), G(F(b)); arrays (n, C, H, W) in, (6n, C, H, W) out."""
    with minigrad.no_grad():
        a, b = minigrad.tensor(a), minigrad.tensor(b)
        fake_b, fake_a = generators.a_to_b(a), generators.b_to_a(b)
        rows = [a, fake_b, generators.b_to_a(fake_b), b, fake_a, generators.a_to_b(fake_a)]
    return np.concatenate([r.data for r in rows])
