// Reflection padding on the GPU, and its adjoint, the semantics of kernels/reference/pad.py: planes =
// N*C images (H, W) padded by (left, right, top, bottom), each width smaller than its dim, the edge not
// repeated (rows 2 1 | 0 1 2 3 | 2 1 for H = 4 and widths 2, 2).
//
// Threads and blocks: one thread per output element, in a grid-stride loop; neighbouring threads take
// neighbouring columns, so the writes coalesce (and the reads do, except in the mirrored borders).
// Forward: each thread copies the one element of x its position mirrors. Backward: each thread owns one
// element of grad_x and gathers the up-to-nine grad_y elements that were read from it, so no two threads
// write one place and no atomics are needed. It adds them in the reference's order (rows folded first:
// the inside row, then its top mirror, then its bottom mirror; then columns the same way), so it agrees
// with the reference to the last bit.
//
// Tested in tests/test_kernels_cuda.py: compiled with nvcc where it exists; under the CPU emulation of
// CUDA (tests/cuda_emulation.py) against the reference, exactly; on a GPU, against the reference.
//
// No #include: CuPy compiles this file with NVRTC, which has no C++ standard headers.

typedef long long idx;

template <typename T>
__global__ void reflection_pad2d_forward(const T* __restrict__ x, T* __restrict__ y, idx planes, idx H, idx W,
                                         idx left, idx right, idx top, idx bottom) {
    idx Ho = H + top + bottom, Wo = W + left + right, total = planes * Ho * Wo;
    for (idx i = blockIdx.x * (idx)blockDim.x + threadIdx.x; i < total; i += (idx)gridDim.x * blockDim.x) {
        idx j = i % Wo, r = (i / Wo) % Ho, p = i / (Wo * Ho);
        idx h = r - top, w = j - left;                               // the position in x, before mirroring
        h = h < 0 ? -h : h >= H ? 2 * (H - 1) - h : h;
        w = w < 0 ? -w : w >= W ? 2 * (W - 1) - w : w;
        y[i] = x[(p * H + h) * W + w];
    }
}

// The rows of grad_y that read row h of x, summed at column c of grad_y: inside, + top mirror, + bottom mirror.
template <typename T>
__device__ T folded_rows(const T* g, idx Wo, idx H, idx top, idx bottom, idx h, idx c) {
    T s = g[(top + h) * Wo + c];
    if (h >= 1 && h <= top) s += g[(top - h) * Wo + c];
    if (h >= H - 1 - bottom && h <= H - 2) s += g[((top + H - 1) + (H - 1 - h)) * Wo + c];
    return s;
}

template <typename T>
__global__ void reflection_pad2d_backward(const T* __restrict__ grad_y, T* __restrict__ grad_x, idx planes, idx H,
                                          idx W, idx left, idx right, idx top, idx bottom) {
    idx Ho = H + top + bottom, Wo = W + left + right, total = planes * H * W;
    for (idx i = blockIdx.x * (idx)blockDim.x + threadIdx.x; i < total; i += (idx)gridDim.x * blockDim.x) {
        idx w = i % W, h = (i / W) % H, p = i / (W * H);
        const T* g = grad_y + p * Ho * Wo;
        T s = folded_rows(g, Wo, H, top, bottom, h, left + w);
        if (w >= 1 && w <= left) s += folded_rows(g, Wo, H, top, bottom, h, left - w);
        if (w >= W - 1 - right && w <= W - 2) s += folded_rows(g, Wo, H, top, bottom, h, (left + W - 1) + (W - 1 - w));
        grad_x[i] = s;
    }
}

// Instantiations for nvcc (CuPy instantiates through name_expressions such as "reflection_pad2d_forward<float>").
template __global__ void reflection_pad2d_forward<float>(const float*, float*, idx, idx, idx, idx, idx, idx, idx);
template __global__ void reflection_pad2d_forward<double>(const double*, double*, idx, idx, idx, idx, idx, idx, idx);
template __global__ void reflection_pad2d_backward<float>(const float*, float*, idx, idx, idx, idx, idx, idx, idx);
template __global__ void reflection_pad2d_backward<double>(const double*, double*, idx, idx, idx, idx, idx, idx,
                                                           idx);
