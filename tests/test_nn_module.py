"""Module behaviour: registration, walking the tree, state_dict, train/eval, to(), hooks, repr."""
import collections

import numpy as np
import pytest

import minigrad
from minigrad import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.LeakyReLU(0.2))
        self.head = nn.Linear(8, 1)
        self.register_buffer("step", minigrad.zeros(1))
        self.register_buffer("scratch", minigrad.zeros(1), persistent=False)
        self.scale = 3.0                                      # a plain attribute

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def test_registration_and_walks():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                     "head.weight", "head.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == ["step", "scratch", "features.1.running_mean",
                                                   "features.1.running_var", "features.1.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert len(list(net.modules())) == 6
    assert [n for n, _ in net.named_modules()][:3] == ["", "features", "features.0"]
    assert len(list(net.parameters(recurse=False))) == 0
    assert net.scale == 3.0 and "scale" not in net._parameters


def test_shared_parameter_listed_once_and_reassignment():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    m = nn.Module()
    m.w = nn.Parameter(minigrad.ones(2))
    m.w = nn.Linear(1, 1)                                      # an attribute may change kind
    assert "w" not in m._parameters and "w" in m._modules
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter"):
        lin.weight = minigrad.ones(2, 2)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_setattr_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_forward_and_backward_reach_all_parameters():
    net = Net()
    out = net(minigrad.randn(2, 1, 4, 4))
    assert out.shape == (2, 1)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net(minigrad.randn(2, 1, 4, 4)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in net.parameters())


def test_state_dict_keys_round_trip_and_sharing():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["step", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
                        "head.weight", "head.bias"]
    assert sd["features.1.num_batches_tracked"].dtype == np.int64
    assert not sd["head.weight"].requires_grad
    minigrad.manual_seed(7)
    other = Net()
    assert not np.allclose(other.head.weight.data, net.head.weight.data)
    result = other.load_state_dict({k: v.data.copy() for k, v in sd.items()})          # NumPy arrays work
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.data, sd[k].data)
    other.load_state_dict(sd)                                  # Tensors work too
    x = minigrad.randn(2, 1, 4, 4)
    net.eval(), other.eval()
    np.testing.assert_array_equal(net(x).data, other(x).data)
    # load_state_dict copies into the existing arrays: an optimizer holding the parameters sees the change
    w = other.head.weight
    other.load_state_dict({**sd, "head.weight": np.zeros((1, 8))})
    assert other.head.weight is w and not w.data.any()


def test_load_state_dict_errors():
    net = Net()
    sd = dict(net.state_dict())
    del sd["head.bias"]
    sd["extra"] = np.zeros(1)
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    assert 'Missing key(s) in state_dict: "head.bias"' in str(err.value)
    assert 'Unexpected key(s) in state_dict: "extra"' in str(err.value)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["head.bias"] and result.unexpected_keys == ["extra"]
    bad = dict(net.state_dict())
    bad["head.weight"] = np.zeros((2, 8))
    with pytest.raises(RuntimeError, match=r"size mismatch for head.weight: .*\(2, 8\).*\(1, 8\)"):
        net.load_state_dict(bad)


def test_train_eval_recurses():
    net = Net()
    assert net.training and net.features[1].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError):
        net.train("no")


def test_requires_grad_apply_and_to():
    net = Net()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Conv2d"
    assert net.to(minigrad.float64) is net
    assert all(t.dtype == np.float64 for t in net.parameters())
    assert net.features[1].running_mean.dtype == np.float64
    assert net.features[1].num_batches_tracked.dtype == np.int64
    assert net(minigrad.randn(1, 1, 4, 4, dtype=minigrad.float64)).dtype == np.float64
    net.float()
    assert all(t.dtype == np.float32 for t in net.parameters())
    assert net.to("cpu") is net
    with pytest.raises(RuntimeError, match="CUDA"):
        net.to("cuda")


def test_forward_pre_hook_and_removal():
    lin = nn.Linear(2, 2)
    calls = []
    handle = lin.register_forward_pre_hook(lambda m, inputs: calls.append(inputs[0].shape))
    lin(minigrad.ones(3, 2))
    handle.remove()
    lin(minigrad.ones(3, 2))
    assert calls == [(3, 2)]


def test_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    with pytest.raises(IndexError):
        seq[3]
    named = nn.Sequential(collections.OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    layers = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    layers.append(nn.Linear(1, 2))
    assert len(layers) == 4 and len(list(layers.parameters())) == 8
    assert list(layers.state_dict())[-1] == "3.bias"


def test_parameter_repr_and_data_sharing():
    t = minigrad.ones(2)
    p = nn.Parameter(t)
    assert p.data is t.data and p.requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(t, requires_grad=False).requires_grad


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    def build(lib):
        return lib.Sequential(
            lib.Linear(2, 3), lib.ReLU(), lib.LeakyReLU(0.2, inplace=True), lib.Linear(3, 4, bias=False),
            lib.Sequential(lib.Conv2d(3, 8, 4, 2, 1, bias=False), lib.BatchNorm2d(8), lib.InstanceNorm2d(8),
                           lib.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)),
            lib.Conv2d(1, 2, (3, 5), padding=(1, 2), padding_mode="reflect"),
            lib.Dropout(0.3), lib.Flatten(), lib.Unflatten(1, (2, 3)), lib.Embedding(10, 3),
            lib.ReflectionPad2d(3), lib.Upsample(scale_factor=2), lib.Identity(), lib.SELU(), lib.ELU(),
            lib.Tanh(), lib.Sigmoid(), lib.Softmax(dim=1), lib.BatchNorm1d(4, momentum=None), lib.LayerNorm(5),
            lib.MaxPool2d(2), lib.AvgPool2d(3, 1, 1), lib.ModuleList([lib.Linear(1, 1)]))

    assert repr(build(nn)) == repr(build(tnn))


def test_replacing_a_sequential_layer_keeps_its_position():
    import minigrad.nn as nn
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    model[1] = nn.Tanh()
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
