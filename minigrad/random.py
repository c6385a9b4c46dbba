"""The one random number generator behind randn, rand, randint, randperm, dropout and nn.init.

A module-level NumPy Generator (PCG64). `manual_seed(s)` makes every random op that follows
reproducible bit for bit; `get_rng_state()` / `set_rng_state(state)` save and restore it, so
that a training run resumed from a checkpoint draws exactly the numbers it would have drawn.
Like PyTorch, the generator starts from a fixed seed, so a program that never seeds is still
reproducible.

Other modules draw through `generator()` and never make their own.

CUDA devices have their own generators (CuPy's RandomState, one per device, made on first use from
the seed of the last manual_seed); randn/rand/randint/randperm with device="cuda" draw from them
through `draw()`. They are not part of get_rng_state(). Dropout masks and nn.init draw on the host
generator whatever the device, so a model gives the same numbers on both.
"""
import numpy as np

from . import device as _device

DEFAULT_SEED = 0

_generator = np.random.Generator(np.random.PCG64(DEFAULT_SEED))
_initial_seed = DEFAULT_SEED
_device_generators = {}      # CUDA device index -> cupy.random.RandomState


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
    for gen in _device_generators.values():            # the device generators restart from the seed too
        gen.seed(_initial_seed)
    return _generator


def device_generator(dev):
    """The generator of CUDA device `dev` (a cupy.random.RandomState), seeded from initial_seed() on first use."""
    dev = _device.device(dev)
    gen = _device_generators.get(dev.index)
    if gen is None:
        cupy = _device.require_cuda(dev.index)
        with cupy.cuda.Device(dev.index):
            gen = _device_generators[dev.index] = cupy.random.RandomState(_initial_seed)
    return gen


def draw(kind, size, dtype, device=_device.CPU, low=0, high=None):
    """Samples on `device`: kind "normal" (standard), "uniform" ([0, 1)), "integers" ([low, high)) or
    "permutation" (of range(size)). The host generator's and CuPy's RandomState's method names differ; this
    is the one place that knows both."""
    dev = _device.device(device)
    if dev.type == "cpu":
        gen = _generator
        if kind == "normal":
            return gen.standard_normal(size, dtype=dtype)
        if kind == "uniform":
            return gen.random(size, dtype=dtype)
        if kind == "integers":
            return gen.integers(low, high, size).astype(dtype)
        return gen.permutation(size).astype(dtype)
    gen = device_generator(dev)
    with _device.module_for(dev).cuda.Device(dev.index):
        if kind == "normal":
            return gen.standard_normal(size, dtype=dtype)
        if kind == "uniform":
            return gen.random_sample(size, dtype=dtype)
        if kind == "integers":
            return gen.randint(low, high, size).astype(dtype)
        return gen.permutation(size).astype(dtype)


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
