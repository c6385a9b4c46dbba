"""Reflection padding of images, and its adjoint (the backward), the NumPy reference.

    reflection_pad2d(x, padding) -> y
        x (N, C, H, W), padding (left, right, top, bottom) as in torch.nn.functional.pad, each width
        smaller than its dim (H for top and bottom, W for left and right);
        y (N, C, top + H + bottom, left + W + right), y[..., i, j] = x[..., r(i - top, H), r(j - left, W)]
        with the mirror r(k, n) = -k for k < 0, k inside, 2(n - 1) - k for k >= n: the edge is not
        repeated. For n = 4 and widths (2, 2) the rows read  2 1 | 0 1 2 3 | 2 1.
    reflection_pad2d_backward(grad_y, padding) -> grad_x
        the adjoint: every element of grad_y is added to the element of x it was read from. One dim at a
        time (rows, then columns), the inside first, then the mirrored top (left) border, then the
        mirrored bottom (right) border: the fast kernels add in this order too, so they agree exactly.
"""
import numpy as np


def reflection_pad2d(x, padding):
    left, right, top, bottom = padding
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect")


def reflection_pad2d_backward(grad_y, padding):
    left, right, top, bottom = padding
    return _fold(_fold(grad_y, 2, top, bottom), 3, left, right)


def _fold(g, axis, lo, hi):
    """Fold the borders of dim `axis` (widths lo, hi) back onto the positions they mirror."""
    n = g.shape[axis] - lo - hi                                   # the unpadded size
    g = np.moveaxis(g, axis, -1)
    out = g[..., lo:lo + n].copy()
    if lo:
        out[..., 1:lo + 1] += g[..., lo - 1::-1]                   # padded lo-1, ..., 0 mirror 1, ..., lo
    if hi:
        out[..., n - 1 - hi:n - 1] += g[..., lo + n + hi - 1:lo + n - 1:-1]   # the last, ..., lo+n mirror n-1-hi, ..., n-2
    return np.moveaxis(out, -1, axis)
