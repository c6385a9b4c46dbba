"""The rank side of tests/test_distributed.py: `mpiexec -n 2 python distributed_worker.py CASE [OUT]`.

Each case asserts on every rank; a failing rank raises, mpiexec exits non-zero, the test shows why.
Hypothesis runs derandomized and without shrinking, so every rank draws the same examples in the
same order (the collectives of one example meet), and each rank's data is a function of
(example, rank), so every rank can compute every other rank's input for the NumPy answer.
"""
import sys

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import minigrad
import minigrad.distributed as dist
import minigrad.nn as nn
from minigrad.nn import functional as F

SAME_ON_EVERY_RANK = settings(derandomize=True, database=None, phases=[Phase.generate], deadline=None,
                              max_examples=25, suppress_health_check=list(HealthCheck))

shapes = st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple)


def data_of(seed, rank, shape, dtype):
    rng = np.random.default_rng((seed, rank))
    if np.dtype(dtype).kind == "i":
        return rng.integers(-5, 6, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def case_collectives():
    W, r = dist.world_size(), dist.rank()

    @SAME_ON_EVERY_RANK
    @given(shape=shapes, dtype=st.sampled_from([np.float32, np.float64, np.int64]), seed=st.integers(0, 10 ** 6),
           op=st.sampled_from([dist.SUM, dist.MAX, dist.MIN, dist.PRODUCT, dist.AVG]))
    def check(shape, dtype, seed, op):
        if op == dist.AVG and np.dtype(dtype).kind == "i":
            op = dist.SUM
        ranks = [data_of(seed, k, shape, dtype) for k in range(W)]
        expected = {dist.SUM: np.sum, dist.MAX: np.max, dist.MIN: np.min, dist.PRODUCT: np.prod,
                    dist.AVG: np.mean}[op](np.stack(ranks), axis=0)
        t = minigrad.tensor(ranks[r].copy())
        dist.all_reduce(t, op=op)
        np.testing.assert_allclose(t.data, expected, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6)
        b = minigrad.tensor(ranks[r].copy())
        dist.broadcast(b, src=W - 1)
        np.testing.assert_array_equal(b.data, ranks[W - 1])
        gathered = [minigrad.zeros(*shape, dtype=dtype) for _ in range(W)]
        dist.all_gather(gathered, minigrad.tensor(ranks[r]))
        for k in range(W):
            np.testing.assert_array_equal(gathered[k].data, ranks[k])
        if np.dtype(dtype).kind == "f":          # the differentiable sum: backward is the all-reduce of the grads
            x = minigrad.tensor(ranks[r].astype(np.float64), requires_grad=True)
            w = data_of(seed + 1, r, shape, np.float64)
            (dist.all_reduce_autograd(x) * minigrad.tensor(w)).sum().backward()
            np.testing.assert_allclose(x.grad.data, sum(data_of(seed + 1, k, shape, np.float64) for k in range(W)),
                                       rtol=1e-12)
    check()
    assert dist.all_gather_object(r) == list(range(W))


def case_sync_batchnorm():
    """SyncBatchNorm on N ranks == BatchNorm on the concatenated batch: outputs, input and parameter
    gradients, a second-order gradient, running statistics (float64)."""
    W, r = dist.world_size(), dist.rank()

    @SAME_ON_EVERY_RANK
    @given(n=st.integers(1, 3), c=st.integers(1, 4), spatial=st.sampled_from([(), (3,), (2, 3)]),
           seed=st.integers(0, 10 ** 6), affine=st.booleans(), momentum=st.sampled_from([0.1, None]))
    def check(n, c, spatial, seed, affine, momentum):
        shape = (n, c) + spatial
        if n * W * int(np.prod(spatial)) < 2:
            return
        xs = [data_of(seed, k, shape, np.float64) * 3 + 1 for k in range(W)]
        ws = [data_of(seed + 7, k, shape, np.float64) for k in range(W)]
        make = nn.BatchNorm1d if len(spatial) < 2 else nn.BatchNorm2d
        ref = make(c, affine=affine, momentum=momentum, dtype=np.float64)
        sync = nn.SyncBatchNorm.convert_sync_batchnorm(make(c, affine=affine, momentum=momentum, dtype=np.float64))
        if affine:                              # weights away from 1 and 0, the same in both
            for m in (ref, sync):
                m.weight.data[...] = 1 + np.arange(c) / 4
                m.bias.data[...] = np.arange(c) / 8
        for _ in range(2):                      # twice: the running statistics move on
            x_all = minigrad.tensor(np.concatenate(xs), requires_grad=True)
            y_all = ref(x_all)
            gx_all, = minigrad.grad((y_all * y_all * minigrad.tensor(np.concatenate(ws))).sum(), [x_all],
                                    create_graph=True)
            x = minigrad.tensor(xs[r], requires_grad=True)
            y = sync(x)
            gx, = minigrad.grad((y * y * minigrad.tensor(ws[r])).sum(), [x], create_graph=True)
            np.testing.assert_allclose(y.data, y_all.data[r * n:(r + 1) * n], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(gx.data, gx_all.data[r * n:(r + 1) * n], rtol=1e-8, atol=1e-8)
            if affine:                          # second order: d/dweight of |dL/dx|^2, summed over the ranks
                gw_all, = minigrad.grad((gx_all * gx_all).sum(), [ref.weight])
                gw, = minigrad.grad((gx * gx).sum(), [sync.weight])
                np.testing.assert_allclose(dist.all_reduce(gw.clone()).data, gw_all.data, rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(sync.running_mean.data, ref.running_mean.data, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sync.running_var.data, ref.running_var.data, rtol=1e-12, atol=1e-12)
    check()


def case_ddp():
    """DDP over N ranks x B == one process x N*B: gradients after backward, with buckets of one tensor
    each, and with no_sync() accumulation."""
    W, r = dist.world_size(), dist.rank()
    B = 3

    def model():
        minigrad.manual_seed(r)                 # different on each rank: DDP must broadcast rank 0's
        return nn.Sequential(nn.Linear(4, 5), nn.LeakyReLU(0.2), nn.Linear(5, 2)).double()

    x = data_of(1, 0, (W * B, 4), np.float64)
    y = data_of(2, 0, (W * B, 2), np.float64)
    ddp = nn.parallel.DistributedDataParallel(model(), bucket_cap_mb=1e-5)
    assert len(ddp._buckets) == 4
    minigrad.manual_seed(0)
    single = model()
    single.load_state_dict(ddp.module.state_dict())
    mine = slice(r * B, (r + 1) * B)
    F.mse_loss(ddp(minigrad.tensor(x[mine])), minigrad.tensor(y[mine])).backward()
    F.mse_loss(single(minigrad.tensor(x)), minigrad.tensor(y)).backward()
    for p, q in zip(ddp.module.parameters(), single.parameters()):
        np.testing.assert_allclose(p.grad.data, q.grad.data, rtol=1e-12, atol=1e-14)
    # two half-batches, the first under no_sync: the average of the sums of the two
    for p in list(ddp.parameters()) + list(single.parameters()):
        p.grad = None
    halves = [slice(r * B, r * B + 1), slice(r * B + 1, (r + 1) * B)]
    with ddp.no_sync():
        F.mse_loss(ddp(minigrad.tensor(x[halves[0]])), minigrad.tensor(y[halves[0]]), reduction="sum").backward()
    local = [p.grad.data.copy() for p in ddp.module.parameters()]
    F.mse_loss(ddp(minigrad.tensor(x[halves[1]])), minigrad.tensor(y[halves[1]]), reduction="sum").backward()
    F.mse_loss(single(minigrad.tensor(x)), minigrad.tensor(y), reduction="sum").backward()
    for p, q, before in zip(ddp.module.parameters(), single.parameters(), local):
        np.testing.assert_allclose(p.grad.data * W, q.grad.data, rtol=1e-12, atol=1e-14)
        assert not np.allclose(before * W, q.grad.data)         # no_sync really left them local


def dcgan_steps(steps, batch, out):
    """The main job's DCGAN step (dcgan.make_train_step) in float64 without dropout, on this rank's
    slice of every global batch and of its noise; the final weights of G and D go to `out` (.npz)."""
    from types import SimpleNamespace
    from gans import dcgan, parallel
    W, r = dist.world_size(), dist.rank()
    minigrad.manual_seed(0)
    gan = dcgan.build(SimpleNamespace(latent_dim=100, lr=2e-4, beta1=0.5, beta2=0.999))
    for net in (gan.generator, gan.discriminator):
        net.double()
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
    parallel.prepare(gan, SimpleNamespace(seed=0))
    rng = np.random.default_rng(3)
    for _ in range(steps):
        images = rng.uniform(-1, 1, (batch, 1, 28, 28))
        noise = rng.standard_normal((batch, 100))
        mine = slice(r * batch // W, (r + 1) * batch // W)
        gan.train_step(minigrad.tensor(images[mine]), minigrad.tensor(noise[mine]))
    if r == 0:
        np.savez(out, **{f"G.{k}": v.data for k, v in gan.generator.state_dict().items()},
                 **{f"D.{k}": v.data for k, v in gan.discriminator.state_dict().items()})


def case_nccl():
    """CUDA tensors (tests/fake_cupy.py's, installed by __main__) go through NCCL's communicator, stay on
    the device, and give MPI's answers: all_reduce, broadcast, all_gather, averaged gradients, DDP."""
    import cupy
    W, r = dist.world_size(), dist.rank()
    calls = cupy.cuda.nccl.calls
    x = [data_of(5, k, (3, 4), np.float32) for k in range(W)]
    t = minigrad.tensor(x[r]).to("cuda")
    dist.all_reduce(t)
    assert cupy.get_array_module(t.data) is cupy and calls[-1] == ("allReduce", 12)
    np.testing.assert_allclose(t.cpu().data, sum(x), rtol=1e-6)
    b = minigrad.tensor(x[r]).to("cuda")
    dist.broadcast(b, src=1)
    np.testing.assert_array_equal(b.cpu().data, x[1])
    out = [minigrad.zeros(3, 4).to("cuda") for _ in range(W)]
    dist.all_gather(out, minigrad.tensor(x[r]).to("cuda"))
    for k in range(W):
        np.testing.assert_array_equal(out[k].cpu().data, x[k])
    m = dist.all_reduce(minigrad.tensor(x[r]).to("cuda"), op=dist.AVG)
    np.testing.assert_allclose(m.cpu().data, sum(x) / W, rtol=1e-6)
    before = len(calls)
    minigrad.manual_seed(r)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).to("cuda")
    ddp = nn.parallel.DistributedDataParallel(model)
    assert [c for c, _ in calls[before:]] == ["bcast"] * 4                  # rank 0's weights, on the device
    F.mse_loss(ddp(minigrad.tensor(x[r]).to("cuda")), minigrad.zeros(3, 2).to("cuda")).backward()
    assert calls[-1][0] == "allReduce"
    grads = [p.grad.cpu().data for p in model.parameters()]
    for g in grads:
        gathered = [minigrad.zeros(*g.shape) for _ in range(W)]
        dist.all_gather(gathered, minigrad.tensor(g))              # host tensors: MPI
        for other in gathered:
            np.testing.assert_array_equal(other.data, g)           # every rank holds the same average


def case_one_rank_fails(data_dir, out):
    """The DCGAN trainer whose step raises on rank 1 at step 3: rank 1 says so and aborts the job
    (without it, rank 0 would wait in the next all-reduce for ever)."""
    from gans import dcgan, train, train_dcgan

    def build(args):
        gan = dcgan.build(args)
        step, calls = gan.train_step, []

        def failing_step(real):
            calls.append(1)
            if dist.rank() == 1 and len(calls) == 3:
                raise FloatingPointError("a bug on rank 1")
            return step(real)
        gan.train_step = failing_step
        return gan
    args = train.parse_args(train_dcgan.make_parser(), ["--distributed", "--data", data_dir, "--limit", "12",
                                                        "--batch-size", "2", "--steps", "50", "--out", out])
    train.run(args, build)


if __name__ == "__main__":
    if sys.argv[1] == "nccl":                   # a pretend GPU: CuPy's stand-in, as the fake_cuda fixture does
        import fake_cupy
        sys.modules["cupy"], sys.modules["cupy.cuda"] = fake_cupy, fake_cupy.cuda
    dist.init()
    name = sys.argv[1]
    if name == "dcgan":
        dcgan_steps(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif name == "one_rank_fails":
        case_one_rank_fails(sys.argv[2], sys.argv[3])
    else:
        globals()[f"case_{name}"]()
    dist.barrier()
    print(f"rank {dist.rank()}: {name} ok")
