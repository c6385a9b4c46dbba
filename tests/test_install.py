"""The package as a new user gets it: a wheel built from a copy of the clone, installed into a folder of
its own, running the main job's commands from outside the clone and from the clone's root.

Slow (it builds the C++ extension once, about 1-2 minutes on 2 cores) and needs what `pip install .`
needs: PyPI for the build requirements, CMake's download included. The installed package gets its
dependencies (numpy, ...) from the environment running the tests, but the commands run with `python -S`
and the packages on PYTHONPATH: no .pth file runs, so the editable install of the tests' own checkout
(whose import hook would hand out its kernels._cpu) stays out of the way.
"""
import os
import site as site_module
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_gans_train import tiny_data  # noqa: F401  (the fixture: a tiny Fashion-MNIST on disk)

ROOT = Path(__file__).resolve().parents[1]
# what a fresh clone does not have: build outputs, caches, runs, virtual environments
NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv*", "venv*", "build", "dist", "runs", "*.egg-info",
                                        "__pycache__", ".hypothesis", ".pytest_cache", "*.so", "*.tmp")
WHERE = "import minigrad, kernels; print('minigrad at', minigrad.__file__); print('kernels at', kernels.__file__)"


def run(command, cwd, env, python=(sys.executable,)):
    result = subprocess.run([*python, *command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def install(tmp, name, clone, **env_vars):
    """Build a wheel of `clone` as `pip install .` would, install it with --target; the env to run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIGRAD_")}
    wheels, site = tmp / f"{name}-wheel", tmp / f"{name}-site"
    run(["-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(clone)], tmp, {**env, **env_vars})
    wheel, = wheels.glob("minigrad-*.whl")
    run(["-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)], tmp, env)
    return {**env, "PYTHONPATH": os.pathsep.join([str(site), *site_module.getsitepackages()])}, site


def run_installed(command, cwd, env):
    return run(command, cwd, env, python=(sys.executable, "-S"))


def main_job(cwd, env, out, data):
    """The README's commands, shortened: train a few steps, sample, evaluate. Returns the trainer's output."""
    trained = run_installed(["-m", "gans.train_dcgan", "--steps", "3", "--batch-size", "8", "--out", str(out),
                   "--data", data], cwd, env)
    generator = str(out / "generator.ckpt")
    run_installed(["-m", "gans.sample", "--checkpoint", generator, "--n", "4", "--out", str(out / "grid.png")],
                  cwd, env)
    evaluated = run_installed(["-m", "gans.evaluate", "--checkpoint", generator, "--n", "16", "--data", data],
                              cwd, env)
    assert "Fréchet distance" in evaluated
    return trained


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    copy = tmp_path_factory.mktemp("fresh") / "minigrad"
    shutil.copytree(ROOT, copy, ignore=NOT_IN_A_CLONE)
    return copy


def test_the_wheel_trains_on_the_cpp_kernels_from_anywhere(clone, tiny_data, tmp_path):  # noqa: F811
    env, site = install(tmp_path, "cpp", clone)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd, package_dir in ((elsewhere, site), (clone, clone)):   # the clone's root imports the clone's folders
        where = run_installed(["-c", WHERE], cwd, env)
        assert f"kernels at {package_dir / 'kernels'}" in where, where
        trained = main_job(cwd, env, tmp_path / f"run-{cwd.name}", tiny_data)
        assert "kernels: cpp" in trained and "unavailable" not in trained, trained


def test_without_the_extension_it_says_so_once_and_runs_on_numpy(clone, tiny_data, tmp_path):  # noqa: F811
    env, site = install(tmp_path, "numpy", clone, MINIGRAD_NO_EXTENSION="1")
    assert not list((site / "kernels").glob("_cpu*")), "MINIGRAD_NO_EXTENSION=1 still shipped the extension"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    trained = main_job(elsewhere, env, tmp_path / "run", tiny_data)
    notices = [line for line in trained.splitlines() if "C++ kernels unavailable" in line]
    assert len(notices) == 1 and "kernels: numpy" in trained, trained


def test_a_foreign_kernels_package_stops_with_one_line(tmp_path):
    """Another distribution's `kernels` (Hugging Face's loader has that import name) shadowing ours."""
    (tmp_path / "kernels").mkdir()
    (tmp_path / "kernels" / "__init__.py").write_text("def get_kernel(name):\n    pass\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run([sys.executable, "-m", "gans.sample", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr, result.stderr
    assert str(tmp_path / "kernels" / "__init__.py") in result.stderr and "virtual environment" in result.stderr


@pytest.mark.parametrize("missing", ["skimage", "skimage.data"])
def test_a_missing_extra_is_one_line_naming_it(missing, monkeypatch):
    from gans import style_transfer
    monkeypatch.setitem(sys.modules, missing, None)          # `import skimage...` now raises ImportError
    with pytest.raises(SystemExit) as stop:
        style_transfer.main(["--demo", "--steps", "1", "--features", "random"])
    message = str(stop.value.code)
    assert message.startswith("error: --demo") and 'pip install ".[style]"' in message and "\n" not in message
