"""A small Fashion-MNIST classifier: the ruler of gans.evaluate (no pretrained Inception offline).

Two strided convolutions with batch norm and a 128-unit layer, trained with minigrad (91% test
accuracy after 5 epochs). Its 128 features (that layer's output before the ReLU) are the space in which
gans/evaluate.py measures the Fréchet distance between generated and real images (FID's recipe with
a smaller network), and its class scores say which garments a generator makes.

The trained weights ship in gans/assets/classifier.ckpt (1.8 MB); retrain them with
`python -m gans.train_classifier`.
"""
import os

import numpy as np

import minigrad
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.optim as optim

from . import data
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "classifier.ckpt")
FEATURES = 128


def make_classifier():
    """images (N, 1, 28, 28) in [-1, 1] -> class scores (N, 10); layer FEATURE_LAYER's output is the features."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, stride=2, padding=2), nn.BatchNorm2d(32), nn.ReLU(),     # (N, 32, 14, 14)
        nn.Conv2d(32, 64, 5, stride=2, padding=2), nn.BatchNorm2d(64), nn.ReLU(),    # (N, 64, 7, 7)
        nn.Flatten(),                                                                # (N, 3136)
        nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU(),                                  # (N, 128): the features
        nn.Dropout(0.2),
        nn.Linear(FEATURES, 10),                                                     # (N, 10)
    )


FEATURE_LAYER = 7        # the Linear(3136, 128) above; its output, before the ReLU, is what FD compares


def features_and_logits(model, images, batch_size=500):
    """(features (N, 128) float64, class scores (N, 10)) of float images in [-1, 1], in eval mode."""
    model.eval()
    feats, logits = [], []
    with minigrad.no_grad():
        for start in range(0, len(images), batch_size):
            h = minigrad.tensor(np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32))
            for i, layer in enumerate(model):
                h = layer(h)
                if i == FEATURE_LAYER:
                    feats.append(h.data.astype(np.float64))
            logits.append(h.data)
    return np.concatenate(feats), np.concatenate(logits)


def accuracy(model, images, labels):
    _, logits = features_and_logits(model, images)
    return float((logits.argmax(1) == labels).mean())


def train_classifier(root=None, epochs=5, batch_size=128, lr=1e-3, seed=0, limit=None, log=print):
    """Train a fresh classifier on the training split (Adam, lr x0.6 each epoch); returns (model, test accuracy)."""
    minigrad.manual_seed(seed)
    model = make_classifier()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.6)
    train_images, train_labels = data.load("train", root=root, limit=limit)
    batches = data.Batches(train_images, train_labels, batch_size, seed=seed)
    test_images, test_labels = data.load("test", root=root)
    test_x = data.scale(test_images)
    for step in range(epochs * batches.steps_per_epoch):
        model.train()
        x, y = batches.batch(step)
        loss = F.cross_entropy(model(minigrad.tensor(x)), minigrad.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % batches.steps_per_epoch == 0:
            epoch = (step + 1) // batches.steps_per_epoch
            log(f"epoch {epoch}: loss {loss.item():.3f}, test accuracy {accuracy(model, test_x, test_labels):.4f}")
            scheduler.step()
    return model, accuracy(model, test_x, test_labels)


def save_classifier(model, test_accuracy, path=WEIGHTS):
    save_checkpoint(path, {"model": "classifier", "state_dict": model.state_dict(),
                           "test_accuracy": float(test_accuracy)})


def load_classifier(path=WEIGHTS):
    """The trained classifier, in eval mode; a clear error if the weights are missing."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: classifier weights not found; train them with "
                              "`python -m gans.train_classifier` (a few minutes on the CPU)")
    state = load_checkpoint(path, keys=("model", "state_dict"))
    model = make_classifier()
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model
