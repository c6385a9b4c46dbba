// Batch normalisation over x viewed as (N, C, S), S = the product of the spatial sizes; per channel c,
// over the m = N*S values of that channel. The same semantics as kernels/reference/batch_norm.py:
//
//   forward:   x^ = (x - mean) * invstd,  invstd = 1/sqrt(var + eps),  y = gamma * x^ + beta
//              training: batch mean and biased var; running = (1 - momentum)*running + momentum*batch
//              (unbiased var, m/(m-1)) updated in place.  eval: mean, var = the running statistics.
//   backward:  grad_beta = sum g,  grad_gamma = sum g*x^,
//              grad_x = gamma*invstd * (g - sum(g)/m - x^ * sum(g*x^)/m)   (training)
//                     = gamma*invstd * g                                   (eval)
//
// Tricks, and why they pay:
//   * OpenMP over channels: every channel's statistics are independent, so no reductions cross threads.
//   * Channel sums accumulate in double even for float32: m can be 64*28*28 = 50k values, where a float
//     running sum would lose ~4 digits; the cost is nil (the loop is memory-bound).
//   * Two passes for the variance (mean first, then sum (x-mean)^2), not E[x^2] - E[x]^2, which cancels
//     catastrophically when |mean| >> std.
//   * Per-channel constants folded once, so each element costs a subtract and a fused multiply-add:
//     y = (x - mean)*a + beta with a = gamma*invstd; grad_x = a*g + b*(x - mean) + d in training.
//     (Not y = a*x + (beta - mean*a): that folds one more op but cancels when |mean| >> std, and a
//     float32 channel with mean 100 and std 0.01 would lose four digits. The loop is memory-bound anyway.)
//   * BatchNorm1d on (N, C) (S == 1, the DCGAN's Dense layer: 64 x 12544) has its channels on the
//     contiguous axis. Walking one channel down the batch would load one float per cache line, so
//     there each thread takes a block of channels and sweeps the rows: every load is a whole vector.
// Tested against the reference in tests/test_kernels_cpu.py; timed by `python -m kernels.bench`.
#include "common.h"

#include <algorithm>
#include <cmath>

// Per channel, once the statistics are known (both forward paths): update the running statistics
// (training), store mean and invstd for backward, and fold y = (x - mean)*a + b's constants.
template <typename T>
static inline void finish_channel(idx c, double mu, double var, idx m, bool training, double momentum, double eps,
                                  const T* gamma, const T* beta, T* running_mean, T* running_var, T* mean,
                                  T* invstd, T& a, T& b) {
    if (training && running_mean) running_mean[c] = T((1 - momentum) * running_mean[c] + momentum * mu);
    if (training && running_var)
        running_var[c] = T((1 - momentum) * running_var[c] + momentum * var * (double(m) / double(m > 1 ? m - 1 : 1)));
    T inv = T(1.0 / std::sqrt(var + eps));
    mean[c] = T(mu);
    invstd[c] = inv;
    a = gamma ? T(gamma[c] * inv) : inv;
    b = beta ? beta[c] : T(0);
}

static constexpr idx kRowBlock = 256;                  // channels per thread task on the (N, C) path
static constexpr idx kParallelMin = 1 << 15;           // fewer elements: one thread (waking the others costs more)

// Training statistics of channels [c0, c1) of x (N, C): per-channel mean and biased variance, rows swept.
template <typename T>
static void row_stats(const T* x, idx N, idx C, idx c0, idx c1, double* mu, double* var) {
    const idx B = c1 - c0;
    std::fill(mu, mu + B, 0.0);
    std::fill(var, var + B, 0.0);
    for (idx n = 0; n < N; ++n) {
        const T* row = x + n * C + c0;
#pragma omp simd
        for (idx b = 0; b < B; ++b) mu[b] += row[b];
    }
    for (idx b = 0; b < B; ++b) mu[b] = N > 0 ? mu[b] / double(N) : 0.0;
    for (idx n = 0; n < N; ++n) {
        const T* row = x + n * C + c0;
#pragma omp simd
        for (idx b = 0; b < B; ++b) var[b] += (double(row[b]) - mu[b]) * (double(row[b]) - mu[b]);
    }
    for (idx b = 0; b < B; ++b) var[b] = N > 0 ? var[b] / double(N) : 0.0;
}

// The S == 1 forward: the same arithmetic as the per-channel loop below, with the channel loop innermost.
template <typename T>
static void batch_norm_forward_rows(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                                    bool training, double momentum, double eps, T* y, T* mean, T* invstd,
                                    idx N, idx C) {
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (idx c0 = 0; c0 < C; c0 += kRowBlock) {
        const idx c1 = std::min(C, c0 + kRowBlock), B = c1 - c0;
        double mu[kRowBlock], var[kRowBlock];
        T a[kRowBlock], b[kRowBlock], mu_t[kRowBlock];
        if (training) {
            row_stats(x, N, C, c0, c1, mu, var);
        } else {
            for (idx k = 0; k < B; ++k) mu[k] = running_mean[c0 + k], var[k] = running_var[c0 + k];
        }
        for (idx k = 0; k < B; ++k) {
            finish_channel(c0 + k, mu[k], var[k], N, training, momentum, eps, gamma, beta, running_mean, running_var,
                           mean, invstd, a[k], b[k]);
            mu_t[k] = T(mu[k]);
        }
        for (idx n = 0; n < N; ++n) {
            const T* xr = x + n * C + c0;
            T* yr = y + n * C + c0;
#pragma omp simd
            for (idx k = 0; k < B; ++k) yr[k] = (xr[k] - mu_t[k]) * a[k] + b[k];
        }
    }
}

template <typename T>
void batch_norm_forward(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var, bool training,
                        double momentum, double eps, T* y, T* mean, T* invstd, idx N, idx C, idx S) {
    if (S == 1)
        return batch_norm_forward_rows(x, gamma, beta, running_mean, running_var, training, momentum, eps, y, mean,
                                       invstd, N, C);
    const idx m = N * S;
#pragma omp parallel for schedule(static) if (N * C * S > kParallelMin)
    for (idx c = 0; c < C; ++c) {
        double mu, var;
        if (training) {
            double sum = 0;
            for (idx n = 0; n < N; ++n) {
                const T* xc = x + (n * C + c) * S;
#pragma omp simd reduction(+ : sum)
                for (idx s = 0; s < S; ++s) sum += xc[s];
            }
            mu = m > 0 ? sum / double(m) : 0.0;
            double sq = 0;
            for (idx n = 0; n < N; ++n) {
                const T* xc = x + (n * C + c) * S;
#pragma omp simd reduction(+ : sq)
                for (idx s = 0; s < S; ++s) sq += (double(xc[s]) - mu) * (double(xc[s]) - mu);
            }
            var = m > 0 ? sq / double(m) : 0.0;
        } else {
            mu = running_mean[c];
            var = running_var[c];
        }
        T a, b, mu_t = T(mu);                                   // y = (x - mean)*a + b
        finish_channel(c, mu, var, m, training, momentum, eps, gamma, beta, running_mean, running_var, mean, invstd,
                       a, b);
        for (idx n = 0; n < N; ++n) {
            const T* xc = x + (n * C + c) * S;
            T* yc = y + (n * C + c) * S;
#pragma omp simd
            for (idx s = 0; s < S; ++s) yc[s] = (xc[s] - mu_t) * a + b;
        }
    }
}

// The S == 1 backward, channel loop innermost (see batch_norm_forward_rows).
template <typename T>
static void batch_norm_backward_rows(const T* gy, const T* x, const T* gamma, const T* mean, const T* invstd,
                                     bool training, T* gx, T* ggamma, T* gbeta, idx N, idx C) {
    const bool need_sums = ggamma || gbeta || (gx && training);
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (idx c0 = 0; c0 < C; c0 += kRowBlock) {
        const idx c1 = std::min(C, c0 + kRowBlock), B = c1 - c0;
        double sum_g[kRowBlock] = {}, sum_gxhat[kRowBlock] = {};
        T mu_t[kRowBlock], a[kRowBlock], bb[kRowBlock], d[kRowBlock];
        for (idx k = 0; k < B; ++k) mu_t[k] = mean[c0 + k];
        if (need_sums)
            for (idx n = 0; n < N; ++n) {
                const T* gr = gy + n * C + c0;
                const T* xr = x + n * C + c0;
#pragma omp simd
                for (idx k = 0; k < B; ++k) {
                    sum_g[k] += gr[k];
                    sum_gxhat[k] += double(gr[k]) * (double(xr[k]) - double(mean[c0 + k]));
                }
            }
        for (idx k = 0; k < B; ++k) {
            const idx c = c0 + k;
            const double inv = invstd[c];
            sum_gxhat[k] *= inv;
            if (gbeta) gbeta[c] = T(sum_g[k]);
            if (ggamma) ggamma[c] = T(sum_gxhat[k]);
            const double scale = gamma ? double(gamma[c]) * inv : inv;
            a[k] = T(scale);
            bb[k] = training && N > 0 ? T(-scale * inv * sum_gxhat[k] / double(N)) : T(0);
            d[k] = training && N > 0 ? T(-scale * sum_g[k] / double(N)) : T(0);
        }
        if (!gx) continue;
        for (idx n = 0; n < N; ++n) {
            const T* gr = gy + n * C + c0;
            const T* xr = x + n * C + c0;
            T* out = gx + n * C + c0;
#pragma omp simd
            for (idx k = 0; k < B; ++k) out[k] = a[k] * gr[k] + bb[k] * (xr[k] - mu_t[k]) + d[k];
        }
    }
}

template <typename T>
void batch_norm_backward(const T* gy, const T* x, const T* gamma, const T* mean, const T* invstd, bool training,
                         T* gx, T* ggamma, T* gbeta, idx N, idx C, idx S) {
    if (S == 1)
        return batch_norm_backward_rows(gy, x, gamma, mean, invstd, training, gx, ggamma, gbeta, N, C);
    const idx m = N * S;
    const bool need_sums = ggamma || gbeta || (gx && training);
#pragma omp parallel for schedule(static) if (N * C * S > kParallelMin)
    for (idx c = 0; c < C; ++c) {
        const double mu = mean[c], inv = invstd[c];
        double sum_g = 0, sum_gxhat = 0;                        // sum g, sum g*x^
        if (need_sums)
            for (idx n = 0; n < N; ++n) {
                const T* gc = gy + (n * C + c) * S;
                const T* xc = x + (n * C + c) * S;
                double sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
                for (idx s = 0; s < S; ++s) {
                    sg += gc[s];
                    sgx += double(gc[s]) * (double(xc[s]) - mu);
                }
                sum_g += sg;
                sum_gxhat += sgx;
            }
        sum_gxhat *= inv;
        if (gbeta) gbeta[c] = T(sum_g);
        if (ggamma) ggamma[c] = T(sum_gxhat);
        if (!gx) continue;
        const double scale = gamma ? double(gamma[c]) * inv : inv;
        // grad_x = scale*(g - sum_g/m - (x - mu)*inv*sum_gxhat/m) = a*g + b*(x - mu) + d
        T a = T(scale), b = T(0), d = T(0), mu_t = T(mu);
        if (training && m > 0) {
            b = T(-scale * inv * sum_gxhat / double(m));
            d = T(-scale * sum_g / double(m));
        }
        for (idx n = 0; n < N; ++n) {
            const T* gc = gy + (n * C + c) * S;
            const T* xc = x + (n * C + c) * S;
            T* out = gx + (n * C + c) * S;
#pragma omp simd
            for (idx s = 0; s < S; ++s) out[s] = a * gc[s] + b * (xc[s] - mu_t) + d;
        }
    }
}

template void batch_norm_forward<float>(const float*, const float*, const float*, float*, float*, bool, double, double,
                                        float*, float*, float*, idx, idx, idx);
template void batch_norm_forward<double>(const double*, const double*, const double*, double*, double*, bool, double,
                                         double, double*, double*, double*, idx, idx, idx);
template void batch_norm_backward<float>(const float*, const float*, const float*, const float*, const float*, bool,
                                         float*, float*, float*, idx, idx, idx);
template void batch_norm_backward<double>(const double*, const double*, const double*, const double*, const double*,
                                          bool, double*, double*, double*, idx, idx, idx);
