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
//     G is capped so the column buffer stays ~16-32 MB (column_budget).
//   * When one sample's columns alone exceed that budget (a 256x256 VGG layer: 576 x 65536 floats,
//     151 MB), they are made a band of output rows at a time (for_each_chunk). Besides bounding the
//     memory this avoids a fresh 100+ MB allocation per call, which glibc maps anew each time: the page
//     faults on first touch took about half the time of such a convolution (perf: 47% in the kernel).
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

static idx column_budget = idx(1) << 22;      // column-buffer budget in elements (16 MB of float32)

// Tests shrink the budget so that small shapes take the row-band path too. Returns the old one.
idx conv_set_column_budget(idx elements) {
    idx old = column_budget;
    column_budget = std::max<idx>(1, elements);
    return old;
}

// The most samples in one chunk of for_each_chunk: as many as the budget allows, then evened out over
// the chunks that takes (64 samples at 53 per chunk become 32 + 32, not 53 + 11: a GEMM of 11 samples'
// columns keeps two threads less busy than two of 32).
static idx chunk_samples(idx N, const ConvGeom& g, idx per_column) {
    idx per_sample = std::max<idx>(per_column * g.L(), 1);
    if (per_sample > column_budget || N <= 0) return 1;
    idx most = std::max<idx>(1, std::min<idx>(N, column_budget / per_sample)), chunks = (N + most - 1) / most;
    return (N + chunks - 1) / chunks;
}

// Calls f(n0, S, h0, h1) for chunks of the column matrix that each fit the budget, given the elements
// per output pixel (rows of the column matrix, plus any other per-column buffer): either S whole
// samples n0 .. n0+S (h0 = 0, h1 = Ho), or, when one sample is too big, rows h0 .. h1 of sample n0.
template <typename F>
static void for_each_chunk(idx N, const ConvGeom& g, idx per_column, F f) {
    idx per_sample = std::max<idx>(per_column * g.L(), 1);
    if (per_sample <= column_budget) {
        idx G = chunk_samples(N, g, per_column);
        for (idx n0 = 0; n0 < N; n0 += G) f(n0, std::min(G, N - n0), idx(0), g.Ho);
        return;
    }
    idx rows = std::max<idx>(1, column_budget / std::max<idx>(per_column * g.Wo, 1));
    for (idx n = 0; n < N; ++n)
        for (idx h0 = 0; h0 < g.Ho; h0 += rows) f(n, idx(1), h0, std::min(g.Ho, h0 + rows));
}

// The most columns in one chunk of for_each_chunk (to size its buffers).
static idx chunk_columns(idx N, const ConvGeom& g, idx per_column) {
    if (per_column * g.L() <= column_budget) return g.L() * chunk_samples(N, g, per_column);
    return g.Wo * std::max<idx>(1, column_budget / std::max<idx>(per_column * g.Wo, 1));
}

// Rows c*kh*kw .. (c+1)*kh*kw of the columns for output rows h0 .. h1, from channel c of one image
// (H, W); row stride ld.
template <typename T>
static void im2col_channel(const T* img, const ConvGeom& g, idx c, T* col, idx ld, idx h0, idx h1) {
    for (idx i = 0; i < g.kh; ++i)
        for (idx j = 0; j < g.kw; ++j) {
            T* dst = col + ((c * g.kh + i) * g.kw + j) * ld;
            idx offw = j * g.dw - g.pw, lo, hi;
            valid_range(offw, g.sw, g.W, g.Wo, lo, hi);
            for (idx oh = h0; oh < h1; ++oh, dst += g.Wo) {
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

// The adjoint: adds the column entries of output rows h0 .. h1 into channel c of one image (H, W).
template <typename T>
static void col2im_channel(const T* col, idx ld, const ConvGeom& g, idx c, T* img, idx h0, idx h1) {
    for (idx i = 0; i < g.kh; ++i)
        for (idx j = 0; j < g.kw; ++j) {
            const T* src = col + ((c * g.kh + i) * g.kw + j) * ld;
            idx offw = j * g.dw - g.pw, lo, hi;
            valid_range(offw, g.sw, g.W, g.Wo, lo, hi);
            for (idx oh = h0; oh < h1; ++oh, src += g.Wo) {
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

// im2col of output rows h0 .. h1 of samples n0 .. n0+S of x (N, C, H, W) into col (K, S*Lb), where
// Lb = (h1 - h0) * Wo: sample s in columns s*Lb .. (s+1)*Lb.
template <typename T>
static void im2col_group(const T* x, const ConvGeom& g, idx n0, idx S, idx h0, idx h1, T* col) {
    idx plane = g.H * g.W, Lb = (h1 - h0) * g.Wo, ld = S * Lb;
#pragma omp parallel for collapse(2) schedule(static)
    for (idx s = 0; s < S; ++s)
        for (idx c = 0; c < g.C; ++c)
            im2col_channel(x + ((n0 + s) * g.C + c) * plane, g, c, col + s * Lb, ld, h0, h1);
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

// Winograd (conv_winograd.cpp) first, then planes (conv_planes.cpp), then the direct path in tiles of pixels
// or of samples (conv_direct.cpp), else im2col + GEMM (below); each *_pay function says when its path measured faster.
template <typename T>
ConvPath conv_path(ConvPass pass, idx N, idx O, const ConvGeom& g) {
    idx pixels = pass == ConvPass::transpose ? g.H * g.W : g.L();   // the output's; conv2d's grid for the weight
    if (winograd_pays<T>(pass, N, O, g)) return ConvPath::winograd;
    if (planes_pay<T>(pass, N, g.C, O, pixels, g.kh * g.kw)) return ConvPath::planes;
    if (pixel_tiles_pay<T>(pass, N, O, g)) return ConvPath::pixels;
    if (direct_pays<T>(pass, N, g.C, O, pixels, std::max(g.sh, g.sw), g.kh * g.kw)) return ConvPath::direct;
    return ConvPath::im2col;
}

template <typename T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    switch (conv_path<T>(ConvPass::forward, N, O, g)) {
        case ConvPath::winograd: return conv2d_forward_winograd(x, w, bias, y, N, O, g);
        case ConvPath::planes: return conv2d_forward_planes(x, w, bias, y, N, O, g);
        case ConvPath::pixels: return conv2d_forward_pixel_tiles(x, w, bias, y, N, O, g);
        case ConvPath::direct: return conv2d_forward_direct(x, w, bias, y, N, O, g);
        case ConvPath::im2col: break;
    }
    idx K = g.K(), L = g.L();
    idx cols = chunk_columns(N, g, K);
    Buffer<T> col(K * cols), out(chunk_samples(N, g, K) > 1 ? O * cols : 1);
    for_each_chunk(N, g, K, [&](idx n0, idx S, idx h0, idx h1) {
        im2col_group(x, g, n0, S, h0, h1, col.get());                         // (K, S*Lb)
        if (S == 1) {                                       // straight into rows h0 .. h1 of y[n0]: (O, Lb), stride L
            idx Lb = (h1 - h0) * g.Wo;
            gemm<T>(false, false, O, Lb, K, w, K, col.get(), Lb, T(0), y + n0 * O * L + h0 * g.Wo, L);
            if (h1 == g.Ho) scatter_bias(y + n0 * O * L, L, bias, n0, 1, O, L, y);   // in place: + bias
        } else {
            gemm<T>(false, false, O, S * L, K, w, K, col.get(), S * L, T(0), out.get(), S * L);   // (O, S*L)
            scatter_bias(out.get(), S * L, bias, n0, S, O, L, y);                              // -> (S, O, L)
        }
    });
}

// Here g describes the OUTPUT image (C, Ho, Wo) and the column grid is x's (H, W); x is (N, O, H, W).
template <typename T>
void conv_transpose2d_forward(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    switch (conv_path<T>(ConvPass::transpose, N, O, g)) {
        case ConvPath::winograd: return conv_transpose2d_forward_winograd(x, w, bias, y, N, O, g);
        case ConvPath::planes: return conv_transpose2d_forward_planes(x, w, bias, y, N, O, g);
        case ConvPath::pixels: return conv_transpose2d_forward_pixel_tiles(x, w, bias, y, N, O, g);
        case ConvPath::direct: return conv_transpose2d_forward_direct(x, w, bias, y, N, O, g);
        case ConvPath::im2col: break;
    }
    idx K = g.K(), L = g.L(), plane = g.H * g.W;
    idx cols = chunk_columns(N, g, K);
    Buffer<T> col(K * cols), xb(chunk_samples(N, g, K) > 1 ? O * cols : 1);
    for_each_chunk(N, g, K, [&](idx n0, idx S, idx h0, idx h1) {
        idx Lb = (h1 - h0) * g.Wo;
        const T* xs = x + n0 * O * L + h0 * g.Wo;                               // (O, Lb), stride L, when S == 1
        idx ldx = L;
        if (S > 1) {
            gather(x, n0, S, O, L, xb.get());                                   // (O, S*L)
            xs = xb.get();
            ldx = S * L;
        }
        gemm<T>(true, false, K, S * Lb, O, w, K, xs, ldx, T(0), col.get(), S * Lb);   // W^T (K, O) @ (O, S*Lb)
#pragma omp parallel for collapse(2) schedule(static)
        for (idx s = 0; s < S; ++s)
            for (idx c = 0; c < g.C; ++c) {
                T* img = y + ((n0 + s) * g.C + c) * plane;
                if (h0 == 0) std::fill(img, img + plane, T(0));                 // later row bands add to it
                col2im_channel(col.get() + s * Lb, S * Lb, g, c, img, h0, h1);
                if (bias && h1 == g.Ho) {
                    T b = bias[c];
                    for (idx p = 0; p < plane; ++p) img[p] += b;
                }
            }
    });
}

template <typename T>
void conv2d_weight_grad(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g) {
    switch (conv_path<T>(ConvPass::weight, N, O, g)) {             // (no pixel tiles for the weight gradient)
        case ConvPath::planes: return conv2d_weight_grad_planes(x, gy, gw, N, O, g);
        case ConvPath::direct: return conv2d_weight_grad_direct(x, gy, gw, N, O, g);
        case ConvPath::winograd: return conv2d_weight_grad_winograd(x, gy, gw, N, O, g);
        case ConvPath::pixels: case ConvPath::im2col: break;
    }
    idx K = g.K(), L = g.L();
    if (N == 0 || g.L() == 0) return std::fill(gw, gw + O * K, T(0));          // an empty sum
    idx cols = chunk_columns(N, g, K + O);
    Buffer<T> col(K * cols), gyb(chunk_samples(N, g, K + O) > 1 ? O * cols : 1);
    // The first chunk's product is stored (beta 0), later ones add to it: zero-filling dW first and adding
    // every chunk cost one more pass over dW, read and written, which for the 64x64 DCGAN's 1024 <- 512
    // layer is 32 MB.
    bool first = true;
    for_each_chunk(N, g, K + O, [&](idx n0, idx S, idx h0, idx h1) {
        idx Lb = (h1 - h0) * g.Wo;
        im2col_group(x, g, n0, S, h0, h1, col.get());                         // (K, S*Lb)
        const T* gys = gy + n0 * O * L + h0 * g.Wo;                             // (O, Lb), stride L, when S == 1
        idx ldg = L;
        if (S > 1) {
            gather(gy, n0, S, O, L, gyb.get());                                 // (O, S*L)
            gys = gyb.get();
            ldg = S * L;
        }
        gemm<T>(false, true, O, K, S * Lb, gys, ldg, col.get(), S * Lb, first ? T(0) : T(1), gw, K);   // (+)= (O, S*Lb) @ (S*Lb, K)
        first = false;
    });
}

template ConvPath conv_path<float>(ConvPass, idx, idx, const ConvGeom&);
template ConvPath conv_path<double>(ConvPass, idx, idx, const ConvGeom&);
template void conv2d_forward<float>(const float*, const float*, const float*, float*, idx, idx, const ConvGeom&);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, idx, idx, const ConvGeom&);
template void conv_transpose2d_forward<float>(const float*, const float*, const float*, float*, idx, idx, const ConvGeom&);
template void conv_transpose2d_forward<double>(const double*, const double*, const double*, double*, idx, idx, const ConvGeom&);
template void conv2d_weight_grad<float>(const float*, const float*, float*, idx, idx, const ConvGeom&);
template void conv2d_weight_grad<double>(const double*, const double*, double*, idx, idx, const ConvGeom&);
