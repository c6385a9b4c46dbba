"""python -m gans.scale_bench: what data-parallel training costs, measured here and projected to N machines.

    python -m gans.scale_bench                      # 1 rank: the step alone
    mpiexec -n 2 python -m gans.scale_bench         # 2 ranks: the step with SyncBatchNorm and averaged gradients

On every rank it times (medians) the main job's DCGAN training step at --batch-size per rank, exactly
as `--distributed` runs it (gans/parallel.py), and the all-reduce of the DCGAN's gradients alone (G and
D, in buckets of 25 MB as average_gradients does them). Rank 0 prints both, and from them a projection:
N machines joined by a network of --gbit Gbit/s, one rank each, a ring all-reduce moving 2 (N-1)/N of
the gradient bytes per step plus --latency-us per hop, no overlap of communication and computation.
The projection is arithmetic on the measured step, not a measurement of N machines.
"""
import argparse
import statistics
import time
from types import SimpleNamespace

import numpy as np

import minigrad
import minigrad.distributed as dist

from . import dcgan, parallel


def median_seconds(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batch-size", type=int, default=16, help="images per rank per step (the main job: 16)")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--gbit", type=float, default=10.0, help="network bandwidth of the projection, Gbit/s")
    p.add_argument("--latency-us", type=float, default=20.0, help="per-message latency of the projection")
    args = p.parse_args(argv)
    dist.init()
    world, rank = dist.world_size(), dist.rank()
    parallel.share_cores()

    minigrad.manual_seed(0)
    gan = dcgan.build(SimpleNamespace(latent_dim=100, lr=2e-4, beta1=0.5, beta2=0.999))
    parallel.prepare(gan, SimpleNamespace(seed=0))
    real = minigrad.tensor(np.random.default_rng(rank).uniform(-1, 1, (args.batch_size, 1, 28, 28)).astype(np.float32))
    step = median_seconds(lambda: gan.train_step(real), args.repeats)

    params = list(gan.generator.parameters()) + list(gan.discriminator.parameters())
    for q in params:
        q.grad = minigrad.ones_like(q)
    nbytes = sum(q.data.nbytes for q in params)
    reduce = median_seconds(lambda: dist.average_gradients(params), args.repeats) if world > 1 else 0.0
    if rank != 0:
        return
    print(f"DCGAN (28x28) step at batch {args.batch_size} per rank, {world} rank(s), kernels: {minigrad.backend()}, "
          f"{parallel.threads_per_rank()} thread(s) per rank; medians of {args.repeats}")
    print(f"  step (forward, backward, both Adam updates, the gradient all-reduces): {step * 1e3:.1f} ms "
          f"= {world * args.batch_size / step:.0f} images/s for the job")
    print(f"  gradients: {len(params)} tensors, {nbytes / 1e6:.2f} MB (float32)")
    if world > 1:
        bus = 2 * (world - 1) / world * nbytes / reduce / 1e9
        print(f"  all-reduce of them alone: {reduce * 1e3:.2f} ms (bus bandwidth {bus:.2f} GB/s, "
              f"{100 * reduce / step:.0f}% of the step)")
    compute = step - reduce
    link = args.gbit * 1e9 / 8
    print(f"\nprojection, not a measurement: N machines at {args.gbit:g} Gbit/s, {args.latency_us:g} us a hop, "
          f"one rank each, computing {compute * 1e3:.1f} ms a step (the step above less its all-reduce)")
    print("| N | all-reduce ms | step ms | images/s | scaling efficiency |")
    print("| --- | --- | --- | --- | --- |")
    for n in (1, 2, 4, 8, 16, 32, 64):
        comm = 0.0 if n == 1 else 2 * (n - 1) / n * nbytes / link + 2 * (n - 1) * args.latency_us * 1e-6
        total = compute + comm
        print(f"| {n} | {comm * 1e3:.1f} | {total * 1e3:.1f} | {n * args.batch_size / total:.0f} | "
              f"{compute / total:.2f} |")


if __name__ == "__main__":
    main()
