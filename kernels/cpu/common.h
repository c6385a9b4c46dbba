// Shared helpers for the C++ kernels: index type, OpenMP shims, aligned scratch buffers, the
// conv geometry, and the declarations of every kernel (defined in gemm.cpp, conv2d.cpp,
// batch_norm.cpp, leaky_relu.cpp, pool.cpp, pad.cpp; bound to Python in bindings.cpp).
//
// The kernels take raw pointers to C-contiguous arrays plus their sizes; they know nothing of
// Python. bindings.cpp checks shapes, allocates outputs and releases the GIL around them.
#pragma once
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <memory>

#ifdef _OPENMP
#include <omp.h>
#endif

using idx = std::int64_t;

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// A scratch buffer aligned to 64 bytes (one cache line, one AVX-512 register), so packed GEMM panels
// load with aligned vector loads and never straddle cache lines.
template <typename T>
struct Buffer {
    T* ptr = nullptr;
    explicit Buffer(idx n) {
        std::size_t bytes = ((std::size_t(n > 0 ? n : 1) * sizeof(T) + 63) / 64) * 64;
        ptr = static_cast<T*>(std::aligned_alloc(64, bytes));
        if (!ptr) throw std::bad_alloc();
    }
    ~Buffer() { std::free(ptr); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    T* get() const { return ptr; }
};

// One 2-D convolution's geometry: image (C, H, W) <-> columns (C*kh*kw, Ho*Wo).
// For conv2d the "image" is the input; for conv_transpose2d it is the output.
struct ConvGeom {
    idx C, H, W;        // image channels and size
    idx kh, kw;         // kernel size
    idx Ho, Wo;         // column grid (conv2d's output size)
    idx sh, sw, ph, pw, dh, dw;
    idx K() const { return C * kh * kw; }
    idx L() const { return Ho * Wo; }
};

// Output positions o in [lo, hi) whose input position o*s + off lies in [0, n); clipped to [0, no).
inline void valid_range(idx off, idx s, idx n, idx no, idx& lo, idx& hi) {
    lo = off >= 0 ? 0 : (-off + s - 1) / s;                      // o*s + off >= 0
    hi = (n - 1 - off) < 0 ? 0 : (n - 1 - off) / s + 1;          // o*s + off <= n - 1
    lo = std::min(lo, no);
    hi = std::min(std::max(hi, lo), no);
}

// ---- GEMM (gemm.cpp): C (M x N) = op(A) (M x K) @ op(B) (K x N) + beta * C, row-major, beta 0 or 1.
template <typename T>
void gemm(bool trans_a, bool trans_b, idx M, idx N, idx K, const T* A, idx lda, const T* B, idx ldb,
          T beta, T* C, idx ldc);
void gemm_set_blas(void* sgemm, void* dgemm);   // Fortran BLAS pointers, or nullptr for the built-in GEMM
bool gemm_uses_blas();

// ---- convolution (conv2d.cpp), N samples at a time.
template <typename T>
void conv2d_forward(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv_transpose2d_forward(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv2d_weight_grad(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g);
idx conv_set_column_budget(idx elements);      // the convolutions' column-buffer budget; returns the old one

// ---- the same three without im2col (conv_direct.cpp); conv2d.cpp calls them when direct_pays says so.
enum class ConvPass { forward, transpose, weight };   // conv2d, conv_transpose2d, conv2d_weight
template <typename T>
bool direct_pays(ConvPass pass, idx batch, idx in_channels, idx out_channels, idx pixels, idx stride = 1,
                 idx taps = 1);
int conv_set_direct(int mode);                 // 2 planes, 1 direct, -1 im2col + GEMM, 0 by shape; returns the old mode
template <typename T>
void conv2d_forward_direct(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv_transpose2d_forward_direct(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv2d_weight_grad_direct(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g);

// The direct path for batches under MR: tiles of MR pixels of an output row (conv_direct.cpp).
template <typename T>
bool pixel_tiles_pay(ConvPass pass, idx batch, idx O, const ConvGeom& g);
template <typename T>
void conv2d_forward_pixel_tiles(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv_transpose2d_forward_pixel_tiles(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);

// ---- Winograd F(2x2, 3x3) for stride-1 3x3 kernels (conv_winograd.cpp), when winograd_pays says so.
bool transpose_as_conv(const ConvGeom& g);     // conv_direct.cpp: is this transpose a stride-1 conv2d?
int conv_set_winograd(int mode);               // 1 wherever it fits, -1 never, 0 by shape; returns the old mode
template <typename T>
bool winograd_pays(ConvPass pass, idx batch, idx O, const ConvGeom& g);
template <typename T>
void conv2d_forward_winograd(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv_transpose2d_forward_winograd(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv2d_weight_grad_winograd(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g);

// ---- and plane by plane, for very few output channels (conv_planes.cpp), when planes_pay says so.
constexpr idx PLANES_MAX_OUT = 4;             // "very few": at most this many (conv2d's O)
template <typename T>
bool planes_pay(ConvPass pass, idx batch, idx in_channels, idx out_channels, idx pixels, idx taps);
template <typename T>
void conv2d_forward_planes(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv_transpose2d_forward_planes(const T* x, const T* w, const T* bias, T* y, idx N, idx O, const ConvGeom& g);
template <typename T>
void conv2d_weight_grad_planes(const T* x, const T* gy, T* gw, idx N, idx O, const ConvGeom& g);

// ---- which of the paths above a convolution takes (conv2d.cpp); the dispatch and kernels._cpu.conv_path
// both ask this one function. O is conv2d's output channels; g as conv2d_forward & co. take it.
enum class ConvPath { im2col, direct, pixels, planes, winograd };
template <typename T>
ConvPath conv_path(ConvPass pass, idx N, idx O, const ConvGeom& g);

// ---- max pooling (pool.cpp): planes = N*C images (H, W) -> (Ho, Wo) maxima and their positions h*W + w.
template <typename T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* index, idx planes, idx H, idx W, idx kh, idx kw, idx sh,
                        idx sw, idx ph, idx pw, idx Ho, idx Wo);

// ---- reflection padding (pad.cpp): planes = N*C images (H, W) <-> (top + H + bottom, left + W + right).
template <typename T>
void reflection_pad2d_forward(const T* x, T* y, idx planes, idx H, idx W, idx left, idx right, idx top, idx bottom);
template <typename T>
void reflection_pad2d_backward(const T* gy, T* gx, idx planes, idx H, idx W, idx left, idx right, idx top, idx bottom);

// ---- batch norm (batch_norm.cpp): x viewed as (N, C, S).
template <typename T>
void batch_norm_forward(const T* x, const T* gamma, const T* beta, T* running_mean, T* running_var,
                        bool training, double momentum, double eps, T* y, T* mean, T* invstd,
                        idx N, idx C, idx S);
template <typename T>
void batch_norm_backward(const T* gy, const T* x, const T* gamma, const T* mean, const T* invstd,
                         bool training, T* gx, T* ggamma, T* gbeta, idx N, idx C, idx S);

// ---- Adam's update (adam.cpp), in place over n elements; vmax may be null (no amsgrad).
template <typename T>
void adam_step(T* p, const T* grad, T* m, T* v, T* vmax, idx n, double lr, double beta1, double beta2, double eps,
               double weight_decay, double step);

// ---- leaky relu (leaky_relu.cpp), n elements.
template <typename T>
void leaky_relu_forward(const T* x, T slope, T* y, idx n);
template <typename T>
void leaky_relu_backward(const T* gy, const T* x, T slope, T* gx, idx n);
