"""Seconds per style-transfer step: minigrad on each kernel backend against PyTorch CPU, same network, same run.

    python -m gans.style_bench            # 256 and 400 px square images, 3 timed steps each (minutes)
    python -m gans.style_bench --quick    # 64 px, 1 timed step: a smoke test of the script

One step = one evaluation of the full loss (content + 5 Gram style terms + total variation) and
its gradient with respect to the image: a forward through the network to block5_conv2 and a
backward to the pixels (no weight gradients). L-BFGS spends 1-3 such evaluations per iteration,
Adam exactly one. Weights are random (timing does not depend on them); both frameworks get the
same arrays. "random" is the untrained fallback (128 filters at sizes 3..55, stride k // 4).
PyTorch runs with its default thread count (printed); minigrad's kernels use what they use.
"""
import argparse
import statistics
import time

import numpy as np

import kernels
import minigrad
from gans import style_transfer as st
from gans import vgg


def minigrad_step_fn(net, mode, size, rng):
    content, style = (vgg.preprocess(rng.integers(0, 256, (size, size, 3))) for _ in range(2))
    weights = st.LECTURE_WEIGHTS if mode == "vgg" else st.RANDOM_WEIGHTS
    loss_fn = st.StyleTransferLoss(net, content, style, weights, mode)
    x = minigrad.tensor(content.copy(), requires_grad=True)

    def step():
        x.grad = None
        total, _ = loss_fn(x)
        total.backward()
        return total.item()
    return step, loss_fn, content, style


def torch_step_fn(loss_fn, content, style):
    """The same loss in PyTorch (layers, norms, weights taken from loss_fn), with the same network weights."""
    import torch
    import torch.nn.functional as TF
    net, mode = loss_fn.features, loss_fn.mode
    convs = [(name, torch.from_numpy(getattr(net, name).weight.data if mode == "vgg" else getattr(net, name).data),
              torch.from_numpy(getattr(net, name).bias.data) if mode == "vgg" else None)
             for name in net.layer_names if not name.endswith("pool")]

    def features(x):
        out = {}
        if mode == "random":
            for (name, w, _), k in zip(convs, net.sizes):
                out[name] = TF.relu(TF.conv2d(x, w, stride=max(1, k // 4)))
            return out
        params = dict((n, (w, b)) for n, w, b in convs)
        for name in net.layer_names:
            if name.endswith("pool"):
                x = TF.max_pool2d(x, 2)
            else:
                x = TF.relu(TF.conv2d(x, *params[name], padding=1))
                out[name] = x
            if name == st.CONTENT_LAYER:
                break
        return out

    def gram(f):
        f = f.reshape(f.shape[1], -1)
        g = f @ f.T
        return g if mode == "vgg" else g / f.shape[1]

    c_layers, s_layers, w = loss_fn.content_layers, loss_fn.style_layers, loss_fn.weights
    with torch.no_grad():
        fc, fs = features(torch.from_numpy(content)), features(torch.from_numpy(style))
        targets = {n: fc[n] for n in c_layers}
        grams = {n: gram(fs[n]) for n in s_layers}
    x = torch.from_numpy(content.copy()).requires_grad_(True)

    def step():
        x.grad = None
        f = features(x)
        loss = sum(((f[n] - targets[n]) ** 2).sum() / loss_fn.content_norms[n] for n in c_layers) * w["content"]
        loss = loss + sum(((gram(f[n]) - grams[n]) ** 2).sum() / loss_fn.style_norms[n]
                          for n in s_layers) * (w["style"] / len(s_layers))
        a = (x[:, :, :-1, :-1] - x[:, :, 1:, :-1]) ** 2
        b = (x[:, :, :-1, :-1] - x[:, :, :-1, 1:]) ** 2
        loss = loss + ((a + b) ** 1.25).sum() * (w["tv"] / loss_fn.tv_norm)
        loss.backward()
        return loss.item()
    return step


def seconds_per_step(step, repeats):
    """The median of `repeats` timed steps, after one warm-up step (allocations, caches)."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="64 px, 1 timed step")
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--features", default="both", choices=("vgg", "random", "both"))
    args = p.parse_args(argv)
    sizes = args.sizes or ([64] if args.quick else [256, 400])
    repeats = args.repeats or (1 if args.quick else 3)
    modes = ("vgg", "random") if args.features == "both" else (args.features,)

    backends = []
    for name in kernels.BACKENDS:
        try:
            kernels.set_backend(name)
            backends.append(name)
        except ImportError as err:
            print(f"(kernel backend {name} unavailable: {err})")
    try:
        import torch
        torch_label = f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads"
    except ImportError:
        torch, torch_label = None, None

    # All minigrad timings first, PyTorch's last: once PyTorch has run, its idle OpenMP threads
    # spin and slow our C++ kernels down in the same process.
    timings, torch_jobs = {}, []
    for mode in modes:
        for size in sizes:
            minigrad.manual_seed(0)
            net = vgg.VGG19Features("max") if mode == "vgg" else vgg.RandomFeatures(128, image_size=size)
            for name in backends:
                kernels.set_backend(name)
                step, loss_fn, content, style = minigrad_step_fn(net, mode, size, np.random.default_rng(0))
                timings[mode, size, f"minigrad {name}"] = seconds_per_step(step, repeats)
                print(f"{mode} {size}px minigrad {name}: {timings[mode, size, f'minigrad {name}']:.3f} s/step",
                      flush=True)
            torch_jobs.append((mode, size, step, loss_fn, content, style))
    if torch is not None:
        for mode, size, step, loss_fn, content, style in torch_jobs:
            torch_step = torch_step_fn(loss_fn, content, style)
            if not np.isclose(torch_step(), step(), rtol=1e-3):
                print("warning: PyTorch and minigrad losses differ: not the same computation")
            timings[mode, size, "torch"] = seconds_per_step(torch_step, repeats)
            print(f"{mode} {size}px {torch_label}: {timings[mode, size, 'torch']:.3f} s/step", flush=True)
    rows = [(mode, size, impl, t, t / timings[mode, size, "torch"] if (mode, size, "torch") in timings
             else float("nan")) for (mode, size, impl), t in timings.items()]
    rows.sort(key=lambda r: (modes.index(r[0]), r[1]))

    print("\n| features | size | implementation | s/step | x PyTorch |\n|---|---|---|---|---|")
    for mode, size, impl, seconds, ratio in rows:
        label = torch_label if impl == "torch" else impl
        print(f"| {mode} | {size}x{size} | {label} | {seconds:.3f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
