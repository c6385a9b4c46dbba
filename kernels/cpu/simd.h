// The vector width and micro-tile shape shared by the GEMM (gemm.cpp) and the direct convolution
// (conv_direct.cpp): both hold an MR x NR tile of the result in registers, MR rows by two vectors.
#pragma once
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

