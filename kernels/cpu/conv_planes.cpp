// The three convolution products plane by plane, for layers with very few output channels: the 7x7
// convolution to a 1- or 3-channel image that ends CycleGAN's generator, the discriminators' last
// convolution to one logit map.
//
// Why a third path: im2col + GEMM turns such a layer into a product whose M (conv2d, conv2d_weight)
// or shared dimension (conv_transpose2d) is O = 1..3. The GEMM pads M to its MR = 8 tile rows (8x the
// work) and still copies the whole C*kh*kw x L column matrix, 49 times the image, to do it: on
// CycleGAN's 16 -> 1 channel 7x7 layer at 32x32 (batch 8) the three products ran at 0.7-1.6 GFLOP/s.
// The direct path tiles O by 32 channels, just as wasteful. Here every multiply-add is one of the
// layer's: an output row (or an input row, for the transpose) is a short vector that every kernel tap
// adds a scaled, shifted input row into, kept in L1.
//
// Math (the reference's, kernels/reference/conv2d.py): with ih = oh*sh - ph + i*dh, iw = ow*sw - pw + j*dw,
//   conv2d:            y[n, o, oh, ow]  = b[o] + sum_{c, i, j} w[o, c, i, j] x[n, c, ih, iw]
//   conv_transpose2d:  y[n, c, ih, iw] += w[o, c, i, j] x[n, o, oh, ow]     for every o, oh, ow, i, j
//   conv2d_weight:     gw[o, c, i, j]   = sum_{n, oh, ow} gy[n, o, oh, ow] x[n, c, ih, iw]
// with taps outside the image skipped (valid_range gives, per tap, the output columns that land inside).
//
// Threads: conv2d over (sample, output channel, band of rows); conv_transpose2d over (sample, image
// channel), each thread owning whole output planes so its adds never race; conv2d_weight over
// (output channel, input channel), each thread owning kh*kw sums.
// When it pays (planes_pay): O at most PLANES_MAX_OUT, where the direct path does not (measured, see
// planes_pay). Tested against the
// reference in tests/test_kernels_cpu.py with the path forced (set_direct(2)) and by shape.
#include "common.h"

#include <algorithm>
#include <vector>

int conv_direct_mode();                       // conv_direct.cpp: 2 planes, 1 direct, -1 im2col, 0 by shape

// Measured against the other two paths (batches 1, 8, 16; 16x16 to 64x64; 3x3 to 7x7 kernels; 1-6
// output channels): with a batch of 8 or more, or a weight gradient whose panel fits L2, the direct path
// is faster, and direct_pays takes those. For the rest, planes beat im2col except on 3x3 kernels to
// 3 or 4 channels (0.72 against 0.59 ms at 64x64), where a tap's 64-wide row is too little work.
// CycleGAN's last layer at 256x256 (64 -> 3 channels, 7x7, batch 1): 47 / 44 / 52 ms against
// im2col's 130 / 124 / 202 ms for conv2d / conv_transpose2d / conv2d_weight.
template <typename T>
bool planes_pay(ConvPass pass, idx batch, idx in_channels, idx out_channels, idx pixels, idx taps) {
    int mode = conv_direct_mode();
    if (mode != 0) return mode == 2;
    if (out_channels > PLANES_MAX_OUT || direct_pays<T>(pass, batch, in_channels, out_channels, pixels, 1, taps)) return false;
    return pass == ConvPass::weight || out_channels <= 2 || taps >= 16;
}

// acc[ow] += wv * src[ow*sw] for ow in [lo, hi): one kernel tap's contribution to one output row.
template <typename T>
static inline void axpy_row(T wv, const T* __restrict src, idx sw, idx lo, idx hi, T* __restrict acc) {
    if (sw == 1) {
#pragma omp simd
        for (idx ow = lo; ow < hi; ++ow) acc[ow] += wv * src[ow];
    } else {
        for (idx ow = lo; ow < hi; ++ow) acc[ow] += wv * src[ow * sw];
    }
}

// Calls f(t, ih, offw, lo, hi) for every kernel tap t = i*kw + j of output row oh whose input row
// ih = oh*sh - ph + i*dh is inside the image; output columns [lo, hi) are those whose input column
// ow*sw + offw is inside too.
template <typename F>
static inline void for_each_tap(const ConvGeom& g, idx oh, F f) {
    for (idx i = 0; i < g.kh; ++i) {
        idx ih = oh * g.sh - g.ph + i * g.dh;
        if (ih < 0 || ih >= g.H) continue;                    // a padding row
        for (idx j = 0; j < g.kw; ++j) {
            idx offw = j * g.dw - g.pw, lo, hi;
            valid_range(offw, g.sw, g.W, g.Wo, lo, hi);
            f(i * g.kw + j, ih, offw, lo, hi);
        }
    }
}

template <typename T>
void conv2d_forward_planes(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    idx plane = g.H * g.W, L = g.L(), taps = g.kh * g.kw;
    // Bands of rows so that a batch of one still gives every thread work (the full-size CycleGAN).
    idx bands = std::max<idx>(1, std::min<idx>(g.Ho, (2 * max_threads() + N * O - 1) / std::max<idx>(N * O, 1)));
    idx rows_per_band = (g.Ho + bands - 1) / bands;
#pragma omp parallel for collapse(3) schedule(static)
    for (idx n = 0; n < N; ++n)
        for (idx o = 0; o < O; ++o)
            for (idx band = 0; band < bands; ++band) {
                T b = bias ? bias[o] : T(0);
                idx oh_end = std::min(g.Ho, (band + 1) * rows_per_band);
                for (idx oh = band * rows_per_band; oh < oh_end; ++oh) {
                    T* acc = y + (n * O + o) * L + oh * g.Wo;          // the output row, summed in place
                    std::fill(acc, acc + g.Wo, b);
                    for (idx c = 0; c < g.C; ++c) {
                        const T* img = x + (n * g.C + c) * plane;
                        const T* wk = w + (o * g.C + c) * taps;
                        for_each_tap(g, oh, [&](idx t, idx ih, idx offw, idx lo, idx hi) {
                            axpy_row(wk[t], img + ih * g.W + offw, g.sw, lo, hi, acc);
                        });
                    }
                }
            }
}

// Here, as in conv2d.cpp, g describes the OUTPUT image (C, H, W); x is (N, O, Ho, Wo).
template <typename T>
void conv_transpose2d_forward_planes(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    idx plane = g.H * g.W, L = g.L(), taps = g.kh * g.kw;
#pragma omp parallel for collapse(2) schedule(static)
    for (idx n = 0; n < N; ++n)
        for (idx c = 0; c < g.C; ++c) {
            T* img = y + (n * g.C + c) * plane;
            std::fill(img, img + plane, bias ? bias[c] : T(0));
            for (idx o = 0; o < O; ++o) {
                const T* xs = x + (n * O + o) * L;
                const T* wk = w + (o * g.C + c) * taps;
                for (idx oh = 0; oh < g.Ho; ++oh)
                    for_each_tap(g, oh, [&](idx t, idx ih, idx offw, idx lo, idx hi) {
                        T wv = wk[t];
                        const T* src = xs + oh * g.Wo;
                        T* dst = img + ih * g.W + offw;              // dst[ow*sw] is y[ih, ow*sw + offw]
                        if (g.sw == 1) {
#pragma omp simd
                            for (idx ow = lo; ow < hi; ++ow) dst[ow] += wv * src[ow];
                        } else {
                            for (idx ow = lo; ow < hi; ++ow) dst[ow * g.sw] += wv * src[ow];
                        }
                    });
            }
        }
}

template <typename T>
void conv2d_weight_grad_planes(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g) {
    idx plane = g.H * g.W, L = g.L(), taps = g.kh * g.kw;
#pragma omp parallel for collapse(2) schedule(static)
    for (idx o = 0; o < O; ++o)
        for (idx c = 0; c < g.C; ++c) {
            std::vector<T> acc(taps, T(0));
            for (idx n = 0; n < N; ++n) {
                const T* img = x + (n * g.C + c) * plane;
                const T* gys = gy + (n * O + o) * L;
                for (idx oh = 0; oh < g.Ho; ++oh) {
                    const T* grow = gys + oh * g.Wo;
                    for_each_tap(g, oh, [&](idx t, idx ih, idx offw, idx lo, idx hi) {
                        const T* src = img + ih * g.W + offw;
                        T s = T(0);
                        if (g.sw == 1) {
#pragma omp simd reduction(+ : s)
                            for (idx ow = lo; ow < hi; ++ow) s += grow[ow] * src[ow];
                        } else {
                            for (idx ow = lo; ow < hi; ++ow) s += grow[ow] * src[ow * g.sw];
                        }
                        acc[t] += s;
                    });
                }
            }
            std::copy(acc.begin(), acc.end(), gw + (o * g.C + c) * taps);
        }
}

#define INSTANTIATE(T)                                                                                   \
    template bool planes_pay<T>(ConvPass, idx, idx, idx, idx, idx);                                             \
    template void conv2d_forward_planes<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&);    \
    template void conv_transpose2d_forward_planes<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&); \
    template void conv2d_weight_grad_planes<T>(const T*, const T*, T*, idx, idx, const ConvGeom&);
INSTANTIATE(float)
INSTANTIATE(double)
