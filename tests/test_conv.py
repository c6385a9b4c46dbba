"""conv2d and conv_transpose2d: gradients (first and second order), PyTorch agreement, errors."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from minigrad import Tensor, gradcheck, gradgradcheck
from minigrad.autograd import grad
from minigrad.ops.conv import conv2d, conv2d_weight, conv_transpose2d


def tensor(rng, *shape, dtype=np.float64):
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


@st.composite
def configs(draw, max_size=4):
    """Tiny conv problems: (N, C, O, (H, W), kernel, stride, padding, dilation, output_padding, seed)."""
    N, C, O = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    size = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    kernel = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    return N, C, O, size, kernel, stride, padding, dilation, output_padding, draw(st.integers(0, 2**16))


def conv2d_fits(size, kernel, padding, dilation):
    return all(d * (k - 1) + 1 <= n + 2 * p for n, k, p, d in zip(size, kernel, padding, dilation))


def transpose_fits(size, kernel, stride, padding, dilation, output_padding):
    return all((n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1
               for n, k, s, p, d, op in zip(size, kernel, stride, padding, dilation, output_padding))


# ----------------------------------------------------------------------------- gradients

@given(configs(), st.booleans())
def test_conv2d_gradcheck(config, with_bias):
    N, C, O, size, kernel, stride, padding, dilation, _, seed = config
    assume(conv2d_fits(size, kernel, padding, dilation))
    rng = np.random.default_rng(seed)
    x, w = tensor(rng, N, C, *size), tensor(rng, O, C, *kernel)
    b = tensor(rng, O) if with_bias else None
    inputs = (x, w, b) if with_bias else (x, w)
    assert gradcheck(lambda x, w, b=None: conv2d(x, w, b, stride, padding, dilation), inputs)


@given(configs(), st.booleans())
def test_conv_transpose2d_gradcheck(config, with_bias):
    N, C, O, size, kernel, stride, padding, dilation, output_padding, seed = config
    assume(transpose_fits(size, kernel, stride, padding, dilation, output_padding))
    rng = np.random.default_rng(seed)
    x, w = tensor(rng, N, O, *size), tensor(rng, O, C, *kernel)
    b = tensor(rng, C) if with_bias else None
    inputs = (x, w, b) if with_bias else (x, w)
    f = lambda x, w, b=None: conv_transpose2d(x, w, b, stride, padding, output_padding, 1, dilation)  # noqa: E731
    assert gradcheck(f, inputs)


@given(configs(max_size=3))
def test_conv2d_gradgradcheck(config):
    N, C, O, size, kernel, stride, padding, dilation, _, seed = config
    assume(conv2d_fits(size, kernel, padding, dilation))
    rng = np.random.default_rng(seed)
    x, w, b = tensor(rng, 1, C, *size), tensor(rng, O, C, *kernel), tensor(rng, O)
    assert gradgradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding, dilation), (x, w, b))


@given(configs(max_size=3))
def test_conv_transpose2d_gradgradcheck(config):
    N, C, O, size, kernel, stride, padding, dilation, output_padding, seed = config
    assume(transpose_fits(size, kernel, stride, padding, dilation, output_padding))
    rng = np.random.default_rng(seed)
    x, w, b = tensor(rng, 1, O, *size), tensor(rng, O, C, *kernel), tensor(rng, C)
    assert gradgradcheck(lambda x, w, b: conv_transpose2d(x, w, b, stride, padding, output_padding, 1, dilation),
                         (x, w, b))


def test_output_padding_beyond_stride_crops_the_input_gradient(rng):
    # stride 1, dilation 2, output_padding 1: conv2d of the output gradient is one pixel too big
    x, w = tensor(rng, 1, 2, 3, 3), tensor(rng, 2, 1, 2, 2)
    f = lambda x, w: conv_transpose2d(x, w, None, 1, 1, 1, 1, 2)   # noqa: E731
    assert f(x, w).shape == (1, 1, 4, 4)
    assert gradcheck(f, (x, w)) and gradgradcheck(f, (x, w))


def test_conv2d_weight_is_differentiable(rng):
    x, gy = tensor(rng, 2, 2, 4, 4), tensor(rng, 2, 3, 2, 2)
    assert gradcheck(lambda x, gy: conv2d_weight(x, gy, (3, 2, 2, 2), 2, 1, 1), (x, gy))


def test_gradient_penalty_through_a_conv_net(rng):
    # WGAN-GP: d/dw of |d out/d x|^2 needs conv2d's second derivatives
    x, w1, w2 = tensor(rng, 2, 1, 5, 5), tensor(rng, 2, 1, 3, 3), tensor(rng, 1, 2, 2, 2)

    def penalty(x, w1, w2):
        out = conv2d(conv2d(x, w1, None, 2, 1).tanh(), w2).sum()
        gx, = grad(out, x, create_graph=True)
        return (gx * gx).sum()

    assert gradcheck(penalty, (x, w1, w2))


# ----------------------------------------------------------------------------- against PyTorch

@given(configs(max_size=6), st.sampled_from([np.float32, np.float64]))
def test_matches_torch(config, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    N, C, O, size, kernel, stride, padding, dilation, output_padding, seed = config
    assume(conv2d_fits(size, kernel, padding, dilation))
    assume(transpose_fits(size, kernel, stride, padding, dilation, output_padding))
    rng = np.random.default_rng(seed)
    x, w, b = (tensor(rng, *shape, dtype=dtype) for shape in [(N, C) + size, (O, C) + kernel, (O,)])
    tx, tw, tb = (torch.tensor(t.data, requires_grad=True) for t in (x, w, b))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)

    y, ty = conv2d(x, w, b, stride, padding, dilation), F.conv2d(tx, tw, tb, stride, padding, dilation)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    for ours, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), **tol)

    xt, bt = tensor(rng, N, O, *size, dtype=dtype), tensor(rng, C, dtype=dtype)
    z = conv_transpose2d(xt, w, bt, stride, padding, output_padding, 1, dilation)
    tz = F.conv_transpose2d(torch.tensor(xt.data), torch.tensor(w.data), torch.tensor(bt.data), stride, padding,
                            output_padding, 1, dilation)
    np.testing.assert_allclose(z.data, tz.numpy(), **tol)


def test_non_contiguous_inputs(rng):
    x = Tensor(rng.standard_normal((2, 5, 5, 3))).permute(0, 3, 1, 2)        # (2, 3, 5, 5), not C-contiguous
    w = Tensor(rng.standard_normal((4, 3, 3, 3)))
    expected = conv2d(Tensor(np.ascontiguousarray(x.data)), w, None, 1, 1)
    np.testing.assert_array_equal(conv2d(x, w, None, 1, 1).data, expected.data)


# ----------------------------------------------------------------------------- errors

def test_channel_mismatch_names_both_shapes():
    x, w = Tensor(np.zeros((8, 3, 28, 28), np.float32)), Tensor(np.zeros((64, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels but weight expects 1 "
                                         r"\(input \(8, 3, 28, 28\), weight \(64, 1, 5, 5\)\)"):
        conv2d(x, w)
    with pytest.raises(ValueError, match=r"conv_transpose2d: input has 3 channels but weight expects 64"):
        conv_transpose2d(x, w)


@pytest.mark.parametrize("call, error, message", [
    (lambda x, w: conv2d(x.reshape(3, 4, 4), w), ValueError, r"conv2d: expected a 4-D input .* got shape \(3, 4, 4\)"),
    (lambda x, w: conv2d(x, w, groups=2), NotImplementedError, r"conv2d: groups=2 is not supported"),
    (lambda x, w: conv_transpose2d(x, w.permute(1, 0, 2, 3), groups=3), NotImplementedError,
     r"conv_transpose2d: groups=3 is not supported"),
    (lambda x, w: conv2d(x, Tensor(np.zeros((2, 3, 5, 5)))), ValueError,
     r"conv2d: kernel size \(5, 5\) .* larger than the padded input \(4, 4\)"),
    (lambda x, w: conv2d(x, w, dilation=2), ValueError, r"conv2d: kernel size \(5, 5\) \(after dilation \(2, 2\)\)"),
    (lambda x, w: conv2d(x, w, Tensor(np.zeros(3))), ValueError, r"conv2d: bias must have shape \(2,\), got \(3,\)"),
    (lambda x, w: conv_transpose2d(x, w.permute(1, 0, 2, 3), Tensor(np.zeros(3))), ValueError,
     r"conv_transpose2d: bias must have shape \(2,\)"),
    (lambda x, w: conv_transpose2d(x, w.permute(1, 0, 2, 3), stride=2, output_padding=2), ValueError,
     r"conv_transpose2d: output_padding \(2, 2\) must be smaller than either stride \(2, 2\) or dilation \(1, 1\)"),
    (lambda x, w: conv_transpose2d(x, w.permute(1, 0, 2, 3), padding=4), ValueError,
     r"conv_transpose2d: the output would have size"),
    (lambda x, w: conv2d(x, w, stride=0), ValueError, r"conv2d: stride must be >= 1, got 0"),
    (lambda x, w: conv2d(x, w, padding=(1, 2, 3)), TypeError, r"conv2d: padding must be an int or a pair of ints"),
    (lambda x, w: conv2d(x, w.float()), TypeError, r"conv2d: weight is float32 but input is float64"),
])
def test_errors(call, error, message):
    x, w = Tensor(np.zeros((1, 3, 4, 4))), Tensor(np.zeros((2, 3, 3, 3)))
    with pytest.raises(error, match=message):
        call(x, w)
