"""Normalisation layers: BatchNorm1d, BatchNorm2d, SyncBatchNorm, InstanceNorm2d, LayerNorm.

Each computes y = (x - mean) / sqrt(var + eps) * weight + bias; they differ in which values share
a mean (see minigrad/ops/norm.py). Batch norm also keeps running averages of the batch statistics
(buffers running_mean, running_var, num_batches_tracked) and normalises with them in eval mode.
"""
import numpy as np

from .. import distributed
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class _NormBase(Module):
    """Parameters and buffers shared by batch and instance norm, PyTorch's names and defaults."""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, dtype, bias):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = np.float32 if dtype is None else dtype
        self.register_parameter("weight", Parameter(np.ones(num_features, dtype=dtype)) if affine else None)
        self.register_parameter("bias", Parameter(np.zeros(num_features, dtype=dtype)) if affine and bias else None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, input, ndims, shape_text):
        if input.ndim not in ndims:
            raise ValueError(f"{type(self).__name__}: expected input of shape {shape_text}, got shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels (dim 1), "
                             f"got input of shape {input.shape}")

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=None, *,
                 bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, bias)

    def forward(self, input):
        self._check_input(input, *self._input_dims)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:                                    # a cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.data)
        # batch statistics when training, or when there are no running ones to use
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats           # running stats updated (train) or used (eval)
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, momentum, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L): per channel, over N (and L).

    Args:
        num_features: C.
        eps: added to the variance (1e-5).
        momentum: running = (1 - momentum) * running + momentum * batch (0.1); None: cumulative average.
        affine: learn weight (init 1) and bias (init 0) (True); bias=False (keyword) drops the bias.
        track_running_stats: keep running_mean/running_var and use them in eval mode (True).

    Shape: (N, C) or (N, C, L) -> the same.
    """
    _input_dims = ((2, 3), "(N, C) or (N, C, L)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W): per channel, over N, H and W.

    Args: as BatchNorm1d (num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True).

    Shape: (N, C, H, W) -> the same.
    """
    _input_dims = ((4,), "(N, C, H, W)")


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation with the statistics of the global batch, over every rank of minigrad.distributed.

    Training on N > 1 ranks, per channel, with sums over (N, *) on each rank and allreduce over the ranks:

        n    = allreduce(number of values)
        mean = allreduce(sum x) / n
        var  = allreduce(sum (x - mean)^2) / n               (running_var is updated with var * n / (n - 1))
        y    = (x - mean) / sqrt(var + eps) * weight + bias

    The all-reduces are ops gradients flow through (distributed.all_reduce_autograd), so the backward
    sums over the ranks as well, and each rank's gradient is that of the global batch. In eval mode, or
    in a world of one rank, this is BatchNorm (the same kernel). Args as BatchNorm1d.

    Shape: (N, C, *) -> the same.
    """
    _input_dims = ((2, 3, 4, 5), "(N, C, *)")

    def forward(self, input):
        if not self.training or distributed.world_size() == 1:
            return super().forward(input)
        self._check_input(input, *self._input_dims)
        dims = (0,) + tuple(range(2, input.ndim))
        shape = (1, self.num_features) + (1,) * (input.ndim - 2)
        n = float(distributed._all_reduce_array(np.array([input.numel() // self.num_features], dtype=np.float64))[0])
        mean = distributed.all_reduce_autograd(input.sum(dims)) / n
        centred = input - mean.reshape(shape)
        var = distributed.all_reduce_autograd((centred * centred).sum(dims)) / n
        out = centred / (var + self.eps).sqrt().reshape(shape)
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.data, var.data * (n / max(n - 1.0, 1.0)))
        return out

    def _update_running_stats(self, mean, unbiased_var):
        self.num_batches_tracked.data += 1
        m = 1.0 / float(self.num_batches_tracked.data) if self.momentum is None else self.momentum
        for running, batch in ((self.running_mean, mean), (self.running_var, unbiased_var)):
            running.data[...] = (1 - m) * running.data + m * batch.astype(running.dtype)

    @classmethod
    def convert_sync_batchnorm(cls, module):
        """`module` with every BatchNorm1d/2d inside replaced by a SyncBatchNorm holding the same
        Parameter and buffer objects (an optimizer built before the conversion still updates them)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
            for name in ("weight", "bias"):
                sync._parameters[name] = module._parameters[name]
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                sync._buffers[name] = module._buffers[name]
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            module.add_module(name, cls.convert_sync_batchnorm(child))
        return module


class InstanceNorm2d(_NormBase):
    """Instance normalisation: each (sample, channel) of (N, C, H, W) normalised over its own H and W.

    Args: num_features (C), eps (1e-5), momentum (0.1), affine (False, unlike batch norm),
        track_running_stats (False; when True, eval mode uses the running statistics).

    Shape: (N, C, H, W) -> the same.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, dtype=None, *,
                 bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, bias)

    def forward(self, input):
        self._check_input(input, (4,), "(N, C, H, W)")
        use_input_stats = self.training or not self.track_running_stats
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               use_input_stats, self.momentum if self.momentum is not None else 0.1, self.eps)


class LayerNorm(Module):
    """Layer normalisation: each sample normalised over its last len(normalized_shape) dims.

    Args:
        normalized_shape: an int or a shape, the trailing dims of the input.
        eps: added to the variance (1e-5).
        elementwise_affine: learn weight (init 1) and bias (init 0) of that shape (True).
        bias: learn the bias (True; only with elementwise_affine).

    Shape: (*, *normalized_shape) -> the same.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        dtype = np.float32 if dtype is None else dtype
        self.register_parameter("weight", Parameter(np.ones(shape, dtype=dtype)) if elementwise_affine else None)
        self.register_parameter("bias", Parameter(np.zeros(shape, dtype=dtype)) if elementwise_affine and bias else None)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
