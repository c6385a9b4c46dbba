// Max pooling (kernels/reference/pool.py): for every kh x kw window of x (N, C, H, W), its maximum and
// the position h*W + w of that maximum in x.
//
// One pass over each window's taps inside the image (padding, -inf there, can never win, so the taps
// outside are simply skipped; padding <= kernel/2 leaves every window at least one inside). The first
// maximum in row-major order wins ties, and a NaN wins over any number and stays, as np.argmax of the
// flattened window decides. OpenMP over the N*C planes: each thread owns whole output planes.
// In NumPy the windows had to be flattened into a copy kh*kw times the output before argmax: on
// VGG19's maps that was about 80 ms of a 900 ms style-transfer step.
#include "common.h"

template <typename T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* index, idx planes, idx H, idx W, idx kh, idx kw, idx sh,
                        idx sw, idx ph, idx pw, idx Ho, idx Wo) {
#pragma omp parallel for schedule(static)
    for (idx p = 0; p < planes; ++p) {
        const T* img = x + p * H * W;
        T* out = y + p * Ho * Wo;
        std::int64_t* where = index + p * Ho * Wo;
        for (idx oh = 0; oh < Ho; ++oh)
            for (idx ow = 0; ow < Wo; ++ow) {
                idx h0 = oh * sh - ph, w0 = ow * sw - pw, best_at = -1;
                T best = T(0);
                for (idx h = std::max<idx>(h0, 0); h < std::min(h0 + kh, H); ++h)
                    for (idx w = std::max<idx>(w0, 0); w < std::min(w0 + kw, W); ++w) {
                        T v = img[h * W + w];
                        bool wins = best_at < 0 || v > best || (v != v && best == best);   // v != v: NaN
                        if (wins) best = v, best_at = h * W + w;
                    }
                out[oh * Wo + ow] = best;
                where[oh * Wo + ow] = best_at;
            }
    }
}

template void max_pool2d_forward<float>(const float*, float*, std::int64_t*, idx, idx, idx, idx, idx, idx, idx, idx,
                                        idx, idx, idx);
template void max_pool2d_forward<double>(const double*, double*, std::int64_t*, idx, idx, idx, idx, idx, idx, idx,
                                         idx, idx, idx, idx);
