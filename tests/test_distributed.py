"""minigrad.distributed and --distributed, on 2 ranks of localhost under mpiexec (tests/distributed_worker.py).

Skipped where mpi4py or mpiexec is missing (the test extra installs both: mpi4py and MPICH's wheel).
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minigrad
import minigrad.distributed as dist
from gans import data, parallel, train_dcgan
from test_bad_inputs_cli import fashion_folder

HERE = os.path.dirname(os.path.abspath(__file__))
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
needs_mpi = pytest.mark.skipif(not dist.is_available() or MPIEXEC is None,
                               reason="needs mpi4py and mpiexec: pip install \".[distributed]\"")


def mpiexec(n, *argv, timeout=240, cwd=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]), OMP_NUM_THREADS="1")
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *argv], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return fashion_folder(str(tmp_path_factory.mktemp("dist") / "fashion"))


# ----------------------------------------------------------------------------- the library

@needs_mpi
@pytest.mark.parametrize("case", ["collectives", "sync_batchnorm", "ddp", "nccl"])
def test_on_two_ranks(case):
    """Collectives against NumPy, SyncBatchNorm against BatchNorm of the whole batch (with a second-order
    gradient), DDP against one process: hypothesis-drawn shapes and dtypes (distributed_worker.py).
    nccl: CUDA tensors of the CuPy stand-in through the NCCL path (a fake NCCL over MPI: no GPU here)."""
    out = ok(mpiexec(2, os.path.join(HERE, "distributed_worker.py"), case)).stdout
    assert f"rank 0: {case} ok" in out and f"rank 1: {case} ok" in out


@needs_mpi
def test_two_ranks_of_half_the_batch_train_the_dcgan_to_the_weights_of_one_process(tmp_path):
    """The main job's DCGAN step, 4 steps: 2 ranks x batch 4 (SyncBatchNorm, averaged gradients) against
    1 process x batch 8, same images and noise. Float64 and dropout off (p = 0): each rank would draw
    its own masks, which no single process draws. Measured largest difference: about 3e-14."""
    worker = os.path.join(HERE, "distributed_worker.py")
    ok(mpiexec(2, worker, "dcgan", "4", "8", str(tmp_path / "two.npz")))
    ok(mpiexec(1, worker, "dcgan", "4", "8", str(tmp_path / "one.npz")))
    two, one = np.load(tmp_path / "two.npz"), np.load(tmp_path / "one.npz")
    assert sorted(two) == sorted(one)
    for k in one:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_shards_of_n_ranks_are_the_global_batch_of_one_process():
    images = np.arange(30 * 28 * 28, dtype=np.uint8).reshape(30, 28, 28)
    labels = np.arange(30)
    one = data.Batches(images, labels, 6, seed=4)
    shards = [parallel.Shard(data.Batches(images, labels, 6, seed=4), r, 3) for r in range(3)]
    assert all(s.steps_per_epoch == one.steps_per_epoch == 5 for s in shards)
    for step in (0, 3, 5, 11):                  # epochs 0, 1 and 2: every epoch reshuffled, alike on all ranks
        x, y = one.batch(step)
        parts = [s.batch(step) for s in shards]
        assert all(len(p[0]) == 2 for p in parts)
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)


def test_rank_streams_differ_and_rank_0_keeps_the_seed():
    seeds = [parallel.rank_seed(7, r) for r in range(4)]
    assert seeds[0] == 7 and len(set(seeds)) == 4


def test_distributed_without_mpi4py_says_what_to_install(monkeypatch, tmp_path, data_dir, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setattr(dist, "_comm", None)
    with pytest.raises(SystemExit) as stop:
        train_dcgan.main(["--distributed", "--data", data_dir, "--out", str(tmp_path / "run"), "--steps", "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: --distributed:") and 'pip install ".[distributed]"' in err[-1], err
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- the trainers

def trainer(n, out, data_dir, *extra):
    return mpiexec(n, "-m", "gans.train_dcgan", "--distributed", "--data", data_dir, "--limit", "12",
                   "--batch-size", "2", "--out", str(out), "--checkpoint-every", "2", *extra)


def weights(path):
    state = minigrad.load(str(path))
    return {f"{part}.{k}": np.asarray(v.data if hasattr(v, "data") else v)
            for part in ("generator", "discriminator") for k, v in state[part].items()}


@needs_mpi
def test_two_ranks_train_and_resume_exactly(tmp_path, data_dir):
    """6 steps on 2 ranks in one go == 4 steps, a stop, and --resume to 6 (every rank's RNG state is in
    the checkpoint); only rank 0 wrote; resuming on another number of ranks is refused in one line."""
    straight = ok(trainer(2, tmp_path / "a", data_dir, "--steps", "6"))
    assert "finished at step 6" in straight.stdout and straight.stdout.count("finished") == 1
    assert straight.stderr.count("kernels:") == 1                   # rank 1 says nothing
    ok(trainer(2, tmp_path / "b", data_dir, "--steps", "4"))
    ok(trainer(2, tmp_path / "b", data_dir, "--steps", "6", "--resume"))
    a, b = weights(tmp_path / "a" / "checkpoint.ckpt"), weights(tmp_path / "b" / "checkpoint.ckpt")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    state = minigrad.load(str(tmp_path / "a" / "checkpoint.ckpt"))
    assert len(state["rng_ranks"]) == 2 and state["rng_ranks"][0] != state["rng_ranks"][1]
    rows = (tmp_path / "a" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 7                                           # a header and 6 steps: one writer

    other = trainer(1, tmp_path / "b", data_dir, "--steps", "8", "--resume")
    assert other.returncode == 2
    lines = [x for x in other.stderr.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "2 rank(s), but this run has 1" in lines[0] and "Traceback" not in other.stderr


@needs_mpi
def test_bad_flag_on_two_ranks_is_one_line(tmp_path, data_dir):
    result = trainer(2, tmp_path / "run", data_dir, "--steps", "2", "--lr", "-1")
    assert result.returncode == 2
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len([x for x in lines if x.startswith("error:")]) == 1 and "Traceback" not in result.stderr, lines


@needs_mpi
def test_a_killed_rank_stops_the_job_within_the_timeout(tmp_path, data_dir):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE), OMP_NUM_THREADS="1")
    job = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "gans.train_dcgan", "--distributed",
                            "--data", data_dir, "--limit", "12", "--batch-size", "2", "--steps", "100000",
                            "--out", str(tmp_path / "run")], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not (tmp_path / "run" / "metrics.csv").exists() and time.time() < deadline:
            time.sleep(0.2)                     # training has started on both ranks
        ranks = [p for p in descendants(job.pid) if "gans.train_dcgan" in command_of(p)]
        assert len(ranks) >= 2, ranks
        os.kill(max(ranks), signal.SIGKILL)
        code = job.wait(timeout=60)
    finally:
        for p in descendants(job.pid) + [job.pid]:   # mpiexec starts each rank in a session of its own
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert code != 0


@needs_mpi
def test_a_rank_whose_step_raises_aborts_the_job_with_one_line(tmp_path, data_dir):
    start = time.time()
    result = mpiexec(2, os.path.join(HERE, "distributed_worker.py"), "one_rank_fails", data_dir,
                     str(tmp_path / "run"), timeout=120)
    assert result.returncode != 0 and time.time() - start < 60
    lines = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert lines == ["error: rank 1: this rank failed (traceback above); stopping every rank"], result.stderr[-2000:]
    assert "FloatingPointError: a bug on rank 1" in result.stderr


def descendants(pid):
    """The processes below `pid` (mpiexec -> hydra_pmi_proxy -> the ranks), from ps."""
    table = [line.split() for line in subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True,
                                                     text=True).stdout.splitlines()]
    children, found = {}, []
    for p, parent in table:
        children.setdefault(int(parent), []).append(int(p))
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def command_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_bad_inputs_are_one_clear_error_naming_the_collective():
    with pytest.raises(dist.DistributedError, match="all_reduce: op must be one of .* got 'mean'"):
        dist.all_reduce(minigrad.ones(2), op="mean")
    with pytest.raises(dist.DistributedError, match=r"all_gather: tensor_list has 2 entries for 1 ranks"):
        dist.all_gather([minigrad.ones(2), minigrad.ones(2)], minigrad.ones(2))
    strided = minigrad.ones(2, 4).transpose(0, 1)                            # a view: shape (4, 2)
    with pytest.raises(dist.DistributedError, match=r"broadcast: expected a contiguous, writable tensor, .*\(4, 2\)"):
        dist.broadcast(strided)


def test_one_process_without_init_is_a_world_of_one():
    t = minigrad.tensor([1.0, 2.0])
    assert dist.rank() == 0 and dist.world_size() == 1
    np.testing.assert_array_equal(dist.all_reduce(t).data, [1.0, 2.0])
    out = [minigrad.zeros(2)]
    dist.all_gather(out, t)
    np.testing.assert_array_equal(out[0].data, [1.0, 2.0])
    bn, sync = minigrad.nn.BatchNorm2d(3), minigrad.nn.SyncBatchNorm(3)
    x = minigrad.randn(4, 3, 2, 2)
    np.testing.assert_array_equal(bn(x).data, sync(x).data)                 # on one rank: BatchNorm itself


@needs_mpi
def test_scale_bench_prints_its_measurements_and_the_projection():
    out = ok(mpiexec(2, "-m", "gans.scale_bench", "--repeats", "2", "--batch-size", "2")).stdout
    assert "2 rank(s)" in out and "all-reduce of them alone" in out and "10.07 MB" in out
    assert "projection, not a measurement" in out and "| 64 |" in out
