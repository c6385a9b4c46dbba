"""2-D convolution (cross-correlation, like PyTorch), the NumPy reference: im2col and one matmul.

    y[n, o, ho, wo] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * xp[n, c, ho*sh + i*dh, wo*sw + j*dw]

where xp is x zero-padded by (ph, pw) on each side. Output size, per spatial axis:

    Ho = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1

im2col gathers, for every output pixel, the C*kh*kw input values its kernel touches into one column;
the convolution is then the matrix product weight (O, C*kh*kw) @ columns (C*kh*kw, Ho*Wo).
The weight gradient is the same product with the other factor: grad_y @ columnsᵀ.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """Columns of x: (N, C, H, W) -> (N, C*kh*kw, Ho*Wo), and (Ho, Wo).

    `out_size` keeps only the first (Ho, Wo) windows (conv_transpose2d's adjoint may need fewer).
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    N, C = x.shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))                 # (N, C, H + 2ph, W + 2pw)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1                 # the dilated kernel's extent
    # every span_h×span_w window, as a view: (N, C, Hp - span_h + 1, Wp - span_w + 1, span_h, span_w)
    windows = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]                       # (N, C, Ho, Wo, kh, kw): stride, dilation
    if out_size is not None:
        windows = windows[:, :, :out_size[0], :out_size[1]]
    Ho, Wo = windows.shape[2:4]
    cols = windows.transpose(0, 1, 4, 5, 2, 3)                            # (N, C, kh, kw, Ho, Wo)
    cols = cols.reshape(N, C * kh * kw, Ho * Wo)                          # (N, C*kh*kw, L): the copy that is im2col
    return cols, (Ho, Wo)


def conv2d(x, weight, bias, stride, padding, dilation):
    """y = weight ⋆ x + bias: x (N, C, H, W), weight (O, C, kh, kw), bias (O,) or None -> (N, O, Ho, Wo)."""
    N = x.shape[0]
    O, C, kh, kw = weight.shape
    cols, (Ho, Wo) = im2col(x, (kh, kw), stride, padding, dilation)     # (N, C*kh*kw, L)
    y = weight.reshape(O, C * kh * kw) @ cols                             # (O, C*kh*kw) @ (N, C*kh*kw, L) -> (N, O, L)
    if bias is not None:
        y += bias.reshape(1, O, 1)
    return y.reshape(N, O, Ho, Wo)


def conv2d_weight(x, grad_y, weight_shape, stride, padding, dilation):
    """d(conv2d)/d(weight), x (N, C, H, W) and grad_y (N, O, Ho, Wo) -> (O, C, kh, kw):

        grad_weight[o, c, i, j] = sum_{n, ho, wo} grad_y[n, o, ho, wo] * xp[n, c, ho*sh + i*dh, wo*sw + j*dw]

    Only the first (Ho, Wo) windows of x are used, so grad_y may be smaller than conv2d's output
    (as in the weight gradient of conv_transpose2d with output_padding >= stride).
    """
    O, C, kh, kw = weight_shape
    N, _, Ho, Wo = grad_y.shape
    cols, _ = im2col(x, (kh, kw), stride, padding, dilation, (Ho, Wo))  # (N, C*kh*kw, L)
    gy = grad_y.reshape(N, O, Ho * Wo)                                    # (N, O, L)
    grad_w = np.tensordot(gy, cols, axes=([0, 2], [0, 2]))                # sum over n and L -> (O, C*kh*kw)
    return grad_w.reshape(O, C, kh, kw)
