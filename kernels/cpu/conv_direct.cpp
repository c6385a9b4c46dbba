// Direct convolution: the three products of conv2d.cpp (conv2d, conv_transpose2d, conv2d_weight) without
// a column matrix, and without multiplying the zero padding.
//
// Why: the DCGAN layers are small images with many channels (7x7 and 14x14, 64..256 channels, 5x5 kernels,
// padding 2). im2col + GEMM multiplies every padded zero: on a 7x7 image with a 5x5 kernel and padding 2
// only 69% of the multiply-adds touch the image (84% from 14x14 to 7x7 at stride 2); and building the
// columns, packing them and adding them back (col2im) took about a quarter of the training step.
//
// How: lay the activations out pixel-major, batch inside: (H, W, N, C). Then one output pixel is a small
// product whose sum runs over the kernel taps that land inside the image, and over channels:
//     conv2d:  y[p, n, o] = sum_{taps t inside the image at p} sum_c x[p + t, n, c] * w[o, c, t]
// Which taps are inside depends on the pixel, never on the sample. So a tile of MR samples x NR output
// channels at one pixel is one micro-kernel call (the GEMM's, gemm.cpp: MR broadcasts times two vectors per
// step, the tile in registers) whose reduction is a list of "runs", one per valid tap: the padding costs
// nothing, and the operands are read in place from the re-laid-out tensors.
// The same micro-kernel does all three products; only the runs differ:
//   conv2d            tile (MR samples, NR out-channels) at output pixel p; a run per tap inside the image,
//                     over the input channels c
//   conv_transpose2d  tile (MR samples, NR channels) at pixel q of its output; a run per tap t whose source
//                     pixel (q + padding - t * dilation) / stride is whole and inside the input, over o
//   conv2d_weight     tile (MR out-channels, NR in-channels) of one tap t; a run per output pixel at which t
//                     lands inside the image, over the samples n (with stride 1, a whole row is one run)
// Channels are zero-padded to whole vectors and samples to whole tiles in the re-laid-out copies, so the
// micro-kernel has no ragged edges; the padded lanes are dropped when the result is laid back to NCHW.
//
// When it pays (direct_pays): the batch fills the MR broadcast rows and both channel counts fill most of a
// vector, so a 1- or 3-channel image stays on im2col + GEMM (batches under MR take tiles of pixels
// instead of samples, at the end of this file, where pixel_tiles_pay says so);
// and the tiles are neither too few per weight block nor, for the weight gradient, too short or too long
// (measured on the 64x64 DCGAN's layers, see direct_pays). Layers to 1-4 channels only need the input
// channels to fill a vector (see direct_pays); conv_planes.cpp takes those the direct path refuses.
// Tested against the reference in tests/test_kernels_cpu.py with the choice forced both ways (set_direct).
#include "common.h"
#include "simd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <unistd.h>

static int direct_mode = 0;          // 0: decide by shape; 1: always direct; -1: never; 2: always planes

int conv_set_direct(int mode) {
    int old = direct_mode;
    direct_mode = mode >= 2 ? 2 : (mode > 0 ? 1 : (mode < 0 ? -1 : 0));
    return old;
}

int conv_direct_mode() { return direct_mode; }

// One core's L2 cache, which the rules below size panels against: 1 MB on the AVX-512 EPYC (Zen 4) they were
// first measured on, 512 KB on the AVX2 one (Zen 3) where fixed 1 MB limits sent layers to the slower path.
static idx l2_bytes() {
    static const idx bytes = [] {
        long found = sysconf(_SC_LEVEL2_CACHE_SIZE);          // glibc reads it from cpuid; 0 or -1 if unknown
        return found > 0 ? idx(found) : idx(512) << 10;
    }();
    return bytes;
}

static idx round_up(idx a, idx b) { return (a + b - 1) / b * b; }

template <typename T>
bool direct_pays(ConvPass pass, idx batch, idx in_channels, idx out_channels, idx pixels, idx stride, idx taps) {
    if (direct_mode != 0) return direct_mode == 1;
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    // A layer to 1-4 channels (thin) is left to the GEMM by neither rule below: the GEMM pads its O rows
    // to 8 and copies 49x the image for it. Here the vector runs over the input channels instead (the
    // transpose's image channels, the weight gradient's C), so only those must fill it: a 32 -> 1 channel
    // 7x7 layer at 16x16, batch 8, took 0.8 / 0.1 / 0.3 ms for conv2d / transpose / weight gradient against
    // im2col's 3.4 / 3.5 / 6.9 ms. The batch's rule still holds for conv2d and the transpose, and conv2d
    // to one channel goes to conv_planes.cpp (CycleGAN's 16 -> 1 at 32x32, batch 8: 1.0 ms against 2.1).
    bool thin = out_channels <= PLANES_MAX_OUT;
    if (in_channels < NR / 2 || (!thin && out_channels < NR / 2)) return false;
    if (thin && pass == ConvPass::forward && out_channels == 1) return false;
    if (batch < MR && !(thin && pass == ConvPass::weight)) return false;
    if (pass == ConvPass::weight) {
        // pixels = the grid's: a tile's reduction is at most pixels * batch steps. At 256 the tiles are
        // too short for their scattered stores (64x64 DCGAN, 1024 -> 512 at 4x4: 49 ms against 39);
        // once the NR-wide x panel (NR values a step) outgrows L2 it streams (D 64 -> 128, 32x32 grid at
        // batch 16: 49-57 ms against im2col's 46-53 in four alternating runs with AVX-512; with AVX2, whose
        // panel is half as wide but whose L2 was half as large, 54-57 against 41-43).
        // The tile's NR lanes run over the input channels, padded to whole vectors: with AVX-512 (NR = 32)
        // a 16-channel image leaves half of every multiply-add on padding. CycleGAN demo's 16 -> 32 3x3
        // stride 2 from 32x32, batch 8 (Xeon, Ice Lake): 1.25-1.35 ms direct against im2col's 0.53-0.54.
        // An AVX2 build (NR = 16) on the same machine agreed at 8 channels (8 -> 32 3x3 at 32x32, batch 16:
        // direct 2.7-3.8 against 1.4-2.0 ms) and was faster direct at 12 (12 -> 32 5x5 stride 2 from 16x16,
        // batch 16: 0.38-0.53 against 0.58-0.81). So the padding may add at most a third. A layer to 1 or 2
        // channels goes to conv_planes.cpp then (the demo's last layer, 16 -> 1 7x7 at 32x32, batch 8:
        // 0.80-1.58 ms against 2.2-2.7 direct; to 3 channels the two were even, 2.35-4.35 against 2.1-2.5,
        // and that stays direct).
        if ((!thin || out_channels <= 2) && 3 * round_up(in_channels, NR) > 4 * in_channels) return false;
        idx steps = pixels * batch;
        return steps >= 512 && steps * NR * idx(sizeof(T)) <= l2_bytes();
    }
    // A strided transpose (the input gradient of a stride-2 conv2d) onto a large image: there the GEMM
    // (W^T @ x, then col2im) won every time once the weight-gradient GEMMs had improved. Direct / im2col
    // ms, batch 16 unless said (channels in -> out, output size): 128->64 onto 64x64 39.3 / 25.9; 256->128
    // onto 32x32 22.3 / 19.4; 64->32 onto 32x32 3.9 / 2.4; batch 8, 3x3, 32->16 onto 32x32 0.86 / 0.35.
    // On smaller images direct mostly still wins: 128->64 onto 14x14 (5x5) 1.11 / 1.54 (batch 64: 3.4 /
    // 8.8), 512->256 onto 16x16 13.1 / 19.7, 16->32 onto 8x8 (5x5) 0.27 / 0.67; it lost on 1024->512 onto
    // 8x8 (24.9 / 18.1; the L2 rule below takes it) and 64->32 onto 16x16 at batch 8 (0.35 / 0.31, left
    // to direct). The same held for the strided conv2d onto a large grid on AVX2: D 64 -> 128 from 64x64
    // at batch 16, 49-55 ms direct against 37-42 (three alternating runs). So both passes, one rule:
    if (stride > 1 && !thin && pixels >= 1024) return false;
    // A transpose's tile sums over every tap and every one of the O channels: when those packed weights,
    // taps * O * NR values, outgrow L2, each tile streams them again (1024 -> 512 onto 8x8, batch 16:
    // 24.9 / 18.1 ms with AVX-512, 47-49 / 33 with AVX2; 512 -> 256 onto 16x16, exactly L2's size, is
    // still faster direct).
    if (pass == ConvPass::transpose && !thin && taps * out_channels * NR * idx(sizeof(T)) > l2_bytes()) return false;
    // pixels = the output's: each block of packed weights serves pixels * batch/MR tiles. Below ~64 it
    // is fetched for too little work (512 -> 1024 channels onto 4x4 at batch 16: 43 ms against 32).
    return pixels * ((batch + MR - 1) / MR) >= 64;
}

// Writes the tile of MR samples n0.. x NR channels c0.. at pixel p straight into NCHW y (N, C, P), + bias:
// strided single stores, but a few hundred per tile against thousands of multiply-add steps, and no
// pixel-major output copy to transpose back.
template <typename T>
static void store_nchw(const T* tile, idx n0, idx c0, idx p, idx N, idx C, idx P, const T* bias, T* y) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    idx rows = std::min(MR, N - n0), cols = std::min(NR, C - c0);
    for (idx m = 0; m < rows; ++m)
        for (idx l = 0; l < cols; ++l)
            y[((n0 + m) * C + c0 + l) * P + p] = tile[m * NR + l] + (bias ? bias[c0 + l] : T(0));
}

// ---- layouts. NCHW is viewed as (N, C, P) with P pixels.

// (N, C, P) -> (P, N/MR, C, MR): for each pixel, blocks of MR samples whose values of one channel sit side by
// side (the MR values a run step broadcasts); samples past N are zeros.
template <typename T>
static void to_sample_blocks(const T* x, idx N, idx C, idx P, T* out) {
    constexpr int MR = Tile<T>::MR;
    idx nb = (N + MR - 1) / MR, pixel = nb * C * MR;
#pragma omp parallel for collapse(2) schedule(static)
    for (idx blk = 0; blk < nb; ++blk)
        for (idx c = 0; c < C; ++c) {
            const T* src[MR];
            for (int m = 0; m < MR; ++m) {
                idx n = blk * MR + m;
                src[m] = n < N ? x + (n * C + c) * P : nullptr;
            }
            T* dst = out + (blk * C + c) * MR;
            for (idx p = 0; p < P; ++p, dst += pixel)
                for (int m = 0; m < MR; ++m) dst[m] = src[m] ? src[m][p] : T(0);
        }
}

// (N, C, P) -> (Cp/V, P, N, V): channels in blocks of V (the weight gradient's MR or NR), each block a
// pixel-major tensor of its own with its V channels innermost; zeros in channels C .. Cp. So a run over
// pixels and samples reads one contiguous stream, V values a step (the channel-innermost (P, N, Cp) this
// replaced strode Cp values a step, a new cache line for every step in both operands: the 28x28 DCGAN's
// 128 -> 256 weight gradient, 16x128x7x7, took 16.4 ms against 6.7 for the same layer's conv2d, on AVX2).
// With a row width W and a column stride s > 1, the P = H*W pixels are placed by column phase: column w
// of a row goes to (w % s) * ceil(W/s) + w / s of a row of s * ceil(W/s), so the columns w0, w0 + s,
// w0 + 2s, ... that one kernel tap reads at stride s sit side by side (the weight gradient then reads a row
// as one run).
template <typename T>
static void to_channel_blocks(const T* x, idx N, idx C, idx P, idx V, idx Cp, T* out, idx W = 1, idx s = 1) {
    constexpr idx B = 16;                                     // 16 x 16 blocks: both sides stay in L1
    idx Wq = (W + s - 1) / s, Wrow = s * Wq, Pq = P / W * Wrow;
#pragma omp parallel for collapse(2) schedule(static)
    for (idx n = 0; n < N; ++n)
        for (idx p0 = 0; p0 < P; p0 += B)
            for (idx c0 = 0; c0 < Cp; c0 += B)
                for (idx p = p0; p < std::min(P, p0 + B); ++p) {
                    idx q = s == 1 ? p : (p / W) * Wrow + (p % W % s) * Wq + p % W / s;
                    for (idx c = c0; c < std::min(Cp, c0 + B); ++c)
                        out[(((c / V) * Pq + q) * N + n) * V + c % V] = c < C ? x[(n * C + c) * P + p] : T(0);
                }
}

// w (O, C, taps) -> (Op/NR, taps, C, NR) when the vector runs over O (conv2d), or (Cp/NR, taps, O, NR) when it
// runs over C (conv_transpose2d): for each tap, the reduction channel's NR-wide rows one after the other.
// flip_taps: tap t of each pack holds the kernel's tap taps-1-t (the transpose as a convolution, below).
template <typename T>
static void pack_weight(const T* w, idx O, idx C, idx taps, bool vector_over_c, T* out, bool flip_taps = false) {
    constexpr idx NR = Tile<T>::NR;
    idx V = vector_over_c ? C : O, R = vector_over_c ? O : C, blocks = round_up(V, NR) / NR;
#pragma omp parallel for collapse(2) schedule(static)
    for (idx vb = 0; vb < blocks; ++vb)
        for (idx t = 0; t < taps; ++t)
            for (idx r = 0; r < R; ++r) {
                T* dst = out + ((vb * taps + t) * R + r) * NR;
                for (idx l = 0; l < NR; ++l) {
                    idx v = vb * NR + l;
                    idx o = vector_over_c ? r : v, c = vector_over_c ? v : r;
                    dst[l] = v < V ? w[(o * C + c) * taps + (flip_taps ? taps - 1 - t : t)] : T(0);
                }
            }
}

// ---- the three products

template <typename T>
void conv2d_forward_direct(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    idx C = g.C, taps = g.kh * g.kw, P = g.L(), nb = (N + MR - 1) / MR, Np = nb * MR, Op = round_up(O, NR);
    Buffer<T> xb(g.H * g.W * Np * C), wp(Op * taps * C);
    to_sample_blocks(x, N, C, g.H * g.W, xb.get());
    pack_weight(w, O, C, taps, false, wp.get());
#pragma omp parallel
    {
        std::vector<Run<T>> runs(taps);
        alignas(64) T tile[MR * NR];
#pragma omp for collapse(2) schedule(static)
        for (idx ob = 0; ob < Op / NR; ++ob)                  // out-channel block outer: its packed weights stay in cache
            for (idx p = 0; p < P; ++p) {
                idx oh = p / g.Wo, ow = p % g.Wo, n_runs = 0;
                for (idx i = 0; i < g.kh; ++i) {
                    idx ih = oh * g.sh - g.ph + i * g.dh;
                    if (ih < 0 || ih >= g.H) continue;        // the whole kernel row is padding: skipped
                    for (idx j = 0; j < g.kw; ++j) {
                        idx iw = ow * g.sw - g.pw + j * g.dw;
                        if (iw < 0 || iw >= g.W) continue;
                        runs[n_runs++] = {xb.get() + (ih * g.W + iw) * Np * C, wp.get() + ((ob * taps + i * g.kw + j) * C) * NR, C};
                    }
                }
                for (idx blk = 0; blk < nb; ++blk) {          // step MR along a, NR along b: one channel per step
                    run_tile(runs.data(), n_runs, blk * C * MR, MR, NR, tile);
                    store_nchw(tile, blk * MR, ob * NR, p, N, O, P, bias, y);
                }
            }
    }
}

// As in conv2d.cpp, g describes the OUTPUT image (C, H, W); x (N, O, Ho, Wo) is on the column grid.
template <typename T>
void conv_transpose2d_forward_direct(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    idx C = g.C, taps = g.kh * g.kw, L = g.L(), HW = g.H * g.W, nb = (N + MR - 1) / MR, Np = nb * MR;
    Buffer<T> xb(L * Np * O), wt(round_up(C, NR) * taps * O);
    to_sample_blocks(x, N, O, L, xb.get());
    pack_weight(w, O, C, taps, true, wt.get());
#pragma omp parallel
    {
        std::vector<Run<T>> runs(taps);
        alignas(64) T tile[MR * NR];
#pragma omp for collapse(2) schedule(static)
        for (idx cb = 0; cb < (C + NR - 1) / NR; ++cb)
            for (idx q = 0; q < HW; ++q) {
                idx qh = q / g.W, qw = q % g.W, n_runs = 0;
                for (idx i = 0; i < g.kh; ++i) {              // the conv maps grid row oh to image row oh*sh - ph + i*dh
                    idx nh = qh + g.ph - i * g.dh;
                    if (nh < 0 || nh % g.sh != 0 || nh / g.sh >= g.Ho) continue;
                    for (idx j = 0; j < g.kw; ++j) {
                        idx nw = qw + g.pw - j * g.dw;
                        if (nw < 0 || nw % g.sw != 0 || nw / g.sw >= g.Wo) continue;
                        runs[n_runs++] = {xb.get() + ((nh / g.sh) * g.Wo + nw / g.sw) * Np * O,
                                          wt.get() + ((cb * taps + i * g.kw + j) * O) * NR, O};
                    }
                }
                for (idx blk = 0; blk < nb; ++blk) {
                    run_tile(runs.data(), n_runs, blk * O * MR, MR, NR, tile);
                    store_nchw(tile, blk * MR, cb * NR, q, N, C, HW, bias, y);
                }
            }
    }
}

template <typename T>
void conv2d_weight_grad_direct(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    idx C = g.C, taps = g.kh * g.kw, L = g.L(), HW = g.H * g.W, Om = round_up(O, MR), Cp = round_up(C, NR);
    idx Wq = (g.W + g.sw - 1) / g.sw, Wrow = g.sw * Wq;       // x's rows by column phase (to_channel_blocks)
    Buffer<T> gt(L * N * Om), xt(g.H * Wrow * N * Cp);
    to_channel_blocks(gy, N, O, L, MR, Om, gt.get());               // (Om/MR, L, N, MR)
    to_channel_blocks(x, N, C, HW, NR, Cp, xt.get(), g.W, g.sw);    // (Cp/NR, H, Wrow, N, NR)
#pragma omp parallel
    {
        std::vector<Run<T>> runs(L);
        alignas(64) T tile[MR * NR];
        // Out-channel blocks innermost: the x panel of one (tap, in-channel block), NR values per step,
        // stays in L2 while the smaller gy panels (MR values per step) stream past it.
#pragma omp for collapse(3) schedule(static)
        for (idx t = 0; t < taps; ++t)
            for (idx cb = 0; cb < Cp / NR; ++cb)
                for (idx om = 0; om < Om / MR; ++om) {
                    idx i = t / g.kw, j = t % g.kw, offw = j * g.dw - g.pw, lo, hi, n_runs = 0;
                    valid_range(offw, g.sw, g.W, g.Wo, lo, hi);           // output columns where tap j is inside
                    // Input column ow*sw + offw is, by phase, at r*Wq + ow + q: consecutive ow side by side.
                    idx r = ((offw % g.sw) + g.sw) % g.sw, q = (offw - r) / g.sw;
                    for (idx oh = 0; oh < g.Ho && hi > lo; ++oh) {
                        idx ih = oh * g.sh - g.ph + i * g.dh;
                        if (ih < 0 || ih >= g.H) continue;
                        // the next pixel's samples follow in both tensors, so a row is one run
                        runs[n_runs++] = {gt.get() + ((om * L + oh * g.Wo + lo) * N) * MR,
                                          xt.get() + ((cb * g.H * Wrow + ih * Wrow + r * Wq + lo + q) * N) * NR,
                                          (hi - lo) * N};
                    }
                    run_tile(runs.data(), n_runs, 0, MR, NR, tile);
                    idx rows = std::min(MR, O - om * MR), cols = std::min(NR, C - cb * NR);
                    for (idx m = 0; m < rows; ++m)                      // into gw (O, C, kh, kw)
                        for (idx l = 0; l < cols; ++l) gw[((om * MR + m) * C + cb * NR + l) * taps + t] = tile[m * NR + l];
                }
    }
}

// ---- batches under MR (style transfer, CycleGAN at full size: batch 1): tiles of MR pixels of one output row
//
// With too few samples to fill the MR broadcast rows, the rows are MR neighbouring pixels of one output row
// instead. Each sample is laid out (H, C, Wp): per image row, the channels one after the other, each a row
// zero-padded to Wp columns, so the MR values a run step broadcasts, x[ih, c, iw .. iw+MR), sit side by side
// (stride 1 only) and the next channel is Wp further; the horizontal padding is real zeros, which the tile
// multiplies (few: 2 of 66 columns on a 64-wide image). Kernel rows outside the image are skipped.
// The transpose at stride 1 is this convolution with the kernel flipped and its channels swapped:
// y[c, h, w] = sum_{o,i,j} w[o, c, i, j] x[o, h + ph - i*dh, w + pw - j*dw], a conv2d of x with the weight
// w'[c, o, kh-1-i, kw-1-j] and padding dh*(kh-1) - ph (likewise along w).

bool transpose_as_conv(const ConvGeom& g) {
    idx ph = g.dh * (g.kh - 1) - g.ph, pw = g.dw * (g.kw - 1) - g.pw;
    return g.sh == 1 && g.sw == 1 && ph >= 0 && pw >= 0 && g.H == g.Ho + 2 * ph - g.dh * (g.kh - 1) &&
           g.W == g.Wo + 2 * pw - g.dw * (g.kw - 1);
}

template <typename T>
bool pixel_tiles_pay(ConvPass pass, idx batch, idx O, const ConvGeom& g) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    if (conv_direct_mode() < 0 || conv_direct_mode() == 2 || batch >= MR) return false;
    bool fits = pass == ConvPass::forward ? g.sw == 1 : pass == ConvPass::transpose && transpose_as_conv(g);
    if (!fits || conv_direct_mode() == 1) return fits;
    // By shape: the vector (conv2d's O, the transpose's C) mostly filled, enough channels per run, and
    // output rows of at least MR pixels (measured on VGG19's and CycleGAN's batch-1 layers, see README).
    idx vec = pass == ConvPass::forward ? O : g.C, red = pass == ConvPass::forward ? g.C : O;
    idx row = pass == ConvPass::forward ? g.Wo : g.W;
    return vec >= NR && red >= 16 && row >= MR;
}

// wp: the weights packed (Op/NR, taps, C, NR), by pack_weight.
template <typename T>
static void forward_pixel_tiles(const T* x, const Buffer<T>& wp, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    constexpr idx MR = Tile<T>::MR, NR = Tile<T>::NR;
    idx C = g.C, taps = g.kh * g.kw, Op = round_up(O, NR), row_tiles = (g.Wo + MR - 1) / MR;
    idx Wp = std::max(g.W + 2 * g.pw, row_tiles * MR + g.dw * (g.kw - 1));   // the last tile's reads stay inside
    Buffer<T> xb(g.H * C * Wp);
    for (idx n = 0; n < N; ++n) {
#pragma omp parallel for collapse(2) schedule(static)
        for (idx ih = 0; ih < g.H; ++ih)
            for (idx c = 0; c < C; ++c) {
                T* dst = xb.get() + (ih * C + c) * Wp;
                std::fill(dst, dst + g.pw, T(0));
                std::memcpy(dst + g.pw, x + ((n * C + c) * g.H + ih) * g.W, g.W * sizeof(T));
                std::fill(dst + g.pw + g.W, dst + Wp, T(0));
            }
        // Channels in blocks whose packed weights, taps * block * NR values, stay in L2 (~192 KB): with all
        // 512 channels of a 3x3 layer at once (590 KB) the tiles ran at 90 GFLOP/s instead of ~150.
        idx blocks = (taps * C * NR * idx(sizeof(T)) + (192 << 10) - 1) / (192 << 10), block = (C + blocks - 1) / blocks;
        for (idx c0 = 0; c0 < C; c0 += block) {
            idx len = std::min(block, C - c0);
#pragma omp parallel
            {
                std::vector<Run<T>> runs(taps);
                alignas(64) T tile[MR * NR];
#pragma omp for collapse(3) schedule(static)
                for (idx ob = 0; ob < Op / NR; ++ob)          // out-channel block outer: its packed weights stay in cache
                    for (idx oh = 0; oh < g.Ho; ++oh)
                        for (idx t0 = 0; t0 < row_tiles; ++t0) {
                            idx ow0 = t0 * MR, n_runs = 0;
                            for (idx i = 0; i < g.kh; ++i) {
                                idx ih = oh * g.sh - g.ph + i * g.dh;
                                if (ih < 0 || ih >= g.H) continue;
                                for (idx j = 0; j < g.kw; ++j) // padded column ow + j*dw is input column ow - pw + j*dw
                                    runs[n_runs++] = {xb.get() + (ih * C + c0) * Wp + ow0 + j * g.dw,
                                                      wp.get() + ((ob * taps + i * g.kw + j) * C + c0) * NR, len};
                            }
                            run_tile(runs.data(), n_runs, 0, Wp, NR, tile);
                            idx rows = std::min(MR, g.Wo - ow0), cols = std::min(NR, O - ob * NR);
                            T* out = y + ((n * O + ob * NR) * g.Ho + oh) * g.Wo + ow0;
                            for (idx l = 0; l < cols; ++l) {    // the first block writes (+ bias), later ones add
                                T* o = out + l * g.Ho * g.Wo;
                                T b = c0 > 0 ? T(0) : (bias ? bias[ob * NR + l] : T(0));
                                for (idx m = 0; m < rows; ++m) o[m] = (c0 > 0 ? o[m] : T(0)) + tile[m * NR + l] + b;
                            }
                        }
            }
        }
    }
}

template <typename T>
void conv2d_forward_pixel_tiles(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    Buffer<T> wp(round_up(O, Tile<T>::NR) * g.kh * g.kw * g.C);
    pack_weight(w, O, g.C, g.kh * g.kw, false, wp.get());
    forward_pixel_tiles(x, wp, bias, y, N, O, g);
}

// g describes the transpose's OUTPUT image (C, H, W); x is (N, O, Ho, Wo). See transpose_as_conv.
template <typename T>
void conv_transpose2d_forward_pixel_tiles(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g) {
    Buffer<T> wp(round_up(g.C, Tile<T>::NR) * g.kh * g.kw * O);  // w'[c, o, t] = w[o, c, taps-1-t], packed
    pack_weight(w, O, g.C, g.kh * g.kw, true, wp.get(), true);
    ConvGeom conv{O, g.Ho, g.Wo, g.kh, g.kw, g.H, g.W, 1, 1, g.dh * (g.kh - 1) - g.ph, g.dw * (g.kw - 1) - g.pw, g.dh, g.dw};
    forward_pixel_tiles(x, wp, bias, y, N, g.C, conv);
}

#define INSTANTIATE(T)                                                                                          \
    template bool direct_pays<T>(ConvPass, idx, idx, idx, idx, idx, idx);                                                          \
    template void conv2d_forward_direct<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&);         \
    template void conv_transpose2d_forward_direct<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&); \
    template void conv2d_weight_grad_direct<T>(const T*, const T*, T*, idx, idx, const ConvGeom&);             \
    template bool pixel_tiles_pay<T>(ConvPass, idx, idx, const ConvGeom&);                                      \
    template void conv2d_forward_pixel_tiles<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&);    \
    template void conv_transpose2d_forward_pixel_tiles<T>(const T*, const T*, const T*, T*, idx, idx, const ConvGeom&);
INSTANTIATE(float)
INSTANTIATE(double)
