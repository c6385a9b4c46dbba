"""nn.init and the layers' default initialisation: bounds, statistics, gains, fans, reproducibility."""
import math

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.nn import init


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(minigrad.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(minigrad.empty(8, 4, 3, 2)) == (24, 48)
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.xavier_uniform_(minigrad.empty(5))


def test_uniform_normal_constant():
    t = minigrad.empty(200, 100)
    assert init.uniform_(t, -2, 3) is t
    assert t.data.min() >= -2 and t.data.max() < 3 and abs(t.data.mean() - 0.5) < 0.05
    init.normal_(t, 1.0, 0.5)
    assert abs(t.data.mean() - 1) < 0.01 and abs(t.data.std() - 0.5) < 0.01
    assert t.dtype == np.float32
    init.constant_(t, 0.25)
    assert (t.data == 0.25).all()
    assert not init.zeros_(t).data.any() and (init.ones_(t).data == 1).all()


def test_init_works_on_parameters_in_grad_mode():
    p = nn.Parameter(minigrad.empty(3, 3))
    init.kaiming_normal_(p)                         # in place under no_grad: no error for requires_grad
    assert p.requires_grad and p.grad_fn is None


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 3, 3)])
def test_scaled_schemes_statistics(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(minigrad.empty(*shape))
    t = minigrad.empty(*shape)
    bound = math.sqrt(6 / (fan_in + fan_out)) * 2
    init.xavier_uniform_(t, gain=2)
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.95 * bound
    init.xavier_normal_(t)
    assert t.data.std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.05)
    init.kaiming_uniform_(t, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.95 * bound
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert t.data.std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.05)
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(t, mode="fan_avg")


@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Linear(50, 400), 50), (lambda: nn.Conv2d(4, 100, 3), 36),
                                          (lambda: nn.ConvTranspose2d(100, 4, 3), 36)])
def test_default_layer_init_is_uniform_one_over_sqrt_fan_in(make, fan_in):
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.98 * bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_default_init_of_norms_and_embedding():
    bn = nn.BatchNorm2d(3)
    assert (bn.weight.data == 1).all() and not bn.bias.data.any()
    assert not bn.running_mean.data.any() and (bn.running_var.data == 1).all()
    assert nn.InstanceNorm2d(3).weight is None
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.shape == (2, 3) and (ln.weight.data == 1).all()
    emb = nn.Embedding(100, 50)
    assert abs(emb.weight.data.std() - 1) < 0.05 and abs(emb.weight.data.mean()) < 0.05


def test_manual_seed_makes_models_reproducible():
    def build():
        return nn.Sequential(nn.Linear(3, 4), nn.Conv2d(1, 2, 3), nn.Embedding(5, 2))
    minigrad.manual_seed(42)
    a = build()
    b = build()
    minigrad.manual_seed(42)
    c = build()
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        np.testing.assert_array_equal(va.data, vc.data, err_msg=k)
        assert not np.array_equal(va.data, vb.data)
