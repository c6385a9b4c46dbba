"""Layers against PyTorch with the same weights copied in (outputs, input and weight gradients, running
statistics), layer-specific behaviour, and spectral normalisation."""
import numpy as np
import pytest

import minigrad
from minigrad import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


def _copy_weights(ours, theirs):
    """torch's parameters and buffers into ours, by state_dict key (so the keys must agree)."""
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(sd)


def _compare(ours, theirs, x, train=True, atol=1e-5):
    """Same output, same input gradient, same parameter gradients, same state after one forward."""
    _copy_weights(ours, theirs)
    ours.train(train), theirs.train(train)
    xm = minigrad.tensor(x, requires_grad=x.dtype.kind == "f")
    xt = torch.tensor(x, requires_grad=x.dtype.kind == "f")
    out, ref = ours(xm), theirs(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-4, atol=atol)
    g = np.random.default_rng(1).standard_normal(ref.shape).astype(np.float32)
    out.backward(minigrad.tensor(g))
    ref.backward(torch.tensor(g))
    if x.dtype.kind == "f":
        np.testing.assert_allclose(xm.grad.data, xt.grad.numpy(), rtol=1e-4, atol=atol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, theirs_params[name].grad.numpy(), rtol=1e-4, atol=atol, err_msg=name)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].data, value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    _compare(nn.Linear(4, 3, bias=bias), tnn.Linear(4, 3, bias=bias), _x(2, 5, 4))


@pytest.mark.parametrize("args", [dict(kernel_size=3), dict(kernel_size=4, stride=2, padding=1, bias=False),
                                  dict(kernel_size=(3, 2), padding=(1, 0), dilation=2),
                                  dict(kernel_size=3, padding=1, padding_mode="reflect")])
def test_conv2d(args):
    _compare(nn.Conv2d(3, 4, **args), tnn.Conv2d(3, 4, **args), _x(2, 3, 7, 6))


@pytest.mark.parametrize("args", [dict(kernel_size=4, stride=2, padding=1),
                                  dict(kernel_size=3, stride=2, padding=1, output_padding=1, bias=False),
                                  dict(kernel_size=(2, 3), stride=(1, 2), dilation=2)])
def test_conv_transpose2d(args):
    _compare(nn.ConvTranspose2d(3, 2, **args), tnn.ConvTranspose2d(3, 2, **args), _x(2, 3, 4, 5))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("kwargs", [dict(), dict(affine=False), dict(momentum=None), dict(track_running_stats=False),
                                    dict(bias=False)])
def test_batch_norm(train, kwargs):
    tbn = tnn.BatchNorm2d(3, **kwargs)
    tbn.train()
    with torch.no_grad():                          # non-trivial running stats and affine parameters
        tbn(torch.tensor(_x(4, 3, 2, 2, seed=5) * 2 + 1))
        if tbn.weight is not None:
            tbn.weight.uniform_(0.5, 1.5)
        if tbn.bias is not None:
            tbn.bias.uniform_(-1, 1)
    _compare(nn.BatchNorm2d(3, **kwargs), tbn, _x(4, 3, 3, 2), train=train)
    _compare(nn.BatchNorm1d(3, **kwargs), tnn.BatchNorm1d(3, **kwargs), _x(5, 3), train=train)
    _compare(nn.BatchNorm1d(3, **kwargs), tnn.BatchNorm1d(3, **kwargs), _x(2, 3, 4), train=train)


def test_batch_norm_running_stats_over_steps():
    ours, theirs = nn.BatchNorm2d(2), tnn.BatchNorm2d(2, momentum=0.3)
    ours.momentum = 0.3
    for step in range(3):
        x = _x(3, 2, 2, 2, seed=step) * (step + 1)
        ours(minigrad.tensor(x)), theirs(torch.tensor(x))
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].data, v.numpy(), rtol=1e-5, err_msg=k)
    assert int(ours.num_batches_tracked.item()) == 3
    with pytest.raises(ValueError, match="expected 2 channels"):
        ours(minigrad.randn(2, 3, 2, 2))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ours(minigrad.randn(2, 2))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("kwargs", [dict(), dict(affine=True), dict(affine=True, track_running_stats=True)])
def test_instance_norm(train, kwargs):
    _compare(nn.InstanceNorm2d(3, **kwargs), tnn.InstanceNorm2d(3, **kwargs), _x(2, 3, 4, 3), train=train)


@pytest.mark.parametrize("shape", [4, (3, 4)])
def test_layer_norm(shape):
    theirs = tnn.LayerNorm(shape)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5), theirs.bias.uniform_(-1, 1)
    _compare(nn.LayerNorm(shape), theirs, _x(2, 3, 4))


@pytest.mark.parametrize("pair", [(nn.ReLU(), tnn.ReLU()), (nn.LeakyReLU(0.2), tnn.LeakyReLU(0.2)),
                                  (nn.LeakyReLU(), tnn.LeakyReLU()), (nn.SELU(), tnn.SELU()),
                                  (nn.ELU(0.5), tnn.ELU(0.5)), (nn.Tanh(), tnn.Tanh()), (nn.Sigmoid(), tnn.Sigmoid()),
                                  (nn.Softmax(dim=1), tnn.Softmax(dim=1)),
                                  (nn.Flatten(), tnn.Flatten()), (nn.Unflatten(1, (2, 2)), tnn.Unflatten(1, (2, 2))),
                                  (nn.ReflectionPad2d(1), tnn.ReflectionPad2d(1)),
                                  (nn.ReflectionPad2d((1, 0, 2, 1)), tnn.ReflectionPad2d((1, 0, 2, 1))),
                                  (nn.Upsample(scale_factor=2), tnn.Upsample(scale_factor=2)),
                                  (nn.MaxPool2d(2), tnn.MaxPool2d(2)), (nn.AvgPool2d(3, 1, 1), tnn.AvgPool2d(3, 1, 1)),
                                  (nn.MaxPool2d((2, 3), (1, 2), 1), tnn.MaxPool2d((2, 3), (1, 2), 1))])
def test_parameter_free_layers(pair):
    ours, theirs = pair
    _compare(ours, theirs, _x(2, 4, 3, 3))


def test_identity_returns_its_input():
    x = minigrad.randn(2, 3)
    assert nn.Identity(5, key="ignored")(x) is x


def test_dropout_module_modes():
    drop = nn.Dropout(0.5)
    x = minigrad.ones(100, 10)
    assert (drop(x).data == 0).any()
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError):
        nn.Dropout(2)


def test_embedding():
    ours, theirs = nn.Embedding(6, 3), tnn.Embedding(6, 3)
    _compare(ours, theirs, np.array([[0, 5, 2], [2, 2, 1]]))
    padded = nn.Embedding(6, 3, padding_idx=2)
    assert not padded.weight.data[2].any()
    _compare(padded, tnn.Embedding(6, 3, padding_idx=2), np.array([[0, 2, 2], [2, 5, 1]]))


def test_sequential_dcgan_like_generator_matches_torch():
    def build(lib):
        return lib.Sequential(lib.ConvTranspose2d(4, 6, 4, 1, 0, bias=False), lib.BatchNorm2d(6), lib.ReLU(),
                              lib.ConvTranspose2d(6, 1, 4, 2, 1, bias=False), lib.Tanh())
    ours, theirs = build(nn), build(tnn)
    _compare(ours, theirs, _x(2, 4, 1, 1))


def test_layers_run_in_float64():
    lin = nn.Linear(3, 2).double()
    out = lin(minigrad.randn(4, 3, dtype=minigrad.float64))
    assert out.dtype == np.float64
    with pytest.raises(ValueError, match="linear: input of shape"):
        lin(minigrad.randn(4, 2, dtype=minigrad.float64))


# ----------------------------------------------------------------------------- spectral norm

def _top_singular_value(w, dim=0):
    mat = np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)
    return np.linalg.svd(mat, compute_uv=False)[0]


@pytest.mark.parametrize("make, dim", [(lambda: nn.Linear(5, 4), 0), (lambda: nn.Conv2d(3, 4, 3), 0),
                                       (lambda: nn.ConvTranspose2d(3, 4, 3), 1)])
def test_spectral_norm_normalises_after_power_iterations(make, dim):
    minigrad.manual_seed(0)
    layer = nn.utils.spectral_norm(make())
    assert "weight" not in layer._parameters and "weight_orig" in layer._parameters
    assert list(layer.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    x = minigrad.randn(2, 5) if isinstance(layer, nn.Linear) else minigrad.randn(1, 3, 5, 5)
    for _ in range(30):
        layer(x)
    assert abs(_top_singular_value(layer.weight.data, dim) - 1) < 1e-3
    np.testing.assert_allclose(_top_singular_value(layer.weight_orig.data, dim) * layer.weight.data,
                               layer.weight_orig.data, rtol=1e-3)


def test_spectral_norm_eval_keeps_u_and_grad_reaches_weight_orig():
    layer = nn.utils.spectral_norm(nn.Linear(4, 3))
    x = minigrad.randn(2, 4)
    layer(x).sum().backward()
    assert layer.weight_orig.grad is not None and layer.weight_orig.grad.shape == (3, 4)
    assert not layer.weight_u.requires_grad
    layer.eval()
    u = layer.weight_u.data.copy()
    layer(x)
    np.testing.assert_array_equal(layer.weight_u.data, u)


def test_spectral_norm_gradcheck():
    minigrad.manual_seed(1)
    layer = nn.utils.spectral_norm(nn.Linear(4, 3).double())
    x = minigrad.randn(2, 4, dtype=minigrad.float64, requires_grad=True)
    for _ in range(5):
        layer(x)
    layer.eval()                                   # u, v fixed: the output is a function of weight_orig and x
    # gradcheck perturbs weight_orig's array in place, so the layer sees each perturbation
    assert minigrad.gradcheck(lambda weight_orig, inp: layer(inp), [layer.weight_orig, x])


def test_spectral_norm_matches_torch_with_same_u():
    ours, theirs = nn.Linear(5, 4), tnn.Linear(5, 4)
    _copy_weights(ours, theirs)
    nn.utils.spectral_norm(ours)
    tnn.utils.spectral_norm(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = _x(3, 5)
    for train in (True, False):
        ours.train(train), theirs.train(train)
        np.testing.assert_allclose(ours(minigrad.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.weight_u.data, theirs.weight_u.numpy(), rtol=1e-5, atol=1e-6)


def test_remove_spectral_norm():
    layer = nn.utils.spectral_norm(nn.Linear(3, 3))
    layer(minigrad.randn(1, 3))
    w = layer.weight.data.copy()
    nn.utils.remove_spectral_norm(layer)
    assert isinstance(layer.weight, nn.Parameter) and list(layer.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(layer.weight.data, w, rtol=1e-6)
    with pytest.raises(ValueError, match="not found"):
        nn.utils.remove_spectral_norm(layer)
