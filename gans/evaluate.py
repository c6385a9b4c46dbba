"""python -m gans.evaluate: how close a generator's images are to real Fashion-MNIST, in one number.

    python -m gans.evaluate --checkpoint runs/dcgan/generator.ckpt     samples 10,000 images from G
    python -m gans.evaluate --checkpoint g.safetensors [--arch dcgan]  the same from a .safetensors generator
    python -m gans.evaluate --images samples.npy                       images from anywhere
    python -m gans.evaluate --reference train                          the floor: real train vs real test
    python -m gans.evaluate --untrained dcgan                           the ceiling: a freshly built G

The number is the Fréchet distance (the recipe of FID) between two Gaussians fitted to classifier
features (gans/classifier.py) of the generated images and of the 10,000 real test images:

    FD = |mu_g - mu_r|^2 + trace(S_g + S_r - 2 (S_g S_r)^(1/2))

Lower is better; it is 0 only when the means and covariances agree. It is NOT comparable to FID
numbers in papers (a different feature network). The class shares (which garments the classifier
sees in the samples) are a mode-collapse alarm: a healthy generator makes roughly 10% of each.

--images takes a .npy of shape (N, 28, 28) or (N, 1, 28, 28), N >= 2: uint8 in 0..255, or finite
floats in [-1, 1] (say --range 0,1 for floats in [0, 1]). Anything else (other integer types, floats
outside the range, NaN, an .npz) is refused rather than scored as something it is not.
"""
import argparse
import sys

import numpy as np

import minigrad

from . import classifier, data
from .checkpoint import CheckpointError, load_weights
from .validate import UserError, check_input_file, check_ranges

SLACK = 1e-3                # float images may overshoot --range by this much (rounding)

# ----------------------------------------------------------------------------- the metric


def gaussian(features):
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrt(S1 S2)), without scipy.

    S1 S2 is not symmetric, but it has the same eigenvalues as the symmetric PSD matrix
    A = S1^(1/2) S2 S1^(1/2); so tr sqrt(S1 S2) = sum of sqrt(eigenvalues of A).
    """
    w, v = np.linalg.eigh(sigma1)
    sqrt_s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                  # S1^(1/2)
    eig = np.linalg.eigvalsh(sqrt_s1 @ sigma2 @ sqrt_s1)
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def class_shares(logits):
    """Share (10,) of images the classifier assigns to each class."""
    return np.bincount(np.asarray(logits).argmax(1), minlength=10) / len(logits)


def score(model, fake_images, real_images):
    """(Fréchet distance, class shares of the fakes); images float (N, 1, 28, 28) in [-1, 1]."""
    fake_feats, fake_logits = classifier.features_and_logits(model, fake_images)
    real_feats, _ = classifier.features_and_logits(model, real_images)
    return frechet_distance(*gaussian(fake_feats), *gaussian(real_feats)), class_shares(fake_logits)


# ----------------------------------------------------------------------------- where images come from

def images_from_file(path, value_range=(-1.0, 1.0)):
    """A .npy of images as float32 (N, 1, 28, 28) in [-1, 1]."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        reason = "pickled Python objects" if "pickle" in str(err) else str(err)
        raise CheckpointError(f"{path}: cannot be read as a .npy array ({reason})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise CheckpointError(f"{path}: an .npz archive; give a .npy file of one image array (np.save)")
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[1:] != (1, 28, 28):
        raise CheckpointError(f"{path}: expected images of shape (N, 28, 28) or (N, 1, 28, 28), got {arr.shape}")
    if len(arr) < 2:
        raise CheckpointError(f"{path}: {len(arr)} image(s); the Fréchet distance needs at least 2 (a covariance)")
    if arr.dtype == np.uint8:
        return data.scale(arr[:, 0])
    if arr.dtype.kind != "f":
        raise CheckpointError(f"{path}: {arr.dtype} images; give uint8 in 0..255 or floats in --range "
                              f"{value_range[0]:g},{value_range[1]:g} (convert with .astype(np.uint8) if they are 0..255)")
    if not np.isfinite(arr).all():
        raise CheckpointError(f"{path}: {int((~np.isfinite(arr)).sum())} values are NaN or infinite")
    low, high = value_range
    if arr.min() < low - SLACK or arr.max() > high + SLACK:
        hint = "; images in 0..255 should be saved as uint8" if arr.max() > 2 else ""
        raise CheckpointError(f"{path}: values from {arr.min():.4g} to {arr.max():.4g} lie outside --range "
                              f"{low:g},{high:g}{hint}")
    return ((arr.astype(np.float32) - low) / (high - low) * 2 - 1).astype(np.float32)


def parse_range(text):
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--range {text!r}: expected two numbers such as -1,1") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise UserError(f"--range {text!r}: needs finite low < high")
    return low, high


def images_from_generator(name, settings, state_dict, n, seed=0, path="the checkpoint"):
    """n images from a generator (a trained one if state_dict is given, else freshly initialised)."""
    from .sample import make_generator
    generator = make_generator(name, settings)
    if state_dict is not None:
        load_weights(generator, state_dict, path, f"{name} generator")
    generator.eval()
    latent_dim = settings["latent_dim"]
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    low, high = (0.0, 1.0) if name == "gan" else (-1.0, 1.0)
    out = []
    with minigrad.no_grad():
        for start in range(0, n, 500):
            fake = generator(minigrad.tensor(noise[start:start + 500])).data
            out.append((fake - low) / (high - low) * 2 - 1)
    return np.concatenate(out).astype(np.float32)


# ----------------------------------------------------------------------------- command line

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a generator.ckpt or checkpoint.ckpt written by a trainer, "
                        "or a generator .safetensors")
    source.add_argument("--images", help="a .npy of images from any source")
    source.add_argument("--reference", choices=("train",), help="score real training images (the floor)")
    source.add_argument("--untrained", choices=("dcgan", "gan"), help="score an untrained generator (the ceiling)")
    p.add_argument("--arch", choices=("dcgan", "gan"), default=None,
                   help="the network in a .safetensors --checkpoint that does not say (one PyTorch wrote)")
    p.add_argument("--n", type=int, default=10000, help="images to generate or take")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--range", default="-1,1", help="value range of float images in --images")
    p.add_argument("--data", default=data.DEFAULT_ROOT, metavar="DIR")
    p.add_argument("--classifier", default=classifier.WEIGHTS)
    args = p.parse_args(argv)
    try:
        check_ranges(args, {"n": (2, None, True, True), "seed": (0, None, True, True)})
        value_range = parse_range(args.range)
        for flag in ("checkpoint", "images"):
            if getattr(args, flag):
                check_input_file(getattr(args, flag), f"--{flag}")
        model = classifier.load_classifier(args.classifier)
        real_images = data.scale(data.load("test", root=args.data)[0])
        if args.checkpoint:
            from .checkpoint import load_generator
            fake = images_from_generator(*load_generator(args.checkpoint, args.arch), args.n, args.seed,
                                         path=args.checkpoint)
        elif args.images:
            fake = images_from_file(args.images, value_range)[:args.n]
        elif args.reference:
            fake = data.scale(data.load("train", root=args.data, limit=args.n)[0])
        else:
            minigrad.manual_seed(args.seed)
            latent = 30 if args.untrained == "gan" else 100
            fake = images_from_generator(args.untrained, {"latent_dim": latent}, None, args.n, args.seed)
    except (CheckpointError, data.DatasetError, UserError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    fd, shares = score(model, fake, real_images)
    print(f"Fréchet distance (classifier features, {len(fake)} generated vs {len(real_images)} real test images): "
          f"{fd:.3f}")
    print("class shares of the generated images:")
    for name, share in zip(data.CLASSES, shares):
        print(f"  {name:<12} {share:6.1%}  {'#' * int(round(share * 50))}")
    if shares.max() > 0.3:
        print(f"warning: {shares.max():.0%} of the samples are one class ({data.CLASSES[shares.argmax()]}): "
              "possible mode collapse")
    return fd, shares


if __name__ == "__main__":
    main()
