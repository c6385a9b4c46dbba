"""Shape ops: reshape, expand, permute, cat, split, pad, clone, cast (no arithmetic; backward moves the gradient back).

Most are one Function (reshape, expand, permute, cat, constant pad); the rest are written with those
and with indexing (squeeze/unsqueeze/flatten are reshapes, split is slicing, stack is cat of unsqueezes).
"""
import math

import numpy as np

import kernels
import kernels.reference as reference_kernels

from .. import device as _device
from ..autograd import Function
from ..tensor import Tensor
from .common import as_tensor, normalize_dim, normalize_dims, unbroadcast


def _shape_arg(shape):
    """Accept both reshape(2, 3) and reshape((2, 3)), like PyTorch."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.data.reshape(shape)

    # reshaping moves no values: reshape the gradient back
    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.broadcast_to(a.data, shape)

    # each input element was copied to many outputs: sum their gradients
    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shape)


def reshape(a, *shape):
    a = as_tensor(a)
    shape = _shape_arg(shape)
    known = [n for n in shape if n != -1]
    size = int(np.prod(known)) if known else 1
    if shape.count(-1) > 1 or (-1 in shape and (size == 0 or a.numel() % size)) or \
            (-1 not in shape and size != a.numel()):
        raise RuntimeError(f"reshape: cannot reshape a tensor of shape {a.shape} ({a.numel()} elements) into {shape}")
    if shape == a.shape:
        return a
    return Reshape.apply(a, shape)


def expand(a, *sizes):
    a = as_tensor(a)
    sizes = _shape_arg(sizes)
    extra = len(sizes) - a.ndim
    if extra < 0:
        raise RuntimeError(f"expand: cannot expand shape {a.shape} to fewer dimensions {sizes}")
    shape = tuple(a.shape[i - extra] if n == -1 else n for i, n in enumerate(sizes))
    try:
        if np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"expand: shape {a.shape} cannot be expanded to {sizes}") from None
    if shape == a.shape:
        return a
    return Expand.apply(a, shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return np.transpose(a.data, dims)

    # permuting moves values: apply the inverse permutation to the gradient
    @staticmethod
    def backward(ctx, grad):
        return grad.permute(*np.argsort(ctx.dims).tolist()), None


class Cat(Function):
    """Concatenation; `dim` comes first so that the tensors can be any number of positional inputs."""

    @staticmethod
    def forward(ctx, dim, *tensors):
        ctx.dim, ctx.sizes = dim, [t.shape[dim] for t in tensors]
        return np.concatenate([t.data for t in tensors], axis=dim)

    # each input's gradient is its slice of the output gradient
    @staticmethod
    def backward(ctx, grad):
        grads, start = [None], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad[1:]):
            index = (slice(None),) * ctx.dim + (slice(start, start + size),)
            grads.append(grad[index] if need else None)
            start += size
        return tuple(grads)


class ConstantPad(Function):
    @staticmethod
    def forward(ctx, a, widths, value):
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return np.pad(a.data, widths, mode="constant", constant_values=value)

    # the padding is constant: the gradient is the output gradient with the border cut off
    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.crop], None, None


def flatten(a, start_dim=0, end_dim=-1):
    a = as_tensor(a)
    if a.ndim == 0:
        return a.reshape(1)
    start, end = normalize_dim("flatten", start_dim, a.ndim), normalize_dim("flatten", end_dim, a.ndim)
    if start > end:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {a.shape})")
    return a.reshape(a.shape[:start] + (int(np.prod(a.shape[start:end + 1])),) + a.shape[end + 1:])


def permute(a, *dims):
    a = as_tensor(a)
    dims = _shape_arg(dims)
    if sorted(normalize_dim("permute", d, a.ndim) for d in dims) != list(range(a.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {a.ndim} dims of shape {a.shape}")
    dims = tuple(normalize_dim("permute", d, a.ndim) for d in dims)
    if dims == tuple(range(a.ndim)):
        return a
    return Permute.apply(a, dims)


def transpose(a, dim0, dim1):
    a = as_tensor(a)
    dims = list(range(a.ndim))
    d0, d1 = normalize_dim("transpose", dim0, a.ndim), normalize_dim("transpose", dim1, a.ndim)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(a, *dims)


def squeeze(a, dim=None):
    """Drop size-1 dims (all of them, or those in `dim`, an int or tuple; others are left alone)."""
    a = as_tensor(a)
    dims = normalize_dims("squeeze", dim, a.ndim) if a.ndim else ()
    return a.reshape(tuple(n for i, n in enumerate(a.shape) if not (i in dims and n == 1)))


def unsqueeze(a, dim):
    """Insert a size-1 dim at `dim` (which may be ndim, or negative counting from ndim + 1)."""
    a = as_tensor(a)
    d = normalize_dim("unsqueeze", dim, a.ndim + 1)
    return a.reshape(a.shape[:d] + (1,) + a.shape[d:])


def split(a, split_size_or_sections, dim=0):
    """Pieces of `split_size` along dim (the last may be smaller), or of the listed sizes."""
    a = as_tensor(a)
    d = normalize_dim("split", dim, a.ndim)
    n = a.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {dim} has size {n} "
                             f"(shape {a.shape})")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(a[(slice(None),) * d + (slice(start, start + size),)])
        start += size
    return tuple(pieces)


def chunk(a, chunks, dim=0):
    """Split into `chunks` pieces of ceil(n / chunks) along dim (fewer if they run out, like PyTorch)."""
    a = as_tensor(a)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = a.shape[normalize_dim("chunk", dim, a.ndim)]
    return split(a, max(-(-n // chunks), 1), dim)


def cat(tensors, dim=0):
    """Join tensors along an existing dim; all other dims must match."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    d = normalize_dim("cat", dim, first.ndim)
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:d] + t.shape[d + 1:] != first.shape[:d] + first.shape[d + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {t.shape} but tensor 0 has shape {first.shape}; "
                             f"all dims except dim {dim} must match")
        if t.dtype != first.dtype:
            raise TypeError(f"cat: tensor {i} is {t.dtype} but tensor 0 is {first.dtype}")
    return Cat.apply(d, *tensors)


def stack(tensors, dim=0):
    """Join same-shape tensors along a new dim."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has shape {tensors[0].shape}")
    d = normalize_dim("stack", dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def pad(input, pad, mode="constant", value=0):
    """Pad like torch.nn.functional.pad: `pad` lists (left, right) pairs from the LAST dim backwards,
    e.g. (1, 1, 2, 2) pads the last dim by 1 and the one before by 2.

    mode "constant" fills with `value`; "reflect" mirrors without repeating the edge (each width
    must be smaller than the size of its dim). Widths must be >= 0.
    """
    a = as_tensor(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise ValueError(f"pad: expected an even number of widths, at most 2 per dim ({2 * a.ndim} for shape "
                         f"{a.shape}), got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative widths are not supported, got {pad}")
    widths = [(0, 0)] * a.ndim
    for k in range(len(pad) // 2):
        widths[a.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    if mode == "constant":
        if not any(pad):
            return a
        return ConstantPad.apply(a, tuple(widths), value)
    if mode == "reflect":
        return _reflect_pad(a, widths)
    raise ValueError(f"pad: mode must be 'constant' or 'reflect', got {mode!r}")


def _reflect_pad(a, widths):
    for d, (lo, hi) in enumerate(widths):
        if lo >= a.shape[d] or hi >= a.shape[d]:
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) of dim {d} must be smaller than its size "
                             f"{a.shape[d]} (input shape {a.shape})")
    if not any(lo or hi for lo, hi in widths):
        return a
    return ReflectPad.apply(a, tuple(widths))


# Reflection along a dim of size n with widths (lo, hi) reads input position lo - j for output j < lo,
# j - lo inside, and n - 2 - k for output lo + n + k: for n = 4, widths (2, 2), the output reads
# 2 1 | 0 1 2 3 | 2 1. Its adjoint (the backward) folds the border back: the inside plus, mirrored,
# each border onto the positions it was read from. The two are each other's adjoints, so each one's
# backward is the other, and padding can be differentiated twice.
#
# Both are kernels (kernels.reflection_pad2d and its backward, reference in kernels/reference/pad.py)
# on the last two dims, the images of CycleGAN's ResNet blocks; a padded dim further out is moved
# last and padded as a width, and pads of different dims commute, so any order gives the same result.
# (In NumPy, np.pad and the fold's slice additions cost the CycleGAN demo about 27 ms a step.)
class ReflectPad(Function):
    @staticmethod
    def forward(ctx, a, widths):
        ctx.widths = widths
        return _reflect(a.data, widths, kernels.reflection_pad2d)

    @staticmethod
    def backward(ctx, grad):
        return ReflectPadAdjoint.apply(grad, ctx.widths), None


class ReflectPadAdjoint(Function):
    @staticmethod
    def forward(ctx, grad, widths):
        ctx.widths = widths
        return _reflect(grad.data, widths, kernels.reflection_pad2d_backward)

    @staticmethod
    def backward(ctx, grad):
        return ReflectPad.apply(grad, ctx.widths), None


def _reflect(data, widths, kernel):
    """Apply `kernel` (the pad or its adjoint, on (N, C, H, W) with (left, right, top, bottom)) for `widths`,
    one (lo, hi) per dim of data: the last two dims in one call, each other padded dim moved last first."""
    if data.dtype not in (np.float32, np.float64):                # the kernels' dtypes; others in the reference
        kernel = getattr(reference_kernels, kernel.__name__)
    widths = [(0, 0)] * (2 - data.ndim) + list(widths)             # a 1-D tensor is one row
    view = data.reshape((1,) * (2 - data.ndim) + data.shape)
    for d, (lo, hi) in enumerate(widths[:-2]):
        if lo or hi:
            view = np.moveaxis(_last2(np.moveaxis(view, d, -1), (lo, hi, 0, 0), kernel), -1, d)
    (top, bottom), (left, right) = widths[-2:]
    if left or right or top or bottom:
        view = _last2(view, (left, right, top, bottom), kernel)
    return view.reshape(view.shape[2 - data.ndim:]) if data.ndim < 2 else view


def _last2(a, padding, kernel):
    """kernel(a as (1, planes, H, W), padding), shaped back as a's leading dims + the new (H, W)."""
    out = kernel(a.reshape((1, math.prod(a.shape[:-2])) + a.shape[-2:]), padding)
    return out.reshape(a.shape[:-2] + out.shape[-2:])


# ----------------------------------------------------------------------------- copies (clone, dtype casts)

class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.data.astype(dtype)

    # d cast(a)/da = 1: cast the gradient back to the input's dtype
    @staticmethod
    def backward(ctx, grad):
        return cast(grad, ctx.dtype), None


class ToDevice(Function):
    @staticmethod
    def forward(ctx, a, device):
        ctx.device = a.device
        return _device.asarray(a.data, device=device)

    # d to_device(a)/da = 1: the gradient goes back to the input's device
    @staticmethod
    def backward(ctx, grad):
        return to_device(grad, ctx.device), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.data.copy()

    # d clone(a)/da = 1
    @staticmethod
    def backward(ctx, grad):
        return grad


def to_device(a, device):
    """`a` copied to `device` (a minigrad Device); differentiable, the gradient is copied back."""
    a = as_tensor(a)
    if a.device == device:
        return a
    if a.dtype.kind != "f":
        return Tensor._wrap(_device.asarray(a.data, device=device))
    return ToDevice.apply(a, device)


def cast(a, dtype):
    """`a` in another dtype; differentiable between float dtypes, a constant when cast to int/bool."""
    a = as_tensor(a)
    dtype = np.dtype(dtype)
    if dtype == a.dtype:
        return a
    if dtype.kind != "f":
        return Tensor._wrap(a.data.astype(dtype))
    return Cast.apply(a, dtype)


def clone(a):
    return Clone.apply(as_tensor(a))
