"""minigrad.nn.functional: every op a layer needs, as a plain function (like torch.nn.functional).

The ops themselves live in minigrad/ops/ (one family per file, forward and backward side by side);
this module gathers them under PyTorch's names. Only `linear` is defined here.
"""
from ..ops.activation import (dropout, elu, embedding, leaky_relu, log_softmax, one_hot,  # noqa: F401
                              relu, selu, sigmoid, softmax, softplus, tanh)
from ..ops.conv import conv2d, conv_transpose2d  # noqa: F401
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,  # noqa: F401
                        l1_loss, mse_loss, nll_loss)
from ..ops.norm import batch_norm, instance_norm, layer_norm  # noqa: F401
from ..ops.pool import avg_pool2d, interpolate, max_pool2d  # noqa: F401
from ..ops.shape import pad  # noqa: F401
from ..ops.common import as_tensor


def linear(input, weight, bias=None):
    """y = x Wᵀ + b: input (*, in_features), weight (out_features, in_features), bias (out_features,)."""
    x, weight = as_tensor(input), as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} features in its "
                         f"last dim, but weight {weight.shape} expects {weight.shape[1]}")
    if bias is not None and as_tensor(bias).shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {as_tensor(bias).shape}")
    y = x @ weight.T                                                     # (*, out_features)
    return y if bias is None else y + bias
