"""--distributed: what the training loop (train.py) does differently on N ranks of minigrad.distributed.

    mpiexec -n 2 python -m gans.train_dcgan --distributed        # --batch-size is per rank

- Data: every rank draws the global batch of N * batch_size images that one process would (the same
  shuffle, data.Batches) and keeps its own slice of it (Shard), so N ranks see, step by step, exactly
  the images of one process with N times the batch.
- Model: batch norm becomes SyncBatchNorm (global batch statistics); every rank starts from rank 0's
  weights; each optimizer averages the gradients over the ranks before its step. The training step
  of a model file is unchanged.
- Randomness: weights are drawn from --seed on every rank (then rank 0's are broadcast); noise and
  dropout come from a stream per rank (rank 0 keeps the single-process stream).
- Decisions: the metrics of a step are averaged over the ranks before they are logged, so every rank
  sees the same (global) losses and stops at the same step on a non-finite one; a Ctrl-C on any rank
  stops all of them after that step.
- Files: only rank 0 writes (samples, metrics, plots, checkpoints) and draws the progress bar; a
  checkpoint keeps every rank's RNG state, and a resume needs the same number of ranks.
- Cores: N ranks on one machine share its cores; each rank's C++ kernels get cores // N threads.
- Failure: a rank whose step raises prints one line and aborts the whole job (MPI_Abort), so no rank
  waits forever in an all-reduce; mpiexec does the same when a rank is killed.
"""
import os

import numpy as np

import minigrad
import minigrad.distributed as dist
import minigrad.nn as nn

from .validate import UserError


def init(args):
    """Join the job when --distributed is given; (rank, world size). A plain run is rank 0 of 1."""
    if not getattr(args, "distributed", False):
        return 0, 1
    try:
        dist.init()
    except dist.DistributedError as err:
        raise UserError(f"--distributed: {err}") from None
    return dist.rank(), dist.world_size()


_threads = None


def share_cores():
    """N ranks on one machine: the C++ kernels of each get cores // N threads (OMP_NUM_THREADS, when set,
    decides instead), so that two ranks on two cores do not run four threads."""
    global _threads
    if dist.world_size() == 1 or "OMP_NUM_THREADS" in os.environ or minigrad.backend() != "cpp":
        return
    from kernels import _cpu
    _threads = max(1, (os.cpu_count() or 1) // dist.local_world_size())
    _cpu.set_num_threads(_threads)


def threads_per_rank():
    return _threads or os.environ.get("OMP_NUM_THREADS") or "all"


def is_writer():
    return dist.rank() == 0


def agree(error):
    """Every rank's setup ended, with an error message or None: the first error of any rank, for all."""
    if dist.world_size() == 1:
        return error
    messages = dist.all_gather_object(error)
    failed = [(r, m) for r, m in enumerate(messages) if m is not None]
    if not failed:
        return None
    r, message = failed[0]
    return message if r == 0 else f"rank {r}: {message}"


def rank_seed(seed, rank):
    """The noise and dropout stream of a rank: rank 0 keeps --seed, rank r > 0 gets one from (seed, r)."""
    return seed if rank == 0 else int(np.random.SeedSequence((seed, rank)).generate_state(1)[0])


def prepare(gan, args):
    """Make the freshly built GAN data-parallel (see the module docstring); a no-op on one rank."""
    if dist.world_size() == 1:
        return
    for net in (gan.generator, gan.discriminator):
        nn.SyncBatchNorm.convert_sync_batchnorm(net)
        dist.broadcast_parameters(net)
    if gan.sampler is not None:
        dist.broadcast_parameters(gan.sampler)
    for opt in (gan.opt_g, gan.opt_d):
        dist.average_gradients_before_step(opt)
    minigrad.manual_seed(rank_seed(args.seed, dist.rank()))


class Shard:
    """Rank r's slice of every global batch of `batches` (which hold world_size times the per-rank batch)."""

    def __init__(self, batches, rank, world_size):
        self.batches, self.rank, self.world_size = batches, rank, world_size
        self.steps_per_epoch = batches.steps_per_epoch

    def batch(self, step):
        parts = self.batches.batch(step)
        b = len(parts[0]) // self.world_size
        return tuple(x[self.rank * b:(self.rank + 1) * b] for x in parts)


def agree_on_step(row, stop):
    """(the metrics averaged over the ranks, whether any rank was asked to stop): the same on every rank."""
    if dist.world_size() == 1:
        return row, stop
    values = np.array(list(row.values()) + [float(stop)], dtype=np.float64)
    dist._all_reduce_array(values)
    averaged = dict(zip(row, (values[:-1] / dist.world_size()).tolist()))
    return averaged, bool(values[-1] > 0)


def rng_states():
    """[rank 0's RNG state, rank 1's, ...] (a collective: every rank calls it at the same step)."""
    return dist.all_gather_object(minigrad.get_rng_state())


def check_world(state, path):
    """A checkpoint written by N ranks resumes on N ranks (each takes its own RNG state)."""
    saved = len(state.get("rng_ranks", [None]))
    if saved != dist.world_size():
        raise UserError(f"{path}: written by a run on {saved} rank(s), but this run has {dist.world_size()}; "
                        f"resume with mpiexec -n {saved}" + (" --distributed" if saved > 1 else ""))
