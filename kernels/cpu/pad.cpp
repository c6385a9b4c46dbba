// Reflection padding of planes = N*C images (H, W), and its adjoint (kernels/reference/pad.py):
//   forward   y[i][j] = x[r(i - top, H)][r(j - left, W)], r the mirror that does not repeat the edge;
//   backward  every grad_y element added to the x element it was read from.
//
// Forward: each output row is one source row of x, its inside a straight copy and its two borders
// read backwards. Backward: for each row h of grad_x, first the rows of grad_y that read row h are
// summed (the inside row, then its mirror in the top border, then in the bottom border), then that
// sum's columns are folded the same way. It is the reference's order of additions, so the two agree
// to the last bit. OpenMP over the planes, each thread owning whole planes, when there are enough bytes.
// In NumPy (np.pad, and the fold's slice additions) the CycleGAN demo spent about 27 ms a step on
// its 44 reflection pads.
#include <cstring>
#include <vector>

#include "common.h"

static constexpr idx kParallelMin = 1 << 15;      // elements; below this, thread start-up costs more

template <typename T>
void reflection_pad2d_forward(const T* x, T* y, idx planes, idx H, idx W, idx left, idx right, idx top, idx bottom) {
    idx Ho = H + top + bottom, Wo = W + left + right;
#pragma omp parallel for schedule(static) if (parallel: planes * Ho * Wo > kParallelMin)
    for (idx p = 0; p < planes; ++p)
        for (idx i = 0; i < Ho; ++i) {
            idx h = i < top ? top - i : i - top < H ? i - top : 2 * (H - 1) - (i - top);
            const T* src = x + (p * H + h) * W;
            T* out = y + (p * Ho + i) * Wo;
            for (idx j = 0; j < left; ++j) out[j] = src[left - j];
            std::memcpy(out + left, src, sizeof(T) * W);
            for (idx k = 0; k < right; ++k) out[left + W + k] = src[W - 2 - k];
        }
}

template <typename T>
void reflection_pad2d_backward(const T* gy, T* gx, idx planes, idx H, idx W, idx left, idx right, idx top, idx bottom) {
    idx Ho = H + top + bottom, Wo = W + left + right;
#pragma omp parallel if (parallel: planes * Ho * Wo > kParallelMin)
    {
        std::vector<T> row(Wo);                                  // grad_y's rows that read row h, summed
#pragma omp for schedule(static)
        for (idx p = 0; p < planes; ++p)
            for (idx h = 0; h < H; ++h) {
                const T* g = gy + p * Ho * Wo;
                const T* inside = g + (top + h) * Wo;
                const T* upper = h >= 1 && h <= top ? g + (top - h) * Wo : nullptr;           // mirrored top row
                idx b = (top + H - 1) + (H - 1 - h);                                           // its bottom mirror
                const T* lower = h >= H - 1 - bottom && h <= H - 2 ? g + b * Wo : nullptr;
                for (idx j = 0; j < Wo; ++j) {
                    T s = inside[j];
                    if (upper) s += upper[j];
                    if (lower) s += lower[j];
                    row[j] = s;
                }
                T* out = gx + (p * H + h) * W;
                for (idx w = 0; w < W; ++w) out[w] = row[left + w];
                for (idx w = 1; w <= left; ++w) out[w] += row[left - w];
                for (idx w = W - 1 - right; w <= W - 2; ++w) out[w] += row[(left + W - 1) + (W - 1 - w)];
            }
    }
}

template void reflection_pad2d_forward<float>(const float*, float*, idx, idx, idx, idx, idx, idx, idx);
template void reflection_pad2d_forward<double>(const double*, double*, idx, idx, idx, idx, idx, idx, idx);
template void reflection_pad2d_backward<float>(const float*, float*, idx, idx, idx, idx, idx, idx, idx);
template void reflection_pad2d_backward<double>(const double*, double*, idx, idx, idx, idx, idx, idx, idx);
