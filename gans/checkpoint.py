"""Checkpoints of the GAN trainers: minigrad.save / minigrad.load plus a check of what is inside.

A training checkpoint is a dict: model, settings, step, epoch, generator, discriminator, opt_g,
opt_d, rng, data_shuffle, fixed_noise (see train.py). A generator file holds model, settings and
generator only. minigrad.save writes atomically (a temporary file, then a rename), so a crash while
saving leaves the previous checkpoint whole.

The loop's side (train.py calls these): save_training_state writes the dict (never with non-finite
weights), check_fits and restore refuse a checkpoint that does not fit the freshly built GAN, naming
the part, before anything is written.
"""
import os
import sys

import numpy as np
from tqdm import tqdm

import minigrad

from .validate import UserError, one_line

SETTINGS = ("batch_size", "lr", "beta1", "beta2", "latent_dim", "seed", "limit")   # fixed for a run's life

TRAINING_KEYS = ("model", "settings", "step", "generator", "discriminator", "opt_g", "opt_d", "rng",
                 "fixed_noise")
GENERATOR_KEYS = ("model", "settings", "generator")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, or not the kind expected; the message says which and why."""


def save_checkpoint(path, state):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    minigrad.save(state, path)


def load_checkpoint(path, keys=TRAINING_KEYS):
    """The dict saved at `path`, after checking it holds `keys`; CheckpointError otherwise."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = minigrad.load(path)
    except Exception as err:                       # any failure to decode means a damaged file
        message = str(err) if path in str(err) else f"{path}: damaged or not a minigrad checkpoint ({err})"
        raise CheckpointError(message) from err
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict of training state, found a {type(state).__name__}")
    missing = [k for k in keys if k not in state]
    if missing:
        what = "training checkpoint" if keys is TRAINING_KEYS else "generator checkpoint"
        raise CheckpointError(f"{path}: not a complete {what}, missing {', '.join(missing)}")
    return state


def load_generator(path):
    """(model name, settings, generator state_dict) from a training checkpoint or a generator file."""
    state = load_checkpoint(path, keys=GENERATOR_KEYS)
    return state["model"], state["settings"], state["generator"]


# ----------------------------------------------------------------------------- the loop's state

def setting_keys(args):
    """SETTINGS and the model's own fixed flags (train.run's `settings`)."""
    return SETTINGS + getattr(args, "model_settings", ())


def settings_of(args):
    return {key: getattr(args, key) for key in setting_keys(args)}


def _finite(module):
    return all(np.isfinite(p.data).all() for p in module.parameters())


def save_training_state(gan, args, fixed_noise, step, spe):
    """Write checkpoint.ckpt; False (and a warning) instead when a network's weights are not finite."""
    if not (_finite(gan.generator) and _finite(gan.discriminator)):
        tqdm.write(f"warning: step {step}: the weights are not finite; checkpoint.ckpt not written", file=sys.stderr)
        return False
    save_checkpoint(os.path.join(args.out, "checkpoint.ckpt"), {
        "model": gan.name,
        "settings": settings_of(args),
        "step": step,
        "epoch": step // spe,
        "generator": gan.generator.state_dict(),
        "discriminator": gan.discriminator.state_dict(),
        "opt_g": gan.opt_g.state_dict(),
        "opt_d": gan.opt_d.state_dict(),
        "rng": minigrad.get_rng_state(),           # noise and dropout draws
        "data_shuffle": {"seed": args.seed, "epoch": step // spe, "batch": step % spe},
        "fixed_noise": fixed_noise,
        **({"extra": gan.extra_state.state_dict()} if gan.extra_state is not None else {}),
        "schedule": dict(gan.schedule or {}),
    })
    return True


def check_fits(gan, state, path):
    """The checkpoint is of this model, with the same extra state and schedules (UserError otherwise)."""
    if state["model"] != gan.name:
        raise UserError(f"{path}: a {state['model']} checkpoint, but this trainer trains {gan.name}")
    if (gan.extra_state is not None) != ("extra" in state):
        ours = "has" if gan.extra_state is not None else "has no"
        theirs = "has" if "extra" in state else "has none"
        raise UserError(f"{path}: this run {ours} training-step state (the gallery's --loss and stabiliser "
                        f"flags), the checkpoint {theirs}; resume with the flags it was trained with")
    saved, planned = state.get("schedule", {}), dict(gan.schedule or {})
    for key in sorted(set(saved) | set(planned)):
        if saved.get(key) != planned.get(key):
            raise UserError(f"{path}: {key} was {saved.get(key)} in the checkpoint's run but would be "
                            f"{planned.get(key)} now; resume with the --steps/--epochs it was started with")


def restore(gan, state, path):
    """Load every part of the checkpoint into the freshly built GAN; UserError naming the part that does not fit."""
    parts = [(gan.generator, "generator"), (gan.discriminator, "discriminator"), (gan.opt_g, "opt_g"),
             (gan.opt_d, "opt_d")] + ([(gan.extra_state, "extra")] if gan.extra_state is not None else [])
    for target, key in parts:
        try:
            target.load_state_dict(state[key])
        except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as err:
            raise UserError(f"{path}: its {key} does not fit the model built from these flags "
                            f"({type(err).__name__}: {one_line(err)})") from None
    minigrad.set_rng_state(state["rng"])


def generator_only(gan, args):
    generator = gan.sampler or gan.generator
    return {"model": gan.name, "settings": settings_of(args), "generator": generator.state_dict()}
