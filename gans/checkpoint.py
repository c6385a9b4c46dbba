"""Checkpoints of the GAN trainers: minigrad.save / minigrad.load plus a check of what is inside.

A training checkpoint is a dict: model, settings, step, epoch, generator, discriminator, opt_g,
opt_d, rng, data_shuffle, fixed_noise (see train.py). A generator file holds model, settings and
generator only. minigrad.save writes atomically (a temporary file, then a rename), so a crash while
saving leaves the previous checkpoint whole.

A generator can also travel as a .safetensors file (save_generator_safetensors, `--export-safetensors`,
`python -m gans.export`): its state_dict under PyTorch's names, so the PyTorch model of the same layers
loads it with strict=True, and the file's string metadata records the network:

    format "minigrad-generator", arch "dcgan" (the trainer's model name), settings '{"latent_dim": 100, ...}' (JSON)

load_generator reads both kinds. A .safetensors file without that metadata (one PyTorch wrote) needs
the arch from the caller (`--arch`); its settings are then read off the weights' shapes.

The loop's side (train.py calls these): save_training_state writes the dict (never with non-finite
weights), check_fits and restore refuse a checkpoint that does not fit the freshly built GAN, naming
the part, before anything is written.
"""
import json
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


def load_generator(path, arch=None):
    """(model name, settings, generator state_dict) from a training checkpoint, a generator file or a
    .safetensors generator (arch: which network a .safetensors file without metadata holds)."""
    if str(path).endswith(".safetensors"):
        return load_generator_safetensors(path, arch)
    state = load_checkpoint(path, keys=GENERATOR_KEYS)
    if arch is not None and arch != state["model"]:
        raise CheckpointError(f"{path}: holds a {state['model']} generator, not {arch} (--arch {arch})")
    return state["model"], state["settings"], state["generator"]


def load_weights(model, state_dict, path, what="generator"):
    """model.load_state_dict(state_dict) (strict); a wrong name or shape becomes one CheckpointError line."""
    try:
        model.load_state_dict(state_dict)
    except (KeyError, ValueError, RuntimeError, TypeError) as err:
        problems = str(err).split("\n\t")[1:] or [str(err)]
        raise CheckpointError(f"{path}: does not fit the {what}: " + "; ".join(problems)) from err


# ----------------------------------------------------------------------------- safetensors

FORMAT = "minigrad-generator"

# For a file without metadata: the settings a network needs, read off one weight's shape.
# dcgan and gan both open with a Linear whose weight is (out_features, latent_dim).
SETTINGS_FROM_WEIGHTS = {
    "dcgan": lambda state: {"latent_dim": int(state["0.weight"].shape[1])},
    "gan": lambda state: {"latent_dim": int(state["0.weight"].shape[1])},
}


def save_generator_safetensors(path, name, settings, state_dict):
    """A generator as .safetensors: PyTorch's tensor names, the arch and its settings in the metadata."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    metadata = {"format": FORMAT, "arch": name, "settings": json.dumps(settings, sort_keys=True)}
    minigrad.save_safetensors(state_dict, path, metadata=metadata)


def load_generator_safetensors(path, arch=None):
    """(model name, settings, state_dict) of a .safetensors generator; see the module docstring."""
    try:
        metadata = minigrad.safetensors_metadata(path)
        state = minigrad.load_safetensors(path)
    except minigrad.serialization.CheckpointError as err:
        raise CheckpointError(str(err)) from err
    saved_arch = metadata.get("arch") if metadata.get("format") == FORMAT else None
    if saved_arch is not None:
        if arch is not None and arch != saved_arch:
            raise CheckpointError(f"{path}: holds a {saved_arch} generator (its metadata says so), not {arch}")
        try:
            settings = json.loads(metadata["settings"])
        except (KeyError, ValueError) as err:
            raise CheckpointError(f"{path}: its metadata has no readable settings ({err})") from err
        return saved_arch, settings, state
    if arch is None:
        raise CheckpointError(f"{path}: the file does not say which network it holds (no minigrad metadata); "
                              f"pass --arch ({' or '.join(SETTINGS_FROM_WEIGHTS)})")
    if arch not in SETTINGS_FROM_WEIGHTS:
        raise CheckpointError(f"{path}: --arch {arch} cannot be read from a file without minigrad metadata "
                              f"(known: {', '.join(SETTINGS_FROM_WEIGHTS)})")
    if "0.weight" not in state:
        raise CheckpointError(f"{path}: not a {arch} generator: it has no tensor '0.weight' "
                              f"(it has {', '.join(list(state)[:4])}{' ...' if len(state) > 4 else ''})")
    return arch, SETTINGS_FROM_WEIGHTS[arch](state), state

# ----------------------------------------------------------------------------- the loop's state

def setting_keys(args):
    """SETTINGS and the model's own fixed flags (train.run's `settings`)."""
    return SETTINGS + getattr(args, "model_settings", ())


def settings_of(args):
    return {key: getattr(args, key) for key in setting_keys(args)}


def _finite(module):
    return all(np.isfinite(p.data).all() for p in module.parameters())


def save_training_state(gan, args, fixed_noise, step, spe, rng_ranks=None, write=True):
    """Write checkpoint.ckpt; False (and a warning) instead when a network's weights are not finite.
    rng_ranks: every rank's RNG state in a run on N ranks (--distributed); write=False: only check."""
    if not (_finite(gan.generator) and _finite(gan.discriminator)):
        if write:
            tqdm.write(f"warning: step {step}: the weights are not finite; checkpoint.ckpt not written",
                       file=sys.stderr)
        return False
    if not write:
        return True
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
        **({"rng_ranks": rng_ranks} if rng_ranks is not None else {}),
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
