"""Two unpaired image domains for CycleGAN: any two folders of pictures, or two Fashion-MNIST classes.

    folders       --domain-a DIR --domain-b DIR   every .png/.jpg/... in each folder (Pillow)
                  --dataroot DIR                  the usual CycleGAN layout: DIR/trainA, DIR/trainB
                                                  (and DIR/testA, DIR/testB for the sample grids)
    Fashion-MNIST two classes of gans/data.py (sneakers 7 and ankle boots 9 for the demo), each
                  28x28 garment padded with background to 32x32 (the generator wants multiples of 4)

Pictures are resized so the shorter side is `image_size`, then centre-cropped to a square, and kept
in memory as uint8 (N, C, H, W); a batch is scaled to [-1, 1] (the generator's tanh range).

An epoch is one pass over the larger domain; the smaller one is cycled through reshuffled passes.
The order of each domain in epoch e is drawn from (seed, e, domain) alone (see data.Batches), so
a resumed run sees exactly the batches an uninterrupted one would.
"""
import os
import sys

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import data

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# ----------------------------------------------------------------------------- folders of pictures

def image_paths(folder):
    """The picture files in `folder`, sorted by name; DatasetError if there are none."""
    if not os.path.isdir(folder):
        raise data.DatasetError(f"{folder}: no such folder")
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder)
                   if name.lower().endswith(EXTENSIONS))
    if not paths:
        raise data.DatasetError(f"{folder}: no pictures found (looked for {', '.join(EXTENSIONS)})")
    return paths


def load_picture(path, image_size, channels=3):
    """One picture as uint8 (channels, image_size, image_size): shorter side resized, centre cropped."""
    try:
        with Image.open(path) as picture:
            picture = picture.convert("RGB" if channels == 3 else "L")
    except (OSError, UnidentifiedImageError) as err:
        raise data.DatasetError(f"{path}: cannot be read as a picture ({err})") from err
    w, h = picture.size
    scale = image_size / min(w, h)
    picture = picture.resize((max(image_size, round(w * scale)), max(image_size, round(h * scale))), Image.BICUBIC)
    w, h = picture.size
    left, top = (w - image_size) // 2, (h - image_size) // 2
    array = np.asarray(picture.crop((left, top, left + image_size, top + image_size)), dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)          # (C, H, W)


def read_pictures(paths, where, image_size, channels=3, limit=None):
    """uint8 (N, channels, image_size, image_size) of the readable files among `paths` (at most `limit`);
    unreadable ones are skipped with one warning that counts them; none readable is a DatasetError."""
    pictures, skipped = [], []
    for path in paths:
        if limit is not None and len(pictures) >= limit:
            break
        try:
            pictures.append(load_picture(path, image_size, channels))
        except data.DatasetError as err:
            skipped.append(str(err))
    if skipped:
        print(f"warning: skipped {len(skipped)} of {len(pictures) + len(skipped)} files in {where} that could "
              f"not be read (first: {skipped[0]})", file=sys.stderr)
    if not pictures:
        raise data.DatasetError(f"{where}: none of the {len(paths)} picture files could be read")
    return np.stack(pictures)


def load_folder(folder, image_size, channels=3, limit=None):
    """Every readable picture in `folder` as uint8 (N, channels, image_size, image_size)."""
    return read_pictures(image_paths(folder), folder, image_size, channels, limit)


def dataroot_folders(root):
    """(trainA, trainB, testA or None, testB or None) of a CycleGAN dataset folder."""
    train = [os.path.join(root, name) for name in ("trainA", "trainB")]
    missing = [p for p in train if not os.path.isdir(p)]
    if missing:
        raise data.DatasetError(f"{root}: expected the folders trainA and trainB (and optionally testA, "
                                f"testB), missing {', '.join(os.path.basename(p) for p in missing)}")
    test = [os.path.join(root, name) for name in ("testA", "testB")]
    return (*train, *[p if os.path.isdir(p) else None for p in test])


# ----------------------------------------------------------------------------- two Fashion-MNIST classes

def fashion_class(label, split="train", image_size=32, root=None, limit=None):
    """The Fashion-MNIST images of one class as uint8 (N, 1, image_size, image_size)."""
    images, labels = data.load(split, root=root)
    images = images[labels == label][:limit]
    if image_size >= 28:                                  # pad with background (black), garment centred
        before = (image_size - 28) // 2
        after = image_size - 28 - before
        return np.pad(images, ((0, 0), (before, after), (before, after)))[:, None]
    resized = [np.asarray(Image.fromarray(x).resize((image_size, image_size), Image.BILINEAR)) for x in images]
    return np.stack(resized)[:, None]


def to_28x28(images):
    """Undo fashion_class's padding (or resize) so the project's classifier can read the images."""
    size = images.shape[-1]
    if size >= 28:
        start = (size - 28) // 2
        return images[:, :, start:start + 28, start:start + 28]
    resized = [np.asarray(Image.fromarray(x[0].astype(np.float32)).resize((28, 28), Image.BILINEAR))
               for x in images]                           # float images ("F" mode) resize as they are
    return np.stack(resized)[:, None]


# ----------------------------------------------------------------------------- unpaired minibatches

def scale(images_u8):
    """uint8 (N, C, H, W) -> float32 in [-1, 1]."""
    return images_u8.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


class UnpairedBatches:
    """Minibatches (a, b) of two domains; `batch(step)` is a pure function of (seed, step)."""

    def __init__(self, images_a, images_b, batch_size, seed=0):
        for name, images in (("A", images_a), ("B", images_b)):
            if len(images) < batch_size:
                raise ValueError(f"UnpairedBatches: domain {name} has {len(images)} images, fewer than one "
                                 f"batch of {batch_size}; lower --batch-size")
        self.images_a, self.images_b = images_a, images_b
        self.batch_size, self.seed = batch_size, seed
        self.steps_per_epoch = max(len(images_a), len(images_b)) // batch_size
        self._epoch, self._orders = None, None

    def order(self, epoch, domain):
        """The indices of domain 0 (A) or 1 (B) used in `epoch`, one per image slot of the epoch."""
        n = len(self.images_a if domain == 0 else self.images_b)
        needed = self.steps_per_epoch * self.batch_size
        rng = np.random.default_rng((self.seed, epoch, domain))
        passes = [rng.permutation(n) for _ in range(-(-needed // n))]      # enough shuffled passes
        return np.concatenate(passes)[:needed]

    def batch(self, step):
        """(a float32 (B, C, H, W), b float32 (B, C, H, W)) in [-1, 1] for global step `step`."""
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._orders, self._epoch = (self.order(epoch, 0), self.order(epoch, 1)), epoch
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return scale(self.images_a[self._orders[0][rows]]), scale(self.images_b[self._orders[1][rows]])
