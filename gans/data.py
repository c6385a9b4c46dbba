"""Fashion-MNIST: read the four IDX files, check them, and cut them into shuffled minibatches.

The files come from Debian's `dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist/)
or from any folder given with `--data DIR`, gzipped or not:

    train-images-idx3-ubyte  60000 images of 28x28 pixels, one byte each
    train-labels-idx1-ubyte  60000 labels 0..9
    t10k-images-idx3-ubyte   10000 test images
    t10k-labels-idx1-ubyte   10000 test labels

An IDX file is a 4-byte magic number (two zero bytes, a type code, 0x08 for unsigned bytes, and the
number of dimensions), then one big-endian uint32 per dimension, then the bytes themselves.

Minibatches are shuffled with a permutation drawn from `(seed, epoch)` alone, so where training
stands in the data is just two numbers (epoch, batch index) and a resumed run sees the very same
batches as an uninterrupted one.
"""
import gzip
import os
import zlib

import numpy as np

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
INSTALL_COMMAND = "sudo apt-get install dataset-fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DatasetError(RuntimeError):
    """The data is missing or damaged; the message says which file and what to do."""


# ----------------------------------------------------------------------------- reading IDX files

def find_file(root, name):
    """Path of `name` or `name.gz` in `root`; DatasetError with the install command if neither exists."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(root, candidate)
        if os.path.isfile(path):
            return path
    raise DatasetError(
        f"Fashion-MNIST not found: no {name} or {name}.gz in {root}\n"
        f"Install it with:\n    {INSTALL_COMMAND}\n"
        f"or pass --data DIR, a folder holding the four IDX files (gzipped or not):\n    "
        + ", ".join(n for pair in FILES.values() for n in pair))


def read_idx(path, ndim):
    """The unsigned-byte array stored in the IDX file at `path` (gzipped if it ends in .gz)."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:   # zlib: flipped bytes
        raise DatasetError(f"{path}: cannot be read ({err})") from err

    expected_magic = 0x0800 + ndim                       # 0x00000803 for images, 0x00000801 for labels
    if len(raw) < 4:
        raise DatasetError(f"{path}: truncated, only {len(raw)} bytes (an IDX header needs at least 4)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise DatasetError(f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
                           f"(an IDX file of unsigned bytes with {ndim} dimension{'s' if ndim > 1 else ''})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated header, {len(raw)} bytes but {header} needed")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = len(raw) - header
    size = int(np.prod(shape))
    if body != size:
        what = "truncated" if body < size else "too long"
        raise DatasetError(f"{path}: {what}, the header promises shape {shape} ({size} bytes) "
                           f"but {body} bytes follow it")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load(split="train", root=None, limit=None):
    """(images, labels) of one split: uint8 (N, 28, 28) and int64 (N,), the first `limit` only if given."""
    if split not in FILES:
        raise ValueError(f"load: split must be 'train' or 'test', got {split!r}")
    root = DEFAULT_ROOT if root is None else root
    image_name, label_name = FILES[split]
    image_path, label_path = find_file(root, image_name), find_file(root, label_name)
    images = read_idx(image_path, ndim=3)
    labels = read_idx(label_path, ndim=1)
    if len(images) != len(labels):
        raise DatasetError(f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{label_path}: label {labels.max()} found, Fashion-MNIST labels are 0..9")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"load: limit must be a positive number of images, got {limit}")
        images, labels = images[:limit], labels[:limit]
    return images, labels.astype(np.int64)


def scale(images, value_range=(-1.0, 1.0)):
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) with 0 -> value_range[0] and 255 -> value_range[1]."""
    low, high = value_range
    x = images.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)
    return x[:, None, :, :]


# ----------------------------------------------------------------------------- minibatches

class Batches:
    """Shuffled minibatches of one dataset; `batch(step)` is a pure function of (seed, step).

    Every epoch draws its own permutation from `np.random.default_rng((seed, epoch))` and the last,
    incomplete batch is dropped (like the lecture's `drop_remainder=True`). So step s is batch
    s % steps_per_epoch of epoch s // steps_per_epoch, and resuming needs no RNG state at all.
    """

    def __init__(self, images, labels, batch_size, seed=0, value_range=(-1.0, 1.0)):
        if batch_size < 1:
            raise ValueError(f"Batches: batch_size must be positive, got {batch_size}")
        if len(images) < batch_size:
            raise ValueError(f"Batches: {len(images)} images cannot fill one batch of {batch_size}; "
                             "lower --batch-size or raise --limit")
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.value_range = batch_size, seed, value_range
        self.steps_per_epoch = len(images) // batch_size
        self._epoch, self._order = None, None

    def order(self, epoch):
        """The permutation of the dataset used in `epoch`."""
        if epoch != self._epoch:
            self._order = np.random.default_rng((self.seed, epoch)).permutation(len(self.images))
            self._epoch = epoch
        return self._order

    def batch(self, step):
        """(images float32 (B, 1, 28, 28) scaled to value_range, labels int64 (B,)) for global step `step`."""
        epoch, index = divmod(step, self.steps_per_epoch)
        rows = self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        return scale(self.images[rows], self.value_range), self.labels[rows]
