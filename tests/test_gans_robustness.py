"""The loop keeps nothing wrong and loses nothing: divergence stops it, schedules survive a resume,
and a run killed at any moment (a save included) resumes from a checkpoint that loads."""
import os
import signal
import subprocess
import sys
import time

import warnings

import numpy as np
import pytest

import minigrad
from gans import dcgan, images, train, train_dcgan, train_gan
from test_bad_inputs_cli import fashion_folder, snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return fashion_folder(str(tmp_path_factory.mktemp("robust") / "fashion"))


def flags(data_dir, out, *extra):
    return ["--data", data_dir, "--out", str(out), "--batch-size", "4", "--limit", "12", *extra]


def all_finite(state):
    if isinstance(state, dict):
        return all(all_finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(all_finite(v) for v in state)
    if isinstance(state, (np.ndarray, minigrad.Tensor)):
        arr = state.data if isinstance(state, minigrad.Tensor) else state
        return arr.dtype.kind != "f" or bool(np.isfinite(arr).all())
    return True


def test_divergence_stops_the_run_names_the_step_and_keeps_the_good_checkpoint(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_dcgan.main(flags(data_dir, out, "--lr", "1e20", "--steps", "40", "--checkpoint-every", "1"))
    assert stop.value.code == 3
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]   # the error line says it all
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "step 2: loss_d nan" in line[0] and "training diverged" in line[0], err
    rows = images.read_metrics(str(out / "metrics.csv"))
    assert [int(r["step"]) for r in rows] == [1, 2] and np.isnan(float(rows[1]["loss_d"]))   # metrics left
    assert not (out / "generator.ckpt").exists()
    assert not list((out / "samples").glob("*.png"))                 # no NaN grids
    if (out / "checkpoint.ckpt").exists():                            # step 1's, if its weights were finite
        state = minigrad.load(str(out / "checkpoint.ckpt"))
        assert state["step"] == 1 and all_finite(state["generator"]) and all_finite(state["discriminator"])
        assert "checkpoint.ckpt (step 1)" in line[0]
    else:
        assert "no checkpoint was written" in line[0]


def test_nan_policy_warn_goes_on_but_never_writes_nan_weights(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train_gan.main(flags(data_dir, out, "--lr", "1e30", "--steps", "4", "--nan-policy", "warn"))
    assert stop.value.code == 3
    err = capsys.readouterr().err
    assert "warning: step" in err and "non-finite" in err
    assert len(images.read_metrics(str(out / "metrics.csv"))) == 4
    for name in ("checkpoint.ckpt", "generator.ckpt"):
        if (out / name).exists():
            assert all_finite(minigrad.load(str(out / name))["generator"])


def interrupted_after(step_count):
    """dcgan.build whose train_step presses Ctrl-C during step `step_count` (like test_gans_train)."""
    def build(args):
        model = dcgan.build(args)
        step, calls = model.train_step, []

        def interrupted(real):
            calls.append(1)
            metrics = step(real)
            if len(calls) == step_count:
                os.kill(os.getpid(), signal.SIGINT)
            return metrics
        model.train_step = interrupted
        return model
    return build


def test_instance_noise_resume_is_exact_and_a_new_length_is_refused(data_dir, tmp_path, capsys):
    noise = ["--instance-noise", "0.2", "--steps", "4"]
    train_dcgan.main(flags(data_dir, tmp_path / "one", *noise))
    args = train.parse_args(train_dcgan.make_parser(), flags(data_dir, tmp_path / "two", *noise))
    with pytest.raises(SystemExit) as stop:
        train.run(args, interrupted_after(2), settings=train_dcgan.SETTINGS)
    assert stop.value.code == 130
    before = snapshot(str(tmp_path / "two"))
    with pytest.raises(SystemExit) as refused:                        # a decay over 6 steps would differ
        train_dcgan.main(flags(data_dir, tmp_path / "two", "--steps", "6", "--resume"))
    assert refused.value.code == 2
    assert "instance_noise_steps was 4 in the checkpoint's run but would be 6" in capsys.readouterr().err
    assert snapshot(str(tmp_path / "two")) == before
    train_dcgan.main(flags(data_dir, tmp_path / "two", "--steps", "4", "--resume"))
    one, two = (minigrad.load(str(tmp_path / d / "checkpoint.ckpt")) for d in ("one", "two"))
    assert one["schedule"] == two["schedule"] == {"instance_noise_steps": 4}
    for key in ("generator", "discriminator"):
        for name in one[key]:
            np.testing.assert_array_equal(one[key][name].data, two[key][name].data, err_msg=f"{key}.{name}")


def temporaries(folder):
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


def test_a_run_killed_at_any_moment_resumes_and_leaves_no_temporary(data_dir, tmp_path):
    """SIGKILL a real run while it writes a checkpoint, and at two other moments; each time the checkpoint
    on disk loads, and the next save (a --resume) removes the killed save's temporary file."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "gans.train_gan", *flags(data_dir, out, "--steps", "100000",
                                                          "--checkpoint-every", "1")]
    for moment in ("during a save", "after 2 s", "at once"):
        proc = subprocess.Popen(cmd + (["--resume"] if (out / "checkpoint.ckpt").exists() else ["--overwrite"]),
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        if moment == "during a save":
            while time.time() < deadline and not (out.exists() and temporaries(out)):
                time.sleep(0.0005)
        elif moment == "after 2 s":
            time.sleep(2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if moment == "during a save":
            assert temporaries(out), "the kill did not land during a save"
        if (out / "checkpoint.ckpt").exists():
            state = minigrad.load(str(out / "checkpoint.ckpt"))       # never a half-written checkpoint
            assert state["step"] >= 0
    step = minigrad.load(str(out / "checkpoint.ckpt"))["step"]
    assert train_gan.main(flags(data_dir, out, "--steps", str(step + 1), "--resume")) == step + 1
    assert temporaries(out) == []
    assert minigrad.load(str(out / "checkpoint.ckpt"))["step"] == step + 1
