// Winograd's minimal filtering F(2x2, 3x3): a stride-1 3x3 convolution with 16 multiplications per 2x2
// block of output pixels and input channel, where the direct sum takes 36 (Lavin & Gray, "Fast Algorithms
// for Convolutional Neural Networks", 2016).
//
// Math, for one channel pair: a 4x4 patch d of the (zero-padded) input gives the 2x2 outputs
//     Y = A^T [ (G g G^T) * (B^T d B) ] A            (* elementwise, g the 3x3 kernel)
// with
//     B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
//           [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
//           [0 -1  1  0]         [1/2 -1/2  1/2]
//           [0  1  0 -1]         [ 0    0    1 ]
// (check on one row: the outputs y0 = d0 g0 + d1 g1 + d2 g2, y1 = d1 g0 + d2 g1 + d3 g2 come out of the
// four products m0 = (d0 - d2) g0, m1 = (d1 + d2)(g0 + g1 + g2)/2, m2 = (d2 - d1)(g0 - g1 + g2)/2,
// m3 = (d1 - d3) g2 as y0 = m0 + m1 + m2, y1 = m1 - m2 - m3; the 2-D form applies this along both axes.)
// Summed over input channels, each of the 16 positions xi of the 4x4 transformed tiles is a matrix product:
//     U[xi] (O, C) = (G w[o, c] G^T)[xi]      the weights, transformed once per call
//     V[xi] (C, P) = (B^T d[c, p] B)[xi]      the input, one column per 2x2 output tile p
//     M[xi] (O, P) = U[xi] @ V[xi]            16 products of O x C x P: 4 O C multiply-adds per output pixel
//     y[o, p] = A^T M[:, o, p] A              (against 9 O C for the direct sum: 2.25x fewer)
// The products run on the GEMM's micro-kernel (simd.h) over U and V laid out as its panels, a block of Pb
// tiles at a time per thread, so V and M of a block are read back from cache, not memory (L2 for 64
// channels, L3 for 256 and more), between the transforms and the products.
//
// The weight gradient is F(3x3, 2x2): the same transforms read backwards (winograd_weight, below).
// The transpose at stride 1 is a conv2d with the kernel flipped and its channels swapped (conv_direct.cpp,
// transpose_as_conv), so it is the same code with U built from w'[c, o, i, j] = w[o, c, 2-i, 2-j].
//
// Where it pays (winograd_pays): both channel counts at least 16, so the products, not the transforms, are
// the work: VGG19's layers (style transfer), CycleGAN's residual blocks. Rounding: the transforms add at
// most 4 terms with coefficients 1 and 1/2, so the result differs from the direct sum by a few ulps of
// its terms; tests/test_kernels_cpu.py holds it to the reference at the same tolerance as the other paths.
#include "common.h"
#include "simd.h"

#include <algorithm>
#include <cstring>
#include <vector>

int conv_direct_mode();                       // conv_direct.cpp: 2 planes, 1 direct, -1 im2col, 0 by shape

static int winograd_mode = 0;                 // 1: wherever it fits, -1: never, 0: by shape (in mode 0 only)

int conv_set_winograd(int mode) {
    int old = winograd_mode;
    winograd_mode = mode > 0 ? 1 : (mode < 0 ? -1 : 0);
    return old;
}

template <typename T>
bool winograd_pays(ConvPass pass, idx batch, idx O, const ConvGeom& g) {
    if (winograd_mode < 0) return false;
    const bool transpose = pass == ConvPass::transpose;      // else conv2d or its weight gradient
    bool square3 = g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1;
    bool fits = square3 && (transpose ? transpose_as_conv(g) : g.sh == 1 && g.sw == 1);
    if (!fits || winograd_mode > 0) return fits;
    if (conv_direct_mode() != 0) return false;
    idx in = transpose ? O : g.C, out = transpose ? g.C : O;
    // 2x2 output tiles: per tile, the products take 16 multiply-adds per channel pair, the transformed
    // weights U are 16 O C values; with fewer tiles than a quarter of the channels, reading U (from L3 or
    // memory, 16 MB for 512 -> 512) costs what the products save. Batch 1, ms, the pixel tiles (conv_direct.cpp) against
    // Winograd: 512 -> 512 at 16x16 (64 tiles) 14.4 / 13.8, at 25x25 (169) 32.2 / 28.1; 256 -> 256 at
    // 16x16 2.9 / 2.3; 64 -> 64 at 256x256 50 / 28; 16 -> 32 at 128x128 1.8 / 1.5 (README, Speed).
    idx out_h = transpose ? g.H : g.Ho, out_w = transpose ? g.W : g.Wo;
    idx tiles = batch * ((out_h + 1) / 2) * ((out_w + 1) / 2);
    if (pass == ConvPass::weight)
        // The weight gradient sums 16 O C products per thread over its tiles and reads those sums back at
        // the end; at 512 -> 512 (16 MB of sums) that traffic lost to im2col (25x25: 82 against 35 ms,
        // 50x50: 137 against 127), and with few tiles per channel to the direct path (128 -> 128 at 8x8,
        // batch 8, 128 tiles: 2.7-4.0 against 2.6). Won: 256 -> 256 at 64x64 33 against 57 ms (at 32x32, 256
        // tiles, 12.7 against 15.7, left out by the rule below); 64 -> 64 at 8x8, batch 8, 0.6 against 1.0.
        return in >= 16 && out >= 16 && tiles >= 2 * std::max(in, out) && 16 * in * out * idx(sizeof(T)) <= (idx(4) << 20);
    // A batch that fills the direct path's MR sample rows, on an image of at most 5x5 tiles (10x10 pixels),
    // up to 128 channels: there the direct path (conv_direct.cpp) was faster in both passes (CycleGAN demo's
    // residual 64 -> 64 onto 8x8 and 10x10, batch 8, Ice Lake Xeon, ms Winograd / direct: conv2d 0.38 / 0.29
    // and 0.39-0.79 / 0.33, transpose 0.39 / 0.30 and 1.11 / 0.36; 128 -> 128 at 8x8: 1.43-1.56 / 1.06-1.18;
    // at 16x16 they were even, at 32x32 Winograd won, 3.5-5.2 / 6.1-6.9).
    if (batch >= Tile<T>::MR && out_h <= 10 && out_w <= 10 && std::max(in, out) <= 128) return false;
    return in >= 16 && out >= 16 && 4 * tiles >= std::max(in, out);
}

namespace {

// One stride-1 3x3 conv2d: x (N, C, H, W) -> y (N, O, Ho, Wo), zero padding (ph, pw), Ho = H + 2 ph - 2.
struct Shape {
    idx N, C, O, H, W, ph, pw, Ho, Wo;
    idx th() const { return (Ho + 1) / 2; }      // 2x2 output tiles down and across
    idx tw() const { return (Wo + 1) / 2; }
    idx tiles() const { return N * th() * tw(); }
};

// U[xi][q][c][m] = (G g G^T)[xi] for the kernel g = weight(o, c) of out-channel o = q*MR + m (zero past O):
// for each xi, MR-row panels of U[xi] (O, C) in the order the micro-kernel broadcasts them.
template <typename T, typename Weight>
void transform_weights(idx O, idx C, Weight weight, T* U) {
    constexpr idx MR = Tile<T>::MR;
    const idx Q = (O + MR - 1) / MR;
#pragma omp parallel for collapse(2) schedule(static)
    for (idx q = 0; q < Q; ++q)
        for (idx c = 0; c < C; ++c)
            for (idx m = 0; m < MR; ++m) {
                idx o = q * MR + m;
                T u[4][4] = {}, t[4][3];
                if (o < O) {
                    for (int j = 0; j < 3; ++j) {    // t = G g, column by column
                        T g0 = weight(o, c, 0, j), g1 = weight(o, c, 1, j), g2 = weight(o, c, 2, j);
                        t[0][j] = g0;
                        t[1][j] = T(0.5) * (g0 + g1 + g2);
                        t[2][j] = T(0.5) * (g0 - g1 + g2);
                        t[3][j] = g2;
                    }
                    for (int k = 0; k < 4; ++k) {    // u = t G^T, row by row
                        u[k][0] = t[k][0];
                        u[k][1] = T(0.5) * (t[k][0] + t[k][1] + t[k][2]);
                        u[k][2] = T(0.5) * (t[k][0] - t[k][1] + t[k][2]);
                        u[k][3] = t[k][2];
                    }
                }
                for (int xi = 0; xi < 16; ++xi) U[((xi * Q + q) * C + c) * MR + m] = u[xi / 4][xi % 4];
            }
}

// The padded input: xp (N, C, Hp, Wp) with x at offset (ph, pw), zeros around, Hp = 2 th + 2 and Wp = 2 tw + 2,
// so every tile's 4x4 patch lies inside and the transform has no bounds tests.
template <typename T>
void pad_input(const T* x, const Shape& s, idx Hp, idx Wp, T* xp) {
#pragma omp parallel for collapse(2) schedule(static)
    for (idx n = 0; n < s.N; ++n)
        for (idx c = 0; c < s.C; ++c) {
            const T* src = x + (n * s.C + c) * s.H * s.W;
            T* dst = xp + (n * s.C + c) * Hp * Wp;
            std::fill(dst, dst + s.ph * Wp, T(0));
            for (idx h = 0; h < s.H; ++h) {
                T* row = dst + (s.ph + h) * Wp;
                std::fill(row, row + s.pw, T(0));
                std::memcpy(row + s.pw, src + h * s.W, s.W * sizeof(T));
                std::fill(row + s.pw + s.W, row + Wp, T(0));
            }
            std::fill(dst + (s.ph + s.H) * Wp, dst + Hp * Wp, T(0));
        }
}

// Whether n tiles' offsets step by 2 (one tile row, side by side). Checked tile by tile: tiles past the
// last repeat its offset, and a row change inside can land the last offset where a step of 2 would.
inline bool side_by_side(const idx* off, idx n) {
    for (idx l = 1; l < n; ++l)
        if (off[l] != off[l - 1] + 2) return false;
    return true;
}

// V[xi][c][j] = (B^T d B)[xi] for the patch d of channel c at tile j of the block (offsets xoff into xp);
// V[xi] starts at V + xi * vs; within it, entry (c, j) is at c * Pb + j (the products' layout), or, with
// by_tile (the weight gradient's), at j * ld + c. NR tiles side by side in one tile row (the common case) are one strip of
// the padded rows, transformed as vectors: first down the rows, t = B^T d over the strip's 2 NR + 2
// columns, then across, where tile l reads columns 2l .. 2l+3 of t. Other groups go tile by tile.
template <typename T, bool by_tile = false>
void transform_input(const T* xp, const idx* xoff, idx Pb, idx C, idx plane, idx Wp, idx vs, T* V, idx ld = 0) {
    constexpr idx NR = Tile<T>::NR, S = 2 * NR + 2;
    const idx cs = by_tile ? 1 : Pb, js = by_tile ? ld : 1;      // strides of c and j within V[xi]
    std::vector<char> strips(Pb / NR);
    for (idx j0 = 0; j0 < Pb; j0 += NR) strips[j0 / NR] = side_by_side(xoff + j0, NR);
    for (idx c = 0; c < C; ++c)                   // channel outer: a channel's rows are read in order
        for (idx j0 = 0; j0 < Pb; j0 += NR) {
            const bool strip = strips[j0 / NR];
            T* v = V + c * cs + j0 * js;
            if (strip) {
                const T* d = xp + xoff[j0] + c * plane;
                alignas(64) T t[4][S];
#pragma omp simd
                for (idx col = 0; col < S; ++col) {   // t = B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3
                    T d0 = d[col], d1 = d[Wp + col], d2 = d[2 * Wp + col], d3 = d[3 * Wp + col];
                    t[0][col] = d0 - d2;
                    t[1][col] = d1 + d2;
                    t[2][col] = d2 - d1;
                    t[3][col] = d1 - d3;
                }
                for (int k = 0; k < 4; ++k) {
#pragma omp simd
                    for (idx l = 0; l < NR; ++l) {    // t B: the same along the columns of each tile
                        const T* r = t[k] + 2 * l;
                        v[(4 * k + 0) * vs + l * js] = r[0] - r[2];
                        v[(4 * k + 1) * vs + l * js] = r[1] + r[2];
                        v[(4 * k + 2) * vs + l * js] = r[2] - r[1];
                        v[(4 * k + 3) * vs + l * js] = r[1] - r[3];
                    }
                }
                continue;
            }
            for (idx l = 0; l < NR; ++l) {
                const T* d = xp + xoff[j0 + l] + c * plane;
                T t[4][4];
                for (int col = 0; col < 4; ++col) {
                    T d0 = d[col], d1 = d[Wp + col], d2 = d[2 * Wp + col], d3 = d[3 * Wp + col];
                    t[0][col] = d0 - d2;
                    t[1][col] = d1 + d2;
                    t[2][col] = d2 - d1;
                    t[3][col] = d1 - d3;
                }
                for (int k = 0; k < 4; ++k) {
                    v[(4 * k + 0) * vs + l * js] = t[k][0] - t[k][2];
                    v[(4 * k + 1) * vs + l * js] = t[k][1] + t[k][2];
                    v[(4 * k + 2) * vs + l * js] = t[k][2] - t[k][1];
                    v[(4 * k + 3) * vs + l * js] = t[k][1] - t[k][3];
                }
            }
        }
}

// M[xi] = U[xi] @ V[xi], as MR x NR tiles stored whole: M[xi][q][r][m][l] for out-channel q*MR + m, tile r*NR + l.
template <typename T>
void multiply(const T* U, const T* V, idx Q, idx C, idx Pb, idx vs, idx ms, T* M) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    const idx R = Pb / NR;
    for (int xi = 0; xi < 16; ++xi) {
        const T* u = U + xi * Q * C * MR;
        const T* v = V + xi * vs;
        T* mx = M + xi * ms;
        for (idx r = 0; r < R; ++r)               // one C x NR panel of V stays in L1 across all of U[xi]'s rows
            for (idx q = 0; q < Q; ++q) {
                const Run<T> run{u + q * C * MR, v + r * NR, C};
                run_tile(&run, 1, 0, MR, Pb, mx + (q * R + r) * MR * NR);
            }
    }
}

// y[o, tile] = A^T M[:, o, tile] A + bias[o] for the block's tiles (offsets yoff into y). A tile's edge
// flags say whether its right column (1) and its lower row (2) are inside y: at an odd Wo or Ho they are not.
template <typename T>
void transform_output(const T* M, idx stride, const T* bias, const Shape& s, idx p0, idx Pb, const idx* yoff,
                      const unsigned char* edge, T* y) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    const idx R = Pb / NR;
    const idx valid = std::min(Pb, s.tiles() - p0);
    for (idx o = 0; o < s.O; ++o) {
        const T b = bias ? bias[o] : T(0);
        T* yo = y + o * s.Ho * s.Wo;
        for (idx r = 0; r < R && r * NR < valid; ++r) {
            const T* m = M + ((o / MR * R + r) * MR + o % MR) * NR;
            alignas(64) T out[4][NR];
#pragma omp simd
            for (idx l = 0; l < NR; ++l) {
                T s0[4], s1[4];
                for (int k = 0; k < 4; ++k) {     // A^T along the rows: m0 + m1 + m2, m1 - m2 - m3
                    s0[k] = m[k * stride + l] + m[(4 + k) * stride + l] + m[(8 + k) * stride + l];
                    s1[k] = m[(4 + k) * stride + l] - m[(8 + k) * stride + l] - m[(12 + k) * stride + l];
                }
                out[0][l] = s0[0] + s0[1] + s0[2] + b;       // then along the columns
                out[1][l] = s0[1] - s0[2] - s0[3] + b;
                out[2][l] = s1[0] + s1[1] + s1[2] + b;
                out[3][l] = s1[1] - s1[2] - s1[3] + b;
            }
            const idx j0 = r * NR, last = std::min(NR, valid - j0);
            if (last == NR && edge[j0 + NR - 1] == 3 && side_by_side(yoff + j0, NR)) {
                T* dst = yo + yoff[j0];           // NR whole tiles side by side: two rows of 2 NR pixels
#pragma omp simd
                for (idx l = 0; l < NR; ++l) {
                    dst[2 * l] = out[0][l];
                    dst[2 * l + 1] = out[1][l];
                    dst[s.Wo + 2 * l] = out[2][l];
                    dst[s.Wo + 2 * l + 1] = out[3][l];
                }
                continue;
            }
            for (idx l = 0; l < last; ++l) {
                T* dst = yo + yoff[j0 + l];
                bool right = edge[j0 + l] & 1, below = edge[j0 + l] & 2;
                dst[0] = out[0][l];
                if (right) dst[1] = out[1][l];
                if (below) {
                    dst[s.Wo] = out[2][l];
                    if (right) dst[s.Wo + 1] = out[3][l];
                }
            }
        }
    }
}

// The whole convolution, given the transformed weights U: blocks of Pb tiles shared among the threads.
template <typename T>
void winograd(const T* x, const T* U, const T* bias, T* y, const Shape& s) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    const idx th = s.th(), tw = s.tw(), P = s.tiles(), Hp = 2 * th + 2, Wp = 2 * tw + 2, plane = Hp * Wp;
    const idx Q = (s.O + MR - 1) / MR;
    Buffer<T> xp(s.N * s.C * plane);
    pad_input(x, s, Hp, Wp, xp.get());
    // Up to 128 tiles a block (V and M of 64 channels: 0.5 MB each in float32), fewer so every thread gets one.
    const idx threads = max_threads();
    const idx Pb = std::clamp<idx>((P + threads * NR - 1) / (threads * NR) * NR, NR, 128 / NR * NR);
    const idx blocks = (P + Pb - 1) / Pb;
#pragma omp parallel
    {
        // One cache line between consecutive planes of V and of M, so the 16 planes' entries for one tile
        // do not all fall into the same L1 set (the planes' sizes are often multiples of 4 KB).
        const idx vs = s.C * Pb + 64 / idx(sizeof(T)), ms = Q * MR * Pb + 64 / idx(sizeof(T));
        Buffer<T> V(16 * vs), M(16 * ms);
        std::vector<idx> xoff(Pb), yoff(Pb);
        std::vector<unsigned char> edge(Pb);
#pragma omp for schedule(dynamic, 1)
        for (idx b = 0; b < blocks; ++b) {
            const idx p0 = b * Pb;
            for (idx j = 0; j < Pb; ++j) {        // tiles past the last repeat it (computed, never stored)
                idx p = std::min(p0 + j, P - 1), n = p / (th * tw), ty = p / tw % th, tx = p % tw;
                xoff[j] = n * s.C * plane + 2 * ty * Wp + 2 * tx;
                yoff[j] = n * s.O * s.Ho * s.Wo + 2 * ty * s.Wo + 2 * tx;
                edge[j] = (2 * tx + 1 < s.Wo ? 1 : 0) | (2 * ty + 1 < s.Ho ? 2 : 0);
            }
            transform_input(xp.get(), xoff.data(), Pb, s.C, plane, Wp, vs, V.get());
            multiply(U, V.get(), Q, s.C, Pb, vs, ms, M.get());
            transform_output(M.get(), ms, bias, s, p0, Pb, yoff.data(), edge.data(), y);
        }
    }
}

// ---- the weight gradient, F(3x3, 2x2): the same algorithm read backwards.
// One row: the forward's y_j = sum_t g_t d_{j+t} is the form T(gy, g, d) = sum_j gy_j y_j
// = sum_k (A gy)_k (G g)_k (B^T d)_k, so dw_t = dT/dg_t = sum_k G[k, t] (A gy)_k (B^T d)_k, i.e.
//     dW[o, c] = G^T [ sum over tiles of (A gy[o, tile] A^T) * (B^T d[c, tile] B) ] G
// with A = (A^T)^T: A gy = (gy0, gy0 + gy1, gy0 - gy1, -gy1). The sum over tiles (and samples) is, per
// xi, a product of Z[xi] (O, P), the transformed output gradients, with V[xi] (C, P)^T.

// Z[xi][q][j][m] = (A g A^T)[xi] for the 2x2 output-gradient tile g of out-channel o = q*MR + m at tile j
// (zeros past O, and past Ho or Wo at odd edges). The MR-row panels of Z[xi] (O, Pb), tile by tile.
template <typename T>
void transform_grad(const T* gy, const Shape& s, const idx* yoff, const unsigned char* edge, idx Pb, idx zs, T* Z) {
    constexpr idx MR = Tile<T>::MR;
    const idx Q = (s.O + MR - 1) / MR;
    for (idx o = 0; o < Q * MR; ++o) {
        const idx q = o / MR, m = o % MR;
        const T* g = gy + o * s.Ho * s.Wo;
        for (idx j = 0; j < Pb; ++j) {
            T* z = Z + (q * Pb + j) * MR + m;
            T g00 = 0, g01 = 0, g10 = 0, g11 = 0;
            if (o < s.O) {
                const T* t = g + yoff[j];
                bool right = edge[j] & 1, below = edge[j] & 2;
                g00 = t[0];
                if (right) g01 = t[1];
                if (below) g10 = t[s.Wo];
                if (right && below) g11 = t[s.Wo + 1];
            }
            const T a[4][2] = {{g00, g01}, {g00 + g10, g01 + g11}, {g00 - g10, g01 - g11}, {-g10, -g11}};   // A g
            for (int k = 0; k < 4; ++k) {                                                         // (A g) A^T
                z[(4 * k + 0) * zs] = a[k][0];
                z[(4 * k + 1) * zs] = a[k][0] + a[k][1];
                z[(4 * k + 2) * zs] = a[k][0] - a[k][1];
                z[(4 * k + 3) * zs] = -a[k][1];
            }
        }
    }
}

// dW of a stride-1 3x3 conv2d: x (N, C, H, W), gy (N, O, Ho, Wo). Each thread sums the products of its
// blocks of tiles into its own S[xi] (Op, Cp); the sums of all threads are then transformed by G^T . G.
template <typename T>
void winograd_weight(const T* x, const T* gy, T* gw, const Shape& s) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    const idx th = s.th(), tw = s.tw(), P = s.tiles(), Hp = 2 * th + 2, Wp = 2 * tw + 2, plane = Hp * Wp;
    const idx Q = (s.O + MR - 1) / MR, Cp = (s.C + NR - 1) / NR * NR, R = Cp / NR;
    Buffer<T> xp(s.N * s.C * plane);
    pad_input(x, s, Hp, Wp, xp.get());
    const idx threads = max_threads();
    const idx Pb = std::clamp<idx>((P + threads * NR - 1) / (threads * NR) * NR, NR, 128 / NR * NR);
    const idx blocks = (P + Pb - 1) / Pb, ss = 16 * Q * MR * Cp;       // one thread's sums S
    Buffer<T> sums(threads * ss);
    std::fill(sums.get(), sums.get() + threads * ss, T(0));
#pragma omp parallel num_threads(int(threads))
    {
#ifdef _OPENMP
        T* S = sums.get() + omp_get_thread_num() * ss;
#else
        T* S = sums.get();
#endif
        const idx vs = Pb * Cp + 64 / idx(sizeof(T)), zs = Q * MR * Pb + 64 / idx(sizeof(T));
        Buffer<T> V(16 * vs), Z(16 * zs);
        std::fill(V.get(), V.get() + 16 * vs, T(0));   // channels C .. Cp stay zero
        std::vector<idx> xoff(Pb), yoff(Pb);
        std::vector<unsigned char> edge(Pb);
        alignas(64) T tile[MR * NR];
#pragma omp for schedule(dynamic, 1)
        for (idx b = 0; b < blocks; ++b) {
            const idx p0 = b * Pb;
            for (idx j = 0; j < Pb; ++j) {        // tiles past the last: a repeat of it with a zero gradient
                idx p = std::min(p0 + j, P - 1), n = p / (th * tw), ty = p / tw % th, tx = p % tw;
                xoff[j] = n * s.C * plane + 2 * ty * Wp + 2 * tx;
                yoff[j] = n * s.O * s.Ho * s.Wo + 2 * ty * s.Wo + 2 * tx;
                edge[j] = p0 + j >= P ? 4 : (2 * tx + 1 < s.Wo ? 1 : 0) | (2 * ty + 1 < s.Ho ? 2 : 0);
            }
            transform_input<T, true>(xp.get(), xoff.data(), Pb, s.C, plane, Wp, vs, V.get(), Cp);
            transform_grad(gy, s, yoff.data(), edge.data(), Pb, zs, Z.get());
            for (idx j = 0; j < Pb; ++j)          // the repeated tiles' gradient is zero
                if (edge[j] == 4)
                    for (int xi = 0; xi < 16; ++xi)
                        for (idx q = 0; q < Q; ++q) std::fill_n(Z.get() + xi * zs + (q * Pb + j) * MR, MR, T(0));
            for (int xi = 0; xi < 16; ++xi)       // S[xi] += Z[xi] @ V[xi]^T, MR x NR tiles summed over Pb tiles
                for (idx r = 0; r < R; ++r)
                    for (idx q = 0; q < Q; ++q) {
                        const Run<T> run{Z.get() + xi * zs + q * Pb * MR, V.get() + xi * vs + r * NR, Pb};
                        run_tile(&run, 1, 0, MR, Cp, tile);
                        T* dst = S + ((xi * Q + q) * MR) * Cp + r * NR;
                        for (idx m = 0; m < MR; ++m)
#pragma omp simd
                            for (idx l = 0; l < NR; ++l) dst[m * Cp + l] += tile[m * NR + l];
                    }
        }
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (idx o = 0; o < s.O; ++o)
        for (idx c = 0; c < s.C; ++c) {
            T m[4][4] = {};
            for (idx t = 0; t < threads; ++t)
                for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] += sums.get()[t * ss + (xi * Q * MR + o) * Cp + c];
            T h[3][4];                            // G^T m: rows m0 + (m1 + m2)/2, (m1 - m2)/2, (m1 + m2)/2 + m3
            for (int l = 0; l < 4; ++l) {
                h[0][l] = m[0][l] + T(0.5) * (m[1][l] + m[2][l]);
                h[1][l] = T(0.5) * (m[1][l] - m[2][l]);
                h[2][l] = T(0.5) * (m[1][l] + m[2][l]) + m[3][l];
            }
            T* dw = gw + (o * s.C + c) * 9;
            for (int i = 0; i < 3; ++i) {         // (G^T m) G: the same along the rows
                dw[i * 3 + 0] = h[i][0] + T(0.5) * (h[i][1] + h[i][2]);
                dw[i * 3 + 1] = T(0.5) * (h[i][1] - h[i][2]);
                dw[i * 3 + 2] = T(0.5) * (h[i][1] + h[i][2]) + h[i][3];
            }
        }
}

}  // namespace

template <typename T>
void conv2d_forward_winograd(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    const idx C = g.C, Q = (O + Tile<T>::MR - 1) / Tile<T>::MR;
    Buffer<T> U(16 * Q * Tile<T>::MR * C);
    transform_weights<T>(O, C, [&](idx o, idx c, idx i, idx j) { return w[((o * C + c) * 3 + i) * 3 + j]; }, U.get());
    winograd(x, U.get(), bias, y, Shape{N, C, O, g.H, g.W, g.ph, g.pw, g.Ho, g.Wo});
}

// g describes the transpose's OUTPUT image (C, H, W); x is (N, O, Ho, Wo): a conv2d of x with
// w'[c, o, i, j] = w[o, c, 2-i, 2-j] and padding 2 - p (transpose_as_conv).
template <typename T>
void conv_transpose2d_forward_winograd(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    const idx C = g.C, Q = (C + Tile<T>::MR - 1) / Tile<T>::MR;
    Buffer<T> U(16 * Q * Tile<T>::MR * O);
    transform_weights<T>(C, O, [&](idx c, idx o, idx i, idx j) { return w[((o * C + c) * 3 + 2 - i) * 3 + 2 - j]; },
                         U.get());
    winograd(x, U.get(), bias, y, Shape{N, O, C, g.Ho, g.Wo, 2 - g.ph, 2 - g.pw, g.H, g.W});
}

template <typename T>
void conv2d_weight_grad_winograd(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g) {
    winograd_weight(x, gy, gw, Shape{N, g.C, O, g.H, g.W, g.ph, g.pw, g.Ho, g.Wo});
}

#define INSTANTIATE(T)                                                                                          \
    template bool winograd_pays<T>(ConvPass, idx, idx, const ConvGeom&);                                        \
    template void conv2d_forward_winograd<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&);       \
    template void conv_transpose2d_forward_winograd<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&); \
    template void conv2d_weight_grad_winograd<T>(const T*, const T*, T*, idx, idx, const ConvGeom&);
INSTANTIATE(float)
INSTANTIATE(double)
