"""Max pooling: the largest value of every window, and where it was.

    max_pool2d(x, kernel_size, stride, padding) -> (y, index)
        x (N, C, H, W); windows of kh x kw at stride (sh, sw), the image padded by (ph, pw) with -inf
        (padding never wins); Ho = (H + 2*ph - kh) // sh + 1 (likewise Wo).
        y[n, c, ho, wo]     = max over the window at (ho*sh - ph, wo*sw - pw)
        index[n, c, ho, wo] = h*W + w of that maximum in x (int64): the first one in the window's
                              row-major order on ties, and a NaN wins over any number (as np.argmax).
The backward of max pooling sends each output gradient to x at `index` (minigrad/ops/pool.py).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def max_pool2d(x, kernel_size, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]                  # (N, C, Ho, Wo, kh, kw)
    best = windows.reshape(N, C, Ho, Wo, kh * kw).argmax(axis=-1)                                # place in the window
    i, j = np.divmod(best, kw)
    rows = np.arange(Ho).reshape(Ho, 1) * sh + i - ph                                           # row in x
    cols = np.arange(Wo) * sw + j - pw                                                          # column in x
    index = (rows * W + cols).astype(np.int64)
    y = np.take_along_axis(x.reshape(N, C, H * W), index.reshape(N, C, Ho * Wo), axis=2).reshape(N, C, Ho, Wo)
    return y, index
