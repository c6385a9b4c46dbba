"""On a machine with a GPU (not run by pytest): minigrad.distributed's NCCL path on real hardware.

    mpiexec -n 1 python tests/device_nccl_check.py       # one GPU: NCCL's all-reduce at world size 1
    mpiexec -n 2 python tests/device_nccl_check.py       # two GPUs: every collective, checked against MPI's

Prints one line per check and the all-reduce time of the DCGAN's gradients (10.07 MB float32).
Exits non-zero on the first wrong answer. Not yet run on a GPU (no device was lent so far).
"""
import statistics
import time
from types import SimpleNamespace

import cupy
import numpy as np

import minigrad
import minigrad.distributed as dist
from gans import dcgan

dist.init()
W, r = dist.world_size(), dist.rank()
nccl, comm, stream = dist._nccl()                       # the communicator the library makes
print(f"rank {r}/{W}: NCCL {nccl.get_version()}, GPU {cupy.cuda.Device().id}")

x = minigrad.tensor(np.full((1000,), r + 1.0, np.float32)).to("cuda")
comm.allReduce(x.data.data.ptr, x.data.data.ptr, x.data.size, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, stream)
cupy.cuda.get_current_stream().synchronize()
assert np.allclose(x.cpu().data, W * (W + 1) / 2), x.cpu().data[:4]
print(f"rank {r}: allReduce of 1000 floats equals the sum {W * (W + 1) / 2}")
if W > 1:
    for op in (dist.SUM, dist.MAX, dist.AVG):
        host = minigrad.tensor(np.arange(12, dtype=np.float32) * (r + 1))
        dev = host.clone().to("cuda")
        dist.all_reduce(host, op=op)
        dist.all_reduce(dev, op=op)
        assert np.allclose(dev.cpu().data, host.data), op
    print(f"rank {r}: all_reduce SUM/MAX/AVG on the GPU equal MPI's on the host")

minigrad.manual_seed(0)
gan = dcgan.build(SimpleNamespace(latent_dim=100, lr=2e-4, beta1=0.5, beta2=0.999))
flat = cupy.ones(sum(p.data.size for p in list(gan.generator.parameters()) + list(gan.discriminator.parameters())),
                 dtype=cupy.float32)
times = []
for i in range(25):
    cupy.cuda.get_current_stream().synchronize()
    start = time.perf_counter()
    comm.allReduce(flat.data.ptr, flat.data.ptr, flat.size, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, stream)
    cupy.cuda.get_current_stream().synchronize()
    times.append(time.perf_counter() - start)
assert float(flat[0].get()) == float(W) ** 25
t = statistics.median(times[5:])
print(f"rank {r}: NCCL all-reduce of the DCGAN's gradients ({flat.nbytes / 1e6:.2f} MB): {t * 1e3:.3f} ms median")
