"""The one random number generator behind randn, rand, randint, randperm, dropout and nn.init.

A module-level NumPy Generator (PCG64). `manual_seed(s)` makes every random op that follows
reproducible bit for bit; `get_rng_state()` / `set_rng_state(state)` save and restore it, so
that a training run resumed from a checkpoint draws exactly the numbers it would have drawn.
Like PyTorch, the generator starts from a fixed seed, so a program that never seeds is still
reproducible.

Other modules draw through `generator()` and never make their own.
"""
import numpy as np

DEFAULT_SEED = 0

_generator = np.random.Generator(np.random.PCG64(DEFAULT_SEED))
_initial_seed = DEFAULT_SEED


def generator():
    """The shared np.random.Generator (always the same object; manual_seed resets it in place)."""
    return _generator


def manual_seed(seed):
    """Restart the generator from `seed` (a non-negative int). Returns the generator."""
    global _initial_seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator.bit_generator.state = np.random.PCG64(int(seed)).state
    _initial_seed = int(seed)
    return _generator


def initial_seed():
    """The seed last given to manual_seed (or DEFAULT_SEED)."""
    return _initial_seed


def get_rng_state():
    """The generator's state as a flat dict of str and small int values (checkpoint friendly).

    PCG64 keeps two 128-bit integers; they are stored as decimal strings, since checkpoints
    hold only 64-bit integers.
    """
    s = _generator.bit_generator.state
    return {"bit_generator": s["bit_generator"],
            "state": str(s["state"]["state"]),
            "inc": str(s["state"]["inc"]),
            "has_uint32": int(s["has_uint32"]),
            "uinteger": int(s["uinteger"])}


def set_rng_state(state):
    """Restore a state returned by get_rng_state()."""
    expected = {"bit_generator", "state", "inc", "has_uint32", "uinteger"}
    if not isinstance(state, dict) or set(state) != expected:
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"set_rng_state: expected a dict with keys {sorted(expected)}, got {got}")
    if str(state["bit_generator"]) != "PCG64":
        raise ValueError(f"set_rng_state: expected a PCG64 state, got {state['bit_generator']!r}")
    _generator.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(str(state["state"])), "inc": int(str(state["inc"]))},
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }
