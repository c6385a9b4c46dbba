"""Any folder of pictures as training data for the 64x64 DCGAN (`--arch dcgan64 --data DIR`).

Every .jpg/.png (and the other formats of image_folders.EXTENSIONS) anywhere under DIR, in nested
folders too, is read with Pillow, its shorter side resized to 64 and the centre cropped to 64x64
(image_folders.load_picture). Files that cannot be read are skipped, with one warning that counts
them; a folder with no readable picture is an error. The pictures stay in memory as uint8
(N, 3, 64, 64) and are shuffled into batches like Fashion-MNIST (data.Batches: the order of epoch e
comes from (seed, e) alone, so resuming is exact).
"""
import os
import sys

import numpy as np

from . import data
from .image_folders import EXTENSIONS, read_pictures

IMAGE_SIZE = 64


def find_pictures(root):
    """Paths of the picture files under `root`, nested folders included, in a fixed (sorted) order."""
    if not os.path.isdir(root):
        raise data.DatasetError(f"{root}: no such folder (--data wants a folder of .jpg/.png pictures)")
    paths = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        paths += [os.path.join(folder, n) for n in sorted(names) if n.lower().endswith(EXTENSIONS)]
    return paths


def load_pictures(root, image_size=64, limit=None):
    """uint8 (N, 3, image_size, image_size) of the readable pictures under root; unreadable ones skipped."""
    paths = find_pictures(root)
    if not paths:
        raise data.DatasetError(f"{root}: no pictures found in it or its subfolders "
                                f"(looked for {', '.join(EXTENSIONS)})")
    return read_pictures(paths, root, image_size, channels=3, limit=limit)


class FolderBatches(data.Batches):
    """data.Batches over RGB pictures: batch(step) -> (float32 (B, 3, H, W) in value_range, zeros (B,))."""

    def __init__(self, pictures, batch_size, seed=0, value_range=(-1.0, 1.0)):
        super().__init__(pictures, np.zeros(len(pictures), np.int64), batch_size, seed, value_range)

    def batch(self, step):
        epoch, index = divmod(step, self.steps_per_epoch)
        rows = self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        low, high = self.value_range
        x = self.images[rows].astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)
        return x, self.labels[rows]


def batches(args, value_range=(-1.0, 1.0)):
    """The loop's data for `--data DIR` (train.run's load_batches): FolderBatches of 64x64 pictures."""
    pictures = load_pictures(args.data, IMAGE_SIZE, limit=args.limit)
    if len(pictures) < args.batch_size:
        raise data.DatasetError(f"{args.data}: {len(pictures)} readable pictures cannot fill one batch of "
                                f"{args.batch_size}; lower --batch-size or add pictures")
    print(f"{len(pictures)} pictures from {args.data}, resized and centre-cropped to {IMAGE_SIZE}x{IMAGE_SIZE}")
    return FolderBatches(pictures, args.batch_size, seed=args.seed, value_range=value_range)
