"""python -m gans.compare: every loss and stabiliser of the gallery on Fashion-MNIST, same budget, one table.

    python -m gans.compare                                   all rows: 300 steps of 64 images each
    python -m gans.compare --steps 1000 --only wgan-gp,hinge,spectral-norm
    python -m gans.compare --steps 5 --limit 640 --eval-n 500   a quick check that every row runs

Each row trains the TensorFlow tutorial's DCGAN networks (dcgan.py) with the gallery's step
(adversarial.py) from the same seed, for the same number of D steps on the same batches, changing
one thing: the loss, or one stabiliser on top of the non-saturating loss. Then it samples --eval-n
images and scores them with gans/evaluate.py:

    FD        the Fréchet distance to the real test images in the classifier's feature space (lower is better)
    spread    max - min of the ten class shares the classifier sees (0 = every garment equally often;
              a collapsed generator makes one class: spread near 100%)
    classes   how many classes get at least 2% of the samples

It prints a markdown table (and writes it to OUT/results.md) for the README. Each run keeps its own
outputs in OUT/<row>/ (samples, losses.png, checkpoints). CPU time: about 0.5 s per step on 2 idle
cores with the C++ kernels, so the full table at the default budget takes a few hours; the rows
with a gradient penalty (wgan-gp, rsgan-gp, rasgan-gp) cost about twice as much per step (the
penalty's double backward).
"""
import argparse
import os
import sys
import time

import numpy as np

import minigrad

from . import adversarial, classifier, data, dcgan, evaluate, train

# (row name, the flags that make it) -- every row but the first changes one thing
ROWS = [
    ("non-saturating", []),
    ("minimax", ["--loss", "minimax"]),
    ("lsgan", ["--loss", "lsgan"]),
    ("hinge", ["--loss", "hinge"]),
    ("wgan-gp", ["--loss", "wgan-gp", "--n-critic", "5", "--beta1", "0.0", "--beta2", "0.9"]),
    ("rsgan", ["--loss", "rsgan"]),
    ("rasgan", ["--loss", "rasgan"]),
    ("ralsgan", ["--loss", "ralsgan"]),
    ("rahinge", ["--loss", "rahinge"]),
    ("rsgan-gp", ["--loss", "rsgan-gp"]),
    ("rasgan-gp", ["--loss", "rasgan-gp"]),
    ("real-label 0.9", ["--real-label", "0.9"]),
    ("noisy labels", ["--noisy-labels"]),
    ("flip labels 5%", ["--flip-labels", "0.05"]),
    ("instance noise 0.1", ["--instance-noise", "0.1"]),
    ("replay 512", ["--replay", "512"]),
    ("minibatch disc 8", ["--minibatch-disc", "8"]),
    ("minibatch std", ["--minibatch-std"]),
    ("spectral norm", ["--spectral-norm"]),
    ("TTUR 4e-4 / 1e-4", ["--lr-d", "4e-4", "--lr-g", "1e-4"]),
    ("EMA 0.999", ["--ema", "0.999"]),
    ("pixel norm", ["--pixel-norm"]),
    ("equalized lr", ["--equalized-lr"]),
]


def row_args(flags, base):
    """The trainer's flags for one row: the shared budget (base) plus the row's own."""
    parser = adversarial.add_flags(train.make_parser("compare", lr=2e-4, beta1=0.5, sample_every=0))
    return parser.parse_args(base + flags)


def build(args):
    """The DCGAN's networks, always trained by the gallery's step (so the rows differ in one thing only)."""
    return adversarial.build_gan("dcgan", lambda: dcgan.make_generator_model(args.latent_dim),
                                 dcgan.make_discriminator_model, args)


def generated_images(args, n, seed=0):
    """n images from the run's generator.ckpt (the EMA weights when --ema), in [-1, 1]."""
    state = minigrad.load(os.path.join(args.out, "generator.ckpt"))
    generator = adversarial.prepare_generator(dcgan.make_generator_model(args.latent_dim), args)
    generator.load_state_dict(state["generator"])
    generator.eval()
    noise = np.random.default_rng(seed).standard_normal((n, args.latent_dim)).astype(np.float32)
    with minigrad.no_grad():
        return np.concatenate([generator(minigrad.tensor(noise[i:i + 500])).data for i in range(0, n, 500)])


def markdown(results, budget):
    lines = [f"Fashion-MNIST, {budget}; FD and class shares of the generated images by gans/evaluate.py.", "",
             "| run | flags | FD | spread | classes | s/step |", "|---|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['name']} | `{' '.join(r['flags']) or '(defaults)'}` | {r['fd']:.1f} | "
                     f"{r['spread']:.0%} | {r['classes']} | {r['seconds_per_step']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="D steps per run (the shared budget)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--eval-n", type=int, default=2000, help="generated images scored per run")
    p.add_argument("--only", default=None, help="comma-separated row names (default: all): " +
                   ", ".join(name for name, _ in ROWS).replace("%", "%%"))      # argparse formats help with %
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=data.DEFAULT_ROOT, metavar="DIR")
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--overwrite", action="store_true", help="replace the runs of an earlier comparison in --out")
    args = p.parse_args(argv)
    rows = ROWS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        unknown = [w for w in wanted if w not in dict(ROWS)]
        if unknown:
            p.error(f"--only: unknown rows {unknown}; choose from {[name for name, _ in ROWS]}")
        rows = [r for r in ROWS if r[0] in wanted]
    model = classifier.load_classifier()
    real = data.scale(data.load("test", root=args.data)[0])
    base = ["--steps", str(args.steps), "--batch-size", str(args.batch_size), "--seed", str(args.seed),
            "--data", args.data] + (["--limit", str(args.limit)] if args.limit else []) \
        + (["--overwrite"] if args.overwrite else [])
    results = []
    for name, flags in rows:
        run_args = row_args(flags + ["--out", os.path.join(args.out, name.replace(" ", "_").replace("/", "-"))], base)
        print(f"== {name}: {' '.join(flags) or '(defaults)'}")
        start = time.perf_counter()
        train.run(run_args, build, settings=adversarial.flag_names())
        seconds = (time.perf_counter() - start) / args.steps
        fd, shares = evaluate.score(model, generated_images(run_args, args.eval_n, args.seed), real)
        results.append({"name": name, "flags": flags, "fd": fd, "spread": float(shares.max() - shares.min()),
                        "classes": int((shares >= 0.02).sum()), "seconds_per_step": seconds})
        print(f"   FD {fd:.1f}, class shares {np.round(shares * 100).astype(int).tolist()} %")
    budget = f"{args.steps} steps of {args.batch_size} images" + (f" (first {args.limit})" if args.limit else "")
    table = markdown(results, budget)
    print(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table + "\n\ncommand: python -m gans.compare " + " ".join(sys.argv[1:] if argv is None else argv) + "\n")
    return results


if __name__ == "__main__":
    main()
