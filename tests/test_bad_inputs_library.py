"""The library on a table of bad inputs: each raises an error that names the op and the shapes or values.

Ops, modules, optimizers, autograd and serialization; each row is (call, exception type, words the
message must hold). A row fails if the call succeeds, raises another type, or says less.
"""
import os

import numpy as np
import pytest

import minigrad
import minigrad.nn as nn
import minigrad.nn.functional as F
import minigrad.optim as optim

T = minigrad.tensor


def r(*shape):
    return minigrad.randn(*shape)


def param():
    return nn.Parameter(r(2))


def backward_twice():
    y = r(3).requires_grad_().exp().sum()
    y.backward()
    y.backward()


CASES = {
    # elementwise, matmul, shape
    "add shapes": (lambda: r(2, 3) + r(4, 5), ValueError, ["add", "(2, 3)", "(4, 5)"]),
    "sub shapes": (lambda: r(2, 3) - r(3, 2), ValueError, ["sub", "(2, 3)", "(3, 2)"]),
    "mul dtypes": (lambda: r(2) * T(np.ones(2)).double(), TypeError, ["mul", "float32", "float64"]),
    "div shapes": (lambda: r(3) / r(4), ValueError, ["div", "(3,)", "(4,)"]),
    "pow int negative": (lambda: T([2, 3]) ** -1, ValueError, ["pow", "int64", "-1"]),
    "log of ints": (lambda: T([1, 2]).log(), TypeError, ["log", "int64", "(2,)"]),
    "clamp min > max": (lambda: r(3).clamp(min=2, max=1), ValueError, ["clamp", "2", "1"]),
    "where shapes": (lambda: minigrad.where(T([True, False]), r(3), r(3)), ValueError, ["where", "(2,)", "(3,)"]),
    "matmul inner dims": (lambda: r(2, 3) @ r(4, 5), ValueError, ["matmul", "(2, 3)", "(4, 5)"]),
    "matmul scalar": (lambda: T(2.0) @ r(3), RuntimeError, ["matmul", "()", "(3,)"]),
    "matmul batch dims": (lambda: r(2, 3, 4) @ r(3, 4, 5), ValueError, ["matmul", "(2, 3, 4)", "(3, 4, 5)"]),
    "reshape size": (lambda: r(2, 3).reshape(4, 2), RuntimeError, ["reshape", "(2, 3)", "(4, 2)"]),
    "permute repeats": (lambda: r(2, 3).permute(0, 0), RuntimeError, ["permute", "(0, 0)", "(2, 3)"]),
    "transpose dim": (lambda: r(2, 3).transpose(0, 5), IndexError, ["transpose", "dim 5", "2 dimensions"]),
    "sum dim": (lambda: r(2, 3).sum(dim=4), IndexError, ["sum", "dim 4"]),
    "mean dim": (lambda: r(2, 3).mean(dim=-3), IndexError, ["mean", "dim -3"]),
    "squeeze dim": (lambda: r(2, 3).squeeze(7), IndexError, ["squeeze", "dim 7"]),
    "cat shapes": (lambda: minigrad.cat([r(2, 3), r(2, 4)], dim=0), ValueError, ["cat", "(2, 4)", "(2, 3)"]),
    "stack shapes": (lambda: minigrad.stack([r(2, 3), r(3, 2)]), ValueError, ["stack", "(3, 2)", "(2, 3)"]),
    "expand": (lambda: r(2, 3).expand(4, 5), RuntimeError, ["expand", "(2, 3)", "(4, 5)"]),
    "getitem out of bounds": (lambda: r(2, 3)[5], IndexError, ["getitem", "(2, 3)", "5"]),
    "split size 0": (lambda: r(4).split(0), ValueError, ["split", "0"]),
    "pad widths": (lambda: F.pad(r(2, 2), (1,)), ValueError, ["pad", "(1,)", "(2, 2)"]),
    "item of many": (lambda: r(2, 3).item(), ValueError, ["item", "(2, 3)"]),
    # convolutions, pooling, layers
    "conv2d channels": (lambda: F.conv2d(r(1, 3, 8, 8), r(4, 1, 3, 3)), ValueError,
                        ["conv2d", "3 channels", "(1, 3, 8, 8)", "(4, 1, 3, 3)"]),
    "conv2d kernel too big": (lambda: F.conv2d(r(1, 1, 2, 2), r(1, 1, 3, 3)), ValueError, ["conv2d", "(3, 3)", "(2, 2)"]),
    "conv2d stride 0": (lambda: F.conv2d(r(1, 1, 5, 5), r(1, 1, 3, 3), stride=0), ValueError, ["conv2d", "stride", "0"]),
    "conv2d 3-D input": (lambda: F.conv2d(r(3, 8, 8), r(1, 3, 3, 3)), ValueError, ["conv2d", "(3, 8, 8)"]),
    "conv_transpose2d channels": (lambda: F.conv_transpose2d(r(1, 3, 4, 4), r(2, 4, 3, 3)), ValueError,
                                  ["conv_transpose2d", "(1, 3, 4, 4)", "(2, 4, 3, 3)"]),
    "max_pool2d kernel": (lambda: F.max_pool2d(r(1, 1, 2, 2), 3), ValueError, ["max_pool2d", "(3, 3)", "(2, 2)"]),
    "avg_pool2d kernel 0": (lambda: F.avg_pool2d(r(1, 1, 4, 4), 0), ValueError, ["avg_pool2d", "0"]),
    "Linear features": (lambda: nn.Linear(4, 2)(r(3, 5)), ValueError, ["linear", "(3, 5)", "(2, 4)"]),
    "Conv2d module channels": (lambda: nn.Conv2d(3, 4, 3)(r(1, 1, 8, 8)), ValueError, ["conv2d", "(1, 1, 8, 8)"]),
    "BatchNorm2d channels": (lambda: nn.BatchNorm2d(4)(r(2, 3, 5, 5)), ValueError, ["BatchNorm2d", "4", "(2, 3, 5, 5)"]),
    "BatchNorm1d one value": (lambda: nn.BatchNorm1d(4)(r(1, 4)), ValueError, ["batch_norm", "(1, 4)"]),
    "LayerNorm shape": (lambda: nn.LayerNorm(5)(r(2, 4)), ValueError, ["layer_norm", "(5,)", "(2, 4)"]),
    "Embedding index": (lambda: nn.Embedding(5, 3)(T([1, 7])), IndexError, ["embedding", "[0, 5)", "7"]),
    "one_hot index": (lambda: F.one_hot(T([1, 5]), 3), IndexError, ["one_hot", "[0, 3)", "5"]),
    "softmax dim": (lambda: F.softmax(r(2, 3), dim=2), IndexError, ["softmax", "dim 2"]),
    "dropout p": (lambda: F.dropout(r(3), p=1.5), ValueError, ["dropout", "1.5"]),
    "leaky_relu of ints": (lambda: F.leaky_relu(T([1, 2]), 0.1), TypeError, ["leaky_relu", "int64"]),
    # losses
    "bce input range": (lambda: F.binary_cross_entropy(T([1.5, 0.2]), T([1.0, 0.0])), ValueError,
                        ["binary_cross_entropy", "input", "1.5"]),
    "bce target range": (lambda: F.binary_cross_entropy(T([0.5, 0.2]), T([2.0, 0.0])), ValueError,
                         ["binary_cross_entropy", "target", "[0, 1]", "2"]),
    "mse shapes": (lambda: F.mse_loss(r(2, 3), r(3, 2)), ValueError, ["mse_loss", "(3, 2)", "(2, 3)"]),
    "cross_entropy class": (lambda: F.cross_entropy(r(2, 3), T([0, 5])), IndexError, ["nll_loss", "5", "3 classes"]),
    "cross_entropy shape": (lambda: F.cross_entropy(r(2, 3), T([0, 1, 2])), ValueError, ["nll_loss", "(3,)", "(2, 3)"]),
    # optimizers and schedulers
    "Adam lr -1": (lambda: optim.Adam([param()], lr=-1), ValueError, ["Adam", "lr", "-1"]),
    "Adam lr inf": (lambda: optim.Adam([param()], lr=float("inf")), ValueError, ["Adam", "lr", "inf"]),
    "Adam lr nan": (lambda: optim.Adam([param()], lr=float("nan")), ValueError, ["Adam", "lr", "nan"]),
    "Adam beta1 1.5": (lambda: optim.Adam([param()], betas=(1.5, 0.9)), ValueError, ["Adam", "beta", "1.5"]),
    "SGD momentum -1": (lambda: optim.SGD([param()], lr=0.1, momentum=-1), ValueError, ["SGD", "momentum", "-1"]),
    "RMSprop alpha": (lambda: optim.RMSprop([param()], alpha=-0.5), ValueError, ["RMSprop", "alpha", "-0.5"]),
    "SGD no parameters": (lambda: optim.SGD([], lr=0.1), ValueError, ["SGD", "empty"]),
    "Adam state of another size": (lambda: optim.Adam([param()]).load_state_dict(
        {"state": {}, "param_groups": [{"params": [0, 1]}]}), ValueError, ["Adam.load_state_dict", "2", "1"]),
    "StepLR step_size 0": (lambda: optim.lr_scheduler.StepLR(optim.SGD([param()], lr=0.1), step_size=0), ValueError,
                           ["StepLR", "step_size", "0"]),
    "load_state_dict shape": (lambda: nn.Linear(2, 3).load_state_dict({"weight": r(3, 3), "bias": r(3)}),
                              RuntimeError, ["Linear", "weight", "(3, 3)", "(3, 2)"]),
    "load_state_dict missing": (lambda: nn.Linear(2, 3).load_state_dict({"weight": r(3, 2)}), RuntimeError,
                                ["Linear", "bias"]),
    # autograd and in-place
    "backward gradient shape": (lambda: (r(3).requires_grad_() * 2).backward(T([1.0])), RuntimeError,
                                ["backward", "(1,)", "(3,)"]),
    "backward of non-scalar": (lambda: (r(3).requires_grad_() * 2).backward(), RuntimeError, ["backward", "(3,)"]),
    "backward twice": (backward_twice, RuntimeError, ["Sum", "retain_graph=True"]),
    "in-place on a leaf": (lambda: r(3).requires_grad_().zero_(), RuntimeError, ["zero_", "no_grad"]),
    "copy_ shape": (lambda: r(3).copy_(r(4)), RuntimeError, ["copy_", "(4,)", "(3,)"]),
    "requires_grad of ints": (lambda: T([1, 2], requires_grad=True), RuntimeError, ["requires_grad_", "int64"]),
}


def serialization_cases(tmp):
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("not a checkpoint\n")
    return {
        "save an object": (lambda: minigrad.save({"a": object()}, os.path.join(tmp, "x.ckpt")), TypeError,
                           ["save", "object", "['a']"]),
        "save into a missing folder": (lambda: minigrad.save({"a": 1}, os.path.join(tmp, "no", "x.ckpt")),
                                       FileNotFoundError, ["save", os.path.join(tmp, "no", "x.ckpt"), "does not exist"]),
        "save onto a folder": (lambda: minigrad.save({"a": 1}, tmp), IsADirectoryError, ["save", tmp, "directory"]),
        "load a text file": (lambda: minigrad.load(text), minigrad.serialization.CheckpointError,
                             [text, "not a minigrad checkpoint"]),
        "load a missing file": (lambda: minigrad.load(os.path.join(tmp, "none.ckpt")),
                                minigrad.serialization.CheckpointError, ["none.ckpt", "does not exist"]),
        "load to cuda": (lambda: minigrad.load(text, map_location="cuda"), ValueError, ["load", "'cuda'"]),
    }


def check(call, error, words):
    with pytest.raises(error) as raised:
        call()
    message = str(raised.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "allow_pickle" not in message and ".tmp" not in message


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_names_the_op_and_the_shapes_or_values(case):
    check(*CASES[case])


def test_serialization_errors_name_the_file_and_never_suggest_pickle(tmp_path):
    cases = serialization_cases(str(tmp_path))
    for name, (call, error, words) in cases.items():
        check(call, error, words)
    assert len(CASES) + len(cases) >= 40
    assert os.listdir(tmp_path) == ["notes.txt"]                  # no temporary left by a refused save


def test_the_next_save_removes_temporaries_of_killed_saves_only(tmp_path):
    target = tmp_path / "model.ckpt"
    dead = tmp_path / ".model.ckpt.999999999.0123456789ab.tmp"   # a pid no process has
    old_style = tmp_path / ".model.ckpt.0123456789ab.tmp"          # before the pid was in the name: kept if fresh
    other = tmp_path / ".other.ckpt.999999999.0123456789ab.tmp"    # another target's: not ours to judge
    live = tmp_path / f".model.ckpt.{os.getppid()}.0123456789ab.tmp"   # a running writer's
    for path in (dead, old_style, other, live):
        path.write_bytes(b"partial")
    minigrad.save({"w": T([1.0])}, str(target))
    assert not dead.exists() and old_style.exists() and other.exists() and live.exists()
    os.utime(old_style, (0, 0))                                      # now hours old: stale
    minigrad.save({"w": T([2.0])}, str(target))
    assert not old_style.exists() and live.exists()
    assert minigrad.load(str(target))["w"].data.tolist() == [2.0]
