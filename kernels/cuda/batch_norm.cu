// Batch normalisation on the GPU, x viewed as (N, C, S) with S the product of the spatial sizes;
// per channel c, over its m = N*S values. The semantics of kernels/reference/batch_norm.py:
//
//   forward:   x^ = (x - mean) * invstd,  invstd = 1/sqrt(var + eps),  y = gamma * x^ + beta
//              training: batch mean and biased var (two passes: mean first, then sum (x - mean)^2,
//              never E[x^2] - E[x]^2, which cancels when |mean| >> std); running statistics updated in
//              place, running = (1 - momentum)*running + momentum*batch, with the unbiased var (m/(m-1)).
//              eval: mean and var are the running statistics.
//   backward:  grad_beta = sum g,  grad_gamma = sum g*x^,
//              grad_x = gamma*invstd * (g - sum(g)/m - x^ * sum(g*x^)/m)    (training)
//                     = gamma*invstd * g                                    (eval)
//
// Threads and blocks: ONE BLOCK PER CHANNEL (gridDim.x = C, blockDim.x = kThreads = 256). A channel's
// statistics need every one of its values, and a block is the largest group of threads that can
// cooperate (shared memory, __syncthreads). Thread k of the block handles the channel's values
// k, k + 256, k + 512, ... (value v is x[n, c, s] with n = v / S, s = v % S, so neighbouring threads
// read neighbouring s: coalesced when S is large), sums them into a register, and then the block
// adds its 256 partial sums by a tree reduction in shared memory: 128 threads add pairs, then 64, ...,
// log2(256) = 8 steps with a barrier between. The same block then writes its channel's outputs.
// Sums accumulate in the input type T (float32 for float32).
//
// Tested in tests/test_kernels_cuda.py: compiled with nvcc everywhere nvcc exists; the per-thread
// partial sums and the element formulas run on the CPU against the NumPy reference; on a GPU, both
// kernels against the reference (training and eval, with and without gamma/beta/running statistics).
//
// No #include: CuPy compiles this file with NVRTC, which has no C++ standard headers.

typedef long long idx;

#define kThreads 256    // threads per block; the tree reduction needs a power of two

// The offset of value v of channel c in x (N, C, S): v = n*S + s.
__host__ __device__ inline idx channel_offset(idx v, idx C, idx S, idx c) {
    return ((v / S) * C + c) * S + v % S;
}

// Thread `first`'s partial sums over values first, first + step, ... < N*S of channel c:
// sum x (shift 0) or sum (x - shift)^2 (squares true).
template <typename T>
__host__ __device__ inline T channel_partial_sum(const T* x, idx N, idx C, idx S, idx c, idx first, idx step,
                                                 T shift, bool squares) {
    T sum = T(0);
    for (idx v = first; v < N * S; v += step) {
        T d = x[channel_offset(v, C, S, c)] - shift;
        sum += squares ? d * d : d;
    }
    return sum;
}

// The backward's partial sums: sum g and sum g*(x - mean) (times invstd later: sum g*x^).
template <typename T>
__host__ __device__ inline void channel_partial_grad_sums(const T* gy, const T* x, idx N, idx C, idx S, idx c,
                                                          idx first, idx step, T mean, T* sum_g, T* sum_gdx) {
    T sg = T(0), sgdx = T(0);
    for (idx v = first; v < N * S; v += step) {
        idx o = channel_offset(v, C, S, c);
        sg += gy[o];
        sgdx += gy[o] * (x[o] - mean);
    }
    *sum_g = sg;
    *sum_gdx = sgdx;
}

// The sum of every thread's `value`, returned to every thread of the block (blockDim.x a power of two
// <= kThreads). Step k: threads below `half` add the partial `half` places above theirs.
template <typename T>
__device__ T block_sum(T value, T* partials) {
    unsigned tid = threadIdx.x;
    partials[tid] = value;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half) partials[tid] += partials[tid + half];
        __syncthreads();                                        // every add of this step done before the next
    }
    T total = partials[0];
    __syncthreads();                                            // all have read it before partials is reused
    return total;
}

// y, mean (C,), invstd (C,) from x (N, C, S); block c does channel c. gamma, beta, running_mean and
// running_var may be nullptr (training only, for the running statistics).
template <typename T>
__global__ void batch_norm_forward(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                   T* running_mean, T* running_var, int training, double momentum, double eps,
                                   T* __restrict__ y, T* __restrict__ mean, T* __restrict__ invstd,
                                   idx N, idx C, idx S) {
    __shared__ T partials[kThreads];
    const idx c = blockIdx.x, m = N * S, first = threadIdx.x, step = blockDim.x;
    T mu, var;
    if (training) {
        T sum = block_sum(channel_partial_sum(x, N, C, S, c, first, step, T(0), false), partials);
        mu = m > 0 ? sum / T(m) : T(0);
        T sq = block_sum(channel_partial_sum(x, N, C, S, c, first, step, mu, true), partials);
        var = m > 0 ? sq / T(m) : T(0);
        if (threadIdx.x == 0) {
            double unbiased = double(var) * double(m) / double(m > 1 ? m - 1 : 1);
            if (running_mean) running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * double(mu));
            if (running_var) running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * unbiased);
        }
    } else {
        mu = running_mean[c];
        var = running_var[c];
    }
    const T inv = T(1) / sqrt(var + T(eps));
    if (threadIdx.x == 0) {
        mean[c] = mu;
        invstd[c] = inv;
    }
    const T a = gamma ? gamma[c] * inv : inv, b = beta ? beta[c] : T(0);      // y = (x - mean)*a + b
    for (idx v = first; v < m; v += step) {
        idx o = channel_offset(v, C, S, c);
        y[o] = (x[o] - mu) * a + b;
    }
}

// grad_x (or nullptr), grad_gamma (C,) (or nullptr), grad_beta (C,) (or nullptr); block c does channel c.
template <typename T>
__global__ void batch_norm_backward(const T* __restrict__ gy, const T* __restrict__ x, const T* __restrict__ gamma,
                                    const T* __restrict__ mean, const T* __restrict__ invstd, int training,
                                    T* __restrict__ gx, T* __restrict__ ggamma, T* __restrict__ gbeta,
                                    idx N, idx C, idx S) {
    __shared__ T partials[kThreads];
    const idx c = blockIdx.x, m = N * S, first = threadIdx.x, step = blockDim.x;
    const T mu = mean[c], inv = invstd[c];
    T sum_g = T(0), sum_gxhat = T(0);
    if (ggamma || gbeta || (gx && training)) {                  // the same for every thread: barriers are safe
        T sg, sgdx;
        channel_partial_grad_sums(gy, x, N, C, S, c, first, step, mu, &sg, &sgdx);
        sum_g = block_sum(sg, partials);
        sum_gxhat = block_sum(sgdx, partials) * inv;
    }
    if (threadIdx.x == 0) {
        if (gbeta) gbeta[c] = sum_g;
        if (ggamma) ggamma[c] = sum_gxhat;
    }
    if (!gx) return;
    // grad_x = scale*(g - sum_g/m - (x - mean)*inv*sum_gxhat/m) = a*g + b*(x - mean) + d
    const T scale = gamma ? gamma[c] * inv : inv;
    T a = scale, b = T(0), d = T(0);
    if (training && m > 0) {
        b = -scale * inv * sum_gxhat / T(m);
        d = -scale * sum_g / T(m);
    }
    for (idx v = first; v < m; v += step) {
        idx o = channel_offset(v, C, S, c);
        gx[o] = a * gy[o] + b * (x[o] - mu) + d;
    }
}

// Instantiations for nvcc (CuPy instantiates through name_expressions such as "batch_norm_forward<float>").
template __global__ void batch_norm_forward<float>(const float*, const float*, const float*, float*, float*, int,
                                                   double, double, float*, float*, float*, idx, idx, idx);
template __global__ void batch_norm_forward<double>(const double*, const double*, const double*, double*, double*,
                                                    int, double, double, double*, double*, double*, idx, idx, idx);
template __global__ void batch_norm_backward<float>(const float*, const float*, const float*, const float*,
                                                    const float*, int, float*, float*, float*, idx, idx, idx);
template __global__ void batch_norm_backward<double>(const double*, const double*, const double*, const double*,
                                                     const double*, int, double*, double*, double*, idx, idx, idx);
