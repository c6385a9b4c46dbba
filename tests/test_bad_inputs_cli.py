"""Every tool on a table of bad inputs: one `error: ...` line, a non-zero exit, no traceback, and the good
run folder beside them byte for byte unchanged. In-process (main(argv)) to stay fast; a few cases also
through a real subprocess, for the exit status and the absence of a traceback as a user sees them."""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minigrad
from gans import evaluate, sample, train_cgan, train_cyclegan, train_dcgan, train_gan, translate

TRAINERS = {"gan": train_gan, "dcgan": train_dcgan, "cgan": train_cgan, "cyclegan": train_cyclegan}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_idx(path, array, gz=False):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    with (gzip.open(path + ".gz", "wb") if gz else open(path, "wb")) as f:
        f.write(raw)


def fashion_folder(root, gz=False):
    rng = np.random.default_rng(0)
    os.makedirs(root)
    for split, n in (("train", 12), ("t10k", 8)):
        labels = rng.integers(0, 10, n)
        imgs = np.zeros((n, 28, 28), np.uint8)
        for i, y in enumerate(labels):
            imgs[i, 4:6 + 2 * y, 8:20] = 200
        write_idx(os.path.join(root, f"{split}-images-idx3-ubyte"), imgs, gz)
        write_idx(os.path.join(root, f"{split}-labels-idx1-ubyte"), labels, gz)
    return root


def snapshot(folder):
    """{relative path: bytes} of every file under folder."""
    out = {}
    for here, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(here, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tiny data, good runs of gan, dcgan and cyclegan, and damaged inputs of every kind."""
    base = tmp_path_factory.mktemp("bad_inputs")
    w = {"base": str(base)}
    w["data"] = fashion_folder(str(base / "fashion"))
    flipped = fashion_folder(str(base / "flipped"), gz=True)
    path = os.path.join(flipped, "train-images-idx3-ubyte.gz")
    raw = bytearray(open(path, "rb").read())
    for i in range(20, len(raw) - 8, 7):          # flip bytes inside the deflate stream
        raw[i] ^= 0xFF
    open(path, "wb").write(bytes(raw))
    w["flipped"] = flipped
    common = ["--data", w["data"], "--batch-size", "4", "--limit", "12", "--steps", "2"]
    w["good"] = str(base / "good")
    train_gan.main(common + ["--out", w["good"]])
    w["good_dcgan"] = str(base / "good_dcgan")
    train_dcgan.main(common + ["--out", w["good_dcgan"], "--steps", "1"])
    # a dcgan checkpoint whose settings say the wrong size: its weights cannot be loaded
    state = minigrad.load(os.path.join(w["good_dcgan"], "checkpoint.ckpt"))
    w["misfit"] = str(base / "misfit.ckpt")
    minigrad.save(dict(state, settings=dict(state["settings"], latent_dim=50)), w["misfit"])
    # a checkpoint of an older trainer: no --loss in its settings, no step state ('extra')
    w["old"] = str(base / "old.ckpt")
    minigrad.save(dict(state, settings={k: v for k, v in state["settings"].items() if k in
                                        ("batch_size", "lr", "beta1", "beta2", "latent_dim", "seed", "limit")}),
                  w["old"])
    pictures = base / "pictures"
    for domain in ("a", "b"):
        (pictures / domain).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 60 * i + 40 * (domain == "b"), np.uint8)).save(
                pictures / domain / f"{i}.png")
    w["good_cyclegan"] = str(base / "good_cyclegan")
    train_cyclegan.main(["--domain-a", str(pictures / "a"), "--domain-b", str(pictures / "b"), "--image-size", "16",
                         "--width", "4", "--res-blocks", "1", "--batch-size", "2", "--steps", "1",
                         "--out", w["good_cyclegan"]])
    broken = base / "broken"
    broken.mkdir()
    for name in ("x.png", "y.jpg"):
        (broken / name).write_bytes(b"\x89PNG not really a picture")
    w["broken"] = str(broken)
    (base / "empty").mkdir()
    w["empty"] = str(base / "empty")
    w["file"] = str(base / "a_file")
    open(w["file"], "w").write("not a folder\n")
    w["text"] = str(base / "text.ckpt")
    open(w["text"], "w").write("hello\n")
    npy = {"empty": np.zeros((0, 28, 28), np.uint8), "single": np.zeros((1, 28, 28), np.uint8),
           "nan": np.full((4, 28, 28), np.nan, np.float32), "float255": np.full((4, 28, 28), 200.0, np.float32),
           "int64": np.full((4, 28, 28), 3, np.int64), "shape": np.zeros((4, 32, 32), np.uint8)}
    for name, arr in npy.items():
        np.save(str(base / f"{name}.npy"), arr)
        w[f"npy_{name}"] = str(base / f"{name}.npy")
    w["npz"] = str(base / "images.npz")
    np.savez(w["npz"], images=np.zeros((4, 28, 28), np.uint8))
    w["before"] = {k: snapshot(w[k]) for k in ("good", "good_dcgan", "good_cyclegan")}
    return w


def trainer(name, *extra):
    return lambda w: (TRAINERS[name], ["--data", w["data"], "--batch-size", "4", "--limit", "12", "--steps", "2",
                                       "--out", os.path.join(w["base"], "fresh"), *[a.format(**w) for a in extra]])


def tool(module, *argv):
    return lambda w: (module, [a.format(**w) for a in argv])


CASES = {
    # the trainers' numeric flags (item 5, item 4)
    "batch size 0": (trainer("gan", "--batch-size", "0"), "--batch-size 0: must be at least 1"),
    "batch size negative": (trainer("dcgan", "--batch-size", "-3"), "--batch-size -3: must be at least 1"),
    "batch larger than the data": (trainer("gan", "--batch-size", "100"), "cannot fill one batch of 100"),
    "lr -1": (trainer("dcgan", "--lr", "-1"), "--lr -1.0: must be greater than 0"),
    "beta1 1.5": (trainer("dcgan", "--beta1", "1.5"), "--beta1 1.5: must be in [0, 1)"),
    "latent dim 0": (trainer("gan", "--latent-dim", "0"), "--latent-dim 0: must be at least 1"),
    "epochs nan": (trainer("gan", "--epochs", "nan"), "--epochs nan: must be a finite number"),
    "epochs -1": (trainer("gan", "--epochs", "-1"), "--epochs -1.0: must be greater than 0"),
    "epochs 0": (trainer("cgan", "--epochs", "0"), "--epochs 0.0: must be greater than 0"),
    "steps -5": (trainer("dcgan", "--steps", "-5"), "--steps -5: must be at least 1"),
    "limit 0": (trainer("gan", "--limit", "0"), "--limit 0: must be at least 1"),
    "seed -1": (trainer("gan", "--seed", "-1"), "--seed -1: must be at least 0"),
    "n-critic 0": (trainer("dcgan", "--n-critic", "0"), "--n-critic"),
    "flip labels 2": (trainer("cgan", "--flip-labels", "2"), "--flip-labels 2.0: must be in [0, 1]"),
    "ema 1": (trainer("dcgan", "--ema", "1"), "--ema 1.0: must be in [0, 1)"),
    "cyclegan width 0": (trainer("cyclegan", "--width", "0"), "--width 0: must be at least 1"),
    "cyclegan decay-from 2": (trainer("cyclegan", "--decay-from", "2"), "--decay-from 2.0: must be in [0, 1]"),
    # paths and data
    "out is a file": (trainer("gan", "--out", "{file}"), "is a file, not a folder"),
    "out under a file": (trainer("gan", "--out", "{file}/run"), "is a file, not a folder"),
    "flipped gzip bytes": (trainer("gan", "--data", "{flipped}"), "cannot be read"),
    "data folder missing": (trainer("dcgan", "--data", "{base}/nowhere"), "Fashion-MNIST not found"),
    # the good run folder (item 4) and resuming what does not fit
    "existing run without --resume": (trainer("gan", "--out", "{good}"), "already holds a run"),
    "resume another architecture": (trainer("dcgan", "--out", "{good}", "--resume"),
                                    "a gan checkpoint, but this trainer trains dcgan"),
    "resume with another loss": (trainer("dcgan", "--out", "{good_dcgan}", "--resume", "--loss", "hinge"),
                                 "--loss hinge: the run in"),
    "resume with another seed": (trainer("gan", "--out", "{good}", "--resume", "--seed", "5"),
                                 "--seed 5: the run in"),
    "resume an old checkpoint with a gallery loss": (
        trainer("dcgan", "--out", "{good_dcgan}", "--resume", "{old}", "--loss", "hinge"), "training-step state"),
    "resume weights of another size": (trainer("dcgan", "--out", "{good_dcgan}", "--resume", "{misfit}"),
                                       "its generator does not fit"),
    "resume a text file": (trainer("gan", "--out", "{good}", "--resume", "{text}"), "not a minigrad checkpoint"),
    "resume a generator file": (trainer("gan", "--out", "{good}", "--resume", "{good}/generator.ckpt"),
                                "not a complete training checkpoint"),
    # gans.sample
    "sample n 0": (tool(sample, "--checkpoint", "{good}/generator.ckpt", "--n", "0", "--out", "{base}/g.png"),
                   "--n 0: must be at least 1"),
    "sample n -2": (tool(sample, "--checkpoint", "{good}/generator.ckpt", "--n", "-2", "--out", "{base}/g.png"),
                    "--n -2: must be at least 1"),
    "sample interpolate steps 1": (tool(sample, "--checkpoint", "{good}/generator.ckpt", "--interpolate", "--steps",
                                        "1", "--out", "{base}/g.png"), "--steps 1: must be at least 2"),
    "sample missing checkpoint": (tool(sample, "--checkpoint", "{base}/none.ckpt", "--out", "{base}/g.png"),
                                  "no such file"),
    "sample text checkpoint": (tool(sample, "--checkpoint", "{text}", "--out", "{base}/g.png"),
                               "not a minigrad checkpoint"),
    "sample out is a folder": (tool(sample, "--checkpoint", "{good}/generator.ckpt", "--out", "{good}"),
                               "is a folder"),
    "sample out in a missing folder": (tool(sample, "--checkpoint", "{good}/generator.ckpt", "--out",
                                            "{base}/nowhere/g.png"), "does not exist"),
    "sample out without a picture suffix": (tool(sample, "--checkpoint", "{good}/generator.ckpt", "--out",
                                                 "{base}/grid"), "ending in .png"),
    "sample a cyclegan checkpoint": (tool(sample, "--checkpoint", "{good_cyclegan}/generator.ckpt", "--out",
                                          "{base}/g.png"), "unknown model 'cyclegan'"),
    # gans.evaluate (items 5 and 6)
    "evaluate empty npy": (tool(evaluate, "--images", "{npy_empty}", "--data", "{data}"), "0 image(s)"),
    "evaluate single image": (tool(evaluate, "--images", "{npy_single}", "--data", "{data}"), "1 image(s)"),
    "evaluate NaN images": (tool(evaluate, "--images", "{npy_nan}", "--data", "{data}"), "NaN or infinite"),
    "evaluate npz": (tool(evaluate, "--images", "{npz}", "--data", "{data}"), "an .npz archive"),
    "evaluate floats in 0..255": (tool(evaluate, "--images", "{npy_float255}", "--data", "{data}"),
                                  "should be saved as uint8"),
    "evaluate int64": (tool(evaluate, "--images", "{npy_int64}", "--data", "{data}"), "int64 images"),
    "evaluate wrong shape": (tool(evaluate, "--images", "{npy_shape}", "--data", "{data}"), "expected images of shape"),
    "evaluate text file": (tool(evaluate, "--images", "{text}", "--data", "{data}"), "cannot be read as a .npy"),
    "evaluate bad range": (tool(evaluate, "--images", "{npy_single}", "--range", "1,-1"), "--range '1,-1'"),
    "evaluate n 1": (tool(evaluate, "--untrained", "gan", "--n", "1"), "--n 1: must be at least 2"),
    "evaluate missing images": (tool(evaluate, "--images", "{base}/none.npy"), "no such file"),
    "evaluate a cyclegan checkpoint": (tool(evaluate, "--checkpoint", "{good_cyclegan}/generator.ckpt", "--data",
                                            "{data}", "--n", "4"), "unknown model 'cyclegan'"),
    # gans.translate (item 6)
    "translate broken pictures": (tool(translate, "--checkpoint", "{good_cyclegan}/generator.ckpt", "--input",
                                       "{broken}", "--out", "{base}/translated"), "none of its 2 picture files"),
    "translate empty folder": (tool(translate, "--checkpoint", "{good_cyclegan}/generator.ckpt", "--input",
                                    "{empty}", "--out", "{base}/translated"), "no pictures found"),
    "translate out is a file": (tool(translate, "--checkpoint", "{good_cyclegan}/generator.ckpt", "--input",
                                     "{broken}", "--out", "{file}"), "is a file, not a folder"),
    "translate a gan checkpoint": (tool(translate, "--checkpoint", "{good}/generator.ckpt", "--input", "{broken}",
                                        "--out", "{base}/translated"), "needs one written by gans.train_cyclegan"),
}


def error_lines(text):
    return [line for line in text.splitlines() if line.startswith("error:") or ": error:" in line]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_error_line_and_changes_nothing(world, case, capsys):
    make, expected = CASES[case]
    module, argv = make(world)
    fresh = os.path.join(world["base"], "fresh")
    with pytest.raises(SystemExit) as stop:         # any other exception would be a traceback
        module.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code not in (0, None), err
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err and "allow_pickle" not in err
    after = err[err.index(lines[0]) + len(lines[0]):]             # only the message's own help lines follow
    assert all(line.startswith(("    ", "Install", "or pass")) for line in after.strip("\n").splitlines()), err
    for key, files in world["before"].items():
        assert snapshot(world[key]) == files, f"{case} changed {key}"
    assert not os.path.exists(fresh) or not os.listdir(fresh), f"{case} wrote into {fresh}"


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root can write anywhere")
def test_an_out_folder_that_is_not_writable(world, capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SystemExit):
            train_gan.main(trainer("gan", "--out", str(locked / "run"))(world)[1])
        assert "is not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("argv, expected", [
    (["-m", "gans.train_dcgan", "--batch-size", "0"], "error: --batch-size 0: must be at least 1"),
    (["-m", "gans.sample", "--checkpoint", "{good}/generator.ckpt", "--n", "0", "--out", "{base}/g.png"],
     "error: --n 0: must be at least 1"),
])
def test_as_a_user_sees_it_exit_2_and_no_traceback(world, argv, expected):
    done = subprocess.run([sys.executable, *[a.format(**world) for a in argv]], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == expected, done.stderr
