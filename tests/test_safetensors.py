"""minigrad.save_safetensors / load_safetensors: exact round trips, metadata, atomic writes, damaged files.

These need only the safetensors package (in the test extra); the PyTorch round trips are in
test_gans_safetensors.py.
"""
import os

import numpy as np
import pytest

import minigrad
import minigrad.nn as nn
from minigrad import load_safetensors, save_safetensors, safetensors_metadata
from minigrad.serialization import CheckpointError

pytest.importorskip("safetensors")


def test_round_trip_keeps_values_dtypes_and_shapes(tmp_path):
    arrays = {"w": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
              "d": np.arange(5, dtype=np.float64), "count": np.array(7, dtype=np.int64),
              "mask": np.array([True, False]), "empty": np.zeros((0, 2), np.float32)}
    save_safetensors({k: minigrad.tensor(v) if k != "mask" else v for k, v in arrays.items()}, tmp_path / "a.safetensors")
    back = load_safetensors(tmp_path / "a.safetensors", device="cpu")
    assert sorted(back) == sorted(arrays)
    for key, value in arrays.items():
        assert isinstance(back[key], minigrad.Tensor) and not back[key].requires_grad
        assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
        np.testing.assert_array_equal(back[key].data, value)


def test_zero_dim_and_non_contiguous_arrays_keep_their_shape(tmp_path):
    # np.ascontiguousarray would turn num_batches_tracked's () into (1,): PyTorch's strict load then fails
    save_safetensors({"n": np.array(3, np.int64), "t": np.arange(6.0).reshape(2, 3).T}, tmp_path / "a.safetensors")
    back = load_safetensors(tmp_path / "a.safetensors")
    assert back["n"].shape == () and back["n"].item() == 3
    np.testing.assert_array_equal(back["t"].data, np.arange(6.0).reshape(2, 3).T)


def test_loaded_arrays_are_writable_and_independent_of_the_file(tmp_path):
    save_safetensors({"w": np.ones(3, np.float32)}, tmp_path / "a.safetensors")
    w = load_safetensors(tmp_path / "a.safetensors")["w"]
    w.data[0] = 5.0
    assert load_safetensors(tmp_path / "a.safetensors")["w"].data[0] == 1.0


def test_a_module_state_dict_round_trips_strictly(tmp_path):
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model(minigrad.randn(5, 3))                           # running statistics move, num_batches_tracked = 1
    save_safetensors(model.state_dict(), tmp_path / "m.safetensors")
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(load_safetensors(tmp_path / "m.safetensors"), strict=True)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key].data, value.data)
    assert fresh.state_dict()["1.num_batches_tracked"].item() == 1


def test_metadata_is_stored_as_strings(tmp_path):
    save_safetensors({"w": np.ones(1)}, tmp_path / "a.safetensors", metadata={"arch": "dcgan", "n": "3"})
    assert safetensors_metadata(tmp_path / "a.safetensors") == {"arch": "dcgan", "n": "3"}
    save_safetensors({"w": np.ones(1)}, tmp_path / "b.safetensors")
    assert safetensors_metadata(tmp_path / "b.safetensors") == {}
    with pytest.raises(TypeError, match="metadata must map str to str"):
        save_safetensors({"w": np.ones(1)}, tmp_path / "c.safetensors", metadata={"n": 3})


def test_unsupported_values_are_refused_before_a_file_is_touched(tmp_path):
    path = tmp_path / "a.safetensors"
    save_safetensors({"w": np.ones(2)}, path)
    with pytest.raises(TypeError, match="'s' has dtype <U1"):
        save_safetensors({"w": np.zeros(2), "s": np.array(["x"])}, path)
    with pytest.raises(TypeError, match="names must be str"):
        save_safetensors({3: np.zeros(2)}, path)
    assert os.listdir(tmp_path) == ["a.safetensors"]
    np.testing.assert_array_equal(load_safetensors(path)["w"].data, np.ones(2))


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "a.safetensors"
    save_safetensors({"v": np.ones(2)}, path)
    save_safetensors({"v": np.full(2, 2.0)}, path)
    assert os.listdir(tmp_path) == ["a.safetensors"]
    np.testing.assert_array_equal(load_safetensors(path)["v"].data, np.full(2, 2.0))

    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError("No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)              # fails after the bytes went to the temporary file
    with pytest.raises(OSError, match="No space left"):
        save_safetensors({"v": np.full(2, 3.0)}, path)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert os.listdir(tmp_path) == ["a.safetensors"]
    np.testing.assert_array_equal(load_safetensors(path)["v"].data, np.full(2, 2.0))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing", "directory"])
def test_unreadable_files_raise_one_clear_error(tmp_path, damage):
    path = tmp_path / "a.safetensors"
    save_safetensors({"w": np.arange(100, dtype=np.float32)}, path)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[:-40])                          # the data is shorter than the header says
    elif damage == "garbage":
        path.write_bytes(b"\x01" * 64)
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "missing":
        path.unlink()
    else:
        path.unlink()
        path.mkdir()
    expected = {"missing": "does not exist", "directory": "is a directory"}.get(damage, "damaged or not a safetensors")
    with pytest.raises(CheckpointError, match=expected) as info:
        load_safetensors(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_only_the_cpu_is_a_device(tmp_path):
    save_safetensors({"w": np.ones(1)}, tmp_path / "a.safetensors")
    assert load_safetensors(tmp_path / "a.safetensors", device=None)["w"].device == "cpu"
    with pytest.raises(ValueError, match="device='cuda'"):
        load_safetensors(tmp_path / "a.safetensors", device="cuda")
