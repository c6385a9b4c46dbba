"""save / load: checkpoints as plain NumPy .npz files, with no pickle, written atomically.

A checkpoint holds any nesting of dicts, lists and tuples whose leaves are Tensors, NumPy arrays
or scalars, ints, floats, bools, None and strings: a model's state_dict, an optimizer's, the RNG
state, the epoch and step, together. On disk it is one .npz archive (np.savez) with

    "a0", "a1", ...              every array (a Tensor's data, an ndarray, a NumPy scalar)
    "__minigrad_checkpoint__"    a JSON header stored as uint8 bytes: the format and version, the
                                 nested structure with each array replaced by its key, and a
                                 CRC-32 of every array's bytes

Loading uses np.load(allow_pickle=False) and json, so opening a checkpoint never runs code.
Every way a file can be wrong (missing, cut short, bytes flipped, not ours) raises
CheckpointError naming the file and what is wrong with it.

Writing goes to a temporary file in the same directory, which is flushed, fsync'ed and then
renamed over the target with os.replace: a crash mid-save leaves the old checkpoint intact. The
temporary file's name holds the writer's process id (.NAME.PID.RANDOM.tmp); a later save of the
same target removes the ones whose writer is gone (killed mid-save), never a live writer's.
"""
import json
import os
import re
import threading
import time
import uuid
import zlib

import numpy as np

from .tensor import Tensor

HEADER_KEY = "__minigrad_checkpoint__"
FORMAT = "minigrad-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read: missing, damaged, or not a minigrad checkpoint."""


# ----------------------------------------------------------------------------- structure <-> JSON
#
# JSON null / true / false / numbers / strings stand for themselves; every other value is an
# object with a "type": {"type": "list", "items": [...]}, {"type": "tuple", "items": [...]},
# {"type": "dict", "items": [[key, value], ...]} (keys may be ints, as in an optimizer's state),
# {"type": "tensor", "key": "a3", "requires_grad": true}, {"type": "ndarray", "key": "a4"},
# {"type": "scalar", "key": "a5"} (a NumPy scalar such as np.float32(1.5)).

def _encode(obj, arrays, where):
    """The JSON form of `obj`; arrays found on the way are appended to `arrays`."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj                         # JSON integers have no size limit; 2**100 comes back exactly
    if isinstance(obj, float):
        return obj                         # repr round-trips exactly; nan/inf are written as NaN/Infinity
    if isinstance(obj, Tensor):
        return {"type": "tensor", "key": _add_array(obj.data, arrays, where), "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        return {"type": "ndarray", "key": _add_array(obj, arrays, where)}
    if isinstance(obj, np.generic):
        return {"type": "scalar", "key": _add_array(np.asarray(obj), arrays, where)}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {"type": kind, "items": [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (str, int, float, bool))):
                raise TypeError(f"save: dict key {k!r} at {where} is a {type(k).__name__}; checkpoint dict keys "
                                "must be str, int, float, bool or None")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"type": "dict", "items": items}
    raise TypeError(f"save: cannot store a {type(obj).__name__} at {where}; a checkpoint holds Tensors, NumPy arrays, "
                    "numbers, bools, None, strings, and dicts/lists/tuples of them (no pickled objects)")


def _add_array(arr, arrays, where):
    if arr.dtype.hasobject or arr.dtype.names is not None:
        raise TypeError(f"save: array at {where} has dtype {arr.dtype}; only plain numeric, bool and string "
                        "arrays can be stored without pickle")
    arrays.append(arr if arr.flags.c_contiguous else arr.copy(order="C"))
    return f"a{len(arrays) - 1}"


def _decode(node, check):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    kind = node["type"]
    if kind == "list":
        return [_decode(v, check) for v in node["items"]]
    if kind == "tuple":
        return tuple(_decode(v, check) for v in node["items"])
    if kind == "dict":
        return {k: _decode(v, check) for k, v in node["items"]}
    arr = check(node["key"])
    if kind == "tensor":
        return Tensor(arr, requires_grad=bool(node["requires_grad"]))
    if kind == "ndarray":
        return arr
    if kind == "scalar":
        return arr[()]
    raise ValueError(f"unknown entry type {kind!r} in the header")


def _crc(arr):
    """CRC-32 of the array's raw bytes (C order)."""
    return zlib.crc32(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))


# ----------------------------------------------------------------------------- save

def save(obj, path):
    """Write `obj` (nested dicts/lists/tuples of Tensors, arrays and plain values) to `path`, atomically."""
    path = os.fspath(path)
    arrays = []
    root = _encode(obj, arrays, "the top level")       # raises on unsupported objects before any file is touched
    header = {"format": FORMAT, "version": VERSION, "root": root,
              "crc32": [_crc(a) for a in arrays],
              "arrays": [[str(a.dtype), list(a.shape)] for a in arrays]}
    header_bytes = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    entries = {f"a{i}": a for i, a in enumerate(arrays)}
    entries[HEADER_KEY] = header_bytes
    write_atomically(path, lambda f: np.savez(f, **entries))


def write_atomically(path, write):
    """Call write(f) on a temporary file next to `path`, flush and fsync it, then rename it over `path`.

    A crash (or an exception in write) at any point leaves the old file at `path` intact and no
    temporary file behind. save() and save_safetensors() both write this way.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write {path!r}: the folder {directory!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: cannot write {path!r}: it is a directory")
    _remove_stale_temporaries(directory, os.path.basename(path))
    tmp_path = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    # O_EXCL: never reuse an existing file; mode 0o666 minus the umask, like an ordinary open().
    try:
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:                           # name the target, not the random temporary name
        raise type(e)(e.errno, f"save: cannot write {path!r} ({e.strerror})") from None
    with _lock:
        _writing.add(tmp_path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    finally:
        with _lock:
            _writing.discard(tmp_path)
    _fsync_directory(directory)


_writing = set()                   # temporary files this process is writing now (other threads' saves)
_lock = threading.Lock()
_OLD_STYLE_AGE = 600               # seconds: a temporary without a process id is stale after this long


def _remove_stale_temporaries(directory, name):
    """Delete .NAME.PID.*.tmp files left by a save whose process died (and old ones without a PID)."""
    pattern = re.compile(re.escape(f".{name}.") + r"(?:(\d+)\.)?[0-9a-f]{12}\.tmp")
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        tmp = os.path.join(directory, entry)
        with _lock:
            if tmp in _writing:
                continue
        pid = match.group(1)
        try:
            if pid is None:
                stale = time.time() - os.path.getmtime(tmp) > _OLD_STYLE_AGE
            else:                      # ours but not being written (checked above), or its writer is gone
                stale = int(pid) == os.getpid() or not _alive(int(pid))
            if stale:
                os.remove(tmp)
        except OSError:
            pass                       # gone already, or not ours to remove


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True                    # exists (another user's), or cannot tell: keep its file
    return True


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- load

def load(path, map_location=None):
    """Read a checkpoint written by save(). Tensors come back as Tensors (requires_grad kept),
    arrays as arrays with their dtypes. map_location may be None or "cpu" (everything lives on the CPU)."""
    if map_location not in (None, "cpu") and str(map_location) != "cpu":
        raise ValueError(f"load: map_location={map_location!r} is not supported; minigrad tensors live on the CPU, "
                         "pass None or 'cpu'")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path!r} does not exist")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path!r} is a directory, not a file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:
        if "pickle" in str(e):     # NumPy's advice to load it unsafely is never the fix for a checkpoint
            raise CheckpointError(f"checkpoint {path!r} is not a minigrad checkpoint: it is neither an .npz "
                                  "archive nor a .npy array") from None
        raise CheckpointError(f"checkpoint {path!r} is damaged or not a checkpoint: {_describe(e)}") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise CheckpointError(f"checkpoint {path!r} is not a minigrad checkpoint: it holds a single array, "
                              "not an .npz archive")
    with loaded:
        try:
            return _read(loaded, path)
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError(f"checkpoint {path!r} is damaged: {_describe(e)}") from e


def _read(npz, path):
    if HEADER_KEY not in npz.files:
        raise CheckpointError(f"checkpoint {path!r} is not a minigrad checkpoint: it has no "
                              f"{HEADER_KEY!r} entry (entries: {', '.join(npz.files[:5])})")
    header = json.loads(npz[HEADER_KEY].tobytes().decode("utf-8"))
    if header.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path!r} is not a minigrad checkpoint (format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {header.get('version')!r}; this minigrad "
                              f"reads version {VERSION}")

    def check(key):
        """The array stored under `key`, after checking its dtype, shape and CRC-32 against the header."""
        index = int(key[1:])
        if key not in npz.files:
            raise CheckpointError(f"checkpoint {path!r} is damaged: entry {key!r} is missing")
        arr = npz[key]
        dtype, shape = header["arrays"][index]
        if str(arr.dtype) != dtype or list(arr.shape) != shape:
            raise CheckpointError(f"checkpoint {path!r} is damaged: entry {key!r} is {arr.dtype} {arr.shape}, "
                                  f"the header says {dtype} {tuple(shape)}")
        if _crc(arr) != header["crc32"][index]:
            raise CheckpointError(f"checkpoint {path!r} is damaged: entry {key!r} ({dtype} {tuple(shape)}) fails "
                                  "its CRC-32 check")
        return arr

    return _decode(header["root"], check)


def _describe(e):
    if "pickle" in str(e):         # never pass on NumPy's advice to load the file unsafely
        return "it holds pickled Python objects, which a minigrad checkpoint never does"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
