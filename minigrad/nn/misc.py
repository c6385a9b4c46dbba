"""Small layers: Dropout, Flatten, Unflatten, Embedding, ReflectionPad2d, Upsample, MaxPool2d, AvgPool2d."""
import numpy as np

from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class Dropout(Module):
    """Zero each element with probability p in training mode, scaling the rest by 1/(1 - p); identity in eval mode.

    Args: p (0.5); inplace (accepted for compatibility, computed out of place).

    Shape: any -> the same.
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: probability p must be between 0 and 1, got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Merge dims start_dim..end_dim into one.

    Shape: (N, C, H, W) -> (N, C*H*W) with the defaults start_dim=1, end_dim=-1.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim `dim` into `unflattened_size`.

    Shape: (N, C*H*W) -> (N, C, H, W) for Unflatten(1, (C, H, W)).
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input):
        dim = self.dim % input.ndim
        if int(np.prod(self.unflattened_size)) != input.shape[dim] and -1 not in self.unflattened_size:
            raise ValueError(f"Unflatten: dim {self.dim} of input {input.shape} has size {input.shape[dim]}, "
                             f"which cannot be split into {self.unflattened_size}")
        return input.reshape(input.shape[:dim] + self.unflattened_size + input.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Embedding(Module):
    """A lookup table: row i of weight for index i (class labels -> learned vectors in a conditional GAN).

    Args:
        num_embeddings: number of rows (e.g. classes); embedding_dim: size of each row.
        padding_idx: a row that starts at zero and gets no gradient (default None).

    Shape: integer input (*) -> (*, embedding_dim). Init: weight from N(0, 1), like PyTorch.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=None):
        super().__init__()
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings {num_embeddings}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = None if padding_idx is None else padding_idx % num_embeddings
        dtype = np.float32 if dtype is None else dtype
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class ReflectionPad2d(Module):
    """Pad H and W by mirroring the image at its border (without repeating the edge pixel).

    Args: padding, an int or (left, right, top, bottom); each must be smaller than the padded dim.

    Shape: (N, C, H, W) -> (N, C, H + top + bottom, W + left + right).
    """

    def __init__(self, padding):
        super().__init__()
        self.padding = (padding,) * 4 if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 4:
            raise ValueError(f"ReflectionPad2d: padding must be an int or 4 ints (left, right, top, bottom), "
                             f"got {padding!r}")

    def forward(self, input):
        return F.pad(input, self.padding, mode="reflect")

    def extra_repr(self):
        return f"{self.padding}"


class Upsample(Module):
    """Resize (N, C, H, W) images to `size`, or by `scale_factor`, with nearest-neighbour sampling.

    Shape: (N, C, H, W) -> (N, C, H * scale_factor, W * scale_factor), or (N, C, *size).
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest"):
        super().__init__()
        if mode != "nearest":
            raise NotImplementedError(f"Upsample: mode {mode!r} is not supported; only 'nearest'")
        self.size, self.mode = size, mode
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else scale_factor

    def forward(self, input):
        return F.interpolate(input, size=self.size, scale_factor=self.scale_factor, mode=self.mode)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class MaxPool2d(Module):
    """The largest value in each kh×kw window.

    Args: kernel_size; stride (default: kernel_size); padding (0). Each an int or an (h, w) pair.

    Shape: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*padding - kh) // stride + 1.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, dilation=1, "
                "ceil_mode=False")


class AvgPool2d(Module):
    """The mean of each kh×kw window.

    Args: kernel_size; stride (default: kernel_size); padding (0, zeros counted in the mean). Each an int or a pair.

    Shape: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*padding - kh) // stride + 1.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
