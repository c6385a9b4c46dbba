"""Checkpoints of the GAN trainers: minigrad.save / minigrad.load plus a check of what is inside.

A training checkpoint is a dict: model, settings, step, epoch, generator, discriminator, opt_g,
opt_d, rng, data_shuffle, fixed_noise (see train.py). A generator file holds model, settings and
generator only. minigrad.save writes atomically (a temporary file, then a rename), so a crash while
saving leaves the previous checkpoint whole.
"""
import os

import minigrad

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
