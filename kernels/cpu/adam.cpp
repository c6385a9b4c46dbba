// Adam's update, fused: one pass reads param, grad and the moments once and writes them once, where the
// NumPy reference (kernels/reference/adam.py, the same formulas in the same order) makes about ten passes
// with a temporary array each. On the DCGAN's 2.5 M parameters, memory-bound either way.
//   g = grad + wd * p;  m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g g;  vmax = max(vmax, v)
//   p -= step_size * m / (sqrt(v or vmax) / bias2_sqrt + eps),  step_size = lr / (1 - beta1^t)
// Scalars are rounded to T before use, as NumPy rounds a Python float against a float32 array.
// Tested against the reference in tests/test_kernels_cpu.py.
#include "common.h"

#include <cmath>

static constexpr idx kParallelMin = 1 << 15;      // below this, thread start-up costs more than it saves
// (`if (parallel: ...)`, not `if (...)`, which would turn the simd off too: see leaky_relu.cpp)

template <typename T>
void adam_step(T* p, const T* grad, T* m, T* v, T* vmax, idx n, double lr, double beta1, double beta2, double eps,
               double weight_decay, double step) {
    // keep1 is the reference's (1 - weight) with weight = 1 - beta1, rounded the same way (not simply beta1)
    const T wd = T(weight_decay), w1 = T(1 - beta1), keep1 = T(1 - (1 - beta1)), b2 = T(beta2), w2 = T(1 - beta2);
    const T bias2 = T(std::sqrt(1 - std::pow(beta2, step))), step_size = T(lr / (1 - std::pow(beta1, step)));
    const T e = T(eps);
    const bool near_start = std::fabs(1 - beta1) < 0.5;         // lerp's two forms, as torch.lerp_ rounds
#pragma omp parallel for simd schedule(static) if (parallel: n > kParallelMin)
    for (idx i = 0; i < n; ++i) {
        T g = weight_decay != 0 ? grad[i] + wd * p[i] : grad[i];
        T mi = near_start ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * keep1;
        T vi = v[i] * b2 + (w2 * g) * g;
        m[i] = mi;
        v[i] = vi;
        if (vmax) vi = vmax[i] = vmax[i] > vi ? vmax[i] : vi;
        p[i] -= step_size * mi / (std::sqrt(vi) / bias2 + e);
    }
}

template void adam_step<float>(float*, const float*, float*, float*, float*, idx, double, double, double, double,
                               double, double);
template void adam_step<double>(double*, const double*, double*, double*, double*, idx, double, double, double,
                                double, double, double);
