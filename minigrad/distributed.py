"""minigrad.distributed: data-parallel training over MPI, in a page.

N processes ("ranks"), started by `mpiexec -n N python ...`, each hold the whole model and train on
their own shard of every batch. Three things keep them one model:

1. at the start, every rank takes rank 0's weights (broadcast_parameters);
2. after each backward, every gradient is replaced by its mean over the ranks (average_gradients:
   one all-reduce per bucket of a few MB, not one per tensor), so every rank takes the same step;
3. batch norm uses the statistics of the global batch (nn.SyncBatchNorm, through the differentiable
   all_reduce_autograd below).

With batch B per rank, N ranks then compute exactly what one process computes with batch N*B (up to
the order of float summation). Names and argument orders follow torch.distributed (init_process_group
-> init, all_reduce(tensor, op), broadcast(tensor, src), all_gather(tensor_list, tensor), barrier()).
Host (NumPy) tensors go through MPI (mpi4py); CUDA tensors through NCCL (CuPy's cupy.cuda.nccl) on the
device memory itself, never through host copies: NCCL's communicator is made on first use, its id
sent from rank 0 over MPI, each rank on GPU local_rank % device_count. (The NCCL path is tested here
only against tests/fake_cupy.py's stand-in; it has not run on a GPU.)

    pip install ".[distributed]"        # mpi4py and the MPICH wheel: mpiexec comes with it
    mpiexec -n 2 python -m gans.train_dcgan --distributed
"""
import sys
import time

import numpy as np

from . import device as _device
from .autograd import Function

_comm = None                    # the MPI communicator once init() ran; None: one process on its own
_nccl_comm = None               # NCCL's communicator, made by the first collective on a CUDA tensor

# torch.distributed.ReduceOp's members, by name (AVG: the sum divided by the world size)
SUM, PRODUCT, MIN, MAX, AVG = "sum", "product", "min", "max", "avg"


class ReduceOp:
    SUM, PRODUCT, MIN, MAX, AVG = SUM, PRODUCT, MIN, MAX, AVG


class DistributedError(RuntimeError):
    """minigrad.distributed used wrongly (not initialised, mpi4py missing, a CUDA tensor)."""


# ----------------------------------------------------------------------------- the process group

def is_available():
    """True when mpi4py can be imported (pip install ".[distributed]")."""
    try:
        import mpi4py  # noqa: F401  (only whether it imports)
    except ImportError:
        return False
    return True


def init():
    """Join the ranks mpiexec started (torch's init_process_group). Run alone, it is a world of one."""
    global _comm
    if _comm is None:
        try:
            from mpi4py import MPI
        except ImportError as err:
            raise DistributedError(f"minigrad.distributed needs mpi4py and an MPI ({err}); install them with "
                                   "pip install \".[distributed]\" (or: pip install mpi4py mpich)") from None
        _comm = MPI.COMM_WORLD
    return _comm


def is_initialized():
    return _comm is not None


def rank():
    """This process's number, 0 .. world_size() - 1 (0 when not initialised)."""
    return 0 if _comm is None else _comm.Get_rank()


def world_size():
    """How many ranks take part (1 when not initialised)."""
    return 1 if _comm is None else _comm.Get_size()


get_rank, get_world_size = rank, world_size          # torch.distributed's names


def _local_comm():
    from mpi4py import MPI
    return _comm.Split_type(MPI.COMM_TYPE_SHARED)


def local_world_size():
    """How many ranks run on this machine (they share its cores and GPUs)."""
    return 1 if _comm is None else _local_comm().Get_size()


def local_world_rank():
    """This rank's number among those on its machine (it picks the GPU)."""
    return 0 if _comm is None else _local_comm().Get_rank()


def barrier():
    """Wait until every rank got here."""
    if _comm is not None:
        _comm.Barrier()


def abort(code=1):
    """Stop every rank at once (a rank that failed must not leave the others waiting in a collective).

    MPI_Abort kills the job as soon as mpiexec hears of it, possibly before it has passed on what this
    rank last wrote: flush, and give mpiexec a moment to forward it."""
    if _comm is not None and world_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.5)
        _comm.Abort(code)
    raise SystemExit(code)


# ----------------------------------------------------------------------------- collectives on tensors

def _array(tensor, what, contiguous=True):
    """The tensor's array (NumPy or CuPy), which MPI or NCCL reads and writes in place."""
    flags = tensor.data.flags                   # (CuPy's arrays have no writeable flag: always writable)
    if contiguous and not (flags.c_contiguous and getattr(flags, "writeable", True)):
        raise DistributedError(f"{what}: expected a contiguous, writable tensor, got one of shape {tensor.shape} "
                               f"with strides {tensor.data.strides} (pass a .clone() of it)")
    return tensor.data


def _check_op(op):
    if op not in (SUM, PRODUCT, MIN, MAX, AVG):
        raise DistributedError(f"all_reduce: op must be one of sum, product, min, max, avg; got {op!r}")
    return op


def _mpi_op(op):
    from mpi4py import MPI
    return {SUM: MPI.SUM, AVG: MPI.SUM, PRODUCT: MPI.PROD, MIN: MPI.MIN, MAX: MPI.MAX}[_check_op(op)]


def _all_reduce_array(arr, op=SUM):
    """arr <- op over the ranks of arr, in place (a NumPy array through MPI, a CuPy one through NCCL)."""
    if _comm is None or world_size() == 1:
        return arr
    if _device.is_device_array(arr):
        nccl, comm, stream = _nccl()
        comm.allReduce(arr.data.ptr, arr.data.ptr, arr.size, _nccl_type(arr), _nccl_op(op), stream)
        return arr
    from mpi4py import MPI
    _comm.Allreduce(MPI.IN_PLACE, arr, op=_mpi_op(op))
    if op == AVG:
        arr /= world_size()
    return arr


def _nccl():
    """(cupy.cuda.nccl, this process's NcclCommunicator, the current stream's pointer)."""
    global _nccl_comm
    import cupy
    from cupy.cuda import nccl
    if _nccl_comm is None:
        cupy.cuda.Device(local_world_rank() % cupy.cuda.runtime.getDeviceCount()).use()
        uid = _comm.bcast(nccl.get_unique_id() if rank() == 0 else None, root=0)
        _nccl_comm = nccl.NcclCommunicator(world_size(), uid, rank())
    return nccl, _nccl_comm, cupy.cuda.get_current_stream().ptr


def _nccl_type(arr):
    from cupy.cuda import nccl
    types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64, "int64": nccl.NCCL_INT64,
             "int32": nccl.NCCL_INT32, "float16": nccl.NCCL_FLOAT16}
    if str(arr.dtype) not in types:
        raise DistributedError(f"NCCL collectives take {sorted(types)}, got a {arr.dtype} tensor")
    return types[str(arr.dtype)]


def _nccl_op(op):
    from cupy.cuda import nccl
    return {SUM: nccl.NCCL_SUM, PRODUCT: nccl.NCCL_PROD, MIN: nccl.NCCL_MIN, MAX: nccl.NCCL_MAX,
            AVG: nccl.NCCL_AVG}[_check_op(op)]


def all_reduce(tensor, op=SUM):
    """Every rank's tensor becomes op(tensor of rank 0, ..., tensor of rank N-1), in place."""
    _check_op(op)
    _all_reduce_array(_array(tensor, "all_reduce"), op)
    tensor._version.bump("all_reduce")          # an in-place change: a graph that saved it must know
    return tensor


def broadcast(tensor, src=0):
    """Every rank's tensor becomes rank `src`'s, in place."""
    arr = _array(tensor, "broadcast")
    if _comm is not None and world_size() > 1:
        if _device.is_device_array(arr):
            nccl, comm, stream = _nccl()
            comm.bcast(arr.data.ptr, arr.size, _nccl_type(arr), src, stream)
        else:
            _comm.Bcast(arr, root=src)
        tensor._version.bump("broadcast")
    return tensor


def all_gather(tensor_list, tensor):
    """tensor_list[r] <- rank r's tensor, on every rank (each entry a tensor of tensor's shape)."""
    arr = _array(tensor, "all_gather")
    if len(tensor_list) != world_size():
        raise DistributedError(f"all_gather: tensor_list has {len(tensor_list)} entries for {world_size()} ranks")
    xp = _device.array_module(arr)
    gathered = xp.empty((world_size(),) + arr.shape, dtype=arr.dtype)
    if _comm is None or world_size() == 1:
        gathered[0] = arr
    elif xp is not np:
        nccl, comm, stream = _nccl()
        comm.allGather(arr.data.ptr, gathered.data.ptr, arr.size, _nccl_type(arr), stream)
    else:
        _comm.Allgather(arr, gathered)
    for out, part in zip(tensor_list, gathered):
        _array(out, "all_gather")[...] = part
    return tensor_list


def all_gather_object(obj):
    """[rank 0's obj, rank 1's, ...] on every rank, for small Python values (RNG states, settings)."""
    return [obj] if _comm is None else _comm.allgather(obj)


class _AllReduceSum(Function):
    """y = x_0 + ... + x_{N-1} on every rank. The loss of the whole run is the sum of the ranks' losses,
    and each rank's x_r reaches it through every rank's y, so dL/dx_r = sum over ranks of dL_r'/dy:
    the backward is the same all-reduce (and so differentiable again)."""

    @staticmethod
    def forward(ctx, x):
        arr = _array(x, "all_reduce_autograd", contiguous=False)
        return _all_reduce_array(_device.array_module(arr).array(arr, order="C"))

    @staticmethod
    def backward(ctx, grad):
        return _AllReduceSum.apply(grad)


def all_reduce_autograd(tensor):
    """The sum over the ranks as a new tensor that gradients flow through (torch.distributed.nn's all_reduce)."""
    return _AllReduceSum.apply(tensor)


# ----------------------------------------------------------------------------- data-parallel training

def broadcast_parameters(module, src=0):
    """Every rank's parameters and buffers become rank `src`'s (so all ranks start from one model)."""
    for t in list(module.parameters()) + [b for b in module.buffers() if b is not None]:
        broadcast(t, src)


def _buckets(params, bucket_bytes):
    """Consecutive runs of parameters whose gradients share a dtype, each run's gradients at most
    bucket_bytes together (one larger gradient makes a bucket of its own)."""
    bucket, size = [], 0
    for p in params:
        if bucket and (size + p.grad.data.nbytes > bucket_bytes or p.grad.dtype != bucket[0].grad.dtype):
            yield bucket
            bucket, size = [], 0
        bucket.append(p)
        size += p.grad.data.nbytes
    if bucket:
        yield bucket


def average_gradients(params, bucket_cap_mb=25):
    """Replace each parameter's .grad by its mean over the ranks: the gradients of a bucket are copied
    into one flat buffer, all-reduced in one call, and each .grad becomes its slice of the result.
    Parameters without a gradient are skipped (every rank runs the same graph: the same ones on all)."""
    if world_size() == 1:
        return
    from .tensor import Tensor
    with_grad = [p for p in params if p.grad is not None]
    for bucket in _buckets(with_grad, bucket_cap_mb * 2 ** 20):
        xp = _device.array_module(bucket[0].grad.data)
        flat = xp.concatenate([xp.ravel(_array(p.grad, "average_gradients", contiguous=False))
                               for p in bucket])
        _all_reduce_array(flat, AVG)
        offset = 0
        for p in bucket:
            p.grad = Tensor._wrap(flat[offset:offset + p.grad.data.size].reshape(p.grad.shape))
            offset += p.grad.data.size


def average_gradients_before_step(optimizer, bucket_cap_mb=25):
    """Make optimizer.step() first average its parameters' gradients over the ranks (as Horovod's
    DistributedOptimizer does). The trainers use this: their steps take gradients with minigrad.grad,
    which DistributedDataParallel's backward hooks do not see. Returns the hook's handle."""
    def hook(opt, args, kwargs):
        average_gradients([p for group in opt.param_groups for p in group["params"]], bucket_cap_mb)
    return optimizer.register_step_pre_hook(hook)

