"""gans/cgan.py and gans.train_cgan: labels reach both networks, the 10x10 grid, scoring, exact resume."""
import os

import numpy as np
import pytest
from PIL import Image

import minigrad
from gans import cgan, classifier, train_cgan, train_dcgan
from test_gans_train import assert_same, tiny_data  # noqa: F401  (the fixture is shared)


def test_generator_and_discriminator_listen_to_the_label():
    minigrad.manual_seed(0)
    G, D = cgan.ConditionalGenerator(8), cgan.ConditionalDiscriminator()
    G.eval(), D.eval()
    z = minigrad.randn(2, 8)
    a = G(z, minigrad.tensor(np.array([0, 0])))
    b = G(z, minigrad.tensor(np.array([3, 7])))
    assert a.shape == (2, 1, 28, 28) and np.abs(a.data).max() <= 1
    assert not np.allclose(a.data, b.data)
    x = minigrad.tensor(np.zeros((2, 1, 28, 28), np.float32))
    assert D(x, minigrad.tensor(np.array([0, 0]))).shape == (2, 1)
    assert not np.allclose(D(x, minigrad.tensor(np.array([0, 0]))).data, D(x, minigrad.tensor(np.array([1, 2]))).data)


def test_within_class_spread_against_hand_computed_values():
    images = np.array([[0.0, 0.0], [1.0, 2.0], [5.0, 5.0], [5.0, 5.0]])
    labels = np.array([0, 0, 1, 1])
    # class 0: per-pixel std 0.5 and 1.0 -> 0.75; class 1: identical images -> 0
    assert cgan.within_class_spread(images, labels) == pytest.approx(0.375)


def test_grid_rows_are_classes():
    assert list(cgan.sample_labels(30)) == [0] * 10 + [1] * 10 + [2] * 10


def test_train_cgan_end_to_end(tiny_data, tmp_path):   # noqa: F811
    out = tmp_path / "run"
    train_cgan.main(["--data", tiny_data, "--out", str(out), "--batch-size", "4", "--limit", "12",
                     "--steps", "2", "--eval-n", "0", "--loss", "hinge", "--spectral-norm"])
    for name in ("samples/step_000002.png", "progress.gif", "losses.png", "metrics.csv", "generator.ckpt"):
        assert os.path.exists(out / name), name
    grid = Image.open(out / "samples" / "step_000002.png")
    tile = 4 * (28 + 2)                                  # images.save_grid: 28 px + 2 padding, drawn 4x
    assert grid.width == 10 * tile + 4 * 2 and grid.height == 10 * tile + 4 * 2 + 16     # 10 x 10 (+ caption)


def test_resume_is_exact_with_ema_and_replay(tiny_data, tmp_path):   # noqa: F811
    common = ["--data", tiny_data, "--batch-size", "4", "--limit", "12", "--eval-n", "0", "--ema", "0.9",
              "--replay", "8", "--real-label", "0.9"]
    train_cgan.main(common + ["--out", str(tmp_path / "a"), "--steps", "3"])
    train_cgan.main(common + ["--out", str(tmp_path / "b"), "--steps", "2"])
    train_cgan.main(common + ["--out", str(tmp_path / "b"), "--steps", "3", "--resume"])
    a, b = minigrad.load(str(tmp_path / "a" / "checkpoint.ckpt")), minigrad.load(str(tmp_path / "b" / "checkpoint.ckpt"))
    for key in ("generator", "discriminator", "extra", "step"):
        assert_same(a[key], b[key], key)
    assert a["extra"]["replay"]["count"] == 12
    ema = minigrad.load(str(tmp_path / "a" / "generator.ckpt"))["generator"]
    assert_same(ema, a["extra"]["ema"], "generator.ckpt holds the EMA weights")


def test_class_accuracy_and_fd_of_a_generator(tiny_data):   # noqa: F811
    if not os.path.isfile(classifier.WEIGHTS):
        pytest.skip("classifier weights not trained")
    from gans import data
    pictures = data.scale(data.load("test", root=tiny_data)[0])          # 8 images

    class Fixed(minigrad.nn.Module):                     # class c -> always test picture c % 8
        def forward(self, noise, labels):
            return minigrad.tensor(pictures[labels.data % len(pictures)])
    model = classifier.load_classifier()
    accuracy, fd, per_class, spread = cgan.evaluate_generator(Fixed(), 4, n=20, root=tiny_data, model=model)
    predicted = classifier.features_and_logits(model, pictures[np.arange(10) % len(pictures)])[1].argmax(1)
    np.testing.assert_array_equal(per_class, (predicted == np.arange(10)).astype(float))
    assert accuracy == pytest.approx(per_class.mean())
    assert np.isfinite(fd) and fd > -1e-6
    assert spread == 0                                   # one picture per class: no spread at all


def test_dcgan_trainer_takes_the_loss_flag(tiny_data, tmp_path):   # noqa: F811
    train_dcgan.main(["--data", tiny_data, "--out", str(tmp_path), "--batch-size", "4", "--limit", "12",
                      "--steps", "2", "--loss", "wgan-gp", "--n-critic", "2"])
    rows = open(tmp_path / "metrics.csv").read().splitlines()
    assert rows[1].split(",")[3] == "nan" and rows[2].split(",")[3] != "nan"     # G moves on step 2 only


def test_label_flag_with_a_loss_without_labels_is_a_clear_error(tiny_data, tmp_path, capsys):   # noqa: F811
    with pytest.raises(SystemExit) as exit_:
        train_cgan.main(["--data", tiny_data, "--out", str(tmp_path), "--loss", "hinge", "--real-label", "0.9"])
    assert exit_.value.code == 2 and "need a loss with labels" in capsys.readouterr().err
