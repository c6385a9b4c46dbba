"""The Fréchet distance, the classifier behind it, and the gans.evaluate command, on synthetic data."""
import os

import numpy as np
import pytest

import minigrad
from gans import classifier, evaluate


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt a - sqrt b)^2
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert evaluate.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    m = rng.normal(size=(6, 6))
    s = m @ m.T + np.eye(6)
    assert abs(evaluate.frechet_distance(mu1, s, mu1, s)) < 1e-9


def test_frechet_distance_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    f1, f2 = rng.normal(size=(200, 5)), rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    (mu1, s1), (mu2, s2) = evaluate.gaussian(f1), evaluate.gaussian(f2)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert evaluate.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def synthetic_images(n, seed):
    """Blobs at random places: float32 (n, 1, 28, 28) in [-1, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(8, 20, size=(n, 2, 1, 1))
    blobs = np.exp(-((yy - centres[:, 0]) ** 2 + (xx - centres[:, 1]) ** 2) / 20.0)
    return (blobs[:, None] * 2 - 1).astype(np.float32)


def test_metric_is_zero_for_identical_sets_and_grows_with_a_shift():
    minigrad.manual_seed(0)
    model = classifier.make_classifier()
    real = synthetic_images(300, 0)
    same, shares = evaluate.score(model, real, real)
    assert abs(same) < 1e-6
    assert shares.shape == (10,) and shares.sum() == pytest.approx(1.0)
    other_draw, _ = evaluate.score(model, synthetic_images(300, 1), real)
    shifted, _ = evaluate.score(model, np.clip(real + 0.5, -1, 1), real)
    noise, _ = evaluate.score(model, np.random.default_rng(2).uniform(-1, 1, real.shape).astype(np.float32), real)
    assert 0 < other_draw < shifted < noise


def test_class_shares_count_the_argmax():
    logits = np.zeros((4, 10))
    logits[[0, 1, 2, 3], [3, 3, 7, 0]] = 1
    np.testing.assert_allclose(evaluate.class_shares(logits), np.eye(10)[[3, 3, 7, 0]].mean(0))


def test_classifier_learns_separable_synthetic_classes(tmp_path):
    """Top half bright = class 0, bottom half bright = class 1: a few Adam steps get the test set right."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        labels = rng.integers(0, 2, n).astype(np.uint8)
        imgs = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, y in enumerate(labels):
            imgs[i, 14 * y:14 * y + 14] += 150
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", imgs)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", labels)
    logs = []
    model, acc = classifier.train_classifier(str(tmp_path), epochs=4, batch_size=10, lr=3e-3, log=logs.append)
    assert len(logs) == 4 and "test accuracy" in logs[0]
    assert acc == 1.0


def test_evaluate_command_scores_an_npy(tmp_path, capsys):
    minigrad.manual_seed(0)
    model = classifier.make_classifier()
    weights = str(tmp_path / "clf.ckpt")
    classifier.save_classifier(model, 0.5, weights)
    reloaded = classifier.load_classifier(weights)
    x = synthetic_images(20, 3)
    np.testing.assert_array_equal(classifier.features_and_logits(model, x)[1],
                                  classifier.features_and_logits(reloaded, x)[1])
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_test_split(data_dir, synthetic_images(50, 4))
    npy = str(tmp_path / "fake.npy")
    np.save(npy, ((synthetic_images(40, 5)[:, 0] + 1) * 127.5).astype(np.uint8))
    fd, shares = evaluate.main(["--images", npy, "--data", str(data_dir), "--classifier", weights])
    out = capsys.readouterr().out
    assert "Fréchet distance" in out and "Ankle boot" in out
    assert fd > 0 and shares.sum() == pytest.approx(1.0)


def test_missing_classifier_weights_say_how_to_train_them(tmp_path):
    with pytest.raises(Exception, match="python -m gans.train_classifier"):
        classifier.load_classifier(str(tmp_path / "none.ckpt"))


def test_shipped_classifier_reached_ninety_percent():
    if not os.path.exists(classifier.WEIGHTS):
        pytest.skip("classifier weights not trained yet")
    assert os.path.getsize(classifier.WEIGHTS) < 2 * 1024 * 1024
    state = minigrad.load(classifier.WEIGHTS)
    assert state["test_accuracy"] >= 0.90
    classifier.load_classifier()


def write_idx(path, arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def write_test_split(folder, float_images):
    u8 = np.clip(np.rint((float_images[:, 0] + 1) * 127.5), 0, 255).astype(np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte", u8)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(len(u8), np.uint8))
