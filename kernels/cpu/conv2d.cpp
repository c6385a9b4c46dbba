// The convolution family: conv2d, conv_transpose2d (its adjoint) and conv2d_weight, each as
// im2col/col2im around one GEMM (gemm.cpp).
//
// Math (x image (C, H, W), columns (C*kh*kw, Ho*Wo), weight W (O, C*kh*kw)):
//   im2col:  col[(c, i, j), (ho, wo)] = x[c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]   (0 outside the image)
//   conv2d:            y[n]  = W @ im2col(x[n]) + bias                      (O, L)
//   conv_transpose2d:  y[n]  = col2im(W^T @ x[n]) + bias                    (col2im adds each column entry back)
//   conv2d_weight:     dW    = sum_n grad_y[n] @ im2col(x[n])^T             (O, C*kh*kw)
// exactly the NumPy reference (kernels/reference/conv2d.py, conv_transpose2d.py), whose docstrings derive them.
//
// Tricks, and why they pay:
//   * Samples are batched into one GEMM: the columns of G samples sit side by side, (K, G*L), so the GEMM
//     has G*L columns instead of L. Late DCGAN layers have L = 16..49 output pixels; a (O x K) @ (K x 16)
//     product re-reads the whole weight matrix for very little work, one with 256+ columns amortises it.
//     G is capped so the column buffer stays ~16-32 MB (kGroupElems).
//   * im2col/col2im compute, per kernel tap, the range of output columns that fall inside the image
//     (valid_range), so the inner loop has no bounds test: zero-fill, copy (memcpy when the stride is 1),
//     zero-fill. Padding never costs a branch per element.
//   * OpenMP over (sample, channel) in im2col/col2im: each thread owns whole channels, so col2im's
//     scatter-adds never race and need no atomics. The GEMM parallelises itself.
//   * A group of one sample multiplies straight into y (no scatter copy).
// Tested against the reference in tests/test_kernels_cpu.py (hypothesis over shapes, strides, paddings,
// dilations, output paddings; float32 and float64); timed by `python -m kernels.bench`.
#include "common.h"

#include <algorithm>
#include <cstring>

static constexpr idx kGroupElems = idx(1) << 22;      // column-buffer budget in elements (16 MB of float32)

static idx group_size(idx N, idx per_sample) {
    return std::max<idx>(1, std::min<idx>(N, kGroupElems / std::max<idx>(per_sample, 1)));
}

// Output positions o in [lo, hi) whose input position o*s + off lies in [0, n); clipped to [0, no).
static inline void valid_range(idx off, idx s, idx n, idx no, idx& lo, idx& hi) {
    lo = off >= 0 ? 0 : (-off + s - 1) / s;                      // o*s + off >= 0
    hi = (n - 1 - off) < 0 ? 0 : (n - 1 - off) / s + 1;          // o*s + off <= n - 1
    lo = std::min(lo, no);
    hi = std::min(std::max(hi, lo), no);
}

// Rows c*kh*kw .. (c+1)*kh*kw of the columns, from channel c of one image (H, W); row stride ld.
template <typename T>
static void im2col_channel(const T* img, const ConvGeom& g, idx c, T* col, idx ld) {
    for (idx i = 0; i < g.kh; ++i)
        for (idx j = 0; j < g.kw; ++j) {
            T* dst = col + ((c * g.kh + i) * g.kw + j) * ld;
            idx offw = j * g.dw - g.pw, lo, hi;
            valid_range(offw, g.sw, g.W, g.Wo, lo, hi);
            for (idx oh = 0; oh < g.Ho; ++oh, dst += g.Wo) {
                idx ih = oh * g.sh - g.ph + i * g.dh;
                if (ih < 0 || ih >= g.H) {                            // a padding row
                    std::fill(dst, dst + g.Wo, T(0));
                    continue;
                }
                const T* src = img + ih * g.W + offw;                 // src[ow*sw] is x[ih, ow*sw + offw]
                std::fill(dst, dst + lo, T(0));
                if (g.sw == 1)
                    std::memcpy(dst + lo, src + lo, (hi - lo) * sizeof(T));
                else
                    for (idx ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
                std::fill(dst + hi, dst + g.Wo, T(0));
            }
        }
}

// The adjoint: channel c of one image (H, W) = the sum of its column entries (the image is overwritten).
template <typename T>
static void col2im_channel(const T* col, idx ld, const ConvGeom& g, idx c, T* img) {
    std::fill(img, img + g.H * g.W, T(0));
    for (idx i = 0; i < g.kh; ++i)
        for (idx j = 0; j < g.kw; ++j) {
            const T* src = col + ((c * g.kh + i) * g.kw + j) * ld;
            idx offw = j * g.dw - g.pw, lo, hi;
            valid_range(offw, g.sw, g.W, g.Wo, lo, hi);
            for (idx oh = 0; oh < g.Ho; ++oh, src += g.Wo) {
                idx ih = oh * g.sh - g.ph + i * g.dh;
                if (ih < 0 || ih >= g.H) continue;
                T* dst = img + ih * g.W + offw;
                if (g.sw == 1) {
#pragma omp simd
                    for (idx ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
                } else {
                    for (idx ow = lo; ow < hi; ++ow) dst[ow * g.sw] += src[ow];
                }
            }
        }
}

// im2col of samples n0 .. n0+S of x (N, C, H, W) into col (K, S*L): sample s in columns s*L .. (s+1)*L.
template <typename T>
static void im2col_group(const T* x, const ConvGeom& g, idx n0, idx S, T* col) {
    idx plane = g.H * g.W, ld = S * g.L();
#pragma omp parallel for collapse(2) schedule(static)
    for (idx s = 0; s < S; ++s)
        for (idx c = 0; c < g.C; ++c)
            im2col_channel(x + ((n0 + s) * g.C + c) * plane, g, c, col + s * g.L(), ld);
}

// (S, R, L) slice of a batch -> (R, S*L) side by side, the layout of batched columns; and back, + bias.
template <typename T>
static void gather(const T* src, idx n0, idx S, idx R, idx L, T* dst) {
#pragma omp parallel for collapse(2) schedule(static)
    for (idx s = 0; s < S; ++s)
        for (idx r = 0; r < R; ++r)
            std::memcpy(dst + r * S * L + s * L, src + ((n0 + s) * R + r) * L, L * sizeof(T));
}

template <typename T>
static void scatter_bias(const T* src, idx ld, const T* bias, idx n0, idx S, idx R, idx L, T* dst) {
#pragma omp parallel for collapse(2) schedule(static)
    for (idx s = 0; s < S; ++s)
        for (idx r = 0; r < R; ++r) {
            const T* in = src + r * ld + s * L;
            T* out = dst + ((n0 + s) * R + r) * L;
            T b = bias ? bias[r] : T(0);
#pragma omp simd
            for (idx l = 0; l < L; ++l) out[l] = in[l] + b;
        }
}

template <typename T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    idx K = g.K(), L = g.L(), G = group_size(N, K * L);
    Buffer<T> col(K * G * L), out(G > 1 ? O * G * L : 1);
    for (idx n0 = 0; n0 < N; n0 += G) {
        idx S = std::min(G, N - n0);
        im2col_group(x, g, n0, S, col.get());                                   // (K, S*L)
        if (S == 1) {                                                           // straight into y[n0]: (O, L)
            gemm<T>(false, false, O, L, K, w, K, col.get(), L, T(0), y + n0 * O * L, L);
            scatter_bias(y + n0 * O * L, L, bias, n0, 1, O, L, y);              // in place: + bias
        } else {
            gemm<T>(false, false, O, S * L, K, w, K, col.get(), S * L, T(0), out.get(), S * L);   // (O, S*L)
            scatter_bias(out.get(), S * L, bias, n0, S, O, L, y);                              // -> (S, O, L)
        }
    }
}

// Here g describes the OUTPUT image (C, Ho, Wo) and the column grid is x's (H, W); x is (N, O, H, W).
template <typename T>
void conv_transpose2d_forward(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    idx K = g.K(), L = g.L(), G = group_size(N, K * L), plane = g.H * g.W;
    Buffer<T> col(K * G * L), xb(G > 1 ? O * G * L : 1);
    for (idx n0 = 0; n0 < N; n0 += G) {
        idx S = std::min(G, N - n0);
        const T* xs = x + n0 * O * L;                                           // (O, L) when S == 1
        if (S > 1) {
            gather(x, n0, S, O, L, xb.get());                                   // (O, S*L)
            xs = xb.get();
        }
        gemm<T>(true, false, K, S * L, O, w, K, xs, S * L, T(0), col.get(), S * L);   // W^T (K, O) @ (O, S*L)
#pragma omp parallel for collapse(2) schedule(static)
        for (idx s = 0; s < S; ++s)
            for (idx c = 0; c < g.C; ++c) {
                T* img = y + ((n0 + s) * g.C + c) * plane;
                col2im_channel(col.get() + s * L, S * L, g, c, img);
                if (bias) {
                    T b = bias[c];
                    for (idx p = 0; p < plane; ++p) img[p] += b;
                }
            }
    }
}

template <typename T>
void conv2d_weight_grad(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g) {
    idx K = g.K(), L = g.L(), G = group_size(N, (K + O) * L);
    if (N == 0) {
        std::fill(gw, gw + O * K, T(0));
        return;
    }
    Buffer<T> col(K * G * L), gyb(G > 1 ? O * G * L : 1);
    for (idx n0 = 0; n0 < N; n0 += G) {
        idx S = std::min(G, N - n0);
        im2col_group(x, g, n0, S, col.get());                                   // (K, S*L)
        const T* gys = gy + n0 * O * L;
        if (S > 1) {
            gather(gy, n0, S, O, L, gyb.get());                                 // (O, S*L)
            gys = gyb.get();
        }
        // (O, S*L) @ (S*L, K); the first group writes, later ones add.
        gemm<T>(false, true, O, K, S * L, gys, S * L, col.get(), S * L, T(n0 > 0 ? 1 : 0), gw, K);
    }
}

template void conv2d_forward<float>(const float*, const float*, const float*, float*, idx, idx, const ConvGeom&);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, idx, idx, const ConvGeom&);
template void conv_transpose2d_forward<float>(const float*, const float*, const float*, float*, idx, idx, const ConvGeom&);
template void conv_transpose2d_forward<double>(const double*, const double*, const double*, double*, idx, idx, const ConvGeom&);
template void conv2d_weight_grad<float>(const float*, const float*, float*, idx, idx, const ConvGeom&);
template void conv2d_weight_grad<double>(const double*, const double*, double*, idx, idx, const ConvGeom&);
