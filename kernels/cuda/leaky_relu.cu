// Leaky ReLU on the GPU, forward and backward, the semantics of kernels/reference/leaky_relu.py:
//
//   y      = x if x > 0 else negative_slope * x
//   grad_x = grad_y if x > 0 else negative_slope * grad_y     (x = 0 takes the slope branch, like PyTorch)
//
// Threads and blocks: one thread per element, in a grid-stride loop (blocks of 256 threads; the
// launcher caps the grid and each thread strides on by the grid's size, so any n fits). Neighbouring
// threads touch neighbouring elements, so every load and store coalesces: the kernel is a pure
// memory stream, one read (two for the backward) and one write per element.
//
// Tested in tests/test_kernels_cuda.py: compiled with nvcc everywhere nvcc exists; the element
// functions run on the CPU and equal the NumPy reference exactly; on a GPU, both kernels against the
// reference, exactly (one multiply, correctly rounded, either way).
//
// No #include: CuPy compiles this file with NVRTC, which has no C++ standard headers.

typedef long long idx;

template <typename T>
__host__ __device__ inline T leaky_relu_value(T x, T slope) {
    return x > T(0) ? x : x * slope;
}

template <typename T>
__host__ __device__ inline T leaky_relu_grad(T gy, T x, T slope) {
    return x > T(0) ? gy : gy * slope;
}

// y[i] = leaky_relu(x[i]) for i < n.
template <typename T>
__global__ void leaky_relu_forward(const T* __restrict__ x, T slope, T* __restrict__ y, idx n) {
    for (idx i = blockIdx.x * (idx)blockDim.x + threadIdx.x; i < n; i += (idx)gridDim.x * blockDim.x)
        y[i] = leaky_relu_value(x[i], slope);
}

// gx[i] = gy[i] * (1 if x[i] > 0 else slope) for i < n.
template <typename T>
__global__ void leaky_relu_backward(const T* __restrict__ gy, const T* __restrict__ x, T slope,
                                    T* __restrict__ gx, idx n) {
    for (idx i = blockIdx.x * (idx)blockDim.x + threadIdx.x; i < n; i += (idx)gridDim.x * blockDim.x)
        gx[i] = leaky_relu_grad(gy[i], x[i], slope);
}

// Instantiations for nvcc (CuPy instantiates through name_expressions such as "leaky_relu_forward<float>").
template __global__ void leaky_relu_forward<float>(const float*, float, float*, idx);
template __global__ void leaky_relu_forward<double>(const double*, double, double*, idx);
template __global__ void leaky_relu_backward<float>(const float*, const float*, float, float*, idx);
template __global__ void leaky_relu_backward<double>(const double*, const double*, double, double*, idx);
