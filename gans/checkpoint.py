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
"""
import json
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
    except RuntimeError as err:
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
