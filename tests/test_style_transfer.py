"""Style transfer: the Keras weights layout, each loss against its closed form, gradients to the pixels, short runs.

The networks here are tiny (a 2-block VGG, 4x4 .. 8x8 images) so the whole file runs in seconds.
"""
import os

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import minigrad
from gans import style_transfer as st
from gans import vgg

h5py = pytest.importorskip("h5py")

TINY = ((3, 1), (4, 2))                      # block1_conv1 (3 ch), block2_conv1, block2_conv2 (4 ch)
TINY_CONTENT, TINY_STYLE = ["block2_conv2"], ["block1_conv1", "block2_conv1"]


def write_keras_h5(path, blocks, rng, new_layout=False):
    """A weights file laid out like Keras' vgg19 ..._notop.h5; returns {layer: (kernel HWIO, bias)}.

    Old (the published file): /blockB_convC/blockB_convC_W_1:0 and _b_1:0, named by the group's
    attrs["weight_names"], the root's attrs["layer_names"] listing every layer (pools too).
    New Keras saves: /blockB_convC/blockB_convC/kernel:0 and bias:0.
    """
    arrays, layer_names, channels = {}, [b"input_1"], 3
    with h5py.File(path, "w") as f:
        for b, (width, convs) in enumerate(blocks, start=1):
            for c in range(1, convs + 1):
                name = f"block{b}_conv{c}"
                kernel = rng.standard_normal((3, 3, channels, width)).astype(np.float32)
                bias = rng.standard_normal(width).astype(np.float32)
                group = f.create_group(name)
                if new_layout:
                    group.create_dataset(f"{name}/kernel:0", data=kernel)
                    group.create_dataset(f"{name}/bias:0", data=bias)
                else:
                    names = [f"{name}_W_1:0", f"{name}_b_1:0"]
                    group.create_dataset(names[0], data=kernel)
                    group.create_dataset(names[1], data=bias)
                    group.attrs["weight_names"] = [n.encode() for n in names]
                arrays[name] = (kernel, bias)
                layer_names.append(name.encode())
                channels = width
            f.create_group(f"block{b}_pool")
            layer_names.append(f"block{b}_pool".encode())
        f.attrs["layer_names"] = layer_names
    return arrays


def conv3x3_hwio(x, kernel, bias):
    """Direct 'same' 3x3 convolution of x (C, H, W) with a Keras HWIO kernel: y[o] = sum x[c, i+dy, j+dx] K[dy, dx, c, o] + b[o]."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(xp, (3, 3), axis=(1, 2))            # (C, H, W, 3, 3)
    return np.einsum("chwyx,yxco->ohw", windows, kernel) + bias[:, None, None]


@pytest.mark.parametrize("new_layout", [False, True])
def test_keras_h5_loads_with_hwio_to_oihw(tmp_path, rng, new_layout):
    arrays = write_keras_h5(tmp_path / "w.h5", TINY, rng, new_layout)
    model = vgg.load_keras_h5(vgg.VGG19Features("max", TINY), str(tmp_path / "w.h5"))
    kernel, bias = arrays["block1_conv1"]
    np.testing.assert_array_equal(model.block1_conv1.weight.data, kernel.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(model.block2_conv2.bias.data, arrays["block2_conv2"][1])

    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    out = model(minigrad.tensor(x), ["block1_conv1", "block2_conv1"])
    expected = np.maximum(conv3x3_hwio(x[0], kernel, bias), 0)
    np.testing.assert_allclose(out["block1_conv1"].data[0], expected, rtol=1e-5, atol=1e-5)
    pooled = expected.reshape(3, 3, 2, 3, 2).max(axis=(2, 4))           # 2x2 max pooling
    expected2 = np.maximum(conv3x3_hwio(pooled, *arrays["block2_conv1"]), 0)
    np.testing.assert_allclose(out["block2_conv1"].data[0], expected2, rtol=1e-4, atol=1e-4)


def test_keras_h5_wrong_shape_is_named(tmp_path, rng):
    write_keras_h5(tmp_path / "w.h5", ((5, 1), (4, 2)), rng)
    with pytest.raises(ValueError, match="block1_conv1 has kernel"):
        vgg.load_keras_h5(vgg.VGG19Features("max", TINY), str(tmp_path / "w.h5"))


def test_missing_weights_says_where_to_get_and_put_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert vgg.find_weights(None) is None
    message = vgg.missing_weights_message()
    assert vgg.WEIGHTS_URLS[0] in message and "keras-applications/vgg19/" + vgg.WEIGHTS_FILE in message
    assert "~/.keras/models/" + vgg.WEIGHTS_FILE in message and "--weights" in message
    with pytest.raises(FileNotFoundError, match="no such file"):
        vgg.find_weights(str(tmp_path / "nope.h5"))
    with pytest.raises(SystemExit, match="were not found"):
        st.main(["--demo", "--size", "8", "--features", "vgg", "--out", str(tmp_path / "r.png")])
    # found in the default place once it is there
    (tmp_path / ".cache" / "minigrad").mkdir(parents=True)
    (tmp_path / ".cache" / "minigrad" / vgg.WEIGHTS_FILE).write_bytes(b"")
    assert vgg.find_weights(None) == str(tmp_path / ".cache" / "minigrad" / vgg.WEIGHTS_FILE)


def test_preprocess_is_caffe_bgr_minus_mean_and_deprocess_inverts(rng):
    rgb = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    x = vgg.preprocess(rgb)
    assert x.shape == (1, 3, 4, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], rgb[:, :, 2] - 103.939, rtol=1e-6)    # B first
    np.testing.assert_allclose(x[0, 2], rgb[:, :, 0] - 123.68, rtol=1e-6)     # R last
    np.testing.assert_array_equal(vgg.deprocess(x), rgb)
    np.testing.assert_array_equal(vgg.deprocess(vgg.preprocess(rgb, "torch"), "torch"), rgb)


# ----------------------------------------------------------------------------- losses against closed forms

def test_gram_matrix_closed_form(rng):
    f = np.array([[[[1.0, 2.0], [0.0, -1.0]], [[3.0, 0.0], [1.0, 1.0]]]])      # (1, 2, 2, 2)
    # rows (1, 2, 0, -1) and (3, 0, 1, 1): G = [[1+4+0+1, 3+0+0-1], [., 9+0+1+1]]
    np.testing.assert_array_equal(st.gram_matrix(minigrad.tensor(f)).data, [[6.0, 2.0], [2.0, 11.0]])
    g = rng.standard_normal((1, 5, 3, 4))
    F = g.reshape(5, 12)
    np.testing.assert_allclose(st.gram_matrix(minigrad.tensor(g)).data, F @ F.T, rtol=1e-12)


def test_content_style_tv_losses_closed_forms(rng):
    a, b = rng.standard_normal((2, 1, 3, 4, 5))
    assert st.content_loss(minigrad.tensor(a), minigrad.tensor(b)).item() == pytest.approx(((a - b) ** 2).sum())
    S, C = rng.standard_normal((2, 3, 3))
    assert st.style_loss(minigrad.tensor(S), minigrad.tensor(C), 7.0).item() == pytest.approx(((S - C) ** 2).sum() / 7)

    x = rng.standard_normal((1, 2, 4, 5))
    expected = 0.0
    for c in range(2):
        for i in range(3):
            for j in range(4):
                expected += ((x[0, c, i, j] - x[0, c, i + 1, j]) ** 2 + (x[0, c, i, j] - x[0, c, i, j + 1]) ** 2) ** 1.25
    assert st.total_variation_loss(minigrad.tensor(x)).item() == pytest.approx(expected, rel=1e-12)
    assert st.total_variation_loss(minigrad.tensor(np.full((1, 3, 4, 4), 2.0))).item() == 0.0


def tiny_problem(rng, mode, dtype=np.float64, size=8, pool="avg"):
    if mode == "vgg":
        net = vgg.VGG19Features(pool, TINY, dtype=dtype)
        layers = dict(content_layers=TINY_CONTENT, style_layers=TINY_STYLE)
    else:
        net, layers = vgg.RandomFeatures(4, sizes=(3, 5), seed=1, dtype=dtype), {}
    content, style = (vgg.preprocess(rng.integers(0, 256, (size, size, 3))).astype(dtype) for _ in range(2))
    weights = dict(content=0.3, style=2.0, tv=0.5) if mode == "random" else dict(content=1e-3, style=1e-4, tv=1e-6)
    return net, st.StyleTransferLoss(net, content, style, weights, mode, **layers), content, style


def test_vgg_mode_total_is_the_lectures_formula(rng):
    net, loss_fn, content, style = tiny_problem(rng, "vgg")
    x = content + rng.standard_normal(content.shape) * 10
    feats = {k: v.data[0] for k, v in net(minigrad.tensor(x), TINY_CONTENT + TINY_STYLE).items()}
    c = net(minigrad.tensor(content), TINY_CONTENT)["block2_conv2"].data[0]
    s = net(minigrad.tensor(style), TINY_STYLE)
    gram = {n: f.reshape(f.shape[0], -1) @ f.reshape(f.shape[0], -1).T for n, f in feats.items()}
    expected = 1e-3 * ((feats["block2_conv2"] - c) ** 2).sum()
    for n in TINY_STYLE:
        sf = s[n].data[0].reshape(s[n].shape[1], -1)
        expected += 1e-4 / 2 * ((gram[n] - sf @ sf.T) ** 2).sum() / (4 * 9 * 64 ** 2)
    expected += 1e-6 * st.total_variation_loss(minigrad.tensor(x)).item()
    total, parts = loss_fn(minigrad.tensor(x))
    assert total.item() == pytest.approx(expected, rel=1e-10)
    assert total.item() == pytest.approx(sum(parts.values()), rel=1e-10)


def test_random_mode_is_the_normalised_formula(rng):
    net, loss_fn, content, style = tiny_problem(rng, "random")
    x = content + rng.standard_normal(content.shape) * 10
    fx, fc, fs = (net(minigrad.tensor(a)) for a in (x, content, style))
    expected_content = expected_style = 0.0
    for n in net.layer_names:                                   # random_3, random_5
        X, C, S = (f[n].data[0].reshape(4, -1) for f in (fx, fc, fs))
        M = X.shape[1]
        expected_content += ((X - C) ** 2).sum() / (C ** 2).sum() / 2
        expected_style += (((X @ X.T - S @ S.T) / M) ** 2).sum() / ((S @ S.T / M) ** 2).sum() / 2
    _, parts = loss_fn(minigrad.tensor(x))
    assert parts["content"] == pytest.approx(0.3 * expected_content, rel=1e-10)
    assert parts["style"] == pytest.approx(2.0 * expected_style, rel=1e-10)
    assert parts["tv"] == pytest.approx(0.5 * st.total_variation_loss(minigrad.tensor(x)).item() / 64, rel=1e-10)
    assert loss_fn(minigrad.tensor(content))[1]["content"] == 0.0
    assert loss_fn(minigrad.tensor(style))[1]["style"] == pytest.approx(0.0, abs=1e-20)


# ----------------------------------------------------------------------------- gradients reach the pixels

@pytest.mark.parametrize("mode", ["vgg", "random"])
def test_gradcheck_full_loss_wrt_image(rng, mode):
    _, loss_fn, content, _ = tiny_problem(rng, mode, size=8)
    x = minigrad.tensor(content + rng.standard_normal(content.shape) * 20, requires_grad=True)
    assert minigrad.gradcheck(lambda img: loss_fn(img)[0], [x], eps=1e-4, atol=1e-6, rtol=1e-4)


def test_gradcheck_with_max_pooling(rng):
    _, loss_fn, content, _ = tiny_problem(rng, "vgg", size=4, pool="max")
    x = minigrad.tensor(content + rng.standard_normal(content.shape) * 20, requires_grad=True)
    assert minigrad.gradcheck(lambda img: loss_fn(img)[0], [x], eps=1e-4, atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------- short runs lower the loss

@pytest.mark.parametrize("mode", ["vgg", "random"])
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_short_run_lowers_the_loss(rng, mode, optimizer):
    _, loss_fn, content, _ = tiny_problem(rng, mode, dtype=np.float32, size=12, pool="max")
    x = minigrad.tensor(content.copy(), requires_grad=True)
    start = loss_fn(x)[0].item()
    opt = st.make_optimizer(optimizer, x, 1.0 if optimizer == "lbfgs" else 5.0)
    history = st.optimise(loss_fn, x, opt, 5, progress=False)
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["loss"] < 0.9 * start
    assert history[-1]["loss"] == pytest.approx(loss_fn(x)[0].item(), rel=1e-5)   # logged at the final x


@pytest.mark.parametrize("scale", [1e-3, 1e-10])
def test_lbfgs_first_step_moves_pixels_even_when_the_loss_is_tiny(rng, scale):
    """PyTorch's first L-BFGS step t*g, t = min(1, 1/|g|_1), is far below float32 pixel resolution when
    g is tiny; optimise() sizes that first step in pixels instead (see its docstring)."""
    _, loss_fn, content, _ = tiny_problem(rng, "random", dtype=np.float32, size=12)
    loss_fn.weights = {k: v * scale for k, v in loss_fn.weights.items()}
    x = minigrad.tensor(content.copy(), requires_grad=True)
    start = loss_fn(x)[0].item()
    history = st.optimise(loss_fn, x, st.make_optimizer("lbfgs", x, 1.0), 3, progress=False)
    assert history[-1]["loss"] < 0.9 * start
    assert np.abs(x.data - content).max() > 1.0


def test_cli_random_features_end_to_end(tmp_path, capsys):
    out = st.main(["--demo", "--size", "16", "--steps", "2", "--save-every", "1", "--features", "random",
                   "--optimizer", "adam", "--out", str(tmp_path / "result.png"), "--no-progress"])
    assert out == str(tmp_path / "result_random-features.png") and os.path.isfile(out)
    for name in ("steps/step_0001.png", "steps/step_0002.png", "losses.png", "losses.csv"):
        assert (tmp_path / name).is_file(), name
    log = capsys.readouterr().out
    assert "UNTRAINED RANDOM FEATURES" in log and "our extension" in log and "pretrained VGG19" in log


def test_torchvision_npz_loads_convolutions_in_order(tmp_path, rng):
    net = vgg.VGG19Features("max", TINY)
    shapes = [(3, 3, 3, 3), (4, 3, 3, 3), (4, 4, 3, 3)]
    arrays = {}
    for i, shape in zip((0, 3, 5), shapes):             # torchvision's features.N skips ReLU/pool indices
        arrays[f"features.{i}.weight"] = rng.standard_normal(shape).astype(np.float32)
        arrays[f"features.{i}.bias"] = rng.standard_normal(shape[0]).astype(np.float32)
    np.savez(tmp_path / "tv.npz", **arrays)
    vgg.load_torchvision_npz(net, str(tmp_path / "tv.npz"))
    np.testing.assert_array_equal(net.block2_conv1.weight.data, arrays["features.3.weight"])
    np.testing.assert_array_equal(net.block2_conv2.bias.data, arrays["features.5.bias"])


def write_torchvision_safetensors(path, rng, shapes=((3, 3, 3, 3), (4, 3, 3, 3), (4, 4, 3, 3))):
    """A tiny file named like torchvision's VGG19 state_dict (features.N skips ReLU/pool indices, plus a classifier)."""
    arrays = {}
    for i, shape in zip((0, 3, 5), shapes):
        arrays[f"features.{i}.weight"] = rng.standard_normal(shape).astype(np.float32)
        arrays[f"features.{i}.bias"] = rng.standard_normal(shape[0]).astype(np.float32)
    arrays["classifier.0.weight"] = rng.standard_normal((2, 4)).astype(np.float32)      # not ours: ignored
    minigrad.save_safetensors(arrays, path)
    return arrays


def test_torchvision_safetensors_loads_convolutions_in_order(tmp_path, rng, monkeypatch):
    pytest.importorskip("safetensors")
    arrays = write_torchvision_safetensors(tmp_path / "tv.safetensors", rng)
    net = vgg.load_torchvision_safetensors(vgg.VGG19Features("max", TINY), str(tmp_path / "tv.safetensors"))
    np.testing.assert_array_equal(net.block1_conv1.weight.data, arrays["features.0.weight"])
    np.testing.assert_array_equal(net.block2_conv1.weight.data, arrays["features.3.weight"])
    np.testing.assert_array_equal(net.block2_conv2.bias.data, arrays["features.5.bias"])
    # --weights x.safetensors: torchvision's preprocessing (RGB, ImageNet mean and std), not Keras' caffe one
    full_size = vgg.VGG19Features
    monkeypatch.setattr(vgg, "VGG19Features", lambda pool: full_size(pool, TINY))
    model, convention = vgg.pretrained_vgg19(str(tmp_path / "tv.safetensors"), "avg")
    assert convention == "torch" and model.pool == "avg"
    np.testing.assert_array_equal(model.block2_conv1.bias.data, arrays["features.3.bias"])


def test_torchvision_safetensors_wrong_shape_or_count_is_named(tmp_path, rng):
    pytest.importorskip("safetensors")
    write_torchvision_safetensors(tmp_path / "bad.safetensors", rng, ((3, 3, 3, 3), (5, 3, 3, 3), (4, 5, 3, 3)))
    with pytest.raises(ValueError, match=r"features\.3\.weight has shape \(5, 3, 3, 3\); block2_conv1\.weight "
                                         r"expects \(4, 3, 3, 3\)"):
        vgg.load_torchvision_safetensors(vgg.VGG19Features("max", TINY), str(tmp_path / "bad.safetensors"))
    minigrad.save_safetensors({"features.0.weight": np.zeros((3, 3, 3, 3), np.float32)}, tmp_path / "short.safetensors")
    with pytest.raises(ValueError, match="1 convolutions .* the model has 3"):
        vgg.load_torchvision_safetensors(vgg.VGG19Features("max", TINY), str(tmp_path / "short.safetensors"))


def test_cli_damaged_safetensors_weights_is_one_error_line(tmp_path):
    pytest.importorskip("safetensors")
    from PIL import Image
    (tmp_path / "vgg.safetensors").write_bytes(b"not a safetensors file at all")
    for name in ("content.png", "style.png"):                     # not --demo: that needs scikit-image
        Image.fromarray(rng_image(name)).save(tmp_path / name)
    with pytest.raises(SystemExit) as info:
        st.main(["--content", str(tmp_path / "content.png"), "--style", str(tmp_path / "style.png"), "--size", "16",
                 "--steps", "1", "--weights", str(tmp_path / "vgg.safetensors"), "--out", str(tmp_path / "r.png"),
                 "--no-progress"])
    message = str(info.value.code)
    assert message.startswith("error: --weights") and "damaged or not a safetensors file" in message
    assert "\n" not in message


def rng_image(name, size=16):
    return np.random.default_rng(len(name)).integers(0, 256, (size, size, 3)).astype(np.uint8)
