"""The one training loop every GAN here shares: flags, data, progress bar, outputs, checkpoints, resume.

A model file (dcgan.py, gan.py, ...) provides `build(args) -> GAN`: its two networks, their two
optimizers and a `train_step(real_images) -> metrics` that reads like the lecture. Everything else
happens here, once:

    out/samples/epoch_001.png   64 samples from the same fixed noise, after every epoch
                                (and step_000500.png every --sample-every steps)
    out/progress.gif            those grids as an animation
    out/losses.png              D and G loss per step, and their running means
    out/metrics.csv             one row per step: losses, D(x), D(G(z)), images/s
    out/checkpoint.ckpt         everything needed to continue exactly (written atomically)
    out/generator.ckpt          the trained generator alone (for gans.sample and gans.evaluate)
    out/generator.safetensors   the same, for PyTorch too, with --export-safetensors (checkpoint.py)

Nothing silently wrong, nothing lost: the flags are checked before any work (validate.py), an
existing run folder is only reused with --resume or --overwrite, a resumed checkpoint must fit the
model, its settings and its schedules, and a non-finite loss stops the run (--nan-policy) without
writing a NaN checkpoint. Exit status: 0 done, 2 bad input, 3 diverged, 130 Ctrl-C (after saving).

Exact resume: the network weights, both optimizers, minigrad's RNG state (noise, dropout) and the
position in the data (the shuffle of epoch e is drawn from (seed, e), see data.Batches) are all in
the checkpoint, so N steps in one run equal N/2 steps, a stop, `--resume`, and N/2 more, bit for bit.
"""
import argparse
import dataclasses
import glob
import importlib.util
import os
import re
import signal
import sys
import time
import traceback
from typing import Callable

import numpy as np
from tqdm import tqdm

import minigrad
import minigrad.distributed as dist

from . import data, images, parallel
from .checkpoint import (SETTINGS, CheckpointError, check_fits, generator_only, load_checkpoint, restore,
                         save_checkpoint, save_generator_safetensors, save_training_state, setting_keys)
from .validate import TRAINER_RULES, UserError, check_out_folder, check_ranges

METRICS = ("step", "epoch", "loss_d", "loss_g", "d_x", "d_g_z", "images_per_s")


@dataclasses.dataclass
class GAN:
    """What a model file hands to the loop."""
    name: str                                  # "dcgan": picks the builder when a checkpoint is reloaded
    generator: object                          # nn.Module: noise (N, latent_dim) -> images (N, 1, 28, 28)
    discriminator: object                      # nn.Module: images -> (N, 1)
    opt_g: object
    opt_d: object
    train_step: Callable                       # real images Tensor -> dict(loss_d, loss_g, d_x, d_g_z)
    latent_dim: int
    value_range: tuple = (-1.0, 1.0)           # pixel range of the generator's output (tanh: -1..1)
    conditional: bool = False                  # cgan: train_step(images, labels), G(noise, labels)
    sampler: object = None                     # the network samples come from (an EMA of G); None: generator
    n_samples: int = 64                        # the sample grid: n_samples images, nrow to a row
    nrow: int = 8                              # (conditional: row r shows class r)
    extra_state: object = None                 # more state to checkpoint: has state_dict() / load_state_dict()
    # For models that are not "noise in, images out" (cyclegan); the defaults keep the behaviour above.
    two_domains: bool = False                  # batches are (images of A, images of B): train_step(a, b)
    make_samples: Callable = None              # () -> the images of a sample grid; None: G(fixed noise)
    metrics: tuple = None                      # the names train_step returns (metrics.csv); None: METRICS
    plot: tuple = ("loss_d", "loss_g")         # the metrics drawn in losses.png
    end_of_epoch: Callable = None              # called with (epoch, out folder) after each epoch's outputs
    schedule: dict = None                      # lengths a schedule was planned over (noise decay, lr decay):
                                               # checkpointed; a resume that would change them is refused
    pending: Callable = None                   # () -> metric names that have no value yet (NaN by design)


def apply_gradients(optimizer, grads_and_params):
    """Keras's optimizer.apply_gradients: set each parameter's .grad, then take one step."""
    for g, p in grads_and_params:
        p.grad = g
    optimizer.step()


# ----------------------------------------------------------------------------- flags

def make_parser(description, **defaults):
    """The flags every trainer takes; `defaults` overrides the model's own (epochs, lr, ...)."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=float, default=10,
                   help="passes over the training set (a fraction is an image budget: 0.5 = half the set)")
    p.add_argument("--steps", type=int, default=None,
                   help="stop at this global step instead (steps before a --resume count)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate of both optimizers")
    p.add_argument("--beta1", type=float, default=0.9, help="Adam's beta1 (unused by RMSprop)")
    p.add_argument("--beta2", type=float, default=0.999, help="Adam's beta2 (unused by RMSprop)")
    p.add_argument("--latent-dim", type=int, default=100, help="size of the noise vector z")
    p.add_argument("--seed", type=int, default=0, help="seeds weights, noise, dropout and the data shuffle")
    p.add_argument("--out", default="runs/gan", help="folder for samples, plots, metrics and checkpoints")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="CHECKPOINT",
                   help="continue from CHECKPOINT (default: OUT/checkpoint.ckpt)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    add_backend_flag(p)
    p.add_argument("--sample-every", type=int, default=0, metavar="N",
                   help="also write a sample grid every N steps (0: only after each epoch)")
    p.add_argument("--checkpoint-every", type=int, default=200, metavar="N",
                   help="also write a checkpoint every N steps (0: only after each epoch and on Ctrl-C)")
    p.add_argument("--data", default=data.DEFAULT_ROOT, metavar="DIR", help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="train on the first N images only")
    p.add_argument("--export-safetensors", action="store_true",
                   help="also write OUT/generator.safetensors at the end: PyTorch's state_dict names, the arch "
                        "in its metadata (python -m gans.export converts an existing generator.ckpt)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out folder that holds an earlier run (its checkpoints and grids go)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the ranks of `mpiexec -n N` (MPI, pip install \".[distributed]\"); "
                        "--batch-size is per rank; only rank 0 writes (gans/parallel.py)")
    p.add_argument("--nan-policy", choices=("stop", "warn"), default="stop",
                   help="on a non-finite loss: stop (keep the last good checkpoint, exit 3) or warn and go on "
                        "(checkpoints with non-finite weights are still never written)")
    p.set_defaults(**defaults)
    return p


_NOT_GIVEN = object()


def parse_args(parser, argv=None):
    """parser.parse_args(argv) plus args.explicit, the flags given on the command line: on --resume a
    given flag that differs from the checkpoint's setting is refused, a default is simply replaced."""
    probe = argparse.Namespace(**{a.dest: _NOT_GIVEN for a in parser._actions if a.dest != "help"})
    given = {k for k, v in vars(parser.parse_args(argv, namespace=probe)).items() if v is not _NOT_GIVEN}
    args = parser.parse_args(argv)
    args.explicit = given
    return args


# ----------------------------------------------------------------------------- the loop

def fashion_mnist_batches(args, value_range):
    """The loop's data unless a trainer passes its own: Fashion-MNIST's training split in minibatches."""
    images_u8, labels = data.load("train", root=args.data, limit=args.limit)
    return data.Batches(images_u8, labels, args.batch_size, seed=args.seed, value_range=value_range)


def run(args, build, load_batches=fashion_mnist_batches, settings=()):
    """Train `build(args)` as the flags say; returns the step reached. Errors a user can fix exit(2).

    load_batches(args, value_range) gives the data: an object with steps_per_epoch and
    batch(step) -> (images, labels), like data.Batches (folder_data.FolderBatches for --arch dcgan64).
    settings: names of the model's own flags that are fixed for a run's life (its network sizes);
    they are checkpointed and restored by --resume along with SETTINGS.
    """
    args.model_settings = tuple(settings)
    try:
        return _run(args, build, load_batches)
    except (data.DatasetError, CheckpointError, UserError) as err:
        _stop(err, 2)
    except Diverged as err:
        _stop(err, 3)
    except KeyboardInterrupt:
        print("\nstopped without saving; --resume continues from the last checkpoint, if any", file=sys.stderr)
        _stop(None, 130)
    except Exception:                               # a bug: its traceback, and on N ranks no rank left waiting
        if dist.world_size() > 1:
            traceback.print_exc()
            _stop(RuntimeError("this rank failed (traceback above); stopping every rank"), 1)
        raise


def _stop(err, code):
    """Exit with `code` after one `error:` line. An error every rank agreed on (parallel.agree, or a
    divergence seen in the averaged losses) is printed by rank 0 and every rank exits; any other one,
    on N ranks, is printed by its rank, which then aborts the whole job."""
    together = dist.world_size() == 1 or getattr(err, "everyone", False)
    if err is not None and (parallel.is_writer() or not together):
        prefix = "" if together or dist.world_size() == 1 else f"rank {dist.rank()}: "
        print(f"error: {prefix}{err}", file=sys.stderr)
    if not together:
        dist.abort(code)
    raise SystemExit(code)


class Diverged(RuntimeError):
    """A non-finite loss under --nan-policy stop (every rank sees it: the losses are averaged over them)."""
    everyone = True


def check_args(args):
    """Every flag in range and --out usable, before anything is read or written (UserError)."""
    check_ranges(args, TRAINER_RULES)
    check_out_folder(args.out)
    if args.resume is None and not getattr(args, "overwrite", False):
        earlier = [name for name in ("checkpoint.ckpt", "generator.ckpt", "metrics.csv")
                   if os.path.exists(os.path.join(args.out, name))]
        if earlier or _sample_files(args.out, 1):
            what = ", ".join(earlier) or "sample grids"
            raise UserError(f"--out {args.out} already holds a run ({what}); pass --resume to continue it, "
                            "--overwrite to replace it, or another --out")


def add_backend_flag(parser):
    parser.add_argument("--backend", choices=("auto", "numpy", "cpp"), default="auto",
                        help="CPU kernels: the C++ extension when built (auto), or force one (as MINIGRAD_BACKEND)")


def select_backend(name, say=True):
    """--backend: "auto" keeps minigrad's choice (MINIGRAD_BACKEND, else C++ when built); says which runs."""
    if name != "auto":
        try:
            minigrad.set_backend(name)
        except ImportError as err:
            raise UserError(f"--backend {name}: {err} (build it with `pip install .`, or use --backend numpy)")
    if say:
        print(f"kernels: {minigrad.backend()}", file=sys.stderr)


def _run(args, build, load_batches):
    """Set up (every rank alike, and all agree before anything is shared or written), then train."""
    rank, world = parallel.init(args)
    try:
        gan, batches, state, path = _set_up(args, build, load_batches, rank, world)
        error = None
    except (data.DatasetError, CheckpointError, UserError) as err:
        error = str(err)
    error = parallel.agree(error)
    if error is not None:
        err = UserError(error)
        err.everyone = True
        raise err
    return _train(args, gan, batches, state, path, rank, world)


def _set_up(args, build, load_batches, rank, world):
    if args.device == "cuda":
        raise UserError("--device cuda: minigrad has no GPU support yet; run with --device cpu (the default)")
    check_args(args)
    select_backend(getattr(args, "backend", "auto"), say=rank == 0)
    parallel.share_cores()
    if getattr(args, "export_safetensors", False) and importlib.util.find_spec("safetensors") is None:
        raise UserError("--export-safetensors needs the safetensors package: pip install safetensors")  # before training
    state, path = None, None
    if args.resume is not None:
        path = args.resume or os.path.join(args.out, "checkpoint.ckpt")
        state = load_checkpoint(path)
        for key in setting_keys(args):          # the run's settings come from the checkpoint
            if key not in state["settings"] and key not in SETTINGS:
                continue                         # a checkpoint from before this setting was stored
            saved = state["settings"].get(key)
            if getattr(args, key) != saved and key in getattr(args, "explicit", ()):
                raise UserError(f"--{key.replace('_', '-')} {getattr(args, key)}: the run in {path} was trained "
                                f"with {saved}, and a resumed run keeps its settings; leave the flag out to "
                                "continue it, or start a new run (--overwrite or another --out)")
            setattr(args, key, saved)
        check_ranges(args, TRAINER_RULES)
        parallel.check_world(state, path)
        if rank == 0:
            print(f"resuming from {path} at step {state['step']}")

    # Everything below up to the first write can still refuse: nothing on disk has changed yet.
    minigrad.manual_seed(args.seed)
    gan = build(args)
    try:
        if world == 1:
            batches = load_batches(args, gan.value_range)
        else:                                   # the global batch of one process, and this rank's slice of it
            batches = parallel.Shard(load_batches(argparse.Namespace(**{**vars(args), "batch_size": args.batch_size * world}),
                                                  gan.value_range), rank, world)
    except ValueError as err:                   # e.g. a batch larger than the data
        raise UserError(str(err)) from None
    spe = batches.steps_per_epoch
    total = round(args.epochs * spe) if args.steps is None else args.steps
    if total < 1:
        raise UserError(f"--epochs {args.epochs} is less than one step ({spe} steps an epoch)")
    if state is not None:
        check_fits(gan, state, path)
        restore(gan, state, path)
    return gan, batches, state, path


def _train(args, gan, batches, state, path, rank, world):
    spe = batches.steps_per_epoch
    total = round(args.epochs * spe) if args.steps is None else args.steps
    parallel.prepare(gan, args)                 # N ranks: SyncBatchNorm, rank 0's weights, averaged gradients
    fixed_noise = np.random.default_rng((args.seed, 1)).standard_normal(
        (gan.n_samples, gan.latent_dim)).astype(np.float32)
    step = 0
    if state is not None:
        fixed_noise, step = state["fixed_noise"], int(state["step"])
        minigrad.set_rng_state(state.get("rng_ranks", [state["rng"]])[rank])
    writer = rank == 0                          # only rank 0 writes files and draws the progress bar

    if writer:
        os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
        for sample in _sample_files(args.out, spe):     # grids of an earlier run, or made after the checkpoint
            if _step_of(sample, spe) > step:
                os.remove(sample)
    columns = METRICS if gan.metrics is None else ("step", "epoch", *gan.metrics, "images_per_s")
    log = images.MetricsCSV(os.path.join(args.out, "metrics.csv"), columns,
                            resume_step=step if state is not None else None) if writer else None
    bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True, desc=gan.name, disable=not writer)
    speed = None
    outcome = "finished"
    saved_at = step if state is not None else None  # the step of the last checkpoint on disk
    diverged = []                                   # (step, "loss_d nan") of every non-finite step
    stopping = False                                # Ctrl-C on any rank: every rank stops after this step
    with _StopOnCtrlC() as ctrl_c:
        while step < total and not stopping:
            real, labels = batches.batch(step)
            inputs = (minigrad.tensor(real), minigrad.tensor(labels)) if gan.conditional or gan.two_domains \
                else (minigrad.tensor(real),)
            start = time.perf_counter()
            with np.errstate(all="ignore"):         # the loop checks the losses itself (below); NumPy's
                metrics = gan.train_step(*inputs)   # overflow warnings would only be noise before that line
            elapsed = time.perf_counter() - start
            step += 1
            rate = args.batch_size * world / elapsed      # images/s of the whole job
            speed = rate if speed is None else 0.9 * speed + 0.1 * rate
            row = {k: float(v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
            row, stopping = parallel.agree_on_step(row, ctrl_c.pressed)  # N ranks: the global batch's metrics
            if writer:
                log.write(dict(row, step=step, epoch=(step - 1) // spe + 1, images_per_s=rate))
            bad = _non_finite_losses(row, gan.pending() if gan.pending is not None else ())
            if bad:
                diverged.append((step, bad))
                if args.nan_policy == "stop":
                    break
                if writer:
                    tqdm.write(f"warning: step {step}: non-finite {bad} (--nan-policy warn: going on)", file=sys.stderr)
            bar.update(1)
            if gan.metrics is None:
                bar.set_postfix_str(f"D {row['loss_d']:.3f}  G {row['loss_g']:.3f}  D(x) {row['d_x']:.2f}  "
                                    f"D(G(z)) {row['d_g_z']:.2f}  {speed:.0f} img/s")
            else:                                   # the model's first four metrics
                bar.set_postfix_str("  ".join(f"{k} {row[k]:.3f}" for k in gan.metrics[:4]) + f"  {speed:.0f} img/s")
            end_of_epoch = step % spe == 0
            if writer and end_of_epoch:
                _write_samples(gan, fixed_noise, args.out, f"epoch_{step // spe:03d}.png", step, spe)
            elif writer and args.sample_every and step % args.sample_every == 0:
                _write_samples(gan, fixed_noise, args.out, f"step_{step:06d}.png", step, spe)
            if end_of_epoch or (args.checkpoint_every and step % args.checkpoint_every == 0):
                if _save_state(gan, args, fixed_noise, step, spe, world):
                    saved_at = step
            if writer and end_of_epoch:
                _write_plots(args.out, spe, gan.plot)
                if gan.end_of_epoch is not None:
                    gan.end_of_epoch(step // spe, args.out)
        if stopping:
            outcome = "stopped by Ctrl-C"
    bar.close()
    if log is not None:
        log.close()
    ckpt = os.path.join(args.out, "checkpoint.ckpt")
    if diverged and args.nan_policy == "stop":      # no grid, no checkpoint of the diverged weights
        if writer:
            _write_plots(args.out, spe, gan.plot)
        bad_step, bad = diverged[0]
        kept = f"the last good checkpoint is {ckpt} (step {saved_at})" if saved_at is not None \
            else "no checkpoint was written"
        raise Diverged(f"step {bad_step}: {bad}; training diverged (a smaller --lr may help). Stopped without "
                       f"saving the diverged weights: {kept}; metrics in {os.path.join(args.out, 'metrics.csv')}")
    if writer and step % spe != 0:                  # the grid of where training stopped
        _write_samples(gan, fixed_noise, args.out, f"step_{step:06d}.png", step, spe)
    if _save_state(gan, args, fixed_noise, step, spe, world) and writer:
        saved_generator = generator_only(gan, args)
        save_checkpoint(os.path.join(args.out, "generator.ckpt"), saved_generator)
        if getattr(args, "export_safetensors", False):
            save_generator_safetensors(os.path.join(args.out, "generator.safetensors"), saved_generator["model"],
                                       saved_generator["settings"], saved_generator["generator"])
    if writer:
        _write_plots(args.out, spe, gan.plot)
        print(f"{outcome} at step {step} (epoch {step / spe:.2f}); outputs in {args.out}/"
              + (f"\ncontinue with: --resume {ckpt}" if step < total else ""))
    if diverged:
        if writer:
            print(f"error: {len(diverged)} steps had non-finite losses, the first at step {diverged[0][0]}: "
                  f"{diverged[0][1]}", file=sys.stderr)
        raise SystemExit(3)
    if stopping:
        raise SystemExit(130)
    return step


def _save_state(gan, args, fixed_noise, step, spe, world):
    """checkpoint.ckpt, by rank 0, with every rank's RNG state (gathered from all: they all call this)."""
    rng_ranks = parallel.rng_states() if world > 1 else None
    return save_training_state(gan, args, fixed_noise, step, spe, rng_ranks=rng_ranks, write=parallel.is_writer())


def _non_finite_losses(row, pending):
    """'loss_d nan, loss_g inf' for the losses of a step that are not finite numbers ('' if all are)."""
    return ", ".join(f"{k} {v}" for k, v in row.items()
                     if k.startswith("loss") and k not in pending and not np.isfinite(v))


class _StopOnCtrlC:
    """The first Ctrl-C asks the loop to stop after the current step (so the checkpoint is exact);
    a second one stops at once, without saving."""

    def __enter__(self):
        self.pressed = False
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:                          # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        print("\nCtrl-C: finishing this step, then saving a checkpoint (Ctrl-C again to quit without saving)",
              file=sys.stderr)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


# ----------------------------------------------------------------------------- outputs

def _write_samples(gan, fixed_noise, out, name, step, spe):
    if gan.make_samples is not None:
        fake = gan.make_samples()
    else:
        fake = _generate(gan, fixed_noise)
    caption = f"{gan.name}  epoch {step / spe:.2f}  step {step}"
    images.save_grid(fake, os.path.join(out, "samples", name), nrow=gan.nrow, value_range=gan.value_range,
                     caption=caption)


def _generate(gan, fixed_noise):
    sampler = gan.sampler or gan.generator
    inputs = [minigrad.tensor(fixed_noise)]
    if gan.conditional:                             # row r of the grid shows class r
        inputs.append(minigrad.tensor(np.arange(len(fixed_noise)) // gan.nrow % 10))
    sampler.eval()                                  # batch norm uses its running statistics
    with minigrad.no_grad():
        fake = sampler(*inputs).data
    sampler.train()
    return fake


def _sample_files(out, spe):
    """The sample grids in the order they were made (epoch_003.png is step 3 * steps_per_epoch)."""
    paths = [p for p in glob.glob(os.path.join(out, "samples", "*.png")) if _SAMPLE.fullmatch(os.path.basename(p))]
    return sorted(paths, key=lambda p: _step_of(p, spe))


_SAMPLE = re.compile(r"(epoch|step)_(\d+)\.png")


def _step_of(path, spe):
    kind, number = _SAMPLE.fullmatch(os.path.basename(path)).groups()
    return int(number) * (spe if kind == "epoch" else 1)


def _write_plots(out, spe, columns=("loss_d", "loss_g")):
    images.save_gif(_sample_files(out, spe), os.path.join(out, "progress.gif"))
    images.plot_losses(os.path.join(out, "metrics.csv"), os.path.join(out, "losses.png"), columns)
