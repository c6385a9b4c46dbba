// Leaky ReLU, forward and backward, elementwise over n values (same as kernels/reference/leaky_relu.py):
//   y  = x if x > 0 else slope * x
//   gx = g if x > 0 else slope * g          (at x = 0 the slope branch, like PyTorch)
//
// Tricks: the select is written as a ternary on values, which GCC turns into a vector compare + blend
// (no branch, so random signs cost nothing; on AVX2 only with -fno-trapping-math, see CMakeLists.txt),
// and OpenMP splits the array into one contiguous chunk per thread. The `if` clause names `parallel`:
// unqualified, it also applies to the `simd` of the combined construct, so every array below the
// threshold ran scalar (30000 floats: 170 us, now 11). It is memory-bound: expect ~memory bandwidth,
// not FLOPs (see `python -m kernels.bench`).
// Tested against the reference in tests/test_kernels_cpu.py.
#include "common.h"

static constexpr idx kParallelMin = 1 << 15;      // below this, thread start-up costs more than it saves

template <typename T>
void leaky_relu_forward(const T* x, T slope, T* y, idx n) {
#pragma omp parallel for simd schedule(static) if (parallel: n > kParallelMin)
    for (idx i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}

template <typename T>
void leaky_relu_backward(const T* gy, const T* x, T slope, T* gx, idx n) {
#pragma omp parallel for simd schedule(static) if (parallel: n > kParallelMin)
    for (idx i = 0; i < n; ++i) gx[i] = x[i] > T(0) ? gy[i] : slope * gy[i];
}

template void leaky_relu_forward<float>(const float*, float, float*, idx);
template void leaky_relu_forward<double>(const double*, double, double*, idx);
template void leaky_relu_backward<float>(const float*, const float*, float, float*, idx);
template void leaky_relu_backward<double>(const double*, const double*, double, double*, idx);
