"""2-D transposed convolution, the NumPy reference: one matmul and col2im, the adjoint of conv2d.

conv2d reads each output pixel from a kh×kw window of the input (im2col, then a matmul). Its adjoint
runs the same two steps backwards: a matmul by weightᵀ turns every input pixel into the C*kh*kw
values it contributes, and col2im *adds* each of them into the window it came from:

    y[n, c, h*sh + i*dh - ph, w*sw + j*dw - pw] += sum_o weight[o, c, i, j] * x[n, o, h, w]

Output size, per spatial axis (output_padding oph adds rows at the bottom that no input reaches):

    Ho = (H - 1)*sh - 2*ph + dh*(kh - 1) + oph + 1

so conv2d's input gradient is conv_transpose2d of its output gradient (same weight, stride, padding,
dilation; output_padding picks the input size when the stride made several sizes possible).
"""
import numpy as np


def conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation):
    """y = weightᵀ x + bias: x (N, O, H, W), weight (O, C, kh, kw), bias (C,) or None -> (N, C, Ho, Wo)."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    N, O, H, W = x.shape
    _, C, kh, kw = weight.shape
    cols = weight.reshape(O, C * kh * kw).T @ x.reshape(N, O, H * W)     # (C*kh*kw, O) @ (N, O, L) -> (N, C*kh*kw, L)
    cols = cols.reshape(N, C, kh, kw, H, W)                               # one (H, W) image per kernel tap (i, j)

    # col2im: the padded output, then every tap's image added at its offset, strided.
    Hp = (H - 1) * sh + dh * (kh - 1) + 1 + oph                           # = Ho + 2*ph
    Wp = (W - 1) * sw + dw * (kw - 1) + 1 + opw
    yp = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (H - 1) * sh + 1, sh)           # H rows, sh apart, from i*dh
            columns = slice(j * dw, j * dw + (W - 1) * sw + 1, sw)
            yp[:, :, rows, columns] += cols[:, :, i, j]                   # (N, C, H, W)
    y = yp[:, :, ph:Hp - ph, pw:Wp - pw]                                  # (N, C, Ho, Wo): drop the padding
    if bias is not None:
        y = y + bias.reshape(1, C, 1, 1)
    return np.ascontiguousarray(y)
