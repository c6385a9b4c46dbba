"""The classic GAN stabilisers of the lectures (notes 000 and 001), each a short piece and a flag.

    --real-label 0.9          one-sided label smoothing: D's target for real images is 0.9, not 1
    --noisy-labels            soft, noisy targets: real ~ U(0.7, 1.2), fake ~ U(0, 0.3)
    --flip-labels P           swap the real and fake target of each sample with probability P
    --instance-noise S        add N(0, s^2) to every image D sees, s falling linearly from S to 0
    --replay N                experience replay: D also sees old fakes from a buffer of N
    --minibatch-disc B        minibatch discrimination (Salimans et al.): B similarity features in D's head
    --minibatch-std           progressive GAN's minibatch standard-deviation feature map in D
    --spectral-norm           spectral normalisation of every Conv2d and Linear of D
    --lr-d, --lr-g            two time-scale update rule (TTUR): a learning rate for each network
    --ema DECAY               sample from an exponential moving average of G's weights
    --pixel-norm              pixelwise feature normalisation instead of batch norm in G
    --equalized-lr            progressive GAN's equalised learning rate in G and D

The first four change what D is trained on (label_targets, InstanceNoise, ReplayBuffer); the next
three change D's layers (MinibatchDiscrimination, MinibatchStdDev, apply_spectral_norm); TTUR is in the
optimizers; EMA, PixelNorm and EqualizedLR change G (and D). adversarial.py applies them in its step.
"""
import math

import numpy as np

import minigrad
import minigrad.nn as nn

# ----------------------------------------------------------------------------- what D is trained on


def label_targets(n, real_label=1.0, noisy=False, flip=0.0):
    """D's targets (real (n, 1), fake (n, 1)) for the losses with labels.

    real_label < 1 is one-sided smoothing (fakes keep 0: smoothing them too would reward G's mistakes);
    noisy draws every target anew (real ~ U(0.7, 1.2), fake ~ U(0, 0.3)); flip swaps a random share.
    """
    rng = minigrad.random.generator()
    if noisy:
        real = rng.uniform(0.7, 1.2, (n, 1))
        fake = rng.uniform(0.0, 0.3, (n, 1))
    else:
        real, fake = np.full((n, 1), real_label), np.zeros((n, 1))
    if flip > 0:
        swap = rng.random((n, 1)) < flip
        real, fake = np.where(swap, fake, real), np.where(swap, real, fake)
    return minigrad.tensor(real.astype(np.float32)), minigrad.tensor(fake.astype(np.float32))


class InstanceNoise:
    """Gaussian noise on D's inputs, real and fake alike (Sønderby et al.), fading out over `steps`:

        x -> x + sigma_t * N(0, 1),    sigma_t = sigma * max(0, 1 - t / steps)

    Early on the real and fake distributions overlap, so D cannot separate them perfectly and its
    gradients stay useful; at the end D sees the images themselves.
    """

    def __init__(self, sigma, steps):
        self.sigma, self.steps = sigma, steps

    def std(self, step):
        return self.sigma * max(0.0, 1.0 - step / self.steps)

    def __call__(self, images, step):
        std = self.std(step)
        return images if std == 0 else images + std * minigrad.randn(*images.shape)


class ReplayBuffer:
    """Experience replay: D sees fakes of earlier generators too, so it cannot overfit the latest G.

    Every call stores the current fakes (dropping the oldest once `size` are held) and returns the
    batch with a share `mix` of it replaced by fakes drawn from the buffer. Labels travel with their
    images (a conditional D must see each old fake with the class it was made for).
    """

    def __init__(self, size, mix=0.5):
        self.size, self.mix = size, mix
        self.images, self.labels, self.count = None, None, 0      # ring buffer; count = fakes ever stored

    def __call__(self, fake, labels=None):
        fake_np = fake.data
        labels_np = None if labels is None else labels.data
        if self.images is None:
            self.images = np.zeros((self.size,) + fake_np.shape[1:], fake_np.dtype)
            self.labels = np.zeros(self.size, np.int64)
        held = min(self.count, self.size)
        n_old = min(int(round(self.mix * len(fake_np))), held)
        out_images, out_labels = fake_np.copy(), None if labels_np is None else labels_np.copy()
        if n_old:
            rng = minigrad.random.generator()
            picks = rng.choice(held, n_old, replace=False)
            rows = rng.choice(len(fake_np), n_old, replace=False)
            out_images[rows] = self.images[picks]
            if out_labels is not None:
                out_labels[rows] = self.labels[picks]
        slots = (self.count + np.arange(len(fake_np))) % self.size     # overwrite the oldest
        self.images[slots] = fake_np[:len(slots)]
        if labels_np is not None:
            self.labels[slots] = labels_np
        self.count += len(fake_np)
        return minigrad.tensor(out_images), None if out_labels is None else minigrad.tensor(out_labels)

    def state_dict(self):
        return {"count": self.count, "images": self.images, "labels": self.labels} if self.count else {"count": 0}

    def load_state_dict(self, state):
        self.count = int(state["count"])
        if self.count:
            self.images, self.labels = np.array(state["images"]), np.array(state["labels"])


# ----------------------------------------------------------------------------- D's layers

class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016): tell D how alike each sample is to the rest of its batch.

        M_i = x_i T                       (num_kernels, kernel_dim) per sample
        c_b(i, j) = exp(-||M_i,b - M_j,b||_1)
        o_i,b = sum_j c_b(i, j)           (num_kernels,), appended to x_i

    A collapsed G makes all o large, which D learns to reject.
    Shape: (N, in_features) -> (N, in_features + num_kernels).
    """

    def __init__(self, in_features, num_kernels=16, kernel_dim=8):
        super().__init__()
        self.num_kernels, self.kernel_dim = num_kernels, kernel_dim
        self.T = nn.Parameter(np.empty((in_features, num_kernels * kernel_dim), np.float32))
        nn.init.normal_(self.T, 0.0, 0.1)

    def forward(self, x):
        n = x.shape[0]
        m = (x @ self.T).reshape(n, self.num_kernels, self.kernel_dim)         # (N, B, C)
        diff = m.unsqueeze(1) - m.unsqueeze(0)                                 # (N, N, B, C)
        c = (-diff.abs().sum(3)).exp()                                         # (N, N, B)
        return minigrad.cat([x, c.sum(1)], dim=1)                              # (N, A + B)


class MinibatchStdDev(nn.Module):
    """Progressive GAN: one extra feature map holding the batch's average standard deviation.

        s = mean over (C, H, W) of  sqrt(var over the batch N + 1e-8)
    Shape: (N, C, H, W) -> (N, C + 1, H, W), the last channel filled with s.
    """

    def forward(self, x):
        n, _, h, w = x.shape
        std = (x.var(0, unbiased=False) + 1e-8).sqrt()                        # (C, H, W)
        s = std.mean()                                                         # ()
        return minigrad.cat([x, s * minigrad.ones(n, 1, h, w, dtype=x.dtype)], dim=1)


def add_batch_features(body, input_shape, minibatch_std=False, minibatch_disc=0):
    """Insert MinibatchStdDev / MinibatchDiscrimination into D's Sequential `body`, in place.

    The standard-deviation map goes in front of the last Flatten (or of the last Conv2d when D ends in
    a convolution), minibatch discrimination in front of the final Linear. The layer after an insertion
    is rebuilt with its larger input, sized by a dry run on zeros of `input_shape` (C, H, W).
    """
    if minibatch_std:
        flatten = [i for i, m in enumerate(body) if isinstance(m, nn.Flatten)]
        at = flatten[-1] if flatten else [i for i, m in enumerate(body) if isinstance(m, nn.Conv2d)][-1]
        _insert(body, at, MinibatchStdDev(), input_shape)
    if minibatch_disc:
        if not isinstance(body[len(body) - 1], nn.Linear):
            raise ValueError("--minibatch-disc needs a discriminator ending in Flatten and Linear "
                             f"(this one ends in {type(body[len(body) - 1]).__name__})")
        features = body[len(body) - 1].in_features
        _insert(body, len(body) - 1, MinibatchDiscrimination(features, minibatch_disc), input_shape)
    return body


def _insert(body, at, layer, input_shape):
    """body[at:at] = [layer], then rebuild the first Linear/Conv2d after it for its new input size."""
    layers = list(body)
    layers.insert(at, layer)
    nxt = next(i for i in range(at + 1, len(layers)) if isinstance(layers[i], (nn.Linear, nn.Conv2d)))
    h = minigrad.zeros(2, *input_shape)
    with minigrad.no_grad():
        for m in layers[:nxt]:
            m.eval()                              # batch norm must not learn from the zeros
            h = m(h)
            m.train()
    old = layers[nxt]
    if isinstance(old, nn.Linear):
        layers[nxt] = nn.Linear(h.shape[1], old.out_features, bias=old.bias is not None)
    else:
        layers[nxt] = nn.Conv2d(h.shape[1], old.out_channels, old.kernel_size, old.stride, old.padding,
                                bias=old.bias is not None)
    _set_layers(body, layers)


def _set_layers(sequential, layers):
    """Make `sequential` hold exactly `layers`, in order, named "0", "1", ... (in place)."""
    for name in list(sequential._modules):
        del sequential._modules[name]
    for i, m in enumerate(layers):
        sequential.add_module(str(i), m)


def apply_spectral_norm(discriminator):
    """Spectral normalisation (nn.utils.spectral_norm) on every Conv2d and Linear of D; returns D."""
    for module in list(discriminator.modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.utils.spectral_norm(module)
    return discriminator


# ----------------------------------------------------------------------------- G's weights and layers

class EMA:
    """An exponential moving average of G's weights, the generator to sample from (Karras et al.):

        w_ema <- decay * w_ema + (1 - decay) * w       after every G step (buffers are copied)

    Averaging smooths the oscillation of G's weights around the game's equilibrium.
    """

    def __init__(self, generator, make_copy, decay=0.999):
        self.decay = decay
        self.model = make_copy()
        self.model.load_state_dict(generator.state_dict())
        self.model.eval()
        self.generator = generator

    def update(self):
        averaged = dict(self.model.named_parameters())
        for name, p in self.generator.named_parameters():
            a = averaged[name].data
            a *= self.decay
            a += (1 - self.decay) * p.data
        averaged_buffers = dict(self.model.named_buffers())
        for name, b in self.generator.named_buffers():
            if b is not None:
                averaged_buffers[name].data[...] = b.data

    def state_dict(self):
        return self.model.state_dict()

    def load_state_dict(self, state):
        self.model.load_state_dict(state)


class PixelNorm(nn.Module):
    """Progressive GAN's pixelwise feature normalisation, in G after each convolution:

        b_x,y = a_x,y / sqrt(mean over channels of a_x,y^2 + 1e-8)
    Each pixel's feature vector gets unit average square; no statistics, nothing learned.
    """

    def forward(self, x):
        return x / ((x * x).mean(1, keepdim=True) + 1e-8).sqrt()


def use_pixel_norm(generator):
    """Replace every BatchNorm2d in G (a Sequential, possibly nested) by PixelNorm; returns G."""
    for module in list(generator.modules()):
        if isinstance(module, nn.Sequential):
            _set_layers(module, [PixelNorm() if isinstance(m, nn.BatchNorm2d) else m for m in module])
    return generator


class EqualizedLR:
    """Progressive GAN's equalised learning rate, as a forward pre-hook (like spectral_norm):

        weight = weight_orig * sqrt(2 / fan_in),   weight_orig ~ N(0, 1)

    He's scaling moves from the initial values into the forward pass, so every weight is of size 1
    and Adam (which adapts step sizes to gradient size, not to weight size) moves all layers alike.
    """

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, module, inputs):
        module.weight = module.weight_orig * self.scale


def equalized_lr(module):
    """Give one Conv2d / ConvTranspose2d / Linear an equalised learning rate (in place); returns it."""
    weight = module._parameters.pop("weight")
    if isinstance(module, nn.ConvTranspose2d):    # (C_in, C_out, kh, kw): inputs reaching one output
        kh, kw = module.kernel_size
        fan_in = weight.shape[0] * kh * kw / (module.stride[0] * module.stride[1])
    else:                                         # (C_out, C_in, kh, kw) or (out, in)
        fan_in = int(np.prod(weight.shape[1:]))
    nn.init.normal_(weight, 0.0, 1.0)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    module.register_parameter("weight_orig", weight)
    hook = EqualizedLR(math.sqrt(2.0 / fan_in))
    with minigrad.no_grad():
        hook(module, ())
    module.register_forward_pre_hook(hook)
    return module


def apply_equalized_lr(model):
    """equalized_lr on every Conv2d, ConvTranspose2d and Linear of a model; returns it."""
    for module in list(model.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            equalized_lr(module)
    return model


# ----------------------------------------------------------------------------- flags

def add_flags(parser):
    """The stabiliser flags (see the module docstring); all off by default."""
    g = parser.add_argument_group("stabilisers (notes 000, 001)")
    g.add_argument("--real-label", type=float, default=1.0, help="D's target for real images (0.9: one-sided smoothing)")
    g.add_argument("--noisy-labels", action="store_true", help="targets real ~ U(0.7, 1.2), fake ~ U(0, 0.3)")
    g.add_argument("--flip-labels", type=float, default=0.0, metavar="P", help="swap each sample's targets with probability P")
    g.add_argument("--instance-noise", type=float, default=0.0, metavar="S",
                   help="std of Gaussian noise on D's inputs, decaying linearly to 0 over the run")
    g.add_argument("--replay", type=int, default=0, metavar="N", help="experience replay buffer of N old fakes")
    g.add_argument("--minibatch-disc", type=int, default=0, metavar="B", help="minibatch discrimination features in D")
    g.add_argument("--minibatch-std", action="store_true", help="minibatch standard-deviation feature map in D")
    g.add_argument("--spectral-norm", action="store_true", help="spectral normalisation of D's layers")
    g.add_argument("--lr-d", type=float, default=None, help="D's learning rate (TTUR; default --lr)")
    g.add_argument("--lr-g", type=float, default=None, help="G's learning rate (TTUR; default --lr)")
    g.add_argument("--ema", type=float, default=0.0, metavar="DECAY", help="sample from an EMA of G's weights (0.999)")
    g.add_argument("--pixel-norm", action="store_true", help="pixelwise feature normalisation in G instead of batch norm")
    g.add_argument("--equalized-lr", action="store_true", help="equalised learning rate in G and D")
    return parser
