"""The configurable training step of the gallery: any loss of losses.py, `--n-critic`, the stabilisers.

One call trains on one real batch, in the order of the PyTorch lecture (notes 001):

    1. D step: fakes from G (detached), D on the real and on the fake batch, D's loss
       (+ lambda * gradient penalty for WGAN-GP), one optimizer step of D;
    2. every n_critic-th call, a G step: fresh D outputs on the same fakes (D just moved), G's loss,
       one optimizer step of G, then the EMA of G's weights.

The stabilisers enter where the lecture puts them: label targets in D's loss, instance noise and
replayed fakes on D's inputs, the layers in the networks (`prepare`), TTUR in the optimizers.
A conditional GAN passes labels: G(z, y), D(x, y). The step counts its calls; that counter, the
replay buffer and the EMA weights are its state (state_dict), saved with the training checkpoint.
"""
import argparse

import minigrad
import minigrad.optim as optim

from . import losses, stabilizers


def flag_names():
    """The dests of add_flags: fixed for a run's life, so a checkpoint stores them (train.run's settings)."""
    return tuple(vars(add_flags(argparse.ArgumentParser()).parse_args([])))


def add_flags(parser):
    """--loss, --n-critic and the stabiliser flags."""
    g = parser.add_argument_group("loss (notes 001)")
    g.add_argument("--loss", default="non-saturating", choices=list(losses.LOSSES), help="the GAN loss")
    g.add_argument("--n-critic", type=int, default=1, metavar="N", help="D steps per G step (WGAN-GP: 5)")
    stabilizers.add_flags(parser)
    return parser


def check_flags(args):
    """Errors a user can fix: a label trick with a loss that has no labels, a bad n_critic."""
    loss = losses.get_loss(args.loss)
    label_tricks = args.real_label != 1.0 or args.noisy_labels or args.flip_labels > 0
    if label_tricks and not loss.uses_labels:
        with_labels = ", ".join(n for n, cls in losses.LOSSES.items() if cls.uses_labels)
        raise ValueError(f"--real-label/--noisy-labels/--flip-labels need a loss with labels ({with_labels}), "
                         f"not --loss {args.loss}")
    if args.spectral_norm and args.equalized_lr:
        raise ValueError("--spectral-norm and --equalized-lr both rescale D's weights; pick one")
    if args.n_critic < 1:
        raise ValueError(f"--n-critic must be at least 1, got {args.n_critic}")
    return loss


def prepare_generator(generator, args):
    """G's layer stabilisers, in place (also used for the EMA copy, which must have G's layers)."""
    if args.pixel_norm:
        stabilizers.use_pixel_norm(generator)
    if args.equalized_lr:
        stabilizers.apply_equalized_lr(generator)
    return generator


def prepare(generator, discriminator, args, d_body, d_input_shape):
    """Apply the layer stabilisers to fresh networks (in place) and build their optimizers (TTUR).

    d_body is D's Sequential of layers (D itself for a plain Sequential) and d_input_shape its input
    (C, H, W), where the minibatch layers are inserted. Returns (opt_g, opt_d).
    """
    prepare_generator(generator, args)
    if args.minibatch_std or args.minibatch_disc:
        stabilizers.add_batch_features(d_body, d_input_shape, args.minibatch_std, args.minibatch_disc)
    if args.equalized_lr:
        stabilizers.apply_equalized_lr(discriminator)
    if args.spectral_norm:
        stabilizers.apply_spectral_norm(discriminator)
    betas = (args.beta1, args.beta2)
    opt_g = optim.Adam(generator.parameters(), lr=args.lr_g or args.lr, betas=betas)
    opt_d = optim.Adam(discriminator.parameters(), lr=args.lr_d or args.lr, betas=betas)
    return opt_g, opt_d


class AdversarialStep:
    """train_step(images, labels=None) -> metrics, with the options of `args` (see add_flags)."""

    def __init__(self, generator, discriminator, opt_g, opt_d, latent_dim, args, make_generator=None,
                 total_steps=None):
        self.G, self.D, self.opt_g, self.opt_d = generator, discriminator, opt_g, opt_d
        self.latent_dim, self.args = latent_dim, args
        self.loss = check_flags(args)
        self.steps = 0                                               # calls so far (D steps)
        self.noise = None
        self.schedule = {}                                           # checkpointed by the loop (train.GAN)
        if args.instance_noise > 0:
            self.noise = stabilizers.InstanceNoise(args.instance_noise, total_steps or 1000)
            self.schedule["instance_noise_steps"] = self.noise.steps
        self.replay = stabilizers.ReplayBuffer(args.replay) if args.replay else None
        self.ema = stabilizers.EMA(generator, make_generator, args.ema) if args.ema else None
        self.last_g_loss = float("nan")                              # until the first G step

    @property
    def sampler(self):
        """The network to draw samples from: the EMA of G if there is one, else G itself."""
        return self.ema.model if self.ema is not None else self.G

    def _d_input(self, images):
        return images if self.noise is None else self.noise(images, self.steps)

    def __call__(self, images, labels=None):
        cond = () if labels is None else (labels,)
        n = len(images)
        fake = self.G(minigrad.randn(n, self.latent_dim), *cond)

        # 1. D: maximise its power to tell real from fake (minimise its loss)
        d_fake, d_cond = fake.detach(), cond
        if self.replay is not None:
            d_fake, old_labels = self.replay(d_fake, labels)
            d_cond = () if labels is None else (old_labels,)
        real_logits = self.D(self._d_input(images), *cond)
        fake_logits = self.D(self._d_input(d_fake), *d_cond)
        if self.loss.uses_labels:
            real_t, fake_t = stabilizers.label_targets(n, self.args.real_label, self.args.noisy_labels,
                                                       self.args.flip_labels)
            loss_d = self.loss.d_loss(real_logits, fake_logits, real_t, fake_t)
        else:
            loss_d = self.loss.d_loss(real_logits, fake_logits)
        if self.loss.gp_weight:
            loss_d = loss_d + self.loss.gp_weight * losses.gradient_penalty(self.D, images, fake, *cond)
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        self.steps += 1

        # 2. G: every n_critic-th step, fool the D that just moved
        if self.steps % self.args.n_critic == 0:
            fake_logits_g = self.D(self._d_input(fake), *cond)
            real_logits_g = real_logits.detach()
            if self.loss.g_uses_real:                                # relativistic: compare with the new D
                with minigrad.no_grad():
                    real_logits_g = self.D(self._d_input(images), *cond)
            loss_g = self.loss.g_loss(real_logits_g, fake_logits_g)
            grads = minigrad.grad(loss_g, list(self.G.parameters()))     # G's gradients only; D's .grad untouched
            for p, g in zip(self.G.parameters(), grads):
                p.grad = g
            self.opt_g.step()
            if self.ema is not None:
                self.ema.update()
            self.last_g_loss = loss_g.item()
        return {"loss_d": loss_d, "loss_g": self.last_g_loss,
                "d_x": real_logits.sigmoid().mean(), "d_g_z": fake_logits.sigmoid().mean()}

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self):
        state = {"steps": self.steps, "last_g_loss": self.last_g_loss}
        if self.replay is not None:
            state["replay"] = self.replay.state_dict()
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state):
        self.steps, self.last_g_loss = int(state["steps"]), float(state["last_g_loss"])
        if self.replay is not None:
            self.replay.load_state_dict(state["replay"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])


def planned_steps(args, n_images=60000):
    """The steps this run is set to take (for schedules such as the instance noise's decay)."""
    if args.steps is not None:
        return args.steps
    n = min(args.limit or n_images, n_images)
    return max(1, round(args.epochs * (n // args.batch_size)))


def build_gan(name, make_generator, make_discriminator, args, d_body=None, d_input_shape=(1, 28, 28), **fields):
    """A GAN for the loop (train.GAN) trained by AdversarialStep, with every layer option applied.

    make_generator() / make_discriminator() build fresh networks; d_body(D) is the Sequential inside D
    where the minibatch layers go (default: D itself). `fields` are passed on to train.GAN.
    """
    from .train import GAN
    generator, discriminator = make_generator(), make_discriminator()
    body = discriminator if d_body is None else d_body(discriminator)
    opt_g, opt_d = prepare(generator, discriminator, args, body, d_input_shape)
    step = AdversarialStep(generator, discriminator, opt_g, opt_d, args.latent_dim, args,
                           make_generator=lambda: prepare_generator(make_generator(), args),
                           total_steps=planned_steps(args))
    return GAN(name, generator, discriminator, opt_g, opt_d, step, latent_dim=args.latent_dim,
               sampler=step.sampler, extra_state=step, schedule=step.schedule,
               pending=lambda: ("loss_g",) if step.steps < args.n_critic else (), **fields)


def uses_options(args):
    """True if any flag of add_flags differs from its default (a trainer then uses this step)."""
    defaults = add_flags(argparse.ArgumentParser()).parse_args([])
    return any(getattr(args, key, value) != value for key, value in vars(defaults).items())
