"""The 64x64 DCGAN's and the cGAN's training step in minigrad and, with the same networks, in PyTorch
(rows of python -m gans.bench --all; PyTorch is a yardstick here, never a dependency).

Both steps are the trainers' own: adversarial.AdversarialStep with the trainer's default flags (the
non-saturating loss; real_label 0.9 for the 64x64 DCGAN, as train_dcgan --arch dcgan64 resolves it).
One step: G on noise; D on the real and on the detached fake batch, D's loss, backward, Adam; D on the
fake batch again, G's loss, G's gradients only, Adam. The PyTorch side does the same passes in the
same order, so the two count the same convolutions.
"""
import numpy as np

import minigrad

from . import cgan, dcgan64, train_cgan, train_dcgan

DCGAN64_REAL_LABEL = 0.9


# ----------------------------------------------------------------------------- minigrad

def minigrad_dcgan64(batch_size):
    minigrad.manual_seed(0)
    args = train_dcgan.make_parser("dcgan64").parse_args([])
    args.real_label = DCGAN64_REAL_LABEL
    gan = dcgan64.build(args)
    real = minigrad.tensor(np.random.default_rng(0).uniform(-1, 1, (batch_size, 3, 64, 64)).astype(np.float32))
    return lambda: gan.train_step(real)


def minigrad_cgan(batch_size):
    minigrad.manual_seed(0)
    args = train_cgan.make_parser().parse_args([])
    gan = cgan.build(args)
    rng = np.random.default_rng(0)
    real = minigrad.tensor(rng.uniform(-1, 1, (batch_size, 1, 28, 28)).astype(np.float32))
    labels = minigrad.tensor(rng.integers(0, cgan.N_CLASSES, batch_size))
    return lambda: gan.train_step(real, labels)


# ----------------------------------------------------------------------------- PyTorch

def _torch_step(G, D, real, cond, latent_dim, real_label):
    """AdversarialStep's passes in PyTorch: D on real and detached fake, then D on fake for G."""
    import torch
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    betas = (0.5, 0.999)
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 2e-4, betas=betas), torch.optim.Adam(D.parameters(), 2e-4, betas=betas)

    def step():
        fake = G(torch.randn(len(real), latent_dim), *cond)
        real_logits, fake_logits = D(real, *cond), D(fake.detach(), *cond)
        loss_d = bce(real_logits, torch.full_like(real_logits, real_label)) + bce(fake_logits, torch.zeros_like(fake_logits))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = torch.nn.functional.softplus(-D(fake, *cond)).mean()
        grads = torch.autograd.grad(loss_g, list(G.parameters()))
        for p, g in zip(G.parameters(), grads):
            p.grad = g
        opt_g.step()
    return step


def torch_dcgan64(batch_size, width=64, nz=128):
    import torch
    torch.manual_seed(0)
    G, D = torch_dcgan64_nets(width, nz)
    real = torch.rand(batch_size, 3, 64, 64) * 2 - 1
    return _torch_step(G, D, real, (), nz, DCGAN64_REAL_LABEL)


def torch_dcgan64_nets(width=64, nz=128):
    """dcgan64.Generator and Discriminator in PyTorch: (G, D)."""
    from torch import nn

    def up(i, o, k=4, s=2, p=1):
        return [nn.ConvTranspose2d(i, o, k, s, p, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    def down(i, o, bn=False):
        return [nn.Conv2d(i, o, 4, 2, 1, bias=False)] + ([nn.BatchNorm2d(o)] if bn else []) + [nn.LeakyReLU(0.2)]
    w = width // 2
    G = nn.Sequential(nn.Unflatten(1, (nz, 1, 1)), *up(nz, width * 16, 4, 1, 0), *up(width * 16, width * 8),
                      *up(width * 8, width * 4), *up(width * 4, width * 2), *up(width * 2, width),
                      nn.ConvTranspose2d(width, 3, 3, 1, 1), nn.Tanh())
    D = nn.Sequential(*down(3, w), *down(w, w * 2), *down(w * 2, w * 4, True), *down(w * 4, w * 8, True),
                      nn.Conv2d(w * 8, 1, 4, 1, 0, bias=False), nn.Flatten())
    return G, D


def torch_cgan(batch_size, latent_dim=100):
    import torch
    torch.manual_seed(0)
    G, D = torch_cgan_nets(latent_dim)
    real = torch.rand(batch_size, 1, 28, 28) * 2 - 1
    labels = torch.randint(0, 10, (batch_size,))
    return _torch_step(G, D, real, (labels,), latent_dim, 1.0)


def torch_cgan_nets(latent_dim=100, slope=0.3):
    """cgan.ConditionalGenerator and ConditionalDiscriminator in PyTorch: (G, D)."""
    import torch
    from torch import nn

    class Generator(nn.Module):                         # cgan.ConditionalGenerator
        def __init__(self):
            super().__init__()
            self.project = nn.Sequential(nn.Linear(latent_dim, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256),
                                         nn.LeakyReLU(slope), nn.Unflatten(1, (256, 7, 7)))
            self.label_map = nn.Sequential(nn.Embedding(10, cgan.LABEL_DIM), nn.Linear(cgan.LABEL_DIM, 49),
                                           nn.Unflatten(1, (1, 7, 7)))
            self.upsample = nn.Sequential(
                nn.ConvTranspose2d(257, 128, 5, 1, 2, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(slope),
                nn.ConvTranspose2d(128, 64, 5, 2, 2, 1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(slope),
                nn.ConvTranspose2d(64, 1, 5, 2, 2, 1, bias=False), nn.Tanh())

        def forward(self, z, y):
            return self.upsample(torch.cat([self.project(z), self.label_map(y)], 1))

    class Discriminator(nn.Module):                     # cgan.ConditionalDiscriminator (projection)
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 64, 5, 2, 2), nn.LeakyReLU(slope), nn.Dropout(0.3),
                                          nn.Conv2d(64, 128, 5, 2, 2), nn.LeakyReLU(slope), nn.Dropout(0.3))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 49, 1))
            self.embedding = nn.Embedding(10, 128 * 49)

        def forward(self, x, y):
            phi = self.features(x)
            return self.head(phi) + (self.embedding(y) * phi.flatten(1)).sum(1, keepdim=True)

    return Generator(), Discriminator()
