"""A conditional DCGAN on Fashion-MNIST (notes 001, 002): ask for a class, get that garment.

Both networks see the label y (0..9, data.CLASSES):

    G(z, y): the DCGAN generator (dcgan.py's layers) projects z to a 7x7x256 feature map; a learned
             embedding of y (10 -> 50 numbers, then a Linear to 7*7) becomes a 257th channel of that
             map, and the upsampling stack turns both into an image.
    D(x, y): the projection discriminator (Miyato & Koyama, 2018): the DCGAN discriminator's
             features phi(x) give the usual logit psi(phi(x)), plus an inner product with a learned
             embedding of y, <e(y), phi(x)>: "is this real, and is it a y?".

Why the label joins G after the projection and not next to z: joined to z, the same Linear and
BatchNorm mix both, and G learnt to let the label drown out z. Each class then became one image,
whatever the noise (class accuracy 72.7%, every row of the grid one picture). Joined as a channel,
z keeps its own normalised 7x7x256 map. In short PyTorch trials of these networks (2,000 steps at
batch 16), the within-class pixel spread of the samples was 0.10 with z-joining and 0.26-0.28 with
the label channel; real images have 0.39. The projection D raised class accuracy from 72% to 87%
over a label channel concatenated to x. The default run with both (python -m gans.train_cgan):
class accuracy 86.3%, Fréchet distance 86.4, spread 0.30.

Training is the gallery's configurable step (adversarial.py: any --loss, the stabilisers), called
with labels. The sample grid is 10 x 10, one row per class. `evaluate` scores a generator: the share
of its images the project's classifier puts in the intended class, the Fréchet distance, and the
within-class spread.

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
FEATURES = (128, 7, 7)  # D's feature map phi(x), where the label is projected


class ConditionalGenerator(nn.Module):
    """(noise (N, latent_dim), labels (N,)) -> images (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim=100):
        super().__init__()
        self.latent_dim = latent_dim
        net = dcgan.make_generator_model(latent_dim)
        self.project = net[:4]                              # z -> Linear, BatchNorm, LeakyReLU -> (N, 256, 7, 7)
        self.label_map = nn.Sequential(nn.Embedding(N_CLASSES, LABEL_DIM), nn.Linear(LABEL_DIM, 7 * 7),
                                       nn.Unflatten(1, (1, 7, 7)))                       # y -> (N, 1, 7, 7)
        self.upsample = net[4:]                             # 7x7 -> 28x28, its first layer takes the label map too
        self.upsample[0] = nn.ConvTranspose2d(256 + 1, 128, 5, stride=1, padding=2, bias=False)

    def forward(self, noise, labels):
        joined = minigrad.cat([self.project(noise), self.label_map(labels)], dim=1)     # (N, 257, 7, 7)
        return self.upsample(joined)


class ConditionalDiscriminator(nn.Module):
    """(images (N, 1, 28, 28), labels (N,)) -> one logit each (N, 1): psi(phi(x)) + <e(y), phi(x)>."""

    def __init__(self):
        super().__init__()
        net = dcgan.make_discriminator_model()
        self.features = net[:6]                                 # phi: its convolutions -> (N, 128, 7, 7)
        self.head = net[6:]                                     # psi: Flatten, Linear (minibatch layers go here)
        self.label_embedding = nn.Embedding(N_CLASSES, int(np.prod(FEATURES)))           # e(y), one vector per class
        nn.init.normal_(self.label_embedding.weight, std=0.02)  # small: at first D barely looks at the label

    def forward(self, images, labels):
        phi = self.features(images)                                                     # (N, 128, 7, 7)
        projection = (self.label_embedding(labels) * phi.reshape(len(labels), -1)).sum(1, keepdim=True)
        return self.head(phi) + projection                                              # (N, 1)


def sample_labels(n, nrow=N_CLASSES):
    """Labels for a grid of n images with nrow per row: row r shows class r (mod 10)."""
    return (np.arange(n) // nrow) % N_CLASSES


def build(args):
    return adversarial.build_gan("cgan", lambda: ConditionalGenerator(args.latent_dim), ConditionalDiscriminator,
                                 args, d_body=lambda D: D.head, d_input_shape=FEATURES,
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


def within_class_spread(images, labels):
    """Mean over classes of the per-pixel standard deviation across that class's images.

    A conditional generator that ignores its noise draws one picture per class: spread 0. The real
    Fashion-MNIST test images have 0.39 (in [-1, 1] pixel units).
    """
    flat = images.reshape(len(images), -1)
    return float(np.mean([flat[labels == c].std(0).mean() for c in np.unique(labels)]))


def evaluate_generator(generator, latent_dim, n=10000, seed=0, root=None, model=None):
    """(class accuracy, Fréchet distance, per-class accuracy (10,), within-class spread) of a conditional G.

    n images, n/10 of each class; class accuracy is the share the classifier puts in the intended
    class. FD is against the 10,000 real test images, in the classifier's feature space. The spread
    (within_class_spread) tells whether G still uses its noise inside a class.
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
    return float(hits.mean()), fd, per_class, within_class_spread(fake, labels)
