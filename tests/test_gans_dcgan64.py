"""gans/dcgan64.py and gans/folder_data.py: the lecture's 64x64 RGB DCGAN on a tiny folder made here."""
import os

import numpy as np
import pytest
from PIL import Image

import minigrad
import minigrad.nn as nn
from gans import data, dcgan64, folder_data, train_dcgan


@pytest.fixture
def pictures(tmp_path):
    """5 readable pictures of odd sizes in nested folders, one broken .jpg, one text file."""
    rng = np.random.default_rng(0)
    (tmp_path / "cats" / "old").mkdir(parents=True)
    sizes = [(80, 100), (64, 64), (120, 70), (70, 90), (66, 200)]
    paths = ["a.png", "cats/b.jpg", "cats/old/c.png", "cats/old/d.JPG", "e.jpeg"]
    for path, (h, w) in zip(paths, sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / path)
    (tmp_path / "cats" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "readme.txt").write_text("not a picture")
    return tmp_path


def test_lecture_layer_sizes():
    G, D = dcgan64.Generator(), dcgan64.Discriminator()
    convs = [m for m in G.model if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [
        (128, 1024), (1024, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
    assert [m.kernel_size for m in convs] == [(4, 4)] * 5 + [(3, 3)]
    assert isinstance(G.model[len(G.model) - 1], nn.Tanh)
    convs = [m for m in D.model if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.stride) for m in convs] == [
        (3, 32, (2, 2)), (32, 64, (2, 2)), (64, 128, (2, 2)), (128, 256, (2, 2)), (256, 1, (1, 1))]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.model) == 2
    assert all(m.negative_slope == 0.2 for m in D.model if isinstance(m, nn.LeakyReLU))


def test_shapes_at_a_small_width():
    minigrad.manual_seed(0)
    G, D = dcgan64.Generator(16, 3, width=4), dcgan64.Discriminator(3, width=4)
    fake = G(minigrad.randn(2, 16))
    assert fake.shape == (2, 3, 64, 64) and np.abs(fake.data).max() <= 1
    assert D(fake).shape == (2, 1)


def test_folder_pictures_nested_resized_and_broken_ones_skipped(pictures, capsys):
    assert len(folder_data.find_pictures(str(pictures))) == 6            # 5 pictures + the broken one
    loaded = folder_data.load_pictures(str(pictures), 64)
    assert loaded.shape == (5, 3, 64, 64) and loaded.dtype == np.uint8
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "skipped 1 of 6" in warnings[0] and "broken.jpg" in warnings[0]
    batches = folder_data.FolderBatches(loaded, 2, seed=0)
    x, _ = batches.batch(0)
    assert x.shape == (2, 3, 64, 64) and x.dtype == np.float32 and -1 <= x.min() and x.max() <= 1
    assert batches.steps_per_epoch == 2


def test_centre_crop_keeps_the_middle(tmp_path):
    picture = np.zeros((64, 128, 3), np.uint8)
    picture[:, 32:96] = 255                                             # white middle half, black sides
    Image.fromarray(picture).save(tmp_path / "wide.png")
    loaded = folder_data.load_pictures(str(tmp_path), 64)
    assert (loaded[0] == 255).all()


def test_empty_or_unreadable_folders_are_errors(tmp_path):
    with pytest.raises(data.DatasetError, match="no pictures found"):
        folder_data.load_pictures(str(tmp_path), 64)
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(data.DatasetError, match="none of the 1 picture files could be read"):
        folder_data.load_pictures(str(tmp_path), 64)
    with pytest.raises(data.DatasetError, match="no such folder"):
        folder_data.load_pictures(str(tmp_path / "missing"), 64)


def test_train_dcgan64_end_to_end(pictures, tmp_path, capsys):
    out = tmp_path / "run"
    train_dcgan.main(["--arch", "dcgan64", "--data", str(pictures), "--width", "4", "--batch-size", "2",
                      "--steps", "2", "--out", str(out)])
    assert os.path.exists(out / "samples" / "epoch_001.png") and os.path.exists(out / "generator.ckpt")   # 5 // 2 = 2 steps
    state = minigrad.load(str(out / "checkpoint.ckpt"))
    assert state["model"] == "dcgan64" and state["settings"]["latent_dim"] == 128
    assert "skipped 1 of 6" in capsys.readouterr().err


def test_dcgan64_needs_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        train_dcgan.main(["--arch", "dcgan64", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "--data DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        train_dcgan.main(["--arch", "dcgan64", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2 and "no pictures found" in capsys.readouterr().err
