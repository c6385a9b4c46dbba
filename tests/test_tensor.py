"""Tensor basics and creation: sizes and dtypes the PyTorch way, copies vs views, the seeded
generator (bit-for-bit reproducible, state save/restore), and what minigrad exports."""
import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize("make", [mg.zeros, mg.ones, mg.empty, mg.randn, mg.rand])
def test_sizes_as_ints_or_a_tuple(make):
    assert make(2, 3).shape == (2, 3)
    assert make((2, 3)).shape == (2, 3)
    assert make([4]).shape == (4,)
    assert make().shape == ()
    assert make(2, 3).dtype == np.float32


@pytest.mark.parametrize("dtype", ["float64", np.float64, mg.float64, np.dtype("float64")])
def test_dtype_spellings(dtype):
    assert mg.zeros(2, dtype=dtype).dtype == np.float64
    assert mg.randn(2, dtype=dtype).dtype == np.float64
    assert mg.tensor([1.0], dtype=dtype).dtype == np.float64


def test_requires_grad_keyword():
    for t in [mg.zeros(2, requires_grad=True), mg.randn(2, requires_grad=True),
              mg.tensor([1.0], requires_grad=True), mg.full((2,), 1.5, requires_grad=True)]:
        assert t.requires_grad and t.is_leaf


def test_tensor_infers_dtypes_like_torch():
    assert mg.tensor([1.0, 2.0]).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor([True]).dtype == np.bool_
    assert mg.tensor(np.zeros(2)).dtype == np.float64          # NumPy arrays keep their dtype
    assert mg.tensor(3.5).shape == ()


def test_tensor_copies_its_data():
    arr = np.zeros(3)
    t = mg.tensor(arr)
    arr[0] = 1
    assert t.data[0] == 0


def test_full_arange_eye():
    assert mg.full((2, 2), 7).dtype == np.int64
    assert mg.full((2, 2), 7.0).dtype == np.float32
    assert mg.full(3, True).dtype == np.bool_
    assert mg.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert mg.arange(5).dtype == np.int64
    assert mg.arange(1, 2, 0.25).tolist() == [1.0, 1.25, 1.5, 1.75]
    assert mg.arange(1, 2, 0.25).dtype == np.float32
    assert mg.arange(5, dtype=mg.float64).dtype == np.float64
    np.testing.assert_array_equal(mg.eye(2, 3).data, np.eye(2, 3))


def test_like_functions():
    x = mg.zeros(2, 3, dtype=mg.float64)
    for t in [mg.zeros_like(x), mg.ones_like(x), mg.full_like(x, 2.0), mg.randn_like(x), mg.rand_like(x)]:
        assert t.shape == (2, 3) and t.dtype == np.float64
    assert mg.ones_like(x, dtype=mg.float32).dtype == np.float32
    assert mg.full_like(x, 2.0).tolist() == [[2.0] * 3] * 2


def test_bad_sizes_and_dtypes_raise():
    with pytest.raises(ValueError, match=r"zeros: sizes must be non-negative ints, got \(2, -1\)"):
        mg.zeros(2, -1)
    with pytest.raises(TypeError, match="randn: dtype must be a floating point type"):
        mg.randn(2, dtype=mg.int64)


def test_rand_range_and_randint_randperm():
    mg.manual_seed(3)
    u = mg.rand(1000)
    assert 0 <= u.data.min() and u.data.max() < 1
    r = mg.randint(2, 5, (100,))
    assert r.dtype == np.int64 and set(r.tolist()) == {2, 3, 4}
    assert mg.randint(3, size=(4,)).data.max() < 3
    assert sorted(mg.randperm(6).tolist()) == list(range(6))


def test_manual_seed_makes_draws_reproducible():
    mg.manual_seed(123)
    a = [mg.randn(3, 4).data, mg.rand(5).data, mg.randint(10, size=(3,)).data]
    mg.manual_seed(123)
    b = [mg.randn(3, 4).data, mg.rand(5).data, mg.randint(10, size=(3,)).data]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert mg.initial_seed() == 123
    mg.manual_seed(124)
    assert not np.array_equal(mg.randn(3, 4).data, a[0])


def test_rng_state_round_trip_resumes_the_stream_exactly():
    mg.manual_seed(7)
    mg.randn(3)                        # float32 draws leave a half-used 64-bit word behind
    state = mg.get_rng_state()
    for value in state.values():
        assert isinstance(value, str) or (isinstance(value, int) and abs(value) < 2**63)
    expected = [mg.randn(5).data, mg.rand(3, dtype=mg.float64).data]
    mg.manual_seed(99)
    mg.randn(10)
    mg.set_rng_state(state)
    np.testing.assert_array_equal(mg.randn(5).data, expected[0])
    np.testing.assert_array_equal(mg.rand(3, dtype=mg.float64).data, expected[1])


def test_generator_is_one_shared_object():
    g = mg.random.generator()
    mg.manual_seed(5)
    assert mg.random.generator() is g
    first = g.standard_normal()
    mg.manual_seed(5)
    assert mg.random.generator().standard_normal() == first


def test_bad_seed_and_state_raise():
    with pytest.raises(ValueError, match="manual_seed: seed must be a non-negative int"):
        mg.manual_seed(-1)
    with pytest.raises(ValueError, match="set_rng_state: expected a dict with keys"):
        mg.set_rng_state({"state": "1"})


def test_item_shape_and_repr():
    t = mg.tensor([[1.0, 2.0]], requires_grad=True)
    assert t.size() == (1, 2) and t.size(1) == 2 and t.dim() == 2 and t.numel() == 2 and len(t) == 1
    assert mg.tensor([2.5]).item() == 2.5
    with pytest.raises(ValueError, match="item: only a tensor with one element"):
        t.item()
    assert "requires_grad=True" in repr(t)
    assert "grad_fn=<MulBackward>" in repr(t * 2)
    assert "dtype=float64" in repr(mg.zeros(1, dtype=mg.float64))
    with pytest.raises(RuntimeError, match="detach"):
        t.numpy()


def test_exports():
    for name in ["Tensor", "tensor", "zeros", "ones", "full", "randn", "rand", "arange", "eye", "empty",
                 "zeros_like", "ones_like", "full_like", "randn_like", "rand_like", "manual_seed", "no_grad",
                 "enable_grad", "set_grad_enabled", "cat", "stack", "where", "exp", "log", "sqrt", "tanh",
                 "sigmoid", "relu", "matmul", "float32", "float64", "int64", "gradcheck", "gradgradcheck",
                 "get_rng_state", "set_rng_state", "grad", "set_detect_anomaly"]:
        assert hasattr(mg, name), name
    x = mg.tensor([0.0, 1.0])
    np.testing.assert_allclose(mg.exp(x).data, np.exp(x.data))
    assert mg.exp(x).dtype == mg.float32


def test_python_conversions():
    assert bool(mg.tensor([0.0])) is False
    assert bool(mg.tensor(2.0) > 1) is True
    assert float(mg.tensor([2.5])) == 2.5 and int(mg.tensor(3)) == 3
    with pytest.raises(RuntimeError, match=r"truth value of a tensor with 2 elements is ambiguous"):
        bool(mg.zeros(2))
