"""The shared training loop through both trainers, on a tiny synthetic Fashion-MNIST written to disk."""
import os
import signal

import numpy as np
import pytest
from PIL import Image

import minigrad
from gans import dcgan, gan, images, sample, train, train_dcgan, train_gan


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """16 train and 8 test 'garments': bright rectangles of a size set by the label."""
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("t10k", 8)):
        labels = rng.integers(0, 10, n)
        imgs = np.zeros((n, 28, 28), np.uint8)
        for i, y in enumerate(labels):
            imgs[i, 4:6 + 2 * y, 8:20] = 200
        write_idx(root / f"{split}-images-idx3-ubyte", imgs)
        write_idx(root / f"{split}-labels-idx1-ubyte", labels)
    return str(root)


def flags(data_dir, out, *extra):
    return ["--data", data_dir, "--out", str(out), "--batch-size", "4", "--limit", "12", *extra]


def state_of(path):
    return minigrad.load(path)


def assert_same(a, b, where="checkpoint"):
    """Nested dicts/lists of arrays and values equal bit for bit."""
    if isinstance(a, dict):
        assert sorted(a, key=str) == sorted(b, key=str), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, minigrad.Tensor)):
        a = a.data if isinstance(a, minigrad.Tensor) else a
        b = b.data if isinstance(b, minigrad.Tensor) else b
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


@pytest.mark.parametrize("trainer", [train_dcgan, train_gan])
def test_trainer_writes_every_output(tiny_data, tmp_path, trainer):
    out = tmp_path / "run"
    step = trainer.main(flags(tiny_data, out, "--epochs", "2", "--sample-every", "2"))
    assert step == 6                                          # 12 images / batch 4 = 3 steps an epoch
    for name in ("samples/epoch_001.png", "samples/epoch_002.png", "samples/step_000002.png",
                 "progress.gif", "losses.png", "metrics.csv", "checkpoint.ckpt", "generator.ckpt"):
        assert (out / name).is_file(), name
    rows = images.read_metrics(str(out / "metrics.csv"))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("loss_d", "loss_g", "d_x", "d_g_z"))
    assert Image.open(out / "progress.gif").n_frames == 4     # step 2, epoch 1, step 4, epoch 2
    assert Image.open(out / "samples/epoch_001.png").size[0] == 4 * (8 * 30 + 2)   # 8 columns, upscaled 4x
    state = state_of(str(out / "checkpoint.ckpt"))
    assert state["step"] == 6 and state["epoch"] == 2
    assert state["fixed_noise"].shape == (64, 100 if trainer is train_dcgan else 30)

    grid = tmp_path / "grid.png"
    sample.main(["--checkpoint", str(out / "generator.ckpt"), "--n", "16", "--out", str(grid)])
    assert Image.open(grid).size == (4 * (8 * 30 + 2), 4 * (2 * 30 + 2))
    walk = tmp_path / "walk.png"
    sample.main(["--checkpoint", str(out / "checkpoint.ckpt"), "--interpolate", "--n", "2", "--steps", "5",
                 "--out", str(walk)])
    assert Image.open(walk).size == (4 * (5 * 30 + 2), 4 * (2 * 30 + 2))


@pytest.mark.parametrize("trainer", [train_dcgan, train_gan])
def test_resume_continues_bit_for_bit(tiny_data, tmp_path, trainer):
    """4 steps in one go == 2 steps, stop, --resume, 2 more (crossing an epoch boundary, with dropout)."""
    trainer.main(flags(tiny_data, tmp_path / "one", "--steps", "4"))
    trainer.main(flags(tiny_data, tmp_path / "two", "--steps", "2"))
    trainer.main(flags(tiny_data, tmp_path / "two", "--steps", "4", "--resume"))
    one, two = state_of(str(tmp_path / "one/checkpoint.ckpt")), state_of(str(tmp_path / "two/checkpoint.ckpt"))
    assert one["step"] == two["step"] == 4
    assert_same(one, two)
    rows_one = images.read_metrics(str(tmp_path / "one/metrics.csv"))
    rows_two = images.read_metrics(str(tmp_path / "two/metrics.csv"))
    for key in ("step", "loss_d", "loss_g", "d_x", "d_g_z"):
        assert [r[key] for r in rows_one] == [r[key] for r in rows_two], key


def test_resume_takes_the_runs_settings_from_the_checkpoint(tiny_data, tmp_path):
    out = tmp_path / "run"
    train_gan.main(flags(tiny_data, out, "--steps", "1", "--seed", "3"))
    parser = train.make_parser("x", **train_gan.DEFAULTS)
    args = parser.parse_args(["--data", tiny_data, "--out", str(out), "--steps", "2", "--resume"])
    assert train.run(args, gan.build) == 2
    assert args.seed == 3 and args.batch_size == 4 and args.limit == 12


def test_ctrl_c_saves_a_checkpoint_and_stops_cleanly(tiny_data, tmp_path, capsys):
    def build(args):
        model = dcgan.build(args)
        step, calls = model.train_step, []

        def interrupted_step(real):
            calls.append(1)
            metrics = step(real)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGINT)             # the user presses Ctrl-C during step 2
            return metrics
        model.train_step = interrupted_step
        return model

    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)                    # (ignored when pytest was started in the background)
    args = train.make_parser("x", **train_dcgan.DEFAULTS).parse_args(flags(tiny_data, out, "--steps", "5"))
    with pytest.raises(SystemExit) as stop:                     # saves, then exits 130 like an interrupted tool
        train.run(args, build)
    assert stop.value.code == 130
    assert state_of(str(out / "checkpoint.ckpt"))["step"] == 2
    assert (out / "generator.ckpt").is_file()
    captured = capsys.readouterr()
    assert "stopped by Ctrl-C at step 2" in captured.out and "--resume" in captured.out
    assert signal.getsignal(signal.SIGINT) is before                        # handler restored


@pytest.mark.parametrize("damage", ["garbage", "cut", "missing"])
def test_damaged_checkpoint_gives_a_clear_error(tiny_data, tmp_path, capsys, damage):
    out = tmp_path / "run"
    train_gan.main(flags(tiny_data, out, "--steps", "1"))
    ckpt = out / "checkpoint.ckpt"
    if damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint at all")
    elif damage == "cut":
        ckpt.write_bytes(ckpt.read_bytes()[:len(ckpt.read_bytes()) // 2])
    else:
        ckpt.unlink()
    with pytest.raises(SystemExit) as err:
        train_gan.main(flags(tiny_data, out, "--steps", "2", "--resume"))
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert str(ckpt) in message
    assert ("no such checkpoint" in message) if damage == "missing" else ("damaged" in message)


def test_a_generator_file_is_not_a_training_checkpoint(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    train_gan.main(flags(tiny_data, out, "--steps", "1"))
    with pytest.raises(SystemExit):
        train_gan.main(flags(tiny_data, out, "--steps", "2", "--resume", str(out / "generator.ckpt")))
    err = capsys.readouterr().err
    assert "not a complete training checkpoint, missing" in err and "discriminator" in err


def test_cuda_and_missing_data_are_explained(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_dcgan.main(["--out", str(tmp_path / "a"), "--device", "cuda"])
    assert "--device cpu" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_dcgan.main(["--out", str(tmp_path / "b"), "--data", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert "sudo apt-get install dataset-fashion-mnist" in err and "--data DIR" in err


def test_dcgan_shapes_match_the_tutorial():
    minigrad.manual_seed(0)
    generator, discriminator = dcgan.make_generator_model(), dcgan.make_discriminator_model()
    fake = generator(minigrad.randn(2, 100))
    assert fake.shape == (2, 1, 28, 28)
    assert float(fake.data.min()) >= -1 and float(fake.data.max()) <= 1
    assert discriminator(fake).shape == (2, 1)
    n_params = sum(p.numel() for p in generator.parameters())
    assert n_params == 100 * 12544 + 2 * 12544 + 256 * 128 * 25 + 2 * 128 + 128 * 64 * 25 + 2 * 64 + 64 * 25
    assert sum(p.numel() for p in discriminator.parameters()) == 64 * 25 + 64 + 64 * 128 * 25 + 128 + 6272 + 1


def test_a_fresh_run_drops_the_grids_of_an_earlier_one(tiny_data, tmp_path):
    out = tmp_path / "run"
    train_gan.main(flags(tiny_data, out, "--steps", "4", "--sample-every", "1"))
    train_gan.main(flags(tiny_data, out, "--steps", "2", "--sample-every", "1", "--overwrite"))
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000001.png", "step_000002.png"]
    assert Image.open(out / "progress.gif").n_frames == 2


def test_backend_flag_picks_the_kernels_and_says_which(tiny_data, tmp_path, capsys):
    """--backend numpy runs the reference kernels (and says so); both backends train the same 2 steps."""
    before = minigrad.backend()
    try:
        train_dcgan.main(flags(tiny_data, tmp_path / "np", "--steps", "2", "--backend", "numpy"))
        assert minigrad.backend() == "numpy"
        assert "kernels: numpy" in capsys.readouterr().err
        if before == "cpp":
            train_dcgan.main(flags(tiny_data, tmp_path / "cpp", "--steps", "2", "--backend", "cpp"))
            assert "kernels: cpp" in capsys.readouterr().err
            a = state_of(str(tmp_path / "np/generator.ckpt"))
            b = state_of(str(tmp_path / "cpp/generator.ckpt"))
            for key in a["generator"]:
                np.testing.assert_allclose(a["generator"][key].numpy(), b["generator"][key].numpy(), rtol=1e-3, atol=1e-4)
    finally:
        minigrad.set_backend(before)
