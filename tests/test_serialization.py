"""Checkpoints: exact round trips, damaged files named clearly, atomic writes."""
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad
from minigrad.serialization import CheckpointError, HEADER_KEY, load, save
from minigrad.tensor import Tensor


def nested():
    rng = np.random.default_rng(0)
    return {
        "model": {"fc.weight": Tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True),
                  "fc.bias": Tensor(np.zeros(3, np.float64)),
                  "bn.num_batches_tracked": Tensor(np.array(7, np.int64))},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": rng.standard_normal(4)}, 1: {}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.5, 0.999), "amsgrad": False, "params": [0, 1],
                                        "line_search_fn": None}]},
        "arrays": [np.arange(5, dtype=np.int64), np.ones((2, 0), np.float32), np.array(2.5), np.array([True, False]),
                   np.array(["ab", "c"]), np.arange(6, dtype=np.uint8).reshape(2, 3).T],
        "scalars": (np.float32(1.5), np.int64(-3), np.bool_(True)),
        "epoch": 12, "step": 34567, "loss": 0.123456789123, "huge": 2 ** 100, "neg": -(2 ** 70),
        "name": "dcgan — ü", "none": None, "flags": [True, False], "empty": [], "empty_dict": {}, "empty_tuple": (),
        "nonfinite": [float("inf"), float("-inf")],
        7: "int key", 2.5: "float key", None: "none key", True: "bool key",
    }


def assert_same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, Tensor):
        assert a.requires_grad == b.requires_grad and a.dtype == b.dtype
        np.testing.assert_array_equal(a.data, b.data)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b) and [type(k) for k in a] == [type(k) for k in b]
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def test_round_trip_of_a_nested_checkpoint(tmp_path):
    obj = nested()
    save(obj, tmp_path / "run.ckpt")
    back = load(tmp_path / "run.ckpt", map_location="cpu")
    assert_same(obj, back)
    assert isinstance(back["model"]["fc.weight"], Tensor) and back["model"]["fc.weight"].requires_grad
    assert back["huge"] == 2 ** 100


def test_loaded_arrays_are_independent_and_writable(tmp_path):
    save({"w": Tensor(np.ones(3), requires_grad=True)}, tmp_path / "a.ckpt")
    w = load(tmp_path / "a.ckpt")["w"]
    with minigrad.no_grad():
        w.data += 1
    np.testing.assert_array_equal(load(tmp_path / "a.ckpt")["w"].data, np.ones(3))


def test_module_level_names_and_str_paths(tmp_path):
    path = str(tmp_path / "plain")
    minigrad.save([1, 2], path)
    assert os.path.exists(path)                       # np.savez would have appended ".npz" to a name
    assert minigrad.load(path) == [1, 2]


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda children: st.lists(children, max_size=3) | st.tuples(children, children)
                    | st.dictionaries(st.text(max_size=3) | st.integers(), children, max_size=3), max_leaves=10))
def test_round_trip_of_drawn_plain_values(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("drawn") / "v.ckpt"
    save(value, path)
    assert_same(value, load(path))


# ----------------------------------------------------------------------------- damaged files

@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.ckpt"
    save(nested(), path)
    return path


def test_truncated_file(good_file, tmp_path):
    data = good_file.read_bytes()
    bad = tmp_path / "cut.ckpt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="checkpoint '.*cut.ckpt' is damaged"):
        load(bad)


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_flipped_bytes(good_file, tmp_path, where):
    data = bytearray(good_file.read_bytes())
    middle = int(len(data) * where)
    for i in range(middle, middle + 4):
        data[i] ^= 0xFF
    bad = tmp_path / "flipped.ckpt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="flipped.ckpt"):
        load(bad)


def test_random_junk_and_empty_file(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match="junk.ckpt"):
        load(junk)
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.ckpt"):
        load(empty)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="'.*nothing.ckpt' does not exist"):
        load(tmp_path / "nothing.ckpt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load(tmp_path)


def test_a_plain_npz_or_npy_is_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(CheckpointError, match="other.npz' is not a minigrad checkpoint"):
        load(tmp_path / "other.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(CheckpointError, match="single.npy' is not a minigrad checkpoint"):
        load(tmp_path / "single.npy")


def test_pickled_arrays_are_refused_not_executed(tmp_path):
    np.savez(tmp_path / "evil.npz", **{HEADER_KEY: np.array([{"a": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="evil.npz"):
        load(tmp_path / "evil.npz")


def test_checksum_names_the_entry_that_changed(good_file, tmp_path):
    # Rewrite the archive with one array altered but the header (and its CRCs) kept: the zip
    # itself is consistent, so only the checkpoint's own checksum can notice.
    with np.load(good_file) as npz:
        entries = {k: npz[k] for k in npz.files}
    entries["a2"] = entries["a2"].copy()
    entries["a2"].reshape(-1)[0] += 1
    np.savez(tmp_path / "tampered.npz", **entries)
    with pytest.raises(CheckpointError, match=r"tampered.npz' is damaged: entry 'a2' .* fails its CRC-32 check"):
        load(tmp_path / "tampered.npz")
    entries["a2"] = entries["a2"].astype(np.float32)
    np.savez(tmp_path / "retyped.npz", **entries)
    with pytest.raises(CheckpointError, match="entry 'a2' is float32"):
        load(tmp_path / "retyped.npz")


def test_checkpoint_error_is_a_runtime_error():
    assert issubclass(CheckpointError, RuntimeError)


def test_map_location_other_than_cpu_is_refused(good_file):
    with pytest.raises(ValueError, match="map_location='cuda'"):
        load(good_file, map_location="cuda")


# ----------------------------------------------------------------------------- atomic writes

def test_save_leaves_no_temporary_files_and_replaces_atomically(tmp_path):
    path = tmp_path / "ckpt"
    save({"v": 1}, path)
    save({"v": 2}, path)
    assert os.listdir(tmp_path) == ["ckpt"]
    assert load(path) == {"v": 2}


@pytest.mark.parametrize("bad", [object(), {"k": {1, 2}}, [np.array([object()], dtype=object)], {(1, 2): 3}])
def test_failed_save_keeps_the_existing_file(tmp_path, bad):
    path = tmp_path / "ckpt"
    save({"v": 1}, path)
    with pytest.raises(TypeError, match="save: "):
        save({"ok": np.ones(2), "bad": bad}, path)
    assert os.listdir(tmp_path) == ["ckpt"]
    assert load(path) == {"v": 1}


def test_failure_while_writing_removes_the_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    save({"v": 1}, path)

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save({"v": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt"]
    assert load(path) == {"v": 1}


def test_header_error_message_names_the_path_of_the_bad_object(tmp_path):
    with pytest.raises(TypeError, match=r"at the top level\['model'\]\[2\]"):
        save({"model": [1, 2, lambda: 0]}, tmp_path / "x")


def test_the_file_is_an_ordinary_npz(good_file):
    with zipfile.ZipFile(good_file) as z:
        assert f"{HEADER_KEY}.npy" in z.namelist()


def test_saved_file_gets_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        save([1], tmp_path / "perm.ckpt")
    finally:
        os.umask(mask)
    assert (tmp_path / "perm.ckpt").stat().st_mode & 0o777 == 0o644
