// GEMM: C (M x N) = op(A) (M x K) @ op(B) (K x N) + beta * C, row-major, beta 0 or 1, op = transpose or not.
//
// Every convolution here is im2col/col2im around one of these products, so this is where the time goes;
// minigrad's 2-D matmul (nn.Linear) comes here too, through kernels.cpu.matmul.
// Two implementations, one switch (gemm_set_blas):
//   * BLAS: the sgemm/dgemm of the OpenBLAS that SciPy ships, reached through the function pointers SciPy
//     exports for Cython (scipy.linalg.cython_blas); kernels/cpu/__init__.py installs them on
//     set_gemm("blas"). Alone, on the GEMM shapes of the DCGAN layers (e.g. 8192x256x1024 with A
//     transposed, 3200x3136x256, 64x12544x25), one thread, AVX-512 EPYC: OpenBLAS 77-92 GFLOP/s, the
//     built-in GEMM 65-80, i.e. OpenBLAS's assembly kernels are 10-15% ahead.
//   * built-in: a cache-blocked, vectorised GEMM in portable C++ (below). This is the DEFAULT, because
//     inside a whole training step it wins: OpenBLAS keeps its own thread pool, which competes with the
//     OpenMP threads of im2col, batch norm and the rest for the same cores, while the built-in GEMM's
//     threads are OpenMP's. DCGAN step, 2 cores: 139 vs 188 ms at batch 16, 373 vs 433 ms at batch 64.
//     It follows the BLIS/GotoBLAS recipe:
//       - three blocking loops (NC columns of B, KC of the shared dimension, MC rows of A) sized so a
//         packed KC x NC block of B stays in L3, a packed MC x KC block of A in L2 and one KC x NR
//         micro-panel of B in L1 while it is reused MC/MR times;
//       - packing: the blocks are copied into contiguous, zero-padded, 64-byte-aligned panels in exactly
//         the order the micro-kernel reads them, which also absorbs the transposes (op(A), op(B)) and
//         the ragged edges, so the inner loop has no branches and only unit-stride aligned loads;
//       - a micro-kernel holding an MR x NR tile of C in registers (MR rows x two vector registers),
//         doing MR*NR multiply-adds per KC step from one MR-column of A and one NR-row of B
//         (GCC vector extensions, so with -march=native it becomes FMA on AVX2/AVX-512 registers);
//       - OpenMP: each thread computes its own slab of C (gemm_builtin), no barriers inside.
// Tested through every convolution in tests/test_kernels_cpu.py (both GEMMs are run there, on shapes
// with ragged edges and transposes); timed by `python -m kernels.bench --gemm`.
#include "common.h"
#include "simd.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

// Packs op(A)[r0:r0+mc, k0:k0+kc] into MR-row panels: panel q holds, for each p, the MR values of column p.
template <typename T>
static void pack_a(bool trans, const T* A, idx lda, idx r0, idx k0, idx mc, idx kc, T* out, idx panel) {
    constexpr int MR = Tile<T>::MR;
    T* dst = out + panel * MR * kc;
    idx r_begin = r0 + panel * MR, rows = std::min<idx>(MR, r0 + mc - r_begin);
    for (idx p = 0; p < kc; ++p)
        for (int i = 0; i < MR; ++i)
            dst[p * MR + i] = i < rows ? (trans ? A[(k0 + p) * lda + r_begin + i] : A[(r_begin + i) * lda + k0 + p]) : T(0);
}

#if defined(__GNUC__) && !defined(__clang__)
#define MINIGRAD_VECTOR_TRANSPOSE 1
// Transposes a VL x VL block held in VL vectors (r[i][j] -> r[j][i]) in log2(VL) rounds: round h swaps,
// in every pair of rows (i, i + h), row i's upper h-blocks with row i + h's lower ones, so after the
// rounds h = VL/2, ..., 2, 1 every element has moved from (i, j) to (j, i). Each swap is one two-input
// shuffle per row (GCC's __builtin_shuffle: vpermt2ps/vunpck on AVX-512, shufps on SSE).
template <typename T>
static inline void transpose_block(typename Tile<T>::vec* r) {
    using V = typename Tile<T>::vec;
    using I = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
    typedef I ivec __attribute__((vector_size(sizeof(V))));
    constexpr int VL = Tile<T>::VL;
#pragma GCC unroll 8
    for (int h = VL / 2; h >= 1; h /= 2) {
        ivec keep_a, keep_b;            // indices into (a, b): a[j] is j, b[j] is VL + j
        for (int j = 0; j < VL; ++j) {
            keep_a[j] = (j & h) ? VL + j - h : j;       // row i:     a's lower half-block, b's lower moved up
            keep_b[j] = (j & h) ? VL + j : j + h;       // row i + h: a's upper moved down, b's upper half-block
        }
        for (int i = 0; i < VL; ++i)
            if (!(i & h)) {
                V a = r[i], b = r[i + h];
                r[i] = __builtin_shuffle(a, b, keep_a);
                r[i + h] = __builtin_shuffle(a, b, keep_b);
            }
    }
}
#endif

// Packs op(B)[k0:k0+kc, c0:c0+nc] into NR-column panels: panel q holds, for each p, the NR values of row p.
// Not transposed, a panel row is a piece of a row of B (one memcpy). Transposed (B holds op(B)'s columns
// as rows: the weight gradient's im2col columns), the NR values of a panel row lie in NR different rows of
// B, and reading them one by one cost about as much as the multiply-adds that use them when M is 64-128.
// So VL columns at a time, each of their VL rows of B is streamed through the whole kc stretch, VL x VL
// blocks read as vectors, transposed in registers and stored as VL panel rows. (Interleaving the two
// column groups block by block was slower than the scalar loop where B's rows are 12544 floats apart.)
// One thread, AVX-512, float32 GFLOP/s before -> after: 128x1024x4096 (B transposed) 76-78 -> 148-169,
// 64x1024x12544 81-92 -> 130-148, 64x1024x12288 46-68 -> 128-149 (medians of 21 calls, the two builds alternating;
// `python -m kernels.bench --products --threads 1` times the same kind of products).
template <typename T>
static void pack_b(bool trans, const T* B, idx ldb, idx k0, idx c0, idx kc, idx nc, T* out, idx panel) {
    constexpr int NR = Tile<T>::NR;
    T* dst = out + panel * NR * kc;
    idx c_begin = c0 + panel * NR, cols = std::min<idx>(NR, c0 + nc - c_begin);
    idx p = 0;
#ifdef MINIGRAD_VECTOR_TRANSPOSE
    if (trans) {
        using V = typename Tile<T>::vec;
        constexpr int VL = Tile<T>::VL;
        const idx groups = cols / VL;                       // whole VL-column groups; the rest one by one
        const idx blocked = kc / VL * VL;
        for (idx group = 0; group < groups; ++group)
            for (idx pb = 0; pb < blocked; pb += VL) {
                V r[VL];
                for (int j = 0; j < VL; ++j) std::memcpy(&r[j], B + (c_begin + group * VL + j) * ldb + k0 + pb, sizeof(V));
                transpose_block<T>(r);
                for (int q = 0; q < VL; ++q) std::memcpy(dst + (pb + q) * NR + group * VL, &r[q], sizeof(V));
            }
        for (; p < blocked; ++p)
            for (idx j = groups * VL; j < NR; ++j) dst[p * NR + j] = j < cols ? B[(c_begin + j) * ldb + k0 + p] : T(0);
    }
#endif
    for (; p < kc; ++p) {
        if (!trans && cols == NR) {                         // the common case: one contiguous row piece
            std::memcpy(dst + p * NR, B + (k0 + p) * ldb + c_begin, NR * sizeof(T));
            continue;
        }
        for (int j = 0; j < NR; ++j)
            dst[p * NR + j] = j < cols ? (trans ? B[(c_begin + j) * ldb + k0 + p] : B[(k0 + p) * ldb + c_begin + j]) : T(0);
    }
}

// C[0:mr, 0:nr] (+)= a_panel (kc x MR) . b_panel (kc x NR): the shared micro-kernel (simd.h) over the two
// packed panels, one run of kc steps, then the tile's valid part stored or added into C.
template <typename T>
static inline void micro_kernel(idx kc, const T* __restrict a, const T* __restrict b, T* __restrict c, idx ldc,
                                idx mr, idx nr, bool accumulate) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    alignas(64) T tile[MR * NR];
    const Run<T> run{a, b, kc};
    run_tile(&run, 1, 0, MR, NR, tile);
    for (idx i = 0; i < mr; ++i) {
        T* crow = c + i * ldc;
        const T* trow = tile + i * NR;
        if (accumulate)
            for (idx j = 0; j < nr; ++j) crow[j] += trow[j];
        else
            for (idx j = 0; j < nr; ++j) crow[j] = trow[j];
    }
}

// One thread's GEMM: the three blocking loops, packing, and the micro-kernel over every tile.
template <typename T>
static void gemm_serial(bool trans_a, bool trans_b, idx M, idx N, idx K, const T* A, idx lda, const T* B, idx ldb,
                        T beta, T* C, idx ldc) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    constexpr idx KC = Tile<T>::KC, MC = Tile<T>::MC, NC = Tile<T>::NC;
    Buffer<T> bpack(KC * ((std::min(N, NC) + NR - 1) / NR) * NR);
    Buffer<T> apack(KC * ((std::min(M, MC) + MR - 1) / MR) * MR);
    T* bp = bpack.get();
    T* ap = apack.get();
    for (idx jc = 0; jc < N; jc += NC) {
        idx nc = std::min(NC, N - jc), npanels = (nc + NR - 1) / NR;
        for (idx pc = 0; pc < K; pc += KC) {
            idx kc = std::min(KC, K - pc);
            bool accumulate = pc > 0 || beta != T(0);            // later K blocks add to the first
            for (idx q = 0; q < npanels; ++q) pack_b(trans_b, B, ldb, pc, jc, kc, nc, bp, q);
            for (idx ic = 0; ic < M; ic += MC) {
                idx mc = std::min(MC, M - ic), mpanels = (mc + MR - 1) / MR;
                for (idx q = 0; q < mpanels; ++q) pack_a(trans_a, A, lda, ic, pc, mc, kc, ap, q);
                // Column panel outer: one B micro-panel stays in L1 while it meets every row panel.
                for (idx jr = 0; jr < npanels; ++jr)
                    for (idx ir = 0; ir < mpanels; ++ir) {
                        idx mr = std::min<idx>(MR, mc - ir * MR), nr = std::min<idx>(NR, nc - jr * NR);
                        micro_kernel(kc, ap + ir * MR * kc, bp + jr * NR * kc,
                                     C + (ic + ir * MR) * ldc + jc + jr * NR, ldc, mr, nr, accumulate);
                    }
            }
        }
    }
}

// Threads split C into contiguous slabs along its longer side (whole micro-tiles each), and each runs
// gemm_serial on its slab with its own packing buffers. Only one join at the end: a first version
// synchronised the threads after every packing step (~50 barriers per product), which cost little on
// an idle machine but several milliseconds per barrier when other processes share the cores.
// When C is small and the shared dimension long (the weight gradient of an early layer: 64 x 48 from
// 16384 columns), slabs of C would leave each thread packing all of the other operand for a sliver of
// the work; there the threads split K instead, each summing its stretch into a C of its own, and the
// partial Cs are added at the end (M*N adds per extra thread, against M*N*K/threads multiply-adds).
template <typename T>
static void gemm_builtin(bool trans_a, bool trans_b, idx M, idx N, idx K, const T* A, idx lda, const T* B,
                         idx ldb, T beta, T* C, idx ldc) {
    constexpr int MR = Tile<T>::MR, NR = Tile<T>::NR;
    constexpr idx KC = Tile<T>::KC, SMALL_C = 128 * 128;
    const bool split_n = N >= M;
    const idx extent = split_n ? N : M, unit = split_n ? NR : MR;
    idx threads = std::min<idx>(max_threads(), (extent + unit - 1) / unit);
    if (M * N * K < (idx(1) << 18)) threads = 1;                 // tiny: starting threads costs more
    const bool split_k = max_threads() > 1 && M * N <= SMALL_C && K >= 8 * KC && K >= 4 * std::max(M, N);
    if (split_k) threads = std::min<idx>(max_threads(), K / (2 * KC));
    Buffer<T> partial(split_k ? (threads - 1) * M * N : 1);
#pragma omp parallel num_threads(int(threads)) if (threads > 1)
    {
#ifdef _OPENMP
        idx t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        idx t = 0, nt = 1;
#endif
        if (split_k) {      // shared-dimension steps [k0, k1), whole KC blocks; thread 0 into C itself
            idx blocks = (K + KC - 1) / KC;
            idx k0 = std::min(K, (blocks * t / nt) * KC), k1 = std::min(K, (blocks * (t + 1) / nt) * KC);
            T* dst = t == 0 ? C : partial.get() + (t - 1) * M * N;
            gemm_serial(trans_a, trans_b, M, N, k1 - k0, trans_a ? A + k0 * lda : A + k0, lda,
                        trans_b ? B + k0 : B + k0 * ldb, ldb, t == 0 ? beta : T(0), dst, t == 0 ? ldc : N);
        } else {
            idx units = (extent + unit - 1) / unit;
            idx begin = std::min(extent, (units * t / nt) * unit), end = std::min(extent, (units * (t + 1) / nt) * unit);
            if (begin < end) {
                if (split_n)     // columns [begin, end) of op(B) and C
                    gemm_serial(trans_a, trans_b, M, end - begin, K, A, lda, trans_b ? B + begin * ldb : B + begin,
                                ldb, beta, C + begin, ldc);
                else             // rows [begin, end) of op(A) and C
                    gemm_serial(trans_a, trans_b, end - begin, N, K, trans_a ? A + begin : A + begin * lda, lda, B,
                                ldb, beta, C + begin * ldc, ldc);
            }
        }
    }
    for (idx t = 1; split_k && t < threads; ++t)
        for (idx i = 0; i < M; ++i) {
            const T* part = partial.get() + (t - 1) * M * N + i * N;
            T* crow = C + i * ldc;
            for (idx j = 0; j < N; ++j) crow[j] += part[j];
        }
}

// ---- the BLAS route: Fortran (column-major) sgemm/dgemm from SciPy's cython_blas.
using sgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                          const int*, const float*, const int*, const float*, float*, const int*);
using dgemm_fn = void (*)(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
                          const int*, const double*, const int*, const double*, double*, const int*);
static sgemm_fn blas_sgemm = nullptr;
static dgemm_fn blas_dgemm = nullptr;

void gemm_set_blas(void* sgemm, void* dgemm) {
    blas_sgemm = reinterpret_cast<sgemm_fn>(sgemm);
    blas_dgemm = reinterpret_cast<dgemm_fn>(dgemm);
}
bool gemm_uses_blas() { return blas_sgemm != nullptr && blas_dgemm != nullptr; }

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix read as
// column-major is its transpose: so call the Fortran GEMM with A and B swapped and M and N swapped.
template <typename T, typename Fn>
static void gemm_blas(Fn fn, bool trans_a, bool trans_b, idx M, idx N, idx K, const T* A, idx lda, const T* B,
                      idx ldb, T beta, T* C, idx ldc) {
    const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
    const int m = int(N), n = int(M), k = int(K);
    const int la = int(std::max<idx>(ldb, 1)), lb = int(std::max<idx>(lda, 1)), lc = int(std::max<idx>(ldc, 1));
    const T one = 1;
    fn(&ta, &tb, &m, &n, &k, &one, B, &la, A, &lb, &beta, C, &lc);
}

template <typename T>
void gemm(bool trans_a, bool trans_b, idx M, idx N, idx K, const T* A, idx lda, const T* B, idx ldb, T beta,
          T* C, idx ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {                                             // an empty sum: C = beta * C
        if (beta == T(0))
            for (idx i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
        return;
    }
    constexpr idx INT_MAX_ = 2147483647;
    bool fits = std::max({M, N, K, lda, ldb, ldc}) <= INT_MAX_;   // Fortran BLAS takes 32-bit ints
    if constexpr (sizeof(T) == 4) {
        if (blas_sgemm && fits) return gemm_blas(blas_sgemm, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
    } else {
        if (blas_dgemm && fits) return gemm_blas(blas_dgemm, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
    }
    gemm_builtin(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(bool, bool, idx, idx, idx, const float*, idx, const float*, idx, float, float*, idx);
template void gemm<double>(bool, bool, idx, idx, idx, const double*, idx, const double*, idx, double, double*, idx);
