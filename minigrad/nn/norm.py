"""Normalisation layers: BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm.

Each computes y = (x - mean) / sqrt(var + eps) * weight + bias; they differ in which values share
a mean (see minigrad/ops/norm.py). Batch norm also keeps running averages of the batch statistics
(buffers running_mean, running_var, num_batches_tracked) and normalises with them in eval mode.
"""
import numpy as np

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
