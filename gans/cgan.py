"""A conditional DCGAN on Fashion-MNIST (notes 001, 002): ask for a class, get that garment.

Both networks see the label y (0..9, data.CLASSES):

    G(z, y): a learned embedding of y (10 -> 50 numbers) is joined to the noise z, and the DCGAN
             generator (dcgan.py's layers) turns the pair into an image;
    D(x, y): a learned embedding of y (10 -> 28*28 numbers) is shaped as one extra image channel
             and concatenated to x, so D judges "is this a real image of class y?", and a fake of
             the wrong class is rejected even if it looks like a good garment.

Training is the gallery's configurable step (adversarial.py: any --loss, the stabilisers), called
with labels. The sample grid is 10 x 10, one row per class. `evaluate` scores a generator: the share
of its images the project's classifier puts in the intended class, and the Fréchet distance.

Train it with `python -m gans.train_cgan`.
"""
import numpy as np

import minigrad
import minigrad.nn as nn

from . import adversarial, classifier, data, evaluate
from . import dcgan
from .dcgan import SLOPE

N_CLASSES = 10
LABEL_DIM = 50          # size of G's label embedding


class ConditionalGenerator(nn.Module):
    """(noise (N, latent_dim), labels (N,)) -> images (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim=100):
        super().__init__()
        self.latent_dim = latent_dim
        self.label_embedding = nn.Embedding(N_CLASSES, LABEL_DIM)
        self.net = dcgan.make_generator_model(latent_dim + LABEL_DIM)   # the DCGAN's G, fed z joined to the label

    def forward(self, noise, labels):
        joined = minigrad.cat([noise, self.label_embedding(labels)], dim=1)       # (N, latent_dim + 50)
        return self.net(joined)


class ConditionalDiscriminator(nn.Module):
    """(images (N, 1, 28, 28), labels (N,)) -> one logit each (N, 1): "a real image of this class"."""

    def __init__(self):
        super().__init__()
        self.label_embedding = nn.Embedding(N_CLASSES, 28 * 28)
        self.body = nn.Sequential(                              # the DCGAN discriminator, 2 input channels
            nn.Conv2d(2, 64, 5, stride=2, padding=2),           # (N, 64, 14, 14)
            nn.LeakyReLU(SLOPE),
            nn.Dropout(0.3),
            nn.Conv2d(64, 128, 5, stride=2, padding=2),         # (N, 128, 7, 7)
            nn.LeakyReLU(SLOPE),
            nn.Dropout(0.3),
            nn.Flatten(),                                       # (N, 6272)
            nn.Linear(128 * 7 * 7, 1),
        )

    def forward(self, images, labels):
        label_map = self.label_embedding(labels).reshape(len(labels), 1, 28, 28)   # (N, 1, 28, 28)
        return self.body(minigrad.cat([images, label_map], dim=1))                 # (N, 2, 28, 28) -> (N, 1)


def sample_labels(n, nrow=N_CLASSES):
    """Labels for a grid of n images with nrow per row: row r shows class r (mod 10)."""
    return (np.arange(n) // nrow) % N_CLASSES


def build(args):
    return adversarial.build_gan("cgan", lambda: ConditionalGenerator(args.latent_dim), ConditionalDiscriminator,
                                 args, d_body=lambda D: D.body, d_input_shape=(2, 28, 28),
                                 conditional=True, n_samples=100, nrow=N_CLASSES)


# ----------------------------------------------------------------------------- evaluation

def generate(generator, labels, latent_dim, seed=0, batch_size=500):
    """Images (N, 1, 28, 28) in [-1, 1] of the given classes, from noise seeded by `seed`."""
    generator.eval()
    noise = np.random.default_rng(seed).standard_normal((len(labels), latent_dim)).astype(np.float32)
    out = []
    with minigrad.no_grad():
        for start in range(0, len(labels), batch_size):
            out.append(generator(minigrad.tensor(noise[start:start + batch_size]),
                                 minigrad.tensor(np.asarray(labels[start:start + batch_size], np.int64))).data)
    return np.concatenate(out)


def evaluate_generator(generator, latent_dim, n=10000, seed=0, root=None, model=None):
    """(class accuracy, Fréchet distance, per-class accuracy (10,)) of a conditional generator.

    n images, n/10 of each class; class accuracy is the share the classifier puts in the intended
    class. FD is against the 10,000 real test images, in the classifier's feature space.
    """
    model = classifier.load_classifier() if model is None else model
    labels = np.arange(n) % N_CLASSES
    fake = generate(generator, labels, latent_dim, seed)
    real = data.scale(data.load("test", root=root)[0])
    fake_feats, fake_logits = classifier.features_and_logits(model, fake)
    real_feats, _ = classifier.features_and_logits(model, real)
    hits = fake_logits.argmax(1) == labels
    per_class = np.array([hits[labels == c].mean() for c in range(N_CLASSES)])
    fd = evaluate.frechet_distance(*evaluate.gaussian(fake_feats), *evaluate.gaussian(real_feats))
    return float(hits.mean()), fd, per_class
