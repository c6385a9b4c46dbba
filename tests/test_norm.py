"""batch_norm, instance_norm, layer_norm: gradients, running statistics against PyTorch, errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minigrad import Tensor, gradcheck, gradgradcheck
from minigrad.autograd import grad
from minigrad.ops.norm import batch_norm, instance_norm, layer_norm

shapes = st.sampled_from([(3, 2), (2, 3, 2), (2, 2, 2, 2), (3, 1, 1, 2), (2, 2, 3)])


def tensor(data, requires_grad=True):
    return Tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def problem(shape, seed):
    """x, weight, bias (requiring grad) and running statistics for an input of `shape`."""
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = tensor(rng.standard_normal(shape) * 2 + 0.5)
    weight, bias = tensor(rng.standard_normal(C) + 1), tensor(rng.standard_normal(C))
    return x, weight, bias, rng.standard_normal(C), rng.random(C) + 0.5


@pytest.mark.parametrize("training", [True, False])
@given(shape=shapes, seed=st.integers(0, 2**16), affine=st.booleans())
def test_batch_norm_gradcheck(training, shape, seed, affine):
    x, weight, bias, mean, var = problem(shape, seed)

    def f(x, weight=None, bias=None):     # fresh running stats each call: finite differences must not move them
        return batch_norm(x, Tensor(mean.copy()), Tensor(var.copy()), weight, bias, training=training)

    assert gradcheck(f, (x, weight, bias) if affine else (x,))


@pytest.mark.parametrize("training", [True, False])
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_batch_norm_gradgradcheck(training, shape, seed):
    x, weight, bias, mean, var = problem(shape, seed)
    f = lambda x, w, b: batch_norm(x, Tensor(mean.copy()), Tensor(var.copy()), w, b, training=training)  # noqa: E731
    assert gradgradcheck(f, (x, weight, bias))


@pytest.mark.parametrize("training", [True, False])
def test_create_graph_gradient_equals_kernel_gradient(training):
    # the two backward paths (kernel, and Tensor ops under create_graph) must agree
    x, weight, bias, mean, var = problem((4, 3, 2), 0)
    g = Tensor(np.random.default_rng(1).standard_normal(x.shape))
    y = batch_norm(x, Tensor(mean.copy()), Tensor(var.copy()), weight, bias, training=training)
    plain = grad(y, (x, weight, bias), g, retain_graph=True)
    recorded = grad(y, (x, weight, bias), g, create_graph=True)
    for a, b in zip(plain, recorded):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (4, 3, 2, 5)])
def test_batch_norm_matches_torch_for_several_steps(dtype, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    C = shape[1]
    weight, bias = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    ours = Tensor(np.zeros(C, dtype)), Tensor(np.ones(C, dtype))
    torch_dtype = getattr(torch, np.dtype(dtype).name)
    theirs = torch.zeros(C, dtype=torch_dtype), torch.ones(C, dtype=torch_dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for step in range(3):
        x = (rng.standard_normal(shape) * 3 + step).astype(dtype)
        training = step < 2
        y = batch_norm(Tensor(x), *ours, Tensor(weight), Tensor(bias), training=training, momentum=0.2)
        ty = torch.nn.functional.batch_norm(torch.tensor(x), *theirs, torch.tensor(weight), torch.tensor(bias),
                                            training=training, momentum=0.2)
        assert y.dtype == dtype
        np.testing.assert_allclose(y.data, ty.numpy(), **tol)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.data, b.numpy(), **tol)


def test_batch_norm_training_without_running_stats():
    x, _, _, _, _ = problem((4, 2, 3), 0)
    y = batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(y.data.mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.data.var(axis=(0, 2)), 1, rtol=1e-4)


# ----------------------------------------------------------------------------- instance norm

@given(shape=st.sampled_from([(2, 2, 3), (1, 3, 2, 2), (2, 1, 2, 3)]), seed=st.integers(0, 2**16))
def test_instance_norm_gradcheck(shape, seed):
    x, weight, bias, _, _ = problem(shape, seed)
    assert gradcheck(lambda x, w, b: instance_norm(x, weight=w, bias=b), (x, weight, bias))


def test_instance_norm_gradgradcheck():
    x, weight, bias, _, _ = problem((2, 2, 3), 3)
    assert gradgradcheck(lambda x, w, b: instance_norm(x, weight=w, bias=b), (x, weight, bias))


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_matches_torch(use_input_stats):
    torch = pytest.importorskip("torch")
    x, weight, bias, mean, var = problem((3, 2, 4, 5), 0)
    ours = Tensor(mean.copy()), Tensor(var.copy())
    theirs = torch.tensor(mean), torch.tensor(var)
    y = instance_norm(x, *ours, weight, bias, use_input_stats=use_input_stats, momentum=0.3)
    ty = torch.nn.functional.instance_norm(torch.tensor(x.data), *theirs, torch.tensor(weight.data),
                                           torch.tensor(bias.data), use_input_stats=use_input_stats, momentum=0.3)
    np.testing.assert_allclose(y.data, ty.numpy(), rtol=1e-10, atol=1e-10)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- layer norm

@given(shape=st.sampled_from([(2, 3), (2, 2, 3), (3, 2, 2)]), last=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_layer_norm_gradcheck(shape, last, seed):
    rng = np.random.default_rng(seed)
    normalized = shape[-last:]
    x = tensor(rng.standard_normal(shape))
    weight, bias = tensor(rng.standard_normal(normalized)), tensor(rng.standard_normal(normalized))
    f = lambda x, w, b: layer_norm(x, normalized, w, b)  # noqa: E731
    assert gradcheck(f, (x, weight, bias))
    assert gradgradcheck(f, (x, weight, bias))


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3, 5)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    y = layer_norm(Tensor(x), (3, 5), Tensor(w), Tensor(b))
    ty = torch.nn.functional.layer_norm(torch.tensor(x), (3, 5), torch.tensor(w), torch.tensor(b))
    np.testing.assert_allclose(y.data, ty.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer_norm(Tensor(x), 5).data,
                               torch.nn.functional.layer_norm(torch.tensor(x), (5,)).numpy(), rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, message", [
    (lambda x: batch_norm(x.reshape(24), None, None, training=True), ValueError,
     r"batch_norm: expected an input of shape \(N, C, \*\), got shape \(24,\)"),
    (lambda x: batch_norm(x, Tensor(np.zeros(2)), Tensor(np.ones(3))), ValueError,
     r"batch_norm: running_mean must have shape \(3,\) for an input of shape \(2, 3, 4\), got \(2,\)"),
    (lambda x: batch_norm(x, None, None, Tensor(np.ones(4)), training=True), ValueError,
     r"batch_norm: weight must have shape \(3,\)"),
    (lambda x: batch_norm(x, None, None), ValueError, r"batch_norm: running_mean and running_var are required"),
    (lambda x: batch_norm(x[:1, :, :1], None, None, training=True), ValueError,
     r"batch_norm: expected more than 1 value per channel when training, got input of shape \(1, 3, 1\)"),
    (lambda x: batch_norm(x, Tensor(np.zeros(3, np.float32)), Tensor(np.ones(3))), TypeError,
     r"batch_norm: running_mean is float32 but input is float64"),
    (lambda x: instance_norm(x.reshape(6, 4)), ValueError, r"instance_norm: expected an input of shape \(N, C, \*\)"),
    (lambda x: instance_norm(x, use_input_stats=False), ValueError,
     r"instance_norm: running_mean and running_var are required when use_input_stats=False"),
    (lambda x: layer_norm(x, (3,)), ValueError,
     r"layer_norm: normalized_shape \(3,\) must match the last axes of the input, got input of shape \(2, 3, 4\)"),
    (lambda x: layer_norm(x, 4, Tensor(np.ones(3))), ValueError, r"layer_norm: weight must have shape \(4,\)"),
])
def test_errors(call, error, message):
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(error, match=message):
        call(x)
