"""save_safetensors / load_safetensors: a state_dict in the safetensors format, which PyTorch reads.

A .safetensors file is an 8-byte header length, a JSON header (each tensor's name, dtype, shape and
byte range, plus an optional string -> string "__metadata__" dict) and the raw bytes of the tensors:
no pickle, nothing in it runs when it is opened. The `safetensors` package (Hugging Face's, an
optional dependency: pip install minigrad[safetensors]) reads and writes it; minigrad goes through its
NumPy API, so PyTorch is never needed. A minigrad state_dict uses PyTorch's names ("0.weight",
"1.running_mean", "1.num_batches_tracked"), so

    minigrad.save_safetensors(generator.state_dict(), "g.safetensors")
    torch_model.load_state_dict(safetensors.torch.load_file("g.safetensors"), strict=True)

works when torch_model is built from the same layers, and the other way round with
safetensors.torch.save_file and minigrad.load_safetensors. Saving is atomic, as for save():
a temporary file, fsync'ed, then renamed over the target. Every unreadable file raises
CheckpointError naming the file and what is wrong with it.
"""
import collections
import os

import numpy as np

from .serialization import CheckpointError, write_atomically
from .tensor import Tensor


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError as err:
        raise ImportError("safetensors files need the `safetensors` package: pip install safetensors "
                          "(or pip install minigrad[safetensors])") from err
    return safetensors.numpy


def save_safetensors(state_dict, path, metadata=None):
    """Write `state_dict` (name -> Tensor or NumPy array) to `path` as safetensors, atomically.

    metadata: an optional dict of str -> str stored in the file's header (e.g. which network it is).
    """
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: key {name!r} is a {type(name).__name__}; tensor names must be str")
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array.dtype.hasobject or array.dtype.names is not None or array.dtype.kind in "USV":
            raise TypeError(f"save_safetensors: {name!r} has dtype {array.dtype}; safetensors holds numeric "
                            "and bool tensors only")
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")   # (ascontiguousarray makes 0-d 1-d)
    if metadata is not None:
        bad = [k for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise TypeError(f"save_safetensors: metadata must map str to str; {bad[0]!r} -> "
                            f"{metadata[bad[0]]!r} does not")
    payload = _safetensors_numpy().save(arrays, metadata=metadata)       # bytes: header + data
    write_atomically(path, lambda f: f.write(payload))


def load_safetensors(path, device="cpu"):
    """The tensors of a safetensors file as an OrderedDict name -> Tensor, in the file's name order.

    device: "cpu" (or None); minigrad tensors live on the CPU. Pass the result to load_state_dict.
    """
    if device is not None and str(device) != "cpu":
        raise ValueError(f"load_safetensors: device={device!r} is not supported; minigrad tensors live on the CPU, "
                         "pass 'cpu'")
    arrays = _read(path, lambda f: {name: f.get_tensor(name) for name in f.keys()})
    return collections.OrderedDict((name, Tensor(np.array(arrays[name]))) for name in sorted(arrays))


def safetensors_metadata(path):
    """The string -> string metadata of a safetensors file's header ({} when it has none)."""
    return _read(path, lambda f: dict(f.metadata() or {}))


def _read(path, take):
    """take(handle) on the file opened with safetensors.safe_open, every failure as one CheckpointError."""
    st = _safetensors_numpy()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"safetensors file {path!r} does not exist")
    if os.path.isdir(path):
        raise CheckpointError(f"safetensors file {path!r} is a directory, not a file")
    try:
        with st.safe_open(path, framework="numpy") as f:
            return take(f)
    except Exception as err:                      # SafetensorError, a dtype NumPy lacks (bfloat16), ...
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise CheckpointError(f"safetensors file {path!r} is damaged or not a safetensors file ({detail})") from err
