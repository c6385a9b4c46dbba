// Max pooling on the GPU, the semantics of kernels/reference/pool.py: for every kh x kw window of x
// (planes = N*C images of H x W), its maximum and the position h*W + w of that maximum in x.
//
// Threads and blocks: one thread per output element, in a grid-stride loop; neighbouring threads take
// neighbouring windows of one output row, so their reads of x overlap and coalesce. Each thread scans
// its window's taps inside the image (padding is -inf and never wins, so it is skipped) in row-major
// order: the first maximum wins ties, and a NaN wins over any number and stays, as np.argmax decides.
//
// Tested in tests/test_kernels_cuda.py: compiled with nvcc where it exists; under the CPU emulation of
// CUDA (tests/cuda_emulation.py) against the reference, exactly; on a GPU, against the reference.
//
// No #include: CuPy compiles this file with NVRTC, which has no C++ standard headers.

typedef long long idx;

template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, idx* __restrict__ index,
                                   idx planes, idx H, idx W, idx kh, idx kw, idx sh, idx sw, idx ph, idx pw,
                                   idx Ho, idx Wo) {
    idx total = planes * Ho * Wo;
    for (idx i = blockIdx.x * (idx)blockDim.x + threadIdx.x; i < total; i += (idx)gridDim.x * blockDim.x) {
        idx ow = i % Wo, oh = (i / Wo) % Ho, p = i / (Wo * Ho);
        const T* img = x + p * H * W;
        idx h0 = oh * sh - ph, w0 = ow * sw - pw, best_at = -1;
        idx h_lo = h0 > 0 ? h0 : 0, h_hi = h0 + kh < H ? h0 + kh : H;
        idx w_lo = w0 > 0 ? w0 : 0, w_hi = w0 + kw < W ? w0 + kw : W;
        T best = T(0);
        for (idx h = h_lo; h < h_hi; ++h)
            for (idx w = w_lo; w < w_hi; ++w) {
                T v = img[h * W + w];
                if (best_at < 0 || v > best || (v != v && best == best)) {   // v != v: a NaN
                    best = v;
                    best_at = h * W + w;
                }
            }
        y[i] = best;
        index[i] = best_at;
    }
}

// Instantiations for nvcc (CuPy instantiates through name_expressions such as "max_pool2d_forward<float>").
template __global__ void max_pool2d_forward<float>(const float*, float*, idx*, idx, idx, idx, idx, idx, idx, idx,
                                                   idx, idx, idx, idx);
template __global__ void max_pool2d_forward<double>(const double*, double*, idx*, idx, idx, idx, idx, idx, idx, idx,
                                                    idx, idx, idx, idx);
