"""DistributedDataParallel: a module whose backward() leaves every gradient averaged over the ranks.

    model = nn.parallel.DistributedDataParallel(model)      # after minigrad.distributed.init()
    loss = loss_fn(model(x_of_this_rank), y_of_this_rank)
    loss.backward()                                         # .grad = mean over the ranks
    optimizer.step()                                        # the same step on every rank

At construction every rank takes rank 0's parameters and buffers. The parameters are cut into buckets
of about bucket_cap_mb, in reverse order (the last layers' gradients are ready first); each parameter
gets a post-accumulate-grad hook, and when every gradient of a bucket is in, the bucket is averaged in
one all-reduce (distributed.average_gradients). minigrad's engine runs those hooks when the backward
walk is over, so the all-reduces follow the backward instead of overlapping it. `no_sync()` skips the
averaging (gradient accumulation: the next synchronised backward averages the sum).

A backward through minigrad.grad() does not touch .grad, so nothing is averaged: code that takes its
gradients that way averages them in the optimizer instead (distributed.average_gradients_before_step).
"""
import contextlib

from .. import distributed
from .module import Module


class DistributedDataParallel(Module):
    def __init__(self, module, bucket_cap_mb=25, broadcast_buffers=True):
        super().__init__()
        self.module = module
        self.bucket_cap_mb, self.broadcast_buffers = bucket_cap_mb, broadcast_buffers
        distributed.broadcast_parameters(module)
        params = [p for p in module.parameters() if p.requires_grad][::-1]
        self._buckets, self._bucket_of, size = [[]], {}, 0
        for p in params:
            if self._buckets[-1] and size + p.data.nbytes > bucket_cap_mb * 2 ** 20:
                self._buckets.append([])
                size = 0
            self._buckets[-1].append(p)
            self._bucket_of[id(p)] = len(self._buckets) - 1
            size += p.data.nbytes
        self._ready = [set() for _ in self._buckets]
        self._sync = True
        for p in params:
            p.register_post_accumulate_grad_hook(self._grad_ready)

    def forward(self, *inputs, **kwargs):
        waiting = [i for i, ready in enumerate(self._ready) if ready]
        if waiting:
            raise RuntimeError(f"DistributedDataParallel: the last backward left bucket {waiting[0]} with "
                               f"{len(self._ready[waiting[0]])} of {len(self._buckets[waiting[0]])} gradients; "
                               "every parameter must get a gradient in each backward")
        if self.broadcast_buffers and self.training:
            for b in self.module.buffers():
                if b is not None:
                    distributed.broadcast(b)
        return self.module(*inputs, **kwargs)

    def _grad_ready(self, param):
        if not self._sync:
            return
        i = self._bucket_of[id(param)]
        self._ready[i].add(id(param))
        if len(self._ready[i]) == len(self._buckets[i]):
            distributed.average_gradients(self._buckets[i], self.bucket_cap_mb)
            self._ready[i].clear()

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside this block leaves the gradients local (they accumulate in .grad)."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous
