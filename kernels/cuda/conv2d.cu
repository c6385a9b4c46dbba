// The convolution family on the GPU: im2col and col2im, the two data-movement kernels that turn
// conv2d, conv_transpose2d and conv2d_weight into matrix products. The products themselves run in
// cuBLAS (CuPy's matmul, called by kernels/cuda/__init__.py), so this file is only about indexing.
//
// Math (one sample: image (C, H, W), columns (K, L) with K = C*kh*kw rows and L = Ho*Wo columns,
// weight W viewed as (O, K); exactly kernels/reference/conv2d.py and conv_transpose2d.py):
//   im2col:           col[(c, i, j), (ho, wo)] = x[c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]  (0 outside the image)
//   col2im:           img[c, h, w] = sum of col[(c, i, j), (ho, wo)] over the taps with
//                                    ho*sh - ph + i*dh = h and wo*sw - pw + j*dw = w       (the adjoint)
//   conv2d:           y[n]  = W @ im2col(x[n]) + bias                   (O, L)
//   conv_transpose2d: y[n]  = col2im(W^T @ x[n]) + bias                 (the image is the OUTPUT here)
//   conv2d_weight:    dW    = sum_n grad_y[n] @ im2col(x[n])^T          (O, K)
//
// Threads and blocks: every kernel is a flat grid-stride loop, one thread per OUTPUT element
// (blocks of 256 threads; the launcher caps the grid, and each thread strides on by the grid size).
//   * im2col: thread t writes column entry t of the (S, K, L) buffer, t = ((s*K + row)*L + ho*Wo + wo).
//     Neighbouring threads write neighbouring wo, so the writes coalesce; they read x sw apart.
//   * col2im: thread t owns image pixel t = ((s*C + c)*H + h)*W + w and GATHERS the at most kh*kw
//     column entries that land on it (solving ho*sh = h + ph - i*dh for ho). Each pixel has one
//     writer, so no atomics and the result is deterministic (a scatter with atomicAdd would be neither).
//   * add_channel_bias: thread t adds bias[(t / L) % O] to y[t] of the (S, O, L) output.
// The index arithmetic of each thread lives in a __host__ __device__ function, so the same code can
// be run on the CPU, one "thread" at a time.
//
// Tested in tests/test_kernels_cuda.py: compiled with nvcc everywhere nvcc exists; the per-thread
// functions run on the CPU against the NumPy reference; on a GPU, every launch against the reference
// (hypothesis-drawn shapes, strides, paddings, dilations, output paddings; outputs poisoned with NaN).
//
// No #include: CuPy compiles this file with NVRTC, which has no C++ standard headers.

typedef long long idx;

// One convolution's geometry: the image (C, H, W), the kernel, and the column grid (Ho, Wo).
// For conv2d and conv2d_weight the image is the input; for conv_transpose2d it is the output.
struct ConvGeom {
    idx C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw;
};

__host__ __device__ inline ConvGeom make_geom(idx C, idx H, idx W, idx kh, idx kw, idx Ho, idx Wo,
                                              idx sh, idx sw, idx ph, idx pw, idx dh, idx dw) {
    ConvGeom g = {C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw};
    return g;
}

// Column entry t of the (S, C*kh*kw, Ho*Wo) buffer, read from x (S, C, H, W).
template <typename T>
__host__ __device__ inline T im2col_entry(const T* x, const ConvGeom& g, idx t) {
    idx wo = t % g.Wo, r = t / g.Wo;
    idx ho = r % g.Ho;  r /= g.Ho;
    idx j = r % g.kw;   r /= g.kw;
    idx i = r % g.kh;   r /= g.kh;
    idx c = r % g.C, s = r / g.C;
    idx h = ho * g.sh - g.ph + i * g.dh;                        // where tap (i, j) of window (ho, wo) reads
    idx w = wo * g.sw - g.pw + j * g.dw;
    if (h < 0 || h >= g.H || w < 0 || w >= g.W) return T(0);   // the zero padding
    return x[((s * g.C + c) * g.H + h) * g.W + w];
}

// Image pixel t of (S, C, H, W): bias[c] (if any) plus every column entry that im2col read from it.
template <typename T>
__host__ __device__ inline T col2im_pixel(const T* col, const T* bias, const ConvGeom& g, idx t) {
    idx w = t % g.W, r = t / g.W;
    idx h = r % g.H;  r /= g.H;
    idx c = r % g.C, s = r / g.C;
    idx L = g.Ho * g.Wo;
    const T* col_c = col + (s * g.C + c) * g.kh * g.kw * L;     // the kh*kw rows of channel c
    T sum = bias ? bias[c] : T(0);
    for (idx i = 0; i < g.kh; ++i) {
        idx hs = h + g.ph - i * g.dh;                           // = ho*sh for the window that reads (h, w)
        if (hs < 0 || hs % g.sh != 0 || hs / g.sh >= g.Ho) continue;
        idx ho = hs / g.sh;
        for (idx j = 0; j < g.kw; ++j) {
            idx ws = w + g.pw - j * g.dw;
            if (ws < 0 || ws % g.sw != 0 || ws / g.sw >= g.Wo) continue;
            sum += col_c[(i * g.kw + j) * L + ho * g.Wo + ws / g.sw];
        }
    }
    return sum;
}

// col (S, C*kh*kw, Ho*Wo) = im2col(x (S, C, H, W)); one thread per column entry.
template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ col, idx S,
                       idx C, idx H, idx W, idx kh, idx kw, idx Ho, idx Wo,
                       idx sh, idx sw, idx ph, idx pw, idx dh, idx dw) {
    ConvGeom g = make_geom(C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw);
    idx total = S * C * kh * kw * Ho * Wo;
    for (idx t = blockIdx.x * (idx)blockDim.x + threadIdx.x; t < total; t += (idx)gridDim.x * blockDim.x)
        col[t] = im2col_entry(x, g, t);
}

// img (S, C, H, W) = col2im(col (S, C*kh*kw, Ho*Wo)) + bias (C,) or nullptr; one thread per pixel.
template <typename T>
__global__ void col2im(const T* __restrict__ col, const T* __restrict__ bias, T* __restrict__ img, idx S,
                       idx C, idx H, idx W, idx kh, idx kw, idx Ho, idx Wo,
                       idx sh, idx sw, idx ph, idx pw, idx dh, idx dw) {
    ConvGeom g = make_geom(C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw);
    idx total = S * C * H * W;
    for (idx t = blockIdx.x * (idx)blockDim.x + threadIdx.x; t < total; t += (idx)gridDim.x * blockDim.x)
        img[t] = col2im_pixel(col, bias, g, t);
}

// y (S, O, L) += bias (O,) broadcast over samples and pixels; one thread per element.
template <typename T>
__global__ void add_channel_bias(T* __restrict__ y, const T* __restrict__ bias, idx S, idx O, idx L) {
    idx total = S * O * L;
    for (idx t = blockIdx.x * (idx)blockDim.x + threadIdx.x; t < total; t += (idx)gridDim.x * blockDim.x)
        y[t] += bias[(t / L) % O];
}

// Instantiations for nvcc (CuPy instantiates through name_expressions such as "im2col<float>").
template __global__ void im2col<float>(const float*, float*, idx, idx, idx, idx, idx, idx, idx, idx,
                                       idx, idx, idx, idx, idx, idx);
template __global__ void im2col<double>(const double*, double*, idx, idx, idx, idx, idx, idx, idx, idx,
                                        idx, idx, idx, idx, idx, idx);
template __global__ void col2im<float>(const float*, const float*, float*, idx, idx, idx, idx, idx, idx,
                                       idx, idx, idx, idx, idx, idx, idx, idx);
template __global__ void col2im<double>(const double*, const double*, double*, idx, idx, idx, idx, idx, idx,
                                        idx, idx, idx, idx, idx, idx, idx, idx);
template __global__ void add_channel_bias<float>(float*, const float*, idx, idx, idx);
template __global__ void add_channel_bias<double>(double*, const double*, idx, idx, idx);
