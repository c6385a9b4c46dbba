// Python bindings (pybind11) of the C++ kernels: the module kernels._cpu.
//
// Each kernel is bound twice, for float32 and float64 (an overload set: pybind11 first tries every
// overload without converting, so a C-contiguous float32 array picks the float one). The public,
// validated entry points are the Python wrappers in kernels/cpu/__init__.py, which make arrays
// contiguous and give minigrad-style error messages; these bindings check shapes again (throwing
// ValueError, never touching memory they were not given), allocate the outputs, and release the
// GIL around the computation so other Python threads keep running.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common.h"

namespace py = pybind11;
template <typename T>
using Arr = py::array_t<T, py::array::c_style>;
using Pair = std::array<idx, 2>;

static std::string shape_str(const py::array& a) {
    std::ostringstream s;
    s << "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
    s << (a.ndim() == 1 ? ",)" : ")");
    return s.str();
}

static void require(bool ok, const std::string& msg) {
    if (!ok) throw py::value_error(msg);
}

static void check_pairs(const char* op, Pair stride, Pair padding, Pair dilation) {
    require(stride[0] >= 1 && stride[1] >= 1, std::string(op) + ": stride must be >= 1");
    require(dilation[0] >= 1 && dilation[1] >= 1, std::string(op) + ": dilation must be >= 1");
    require(padding[0] >= 0 && padding[1] >= 0, std::string(op) + ": padding must be >= 0");
}

template <typename T>
static const T* bias_ptr(const char* op, const std::optional<Arr<T>>& bias, idx n) {
    if (!bias) return nullptr;
    require(bias->ndim() == 1 && bias->shape(0) == n,
            std::string(op) + ": bias has shape " + shape_str(*bias) + " but expected (" + std::to_string(n) + ",)");
    return bias->data();
}

// conv2d's geometry for an image (C, H, W) and a kh x kw kernel; and conv_transpose2d's, whose image is
// its output, for an x of H x W pixels (the column grid).
static ConvGeom conv2d_geom(idx C, idx H, idx W, idx kh, idx kw, Pair stride, Pair padding, Pair dilation) {
    ConvGeom g{C, H, W, kh, kw, 0, 0, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
    g.Ho = (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.Wo = (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    return g;
}

static ConvGeom transpose_geom(idx C, idx H, idx W, idx kh, idx kw, Pair stride, Pair padding, Pair output_padding,
                               Pair dilation) {
    ConvGeom g{C, 0, 0, kh, kw, H, W, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
    g.H = (H - 1) * g.sh - 2 * g.ph + g.dh * (g.kh - 1) + output_padding[0] + 1;
    g.W = (W - 1) * g.sw - 2 * g.pw + g.dw * (g.kw - 1) + output_padding[1] + 1;
    return g;
}

template <typename T>
static Arr<T> conv2d(const Arr<T>& x, const Arr<T>& w, const std::optional<Arr<T>>& bias, Pair stride, Pair padding,
                     Pair dilation) {
    require(x.ndim() == 4 && w.ndim() == 4 && x.shape(1) == w.shape(1),
            "conv2d: expected x (N, C, H, W) and weight (O, C, kh, kw), got x " + shape_str(x) + ", weight " + shape_str(w));
    check_pairs("conv2d", stride, padding, dilation);
    ConvGeom g = conv2d_geom(x.shape(1), x.shape(2), x.shape(3), w.shape(2), w.shape(3), stride, padding, dilation);
    require(g.H + 2 * g.ph >= g.dh * (g.kh - 1) + 1 && g.W + 2 * g.pw >= g.dw * (g.kw - 1) + 1,
            "conv2d: the (dilated) kernel " + shape_str(w) + " is larger than the padded input " + shape_str(x));
    idx N = x.shape(0), O = w.shape(0);
    const T* b = bias_ptr<T>("conv2d", bias, O);
    Arr<T> y({N, O, g.Ho, g.Wo});
    T* yp = y.mutable_data();
    {
        py::gil_scoped_release nogil;
        conv2d_forward<T>(x.data(), w.data(), b, yp, N, O, g);
    }
    return y;
}

template <typename T>
static Arr<T> conv_transpose2d(const Arr<T>& x, const Arr<T>& w, const std::optional<Arr<T>>& bias, Pair stride,
                               Pair padding, Pair output_padding, Pair dilation) {
    require(x.ndim() == 4 && w.ndim() == 4 && x.shape(1) == w.shape(0),
            "conv_transpose2d: expected x (N, O, H, W) and weight (O, C, kh, kw), got x " + shape_str(x) + ", weight " +
                shape_str(w));
    check_pairs("conv_transpose2d", stride, padding, dilation);
    require(output_padding[0] >= 0 && output_padding[1] >= 0, "conv_transpose2d: output_padding must be >= 0");
    idx N = x.shape(0), O = x.shape(1), H = x.shape(2), W = x.shape(3), C = w.shape(1);
    // The image is y (C, Ho, Wo); the column grid is x's (H, W).
    ConvGeom g = transpose_geom(C, H, W, w.shape(2), w.shape(3), stride, padding, output_padding, dilation);
    require(H >= 1 && W >= 1 && g.H >= 1 && g.W >= 1,
            "conv_transpose2d: non-positive output size " + std::to_string(g.H) + "x" + std::to_string(g.W) +
                " for x " + shape_str(x) + ", weight " + shape_str(w));
    const T* b = bias_ptr<T>("conv_transpose2d", bias, C);
    Arr<T> y({N, C, g.H, g.W});
    T* yp = y.mutable_data();
    {
        py::gil_scoped_release nogil;
        conv_transpose2d_forward<T>(x.data(), w.data(), b, yp, N, O, g);
    }
    return y;
}

template <typename T>
static Arr<T> conv2d_weight(const Arr<T>& x, const Arr<T>& gy, std::array<idx, 4> wshape, Pair stride, Pair padding,
                            Pair dilation) {
    auto [O, C, kh, kw] = wshape;
    require(x.ndim() == 4 && gy.ndim() == 4 && x.shape(1) == C && gy.shape(1) == O && x.shape(0) == gy.shape(0) &&
                kh >= 1 && kw >= 1,
            "conv2d_weight: expected x (N, C, H, W), grad_y (N, O, Ho, Wo) for weight (O, C, kh, kw), got x " +
                shape_str(x) + ", grad_y " + shape_str(gy));
    check_pairs("conv2d_weight", stride, padding, dilation);
    ConvGeom g{C, x.shape(2), x.shape(3), kh, kw, gy.shape(2), gy.shape(3),
               stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1]};
    // grad_y may be smaller than conv2d's output (only its first windows are used), never larger.
    idx Ho = (g.H + 2 * g.ph - g.dh * (kh - 1) - 1) / g.sh + 1, Wo = (g.W + 2 * g.pw - g.dw * (kw - 1) - 1) / g.sw + 1;
    require(g.Ho <= Ho && g.Wo <= Wo, "conv2d_weight: grad_y " + shape_str(gy) + " is larger than conv2d's output for x " +
                                          shape_str(x));
    Arr<T> gw({O, C, kh, kw});
    T* gwp = gw.mutable_data();
    {
        py::gil_scoped_release nogil;
        conv2d_weight_grad<T>(x.data(), gy.data(), gwp, x.shape(0), O, g);
    }
    return gw;
}

// One of Adam's arrays, updated in place: it must be exactly right already (a converted copy would drop the update).
template <typename T>
static T* inplace_ptr(const py::array& a, const py::array& like, const char* name) {
    require(Arr<T>::check_(a) && a.writeable() && a.ndim() == like.ndim() &&
                std::equal(a.shape(), a.shape() + a.ndim(), like.shape()),
            std::string("adam_step: ") + name + " must be a writeable C-contiguous array of the parameter's dtype and "
                "shape " + shape_str(like) + ", got shape " + shape_str(a));
    return static_cast<T*>(const_cast<void*>(a.data()));
}

template <typename T>
static void adam_step_py(py::array param, const Arr<T>& grad, py::array exp_avg, py::array exp_avg_sq,
                         std::optional<py::array> max_exp_avg_sq, idx step, double lr, double beta1, double beta2,
                         double eps, double weight_decay) {
    T* p = inplace_ptr<T>(param, param, "param");
    T* m = inplace_ptr<T>(exp_avg, param, "exp_avg");
    T* v = inplace_ptr<T>(exp_avg_sq, param, "exp_avg_sq");
    T* vmax = max_exp_avg_sq ? inplace_ptr<T>(*max_exp_avg_sq, param, "max_exp_avg_sq") : nullptr;
    require(grad.ndim() == param.ndim() && std::equal(grad.shape(), grad.shape() + grad.ndim(), param.shape()),
            "adam_step: grad has shape " + shape_str(grad) + " but the parameter " + shape_str(param));
    require(step >= 1, "adam_step: step counts from 1, got " + std::to_string(step));
    py::gil_scoped_release nogil;
    adam_step<T>(p, grad.data(), m, v, vmax, idx(param.size()), lr, beta1, beta2, eps, weight_decay, double(step));
}

// A running-statistics array updated in place: it must already be exactly right (a copy would drop the update).
template <typename T>
static T* running_ptr(std::optional<py::array>& a, idx C, const char* name) {
    if (!a) return nullptr;
    require(Arr<T>::check_(*a) && a->writeable() && a->ndim() == 1 && a->shape(0) == C,
            std::string("batch_norm: ") + name + " must be a writeable C-contiguous (" + std::to_string(C) +
                ",) array of the input's dtype, got shape " + shape_str(*a));
    return static_cast<T*>(a->mutable_data());
}

template <typename T>
static std::tuple<Arr<T>, Arr<T>, Arr<T>> batch_norm(const Arr<T>& x, const std::optional<Arr<T>>& gamma,
                                                     const std::optional<Arr<T>>& beta,
                                                     std::optional<py::array> running_mean,
                                                     std::optional<py::array> running_var, bool training,
                                                     double momentum, double eps) {
    require(x.ndim() >= 2, "batch_norm: expected x (N, C, *), got " + shape_str(x));
    idx N = x.shape(0), C = x.shape(1), S = x.size() / std::max<idx>(N * C, 1);
    if (N * C == 0) S = 0;
    const T* gp = bias_ptr<T>("batch_norm (gamma)", gamma, C);
    const T* bp = bias_ptr<T>("batch_norm (beta)", beta, C);
    T* rm = running_ptr<T>(running_mean, C, "running_mean");
    T* rv = running_ptr<T>(running_var, C, "running_var");
    require(training || (rm && rv), "batch_norm: eval mode needs running_mean and running_var");
    Arr<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim())), mean({C}), invstd({C});
    T *yp = y.mutable_data(), *mp = mean.mutable_data(), *ip = invstd.mutable_data();
    {
        py::gil_scoped_release nogil;
        batch_norm_forward<T>(x.data(), gp, bp, rm, rv, training, momentum, eps, yp, mp, ip, N, C, S);
    }
    return {y, mean, invstd};
}

template <typename T>
static py::tuple batch_norm_backward_py(const Arr<T>& gy, const Arr<T>& x, const std::optional<Arr<T>>& gamma,
                                        const Arr<T>& mean, const Arr<T>& invstd, bool training,
                                        std::tuple<bool, bool, bool> needs) {
    require(x.ndim() >= 2 && gy.ndim() == x.ndim() && std::equal(x.shape(), x.shape() + x.ndim(), gy.shape()),
            "batch_norm_backward: grad_y " + shape_str(gy) + " and x " + shape_str(x) + " must have one (N, C, *) shape");
    idx N = x.shape(0), C = x.shape(1), S = N * C ? x.size() / (N * C) : 0;
    const T* gp = bias_ptr<T>("batch_norm_backward (gamma)", gamma, C);
    bias_ptr<T>("batch_norm_backward (mean)", std::optional<Arr<T>>(mean), C);
    bias_ptr<T>("batch_norm_backward (invstd)", std::optional<Arr<T>>(invstd), C);
    auto [need_x, need_gamma, need_beta] = needs;
    std::optional<Arr<T>> gx, gg, gb;
    if (need_x) gx.emplace(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    if (need_gamma) gg.emplace(std::vector<py::ssize_t>{C});
    if (need_beta) gb.emplace(std::vector<py::ssize_t>{C});
    T* gxp = gx ? gx->mutable_data() : nullptr;
    T* ggp = gg ? gg->mutable_data() : nullptr;
    T* gbp = gb ? gb->mutable_data() : nullptr;
    {
        py::gil_scoped_release nogil;
        batch_norm_backward<T>(gy.data(), x.data(), gp, mean.data(), invstd.data(), training, gxp, ggp, gbp, N, C, S);
    }
    auto or_none = [](std::optional<Arr<T>>& a) { return a ? py::object(*a) : py::object(py::none()); };
    return py::make_tuple(or_none(gx), or_none(gg), or_none(gb));
}

template <typename T>
static Arr<T> leaky_relu(const Arr<T>& x, double slope) {
    Arr<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    T* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    leaky_relu_forward<T>(x.data(), T(slope), yp, x.size());
    return y;
}

template <typename T>
static Arr<T> leaky_relu_backward_py(const Arr<T>& gy, const Arr<T>& x, double slope) {
    require(gy.ndim() == x.ndim() && std::equal(x.shape(), x.shape() + x.ndim(), gy.shape()),
            "leaky_relu_backward: grad_y " + shape_str(gy) + " and x " + shape_str(x) + " differ in shape");
    Arr<T> gx(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    T* gxp = gx.mutable_data();
    py::gil_scoped_release nogil;
    leaky_relu_backward<T>(gy.data(), x.data(), T(slope), gxp, x.size());
    return gx;
}

// op(a) @ op(b) through the kernels' GEMM: for tests and the GEMM benchmark.
template <typename T>
static Arr<T> gemm_py(const Arr<T>& a, const Arr<T>& b, bool trans_a, bool trans_b, const std::optional<Arr<T>>& c) {
    require(a.ndim() == 2 && b.ndim() == 2, "gemm: expected 2-D arrays");
    idx M = trans_a ? a.shape(1) : a.shape(0), K = trans_a ? a.shape(0) : a.shape(1);
    idx Kb = trans_b ? b.shape(1) : b.shape(0), N = trans_b ? b.shape(0) : b.shape(1);
    require(K == Kb, "gemm: inner sizes differ: " + shape_str(a) + " and " + shape_str(b));
    require(!c || (c->ndim() == 2 && c->shape(0) == M && c->shape(1) == N),
            "gemm: c must be the product's shape (" + std::to_string(M) + ", " + std::to_string(N) + ")");
    Arr<T> out({M, N});
    T* op = out.mutable_data();
    if (c) std::copy(c->data(), c->data() + M * N, op);
    py::gil_scoped_release nogil;
    gemm<T>(trans_a, trans_b, M, N, K, a.data(), a.shape(1), b.data(), b.shape(1), c ? T(1) : T(0), op, N);
    return out;
}

static void* capsule_pointer(const py::capsule& cap) {
    void* p = PyCapsule_GetPointer(cap.ptr(), PyCapsule_GetName(cap.ptr()));
    if (!p) throw py::error_already_set();
    return p;
}

template <typename T>
static std::tuple<Arr<T>, py::array_t<std::int64_t>> max_pool2d_py(const Arr<T>& x, Pair kernel, Pair stride,
                                                                   Pair padding) {
    require(x.ndim() == 4, "max_pool2d: expected x (N, C, H, W), got " + shape_str(x));
    require(kernel[0] >= 1 && kernel[1] >= 1 && stride[0] >= 1 && stride[1] >= 1 && padding[0] >= 0 &&
                padding[1] >= 0 && 2 * padding[0] <= kernel[0] && 2 * padding[1] <= kernel[1],
            "max_pool2d: expected kernel_size, stride >= 1 and 0 <= padding <= kernel_size / 2");
    idx N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
    idx Ho = (H + 2 * padding[0] - kernel[0]) / stride[0] + 1, Wo = (W + 2 * padding[1] - kernel[1]) / stride[1] + 1;
    require(H + 2 * padding[0] >= kernel[0] && W + 2 * padding[1] >= kernel[1],
            "max_pool2d: the kernel is larger than the padded input " + shape_str(x));
    Arr<T> y({N, C, Ho, Wo});
    py::array_t<std::int64_t> index({N, C, Ho, Wo});
    T* yp = y.mutable_data();
    std::int64_t* ip = index.mutable_data();
    {
        py::gil_scoped_release nogil;
        max_pool2d_forward<T>(x.data(), yp, ip, N * C, H, W, kernel[0], kernel[1], stride[0], stride[1], padding[0],
                              padding[1], Ho, Wo);
    }
    return {y, index};
}

// reflection_pad2d and its backward: padding (left, right, top, bottom), each smaller than its dim.
template <typename T>
static Arr<T> reflection_pad2d_py(const Arr<T>& x, std::array<idx, 4> padding) {
    require(x.ndim() == 4, "reflection_pad2d: expected x (N, C, H, W), got " + shape_str(x));
    auto [left, right, top, bottom] = padding;
    idx N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
    require(std::min({left, right, top, bottom}) >= 0 && left < W && right < W && top < H && bottom < H,
            "reflection_pad2d: each width must be >= 0 and smaller than its dim, for x " + shape_str(x));
    Arr<T> y({N, C, H + top + bottom, W + left + right});
    T* yp = y.mutable_data();
    {
        py::gil_scoped_release nogil;
        reflection_pad2d_forward<T>(x.data(), yp, N * C, H, W, left, right, top, bottom);
    }
    return y;
}

template <typename T>
static Arr<T> reflection_pad2d_backward_py(const Arr<T>& grad_y, std::array<idx, 4> padding) {
    require(grad_y.ndim() == 4, "reflection_pad2d_backward: expected grad_y (N, C, H, W), got " + shape_str(grad_y));
    auto [left, right, top, bottom] = padding;
    idx N = grad_y.shape(0), C = grad_y.shape(1), H = grad_y.shape(2) - top - bottom, W = grad_y.shape(3) - left - right;
    require(std::min({left, right, top, bottom}) >= 0 && left < W && right < W && top < H && bottom < H,
            "reflection_pad2d_backward: each width must be >= 0 and smaller than its dim of the input, for grad_y " +
                shape_str(grad_y));
    Arr<T> grad_x({N, C, H, W});
    T* gp = grad_x.mutable_data();
    {
        py::gil_scoped_release nogil;
        reflection_pad2d_backward<T>(grad_y.data(), gp, N * C, H, W, left, right, top, bottom);
    }
    return grad_x;
}

#define BIND_BOTH(name, fn, ...)       \
    m.def(name, &fn<float>, __VA_ARGS__); \
    m.def(name, &fn<double>, __VA_ARGS__)

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "minigrad's C++ kernels (use them through kernels/cpu/__init__.py, which validates arguments)";
    BIND_BOTH("conv2d", conv2d, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
              py::arg("dilation"));
    BIND_BOTH("conv_transpose2d", conv_transpose2d, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
              py::arg("padding"), py::arg("output_padding"), py::arg("dilation"));
    BIND_BOTH("conv2d_weight", conv2d_weight, py::arg("x"), py::arg("grad_y"), py::arg("weight_shape"),
              py::arg("stride"), py::arg("padding"), py::arg("dilation"));
    BIND_BOTH("batch_norm", batch_norm, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("running_mean"),
              py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"));
    BIND_BOTH("batch_norm_backward", batch_norm_backward_py, py::arg("grad_y"), py::arg("x"), py::arg("gamma"),
              py::arg("mean"), py::arg("invstd"), py::arg("training"), py::arg("needs"));
    BIND_BOTH("leaky_relu", leaky_relu, py::arg("x"), py::arg("negative_slope"));
    BIND_BOTH("leaky_relu_backward", leaky_relu_backward_py, py::arg("grad_y"), py::arg("x"), py::arg("negative_slope"));
    BIND_BOTH("max_pool2d", max_pool2d_py, py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"));
    BIND_BOTH("reflection_pad2d", reflection_pad2d_py, py::arg("x"), py::arg("padding"));
    BIND_BOTH("reflection_pad2d_backward", reflection_pad2d_backward_py, py::arg("grad_y"), py::arg("padding"));
    BIND_BOTH("adam_step", adam_step_py, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
              py::arg("max_exp_avg_sq"), py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
              py::arg("eps"), py::arg("weight_decay"));
    BIND_BOTH("gemm", gemm_py, py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
              py::arg("c") = py::none());      // op(a) @ op(b), plus c when given (the GEMM's beta = 1)
    m.def("set_blas", [](const py::object& s, const py::object& d) {
        if (s.is_none() || d.is_none()) return gemm_set_blas(nullptr, nullptr);
        gemm_set_blas(capsule_pointer(s.cast<py::capsule>()), capsule_pointer(d.cast<py::capsule>()));
    }, "Use the Fortran sgemm/dgemm behind these capsules (scipy.linalg.cython_blas), or None, None for the built-in GEMM");
    m.def("gemm_backend", [] { return std::string(gemm_uses_blas() ? "blas" : "builtin"); });
    m.def("set_column_budget", &conv_set_column_budget, py::arg("elements"),
          "Cap the convolutions' column buffer at this many elements (default 2**22); returns the old cap. "
          "Bigger samples are done a band of output rows at a time.");
    m.def("set_direct", &conv_set_direct, py::arg("mode"),
          "Convolutions: 2 always plane by plane (conv_planes.cpp), 1 always direct (conv_direct.cpp), "
          "-1 always im2col + GEMM, 0 choose by shape (default); returns the old mode.");
    m.def("set_winograd", &conv_set_winograd, py::arg("mode"),
          "Stride-1 3x3 conv2d, conv_transpose2d and conv2d_weight: 1 always Winograd (conv_winograd.cpp), "
          "-1 never, 0 by shape (default, and only while set_direct is 0); returns the old mode.");
    m.def("conv_path", [](const std::string& op, std::array<idx, 4> x_shape, std::array<idx, 4> w_shape, Pair stride,
                          Pair padding, Pair dilation, Pair output_padding, bool float64) {
        require(op == "conv2d" || op == "conv_transpose2d" || op == "conv2d_weight",
                "conv_path: op must be conv2d, conv_transpose2d or conv2d_weight, got " + op);
        ConvPass pass = op == "conv2d" ? ConvPass::forward : op == "conv_transpose2d" ? ConvPass::transpose : ConvPass::weight;
        auto [N, xc, H, W] = x_shape;
        auto [O, C, kh, kw] = w_shape;
        bool transpose = pass == ConvPass::transpose;
        require(xc == (transpose ? O : C), "conv_path: x's channels do not match the weight " + op + " takes");
        ConvGeom g = transpose ? transpose_geom(C, H, W, kh, kw, stride, padding, output_padding, dilation)
                               : conv2d_geom(C, H, W, kh, kw, stride, padding, dilation);
        ConvPath path = float64 ? conv_path<double>(pass, N, O, g) : conv_path<float>(pass, N, O, g);
        const char* names[] = {"im2col", "direct", "pixels", "planes", "winograd"};   // ConvPath's order
        return std::string(names[int(path)]);
    }, py::arg("op"), py::arg("x_shape"), py::arg("weight_shape"), py::arg("stride"), py::arg("padding"),
          py::arg("dilation") = Pair{1, 1}, py::arg("output_padding") = Pair{0, 0}, py::arg("float64") = false,
          "The path this convolution takes under the current modes: winograd (conv_winograd.cpp), planes "
          "(conv_planes.cpp), pixels or direct (conv_direct.cpp: tiles of pixels or of samples) or im2col "
          "(conv2d.cpp). x_shape is the op's x "
          "(conv2d_weight's too); weight_shape (O, C, kh, kw)");
    m.def("keep_freed_memory", [] {
#if defined(__GLIBC__)
        // No mmap per allocation and no trimming of the heap's top: freed blocks stay in the process for
        // the next step's arrays of the same sizes, instead of going back to the kernel and faulting in
        // again page by page on first touch.
        return mallopt(M_MMAP_THRESHOLD, 0x7fffffff) == 1 && mallopt(M_TRIM_THRESHOLD, 0x7fffffff) == 1;
#else
        return false;
#endif
    }, "glibc only: serve every allocation from the heap and keep what is freed (mallopt); True if set");
    m.def("num_threads", &max_threads, "OpenMP threads the kernels use (1 without OpenMP)");
    m.def("set_num_threads", [](int n) {
#ifdef _OPENMP
        if (n >= 1) omp_set_num_threads(n);
#endif
    }, "Use n OpenMP threads in the kernels (like torch.set_num_threads)");
#if defined(__AVX512F__)
    m.attr("simd") = "avx512";
#elif defined(__AVX2__)
    m.attr("simd") = "avx2";
#elif defined(__AVX__)
    m.attr("simd") = "avx";
#else
    m.attr("simd") = "baseline";
#endif
}
