// The micro-kernel shared by the GEMM (gemm.cpp) and the direct convolution (conv_direct.cpp), with its
// vector width and tile shape: an MR x NR tile of the result held in registers, MR rows by two vectors,
// MR broadcasts times two vector loads per step. The GEMM feeds it one run over packed panels; the direct
// convolution one run per kernel tap (or pixel) read in place.
#pragma once
#include <cstring>

#include "common.h"

#if defined(__AVX512F__)
constexpr int VBYTES = 64;           // one AVX-512 register
#elif defined(__AVX__)
constexpr int VBYTES = 32;           // one AVX register
#else
constexpr int VBYTES = 16;           // SSE / NEON
#endif

template <typename T>
struct Tile {
    typedef T vec __attribute__((vector_size(VBYTES)));      // a hardware vector of T
    static constexpr int VL = VBYTES / int(sizeof(T));        // lanes per vector
    static constexpr int NR = 2 * VL;                         // micro-tile columns: two vectors
    static constexpr int MR = VBYTES == 64 ? 8 : (VBYTES == 32 ? 6 : 4);   // rows: 2*MR accumulators fit the register file
    static constexpr idx KC = 256;                            // shared dimension per block (B micro-panel KC*NR in L1/L2)
    static constexpr idx MC = MR * 16;                        // rows of A per block (MC*KC in L2)
    static constexpr idx NC = NR * 64;                        // columns of B per block (KC*NC in L3)
};

// One stretch of a tile's reduction: len steps; step k reads the MR values a[k*ak .. k*ak + MR) (broadcast
// one by one) and the NR values b[k*bk .. k*bk + NR) (two vector loads).
template <typename T>
struct Run {
    const T* a;
    const T* b;
    idx len;
};

// c[m*NR : m*NR + NR] = sum over the runs, over k < len, of a[a_off + k*ak + m] * b[k*bk + 0:NR], for m < MR.
template <typename T>
inline void run_tile(const Run<T>* runs, idx n_runs, idx a_off, idx ak, idx bk, T* __restrict c) {
    using V = typename Tile<T>::vec;
    constexpr int MR = Tile<T>::MR, VL = Tile<T>::VL;
    V acc[MR][2];
    for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = V{};
    for (idx r = 0; r < n_runs; ++r) {
        const T* __restrict a = runs[r].a + a_off;
        const T* __restrict b = runs[r].b;
        for (idx k = runs[r].len; k > 0; --k, a += ak, b += bk) {
            V b0, b1;
            std::memcpy(&b0, b, sizeof(V));
            std::memcpy(&b1, b + VL, sizeof(V));
#pragma GCC unroll 16
            for (int m = 0; m < MR; ++m) {                    // fully unrolled: acc stays in registers
                T am = a[m];
                acc[m][0] += am * b0;
                acc[m][1] += am * b1;
            }
        }
    }
    for (int m = 0; m < MR; ++m) {
        std::memcpy(c + m * 2 * VL, &acc[m][0], sizeof(V));
        std::memcpy(c + m * 2 * VL + VL, &acc[m][1], sizeof(V));
    }
}
