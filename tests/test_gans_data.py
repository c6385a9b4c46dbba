"""gans/data.py and gans/images.py on tiny IDX files written by the test."""
import gzip
import os

import numpy as np
import pytest

from gans import data, images


def idx_bytes(array, ndim=None):
    ndim = array.ndim if ndim is None else ndim
    header = bytes([0, 0, 0x08, ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(folder, split, n, gz=False, rng=None):
    rng = rng or np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    for name, arr in zip(data.FILES[split], (imgs, labels)):
        raw = idx_bytes(arr)
        if gz:
            with gzip.open(os.path.join(folder, name + ".gz"), "wb") as f:
                f.write(raw)
        else:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(raw)
    return imgs, labels


@pytest.mark.parametrize("gz", [False, True])
def test_load_reads_plain_and_gzipped_files(tmp_path, gz):
    imgs, labels = write_split(str(tmp_path), "train", 12, gz=gz)
    got_imgs, got_labels = data.load("train", root=str(tmp_path))
    np.testing.assert_array_equal(got_imgs, imgs)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_labels.dtype == np.int64
    limited, _ = data.load("train", root=str(tmp_path), limit=5)
    assert limited.shape == (5, 28, 28)


def test_missing_data_prints_the_install_command(tmp_path):
    with pytest.raises(data.DatasetError) as err:
        data.load("test", root=str(tmp_path))
    message = str(err.value)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "--data DIR" in message and "t10k-images-idx3-ubyte" in message


def test_wrong_magic_names_the_file(tmp_path):
    write_split(str(tmp_path), "train", 4)
    path = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[3] = 0x01                                   # claims 1 dimension
    path.write_bytes(bytes(raw))
    with pytest.raises(data.DatasetError, match=r"train-images-idx3-ubyte: wrong magic number 0x00000801, "
                                                 r"expected 0x00000803"):
        data.load("train", root=str(tmp_path))


def test_truncated_file_names_the_file(tmp_path):
    write_split(str(tmp_path), "train", 4, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())[:-10]
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(data.DatasetError, match=r"train-images-idx3-ubyte.gz: truncated.*\(4, 28, 28\)"):
        data.load("train", root=str(tmp_path))


def test_broken_gzip_names_the_file(tmp_path):
    write_split(str(tmp_path), "train", 4, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(data.DatasetError, match="train-labels-idx1-ubyte.gz: cannot be read"):
        data.load("train", root=str(tmp_path))


def test_count_mismatch_names_both_files(tmp_path):
    write_split(str(tmp_path), "train", 6)
    labels = np.zeros(5, np.uint8)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(data.DatasetError, match=r"holds 6 images but .*train-labels-idx1-ubyte holds 5 labels"):
        data.load("train", root=str(tmp_path))


def test_scale_maps_bytes_onto_the_range():
    x = np.array([[[0, 255], [51, 204]]], np.uint8)
    got = data.scale(x)
    assert got.shape == (1, 1, 2, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got[0, 0], [[-1, 1], [-0.6, 0.6]], atol=1e-6)
    np.testing.assert_allclose(data.scale(x, (0, 1))[0, 0], [[0, 1], [0.2, 0.8]], atol=1e-6)


def test_batches_are_seeded_permutations_dropping_the_remainder():
    imgs = np.arange(10, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    labels = np.arange(10)
    batches = data.Batches(imgs, labels, batch_size=3, seed=7)
    assert batches.steps_per_epoch == 3
    epoch0 = np.concatenate([batches.batch(s)[1] for s in range(3)])
    assert len(set(epoch0.tolist())) == 9                       # 9 distinct images, one left over
    epoch1 = np.concatenate([batches.batch(s)[1] for s in range(3, 6)])
    assert not np.array_equal(epoch0, epoch1)                   # a fresh shuffle each epoch
    again = data.Batches(imgs, labels, batch_size=3, seed=7)
    np.testing.assert_array_equal(again.batch(4)[1], batches.batch(4)[1])   # random access, same answer
    x, y = batches.batch(0)
    np.testing.assert_allclose(x[:, 0, 0, 0], data.scale(imgs[y])[:, 0, 0, 0])
    with pytest.raises(ValueError, match="cannot fill one batch"):
        data.Batches(imgs, labels, batch_size=11)


def test_grid_gif_metrics_and_plot(tmp_path):
    rng = np.random.default_rng(0)
    fake = rng.uniform(-1, 1, size=(10, 1, 28, 28)).astype(np.float32)
    canvas = images.grid(fake, nrow=4, padding=2)
    assert canvas.shape == (3 * 30 + 2, 4 * 30 + 2)
    np.testing.assert_array_equal(canvas[2:30, 2:30], images.to_uint8(fake[:1])[0])
    pngs = [images.save_grid(fake * s, str(tmp_path / f"s{s}.png"), scale=2) for s in (0.5, 1.0)]
    from PIL import Image
    assert Image.open(pngs[0]).size == (2 * (8 * 30 + 2), 2 * (2 * 30 + 2))
    gif = images.save_gif(pngs, str(tmp_path / "p.gif"))
    assert Image.open(gif).n_frames == 2
    csv_path = str(tmp_path / "metrics.csv")
    log = images.MetricsCSV(csv_path, ["step", "loss_d", "loss_g"])
    for step in range(1, 6):
        log.write({"step": step, "loss_d": 1.0 / step, "loss_g": float(step)})
    log.close()
    log = images.MetricsCSV(csv_path, ["step", "loss_d", "loss_g"], resume_step=3)   # rows 4, 5 dropped
    log.write({"step": 4, "loss_d": 0.5, "loss_g": 9.0})
    log.close()
    rows = images.read_metrics(csv_path)
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"] and rows[-1]["loss_g"] == "9"
    assert os.path.getsize(images.plot_losses(csv_path, str(tmp_path / "losses.png"))) > 1000
