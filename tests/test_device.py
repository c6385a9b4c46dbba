"""Devices: parsing, tensors and modules moving between "cpu" and "cuda", the one clear error for mixed devices.

The "cuda" tests run on tests/fake_cupy.py (the `fake_cuda` fixture): its arrays are a type of their own that
refuses to mix with host NumPy arrays, so every array a CUDA tensor meets must have been made on the device.
"""
import sys

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.device import Device, array_module, device


# ---- parsing, no CuPy needed

def test_device_parses_cpu_cuda_and_an_index_and_compares_with_strings():
    assert device("cpu") == Device("cpu") == "cpu" and device("cpu").index is None
    assert device("cuda") == "cuda:0" == Device("cuda", 0) and device("CUDA:1").index == 1
    assert device(2) == "cuda:2" and device("cuda:1") != "cuda:0" and device("cpu") != "cuda"
    assert str(device("cuda")) == "cuda:0" and repr(device("cuda:1")) == "device(type='cuda', index=1)"
    assert len({Device("cuda"), Device("cuda:0"), Device("cpu")}) == 2
    for bad in ("gpu", "cuda:x", "cuda:-1", "cpu:1"):
        with pytest.raises(ValueError, match="device"):
            device(bad)
    with pytest.raises(TypeError, match="device: expected a string"):
        device(1.5)


def test_cpu_tensors_say_cpu_and_stay_numpy():
    t = minigrad.zeros(2, 3, device="cpu")
    assert t.device == "cpu" and type(t.data) is np.ndarray and array_module(t.data) is np
    assert t.to("cpu") is t and t.cpu() is t


def test_without_cupy_cuda_is_unavailable_and_says_in_one_line_that_cupy_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)              # `import cupy` raises ImportError
    assert not minigrad.cuda.is_available() and minigrad.cuda.device_count() == 0
    assert minigrad.cuda.why_not().startswith("CuPy is not installed")
    with pytest.raises(RuntimeError, match=r"^minigrad: CUDA is not available: CuPy is not installed") as err:
        minigrad.ones(3).to("cuda")
    assert "\n" not in str(err.value)
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        minigrad.randn(3, device="cuda")


def test_a_driver_or_a_device_missing_is_named(fake_cuda, monkeypatch):
    monkeypatch.setattr(fake_cuda.cuda.runtime, "device_count", 0)
    assert minigrad.cuda.why_not() == "CuPy and a driver are installed but there is no CUDA device (device count 0)"

    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver")
    monkeypatch.setattr(fake_cuda.cuda.runtime, "getDeviceCount", no_driver)
    assert minigrad.cuda.why_not().startswith("CuPy is installed but the CUDA driver does not answer")


# ---- on the (fake) device

def test_the_fake_refuses_host_arrays_so_the_tests_below_can_fail(fake_cuda):
    a = fake_cuda.asarray(np.ones(3))
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    assert isinstance(a.sum(), fake_cuda.ndarray)              # reductions stay on the device, as in CuPy


def test_cuda_is_available_and_synchronize_runs(fake_cuda):
    assert minigrad.cuda.is_available() and minigrad.cuda.device_count() == 1 and minigrad.cuda.why_not() is None
    minigrad.cuda.synchronize()
    minigrad.cuda.synchronize("cuda:0")


CREATORS = {
    "tensor": lambda **kw: minigrad.tensor([[1.0, 2.0], [3.0, 4.0]], **kw),
    "zeros": lambda **kw: minigrad.zeros(2, 3, **kw),
    "ones": lambda **kw: minigrad.ones((2, 3), **kw),
    "full": lambda **kw: minigrad.full((2, 3), 1.5, **kw),
    "empty": lambda **kw: minigrad.empty(4, **kw),
    "arange": lambda **kw: minigrad.arange(5, **kw),
    "eye": lambda **kw: minigrad.eye(3, **kw),
    "rand": lambda **kw: minigrad.rand(2, 3, **kw),
    "randn": lambda **kw: minigrad.randn(2, 3, **kw),
    "randint": lambda **kw: minigrad.randint(0, 10, (4,), **kw),
    "randperm": lambda **kw: minigrad.randperm(6, **kw),
}


@pytest.mark.parametrize("name", sorted(CREATORS))
def test_every_creation_function_makes_its_array_on_the_device(fake_cuda, name):
    t = CREATORS[name](device="cuda")
    assert t.device == "cuda:0" and isinstance(t.data, fake_cuda.ndarray)
    host = CREATORS[name]()
    assert host.device == "cpu" and t.shape == host.shape and t.dtype == host.dtype


@pytest.mark.parametrize("like", ["zeros_like", "ones_like", "full_like", "randn_like", "rand_like"])
def test_like_functions_follow_their_tensor_unless_told(fake_cuda, like):
    make = getattr(minigrad, like)
    args = (2.0,) if like == "full_like" else ()
    x = minigrad.ones(2, 3, device="cuda")
    assert make(x, *args).device == "cuda" and isinstance(make(x, *args).data, fake_cuda.ndarray)
    assert make(x, *args, device="cpu").device == "cpu" and make(x.cpu(), *args, device="cuda").device == "cuda"


def test_manual_seed_seeds_the_device_generator_too(fake_cuda):
    minigrad.manual_seed(7)
    a = minigrad.randn(5, device="cuda").cpu().numpy()
    b = minigrad.randn(5, device="cuda").cpu().numpy()
    minigrad.manual_seed(7)
    np.testing.assert_array_equal(minigrad.randn(5, device="cuda").cpu().numpy(), a)
    assert not np.array_equal(a, b)
    minigrad.manual_seed(8)
    assert not np.array_equal(minigrad.randn(5, device="cuda").cpu().numpy(), a)


def test_to_cuda_and_back_keeps_values_and_the_gradient_flows_back_to_the_host(fake_cuda):
    x = minigrad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x.cuda()
    assert y.device == "cuda" and y.requires_grad and isinstance(y.data, fake_cuda.ndarray)
    loss = (y * y * 3 + 1).sum()                                 # the scalars go to the device with their tensor
    assert loss.device == "cuda"
    loss.backward()
    assert x.grad.device == "cpu" and type(x.grad.data) is np.ndarray
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy())
    np.testing.assert_array_equal(y.cpu().detach().numpy(), x.detach().numpy())
    assert y.to("cuda:0") is y and x.to("cuda", np.float64).dtype == np.float64
    assert x.to(device="cuda").device == "cuda" and x.cuda(0).device == "cuda:0"


def test_two_devices_in_one_op_raise_one_error_naming_both_and_the_op(fake_cuda):
    a, b = minigrad.ones(3), minigrad.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match=r"^add: expected all tensors on one device, but found cpu and cuda:0"):
        a + b
    with pytest.raises(RuntimeError, match=r"^matmul: .* found cuda:0 and cpu"):
        minigrad.ones(2, 2, device="cuda") @ minigrad.ones(2, 2)


def test_numpy_of_a_cuda_tensor_says_call_cpu_and_item_repr_tolist_work(fake_cuda):
    t = minigrad.tensor([1.5, 2.5], device="cuda")
    with pytest.raises(TypeError, match=r"numpy: this tensor is on cuda:0; call \.cpu\(\) first"):
        t.numpy()
    assert t.sum().item() == 4.0 and float(t[0]) == 1.5 and t.tolist() == [1.5, 2.5]
    assert repr(t) == "tensor([1.5, 2.5], device='cuda:0')"
    np.testing.assert_array_equal(t.cpu().numpy(), [1.5, 2.5])


def test_module_to_moves_parameters_and_buffers_and_keeps_the_parameter_objects(fake_cuda):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    params = list(model.parameters())
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    assert model.to("cuda") is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    for name, t in model.state_dict().items():
        assert t.device == "cuda", name
        np.testing.assert_array_equal(t.cpu().numpy(), before[name])
    model.cpu()
    assert all(t.device == "cpu" for t in model.state_dict().values())
    model.cuda().to(np.float64)
    assert all(p.device == "cuda" and p.dtype == np.float64 for p in model.parameters())


def test_load_state_dict_copies_host_values_onto_the_device(fake_cuda):
    source, target = nn.Linear(3, 2), nn.Linear(3, 2).to("cuda")
    target.load_state_dict(source.state_dict())
    assert target.weight.device == "cuda"
    np.testing.assert_array_equal(target.weight.cpu().detach().numpy(), source.weight.detach().numpy())


@pytest.mark.parametrize("make", [lambda p: minigrad.optim.Adam(p, lr=0.1, amsgrad=True),
                                  lambda p: minigrad.optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: minigrad.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True)],
                         ids=["adam", "sgd", "rmsprop"])
def test_optimizer_state_is_made_on_its_parameters_device_and_steps_equal_the_cpu(fake_cuda, make):
    results = {}
    for where in ("cpu", "cuda"):
        minigrad.manual_seed(0)
        model = nn.Linear(4, 3).to(where)
        opt = make(list(model.parameters()))
        x = minigrad.tensor(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4), device=where)
        for _ in range(3):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        for state in opt.state.values():
            for value in state.values():
                if hasattr(value, "shape"):
                    assert isinstance(value, fake_cuda.ndarray) == (where == "cuda")
        results[where] = [p.cpu().detach().numpy() for p in model.parameters()]
    for a, b in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_max_pool2d_on_a_cuda_tensor_equals_the_cpu_forward_and_backward(fake_cuda):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    a = minigrad.tensor(x, requires_grad=True)
    b = minigrad.tensor(x).to("cuda").requires_grad_()
    ya, yb = minigrad.nn.functional.max_pool2d(a, 2), minigrad.nn.functional.max_pool2d(b, 2)
    ya.sum().backward(); yb.sum().backward()
    assert yb.device.type == "cuda"
    np.testing.assert_array_equal(yb.cpu().data, ya.data)
    np.testing.assert_array_equal(b.grad.cpu().data, a.grad.data)


def test_interpolate_on_a_cuda_tensor(fake_cuda):
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 3))
    a = minigrad.tensor(x, requires_grad=True)
    b = minigrad.tensor(x).to("cuda").requires_grad_()
    ya, yb = minigrad.nn.functional.interpolate(a, scale_factor=2), minigrad.nn.functional.interpolate(b, scale_factor=2)
    ya.sum().backward(); yb.sum().backward()
    np.testing.assert_array_equal(yb.cpu().data, ya.data)
    np.testing.assert_array_equal(b.grad.cpu().data, a.grad.data)
