"""Checks of command-line input, run before a tool does any work: every error is one sentence.

Each tool (the trainers through train.py, gans.sample, gans.evaluate, gans.translate) calls these
once, right after parsing, so a bad flag ends with `error: ...` and exit status 2 instead of a
traceback halfway through, and nothing on disk is touched first.

    check_ranges(args, RULES)     every numeric flag inside its range (and finite)
    check_out_folder(path, ...)   --out is (or can become) a writable folder
    check_out_file(path)          --out of a single file: its folder exists and is writable
    check_input_file(path, what)  an input file exists and is a file
"""
import math
import os


class UserError(RuntimeError):
    """An input the user can fix; the tools print `error: <message>` and exit 2."""


def one_line(err):
    """An exception's message on one line (state-dict errors list one mismatch a line)."""
    return " ".join(str(err).split())


def _flag(name):
    return "--" + name.replace("_", "-")


# name -> (lowest, highest, lowest allowed?, highest allowed?); None: no bound. Flags a tool lacks are skipped.
TRAINER_RULES = {
    "epochs": (0, None, False, True),
    "steps": (1, None, True, True),
    "batch_size": (1, None, True, True),
    "lr": (0, None, False, True),
    "lr_d": (0, None, False, True),
    "lr_g": (0, None, False, True),
    "beta1": (0, 1, True, False),
    "beta2": (0, 1, True, False),
    "latent_dim": (1, None, True, True),
    "seed": (0, None, True, True),
    "sample_every": (0, None, True, True),
    "checkpoint_every": (0, None, True, True),
    "limit": (1, None, True, True),
    "n_critic": (1, None, True, True),
    "real_label": (0, 1, False, True),
    "flip_labels": (0, 1, True, True),
    "instance_noise": (0, None, True, True),
    "replay": (0, None, True, True),
    "minibatch_disc": (0, None, True, True),
    "ema": (0, 1, True, False),
    "width": (1, None, True, True),
    "res_blocks": (0, None, True, True),
    "d_layers": (1, None, True, True),
    "image_size": (4, None, True, True),
    "lambda_cycle": (0, None, True, True),
    "lambda_identity": (0, None, True, True),
    "pool_size": (0, None, True, True),
    "decay_from": (0, 1, True, True),
    "eval_images": (1, None, True, True),
    "eval_n": (0, None, True, True),
}


def check_ranges(args, rules):
    """UserError naming the first flag of `rules` whose value is NaN, infinite or out of its range."""
    for name, (low, high, low_ok, high_ok) in rules.items():
        value = getattr(args, name, None)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            raise UserError(f"{_flag(name)} {value}: must be a finite number")
        too_low = low is not None and (value < low or (value == low and not low_ok))
        too_high = high is not None and (value > high or (value == high and not high_ok))
        if too_low or too_high:
            raise UserError(f"{_flag(name)} {value}: must be {_describe(low, high, low_ok, high_ok)}")


def _describe(low, high, low_ok, high_ok):
    if high is None:
        return f"at least {low}" if low_ok else f"greater than {low}"
    left, right = ("[" if low_ok else "("), ("]" if high_ok else ")")
    return f"in {left}{low}, {high}{right}"


def check_out_folder(path, flag="--out"):
    """`path` is a folder we can write into, or one that can be made (its nearest existing parent is)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a file, not a folder")
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(os.path.abspath(existing))
        if parent == os.path.abspath(existing):
            break
        existing = parent
    if not os.path.isdir(existing):
        raise UserError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {existing} is not writable")


def check_out_file(path, flag="--out"):
    """`path` names a file to write: not a folder, in an existing writable folder."""
    if os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UserError(f"{flag} {path}: not writable")


def check_input_file(path, flag):
    if not os.path.exists(path):
        raise UserError(f"{flag} {path}: no such file")
    if not os.path.isfile(path):
        raise UserError(f"{flag} {path}: not a file")
