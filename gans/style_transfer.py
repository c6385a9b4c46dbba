"""Neural style transfer (Gatys, Ecker and Bethge 2015): repaint a photo in a painting's style.

    python -m gans.style_transfer --content photo.jpg --style painting.jpg --out result.png
    python -m gans.style_transfer --demo --size 128 --steps 50      # bundled scikit-image pictures

Nothing is trained here: the network's weights stay fixed and the *pixels* of one image x are
optimised. The loss (the lecture's Keras code, term for term) is

    L(x) = w_c * content(x) + sum over 5 style layers l of (w_s / 5) * style_l(x) + w_tv * tv(x)

    content(x) = sum (F(x) - F(c))^2                F = VGG19 block5_conv2 activations, c the photo
    style_l(x) = sum (G_l(x) - G_l(s))^2 / (4 * 3^2 * (H*W)^2)
                 G_l = F_l F_l^T, F_l the (channels, positions) activations of block{1..5}_conv1,
                 s the painting; "3" and H*W (the *image's* size, for every layer) are the lecture's
                 constants, which its default weights w_c = 2.5e-8, w_s = 1e-6, w_tv = 1e-6 assume
    tv(x)      = sum ((x[i,j] - x[i+1,j])^2 + (x[i,j] - x[i,j+1])^2) ^ 1.25

The gram matrix forgets *where* features occur and keeps which occur *together*: texture and
colour, not layout; the content term keeps the layout. L.backward() sends the gradient through the
frozen network down to x, and L-BFGS or Adam moves x.

Features (gans/vgg.py): the pretrained VGG19 from Keras' ImageNet weights file when it is found;
otherwise (or with --features random) one layer of untrained random filters at several sizes
(Ustyuzhaninov et al. 2017). In that fallback every term is normalised (so the weights are
relative): style_k = |G_k(x) - G_k(s)|^2 / |G_k(s)|^2 with G_k = F_k F_k^T / positions, content =
mean_k |F_k(x) - F_k(c)|^2 / |F_k(c)|^2 (the content term is OUR extension: the paper synthesises
textures without one), tv / (H*W). It is a texture transfer, weaker than the real thing; the
output file name says "_random-features" and the log recommends the pretrained weights.

Outputs, next to --out: steps/step_0010.png every --save-every steps, losses.png (each term per
step), losses.csv, and the result.
"""
import argparse
import csv
import os
import sys
import time

import numpy as np
from PIL import Image

import minigrad
from gans import extras, train, vgg

CONTENT_LAYER = "block5_conv2"
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
LECTURE_WEIGHTS = dict(content=2.5e-8, style=1e-6, tv=1e-6)
RANDOM_WEIGHTS = dict(content=0.1, style=1.0, tv=1e-6)       # for the normalised terms of the fallback
DEMO_STYLES = ("immunohistochemistry", "coffee", "hubble_deep_field", "chelsea", "rocket")


# ----------------------------------------------------------------------------- the three losses

def gram_matrix(features):
    """(1, C, H, W) -> (C, C): G[i, j] = sum over positions of feature map i times feature map j."""
    _, C, H, W = features.shape
    f = features.reshape(C, H * W)                         # (C, positions)
    return f @ f.transpose(0, 1)                           # (C, C)


def content_loss(base, combination):
    """sum (combination - base)^2 over every element."""
    return ((combination - base) ** 2).sum()


def style_loss(style_gram, combination_gram, norm):
    """sum (G(combination) - G(style))^2 / norm."""
    return ((combination_gram - style_gram) ** 2).sum() / norm


def total_variation_loss(x):
    """sum over pixels of (dy^2 + dx^2)^1.25, x (N, C, H, W): neighbours alike -> small; penalises noise."""
    H, W = x.shape[2], x.shape[3]
    a = (x[:, :, :H - 1, :W - 1] - x[:, :, 1:, :W - 1]) ** 2     # (N, C, H-1, W-1) vertical differences
    b = (x[:, :, :H - 1, :W - 1] - x[:, :, :H - 1, 1:]) ** 2     # horizontal differences
    return ((a + b) ** 1.25).sum()


class StyleTransferLoss:
    """L(x) for one content and one style image (preprocessed (1, 3, H, W) arrays of the same size).

    mode "vgg": the lecture's losses on `features` = VGG19Features; mode "random": the normalised
    losses on `features` = RandomFeatures (see the module docstring). The targets F(c) and G(s) are
    computed once, without a graph. Calling it returns (total, {"content", "style", "tv"} floats,
    each already multiplied by its weight). The layers default to the lecture's (vgg) or to every
    random-filter size (random); tests pass a tiny network's.
    """

    def __init__(self, features, content, style, weights, mode="vgg", content_layers=None, style_layers=None):
        self.features, self.weights, self.mode = features, dict(weights), mode
        H, W = content.shape[2:]
        everything = [n for n in features.layer_names if not n.endswith("pool")]
        self.content_layers = list(content_layers or ([CONTENT_LAYER] if mode == "vgg" else everything))
        self.style_layers = list(style_layers or (STYLE_LAYERS if mode == "vgg" else everything))
        self.names = sorted(set(self.content_layers) | set(self.style_layers))
        with minigrad.no_grad():
            c = features(minigrad.tensor(content), self.names)
            s = features(minigrad.tensor(style), self.names)
            self.content_targets = {n: c[n].detach() for n in self.content_layers}
            self.style_grams = {n: self._gram(s[n]).detach() for n in self.style_layers}
        if mode == "vgg":
            self.content_norms = {n: 1.0 for n in self.content_layers}
            self.style_norms = {n: 4.0 * 3 ** 2 * (H * W) ** 2 for n in self.style_layers}
            self.tv_norm = 1.0
        else:
            self.content_norms = {n: float((t.data.astype(np.float64) ** 2).sum()) * len(self.content_layers)
                                  for n, t in self.content_targets.items()}
            self.style_norms = {n: float((g.data.astype(np.float64) ** 2).sum()) for n, g in self.style_grams.items()}
            self.tv_norm = float(H * W)

    def _gram(self, f):
        return gram_matrix(f) if self.mode == "vgg" else gram_matrix(f) / (f.shape[2] * f.shape[3])

    def __call__(self, x):
        w = self.weights
        feats = self.features(x, self.names)
        content = sum(content_loss(self.content_targets[n], feats[n]) / self.content_norms[n]
                      for n in self.content_layers) * w["content"]
        style = sum(style_loss(self.style_grams[n], self._gram(feats[n]), self.style_norms[n])
                    for n in self.style_layers) * (w["style"] / len(self.style_layers))
        tv = total_variation_loss(x) * (w["tv"] / self.tv_norm)
        total = content + style + tv
        return total, {"content": content.item(), "style": style.item(), "tv": tv.item()}


# ----------------------------------------------------------------------------- optimising the pixels

def make_optimizer(name, x, lr):
    """L-BFGS (one iteration with a strong-Wolfe line search per step()) or Adam, over [x].

    L-BFGS's early stops are switched off (tolerances 0): we run a fixed number of steps, and its
    absolute thresholds (max |g| <= 1e-7, g.d > -1e-9) assume gradients far larger than a loss that
    is tiny per pixel has.
    """
    if name == "lbfgs":
        return minigrad.optim.LBFGS([x], lr=lr, max_iter=1, max_eval=20, history_size=10,
                                    tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
    if name == "adam":
        return minigrad.optim.Adam([x], lr=lr)
    raise ValueError(f"--optimizer must be 'lbfgs' or 'adam', got {name!r}")


def optimise(loss_fn, x, optimizer, steps, callback=None, progress=True, first_step=4.0):
    """Run `steps` optimizer steps on the image x (a leaf Tensor); returns one dict of losses per step.

    The closure remembers its last evaluation and answers a repeat at the same x from memory: after
    each step it is called once more to log the loss at the new x, and the next step() (which starts
    by evaluating x) gets that evaluation for free. So the log costs one evaluation in all.

    L-BFGS's first step (PyTorch's rule) is t * g with t = lr * min(1, 1/|g|_1): one unit of change
    spread over all pixels, below float32's resolution of pixel values near 100, so the line search
    sees only rounding noise. For that first step lr is set so the largest pixel moves `first_step`
    units; from the second step on, L-BFGS scales its steps by the curvature it measured (lr back).
    """
    from tqdm import tqdm
    history, last = [], {}

    def closure():
        if "x" in last and np.array_equal(last["x"], x.data):
            x.grad = minigrad.tensor(last["grad"])
            return minigrad.tensor(last["loss"])
        optimizer.zero_grad()
        total, parts = loss_fn(x)
        total.backward()
        last.update(parts, loss=total.item(), x=x.data.copy(), grad=x.grad.data.copy())
        return total

    lbfgs = isinstance(optimizer, minigrad.optim.LBFGS)
    lr = optimizer.param_groups[0]["lr"]
    if lbfgs:
        with minigrad.enable_grad():
            closure()
        g = np.abs(last["grad"].astype(np.float64))
        optimizer.param_groups[0]["lr"] = first_step / max(min(1.0, 1.0 / g.sum()) * g.max(), 1e-30)
    bar = tqdm(range(1, steps + 1), desc="style transfer", disable=not progress, file=sys.stdout)
    for step in bar:
        optimizer.step(closure)
        optimizer.param_groups[0]["lr"] = lr
        with minigrad.enable_grad():
            closure()                              # the losses at the new x
        history.append({k: last[k] for k in ("loss", "content", "style", "tv")} | {"step": step})
        if not np.isfinite(last["loss"]):
            raise FloatingPointError(f"style transfer: the loss is {last['loss']} at step {step} "
                                     f"(terms {history[-1]}); lower --lr or the loss weights")
        bar.set_postfix(loss=f"{last['loss']:.4g}")
        if callback:
            callback(step, x)
    return history


# ----------------------------------------------------------------------------- images, files and the CLI

def load_image(path_or_array, height, width=None):
    """An RGB uint8 (height, width, 3) array from a file or an array; width keeps the aspect ratio if None."""
    picture = Image.fromarray(path_or_array) if isinstance(path_or_array, np.ndarray) else Image.open(path_or_array)
    picture = picture.convert("RGB")
    if width is None:
        width = max(1, round(picture.width * height / picture.height))
    return np.asarray(picture.resize((width, height), Image.LANCZOS))


def demo_images(style_name="immunohistochemistry"):
    """(content, style) RGB arrays bundled with scikit-image: the astronaut, and a textured picture."""
    skimage_data = extras.require("skimage.data", "style", "--demo (its pictures come with scikit-image)")
    if style_name not in DEMO_STYLES:
        raise ValueError(f"--demo-style must be one of {', '.join(DEMO_STYLES)}, got {style_name!r}")
    return skimage_data.astronaut(), getattr(skimage_data, style_name)()


def save_rgb(rgb, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def plot_history(history, path, title):
    """losses.png: the total and each weighted term per step, log scale."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key in ("loss", "content", "style", "tv"):
        ax.plot(steps, [max(h[key], 1e-30) for h in history], label=key, linewidth=2 if key == "loss" else 1)
    ax.set(xlabel="step", ylabel="weighted loss", yscale="log", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def build_features(args, size):
    """(features module, mode "vgg"|"random", preprocessing convention, a one-line description)."""
    path = None if args.features == "random" else vgg.find_weights(args.weights)
    if path is not None:
        model, convention = vgg.pretrained_vgg19(path, args.pool)
        return model, "vgg", convention, f"pretrained VGG19 from {path} ({args.pool} pooling)"
    if args.features == "vgg":
        raise SystemExit(vgg.missing_weights_message())
    if args.features == "auto":
        print(vgg.missing_weights_message() + "\nFalling back to untrained random features.\n")
    n = args.random_filters or (128 if size >= 256 else 64)
    model = vgg.RandomFeatures(n, image_size=size, seed=args.seed)
    return model, "random", "caffe", (
        f"UNTRAINED RANDOM FEATURES: {n} random filters at each of the sizes {model.sizes} px "
        "(Ustyuzhaninov et al. 2017; + a content term, our extension). This is texture transfer, "
        "not the pretrained VGG19: for real style transfer get the weights (see above)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=f"Weights: --weights PATH, or {vgg.WEIGHTS_FILE} in one of "
                                       f"{', '.join(vgg.DEFAULT_DIRS)}. URL: {vgg.WEIGHTS_URLS[0]}")
    p.add_argument("--content", help="the photo (any format Pillow reads)")
    p.add_argument("--style", help="the painting")
    p.add_argument("--demo", action="store_true", help="use scikit-image's bundled astronaut and --demo-style")
    p.add_argument("--demo-style", default="immunohistochemistry", choices=DEMO_STYLES)
    p.add_argument("--out", default="runs/style/result.png", help="the result; steps/ and losses.png go next to it")
    p.add_argument("--size", type=int, default=400, help="height in pixels (the width keeps the photo's aspect)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--save-every", type=int, default=10, help="write an intermediate image every N steps")
    p.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    p.add_argument("--lr", type=float, default=None, help="default 1 for L-BFGS, 5 (pixel levels) for Adam")
    p.add_argument("--init", default="content", choices=("content", "noise"))
    p.add_argument("--features", default="auto", choices=("auto", "vgg", "random"),
                   help="auto: the pretrained VGG19 when its weights are found, else random features")
    p.add_argument("--weights", default=None, help=f"path to {vgg.WEIGHTS_FILE}, or torchvision's VGG19 as a "
                   ".safetensors (or .npz) with its names features.0.weight, ... (gans/vgg.py says how to convert it)")
    p.add_argument("--pool", default="max", choices=("max", "avg"))
    p.add_argument("--random-filters", type=int, default=None, help="filters per size (default 128; 64 below 256 px)")
    p.add_argument("--content-weight", type=float, default=None, help="default 2.5e-8 (VGG), 0.1 (random)")
    p.add_argument("--style-weight", type=float, default=None, help="default 1e-6 (VGG), 1 (random)")
    p.add_argument("--tv-weight", type=float, default=None, help="default 1e-6 (VGG and random)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    train.add_backend_flag(p)
    args = p.parse_args(argv)
    if not args.demo and not (args.content and args.style):
        p.error("give --content and --style, or --demo")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        train.select_backend(args.backend)
        return _run(args)
    except (train.UserError, extras.MissingExtra) as err:
        raise SystemExit(f"error: {err}")


def _run(args):
    content_src, style_src = demo_images(args.demo_style) if args.demo else (args.content, args.style)
    content_rgb = load_image(content_src, args.size)
    H, W = content_rgb.shape[:2]
    style_rgb = load_image(style_src, H, W)

    try:
        features, mode, convention, description = build_features(args, min(H, W))
    except (ValueError, KeyError, ImportError, minigrad.serialization.CheckpointError) as err:
        raise SystemExit(f"error: --weights {args.weights}: {err}")          # a wrong or damaged weights file
    defaults = LECTURE_WEIGHTS if mode == "vgg" else RANDOM_WEIGHTS
    weights = dict(content=args.content_weight, style=args.style_weight, tv=args.tv_weight)
    weights = {k: defaults[k] if v is None else v for k, v in weights.items()}
    print(f"features: {description}\nimage {H}x{W}, {args.steps} {args.optimizer} steps, weights {weights}, "
          f"init {args.init}")

    loss_fn = StyleTransferLoss(features, vgg.preprocess(content_rgb, convention),
                                vgg.preprocess(style_rgb, convention), weights, mode)
    rng = np.random.default_rng(args.seed)
    start_rgb = content_rgb if args.init == "content" else rng.integers(0, 256, content_rgb.shape).astype(np.uint8)
    x = minigrad.tensor(vgg.preprocess(start_rgb, convention), requires_grad=True)
    pixel = 1.0 if convention == "caffe" else 1 / (255 * 0.226)          # one 0..255 level in x's units
    lr = args.lr if args.lr is not None else (1.0 if args.optimizer == "lbfgs" else 5.0 * pixel)
    optimizer = make_optimizer(args.optimizer, x, lr)
    first_step = 4.0 * pixel

    root, ext = os.path.splitext(args.out)
    out = f"{root}_random-features{ext or '.png'}" if mode == "random" else args.out
    folder = os.path.dirname(os.path.abspath(out))

    def every_n(step, x):
        if step % args.save_every == 0 or step == args.steps:
            save_rgb(vgg.deprocess(x.data, convention), os.path.join(folder, "steps", f"step_{step:04d}.png"))

    start = time.perf_counter()
    history = optimise(loss_fn, x, optimizer, args.steps, every_n, not args.no_progress, first_step)
    seconds = time.perf_counter() - start
    save_rgb(vgg.deprocess(x.data, convention), out)
    with open(os.path.join(folder, "losses.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "loss", "content", "style", "tv"])
        writer.writeheader()
        writer.writerows(history)
    plot_history(history, os.path.join(folder, "losses.png"), f"style transfer ({mode} features)")
    print(f"loss {history[0]['loss']:.4g} -> {history[-1]['loss']:.4g} in {args.steps} steps "
          f"({seconds / args.steps:.2f} s/step); result {out}, steps and losses.png in {folder}/")
    if mode == "random":
        print("note: made with UNTRAINED random features; the pretrained VGG19 weights give real style transfer.")
    return out


if __name__ == "__main__":
    main()
