"""Generators that travel as .safetensors: into PyTorch's model of the same layers and back, and through
--export-safetensors, gans.export, gans.sample, gans.evaluate and gans.translate.

The PyTorch tests build each torch model from the same layers in the same order (so the state_dict
names must agree), load with strict=True and compare images for the same noise in eval mode. They
skip without torch; the file round trips above them run everywhere the test extra is installed (CI).
"""
import json

import numpy as np
import pytest

import minigrad
from gans import checkpoint, cgan, cyclegan, dcgan, evaluate, export, sample, train_dcgan, train_gan, translate
from gans.checkpoint import CheckpointError, load_generator, save_generator_safetensors

pytest.importorskip("safetensors")
from test_gans_evaluate import synthetic_images, write_test_split  # noqa: E402
from test_gans_train import flags, tiny_data  # noqa: E402,F401  (the fixture)

CYCLE = dict(channels=3, width=4, res_blocks=2, d_layers=2, image_size=16)    # a small CycleGAN


def scramble(model, seed):
    """Random weights and running statistics (and num_batches_tracked), so eval mode uses them all."""
    rng = np.random.default_rng(seed)
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            t.data[...] = 5
        elif name.endswith("running_var"):
            t.data[...] = rng.uniform(0.5, 2.0, t.shape)
        else:
            t.data[...] = rng.normal(0, 0.1 if t.ndim > 1 else 0.5, t.shape)
    return model.eval()


def noise(n, dim, seed=1):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def run(model, *inputs):
    with minigrad.no_grad():
        return model(*(minigrad.tensor(x) for x in inputs)).data


# ----------------------------------------------------------------------------- through the file (no torch)

def test_dcgan_generator_round_trips_through_a_safetensors_file(tmp_path):
    generator = scramble(dcgan.make_generator_model(), 0)
    path = tmp_path / "g.safetensors"
    save_generator_safetensors(path, "dcgan", {"latent_dim": 100}, generator.state_dict())
    name, settings, state = load_generator(str(path))
    assert (name, settings) == ("dcgan", {"latent_dim": 100})
    assert list(state) == sorted(generator.state_dict())
    meta = minigrad.safetensors_metadata(path)
    assert meta["format"] == "minigrad-generator" and json.loads(meta["settings"]) == {"latent_dim": 100}
    again = sample.make_generator(name, settings)
    again.load_state_dict(state, strict=True)
    z = noise(4, 100)
    np.testing.assert_array_equal(run(again.eval(), z), run(generator, z))


def test_cgan_and_cyclegan_generators_round_trip_through_the_file(tmp_path):
    g = scramble(cgan.ConditionalGenerator(100), 2)
    save_generator_safetensors(tmp_path / "c.safetensors", "cgan", {"latent_dim": 100}, g.state_dict())
    name, settings, state = load_generator(str(tmp_path / "c.safetensors"))
    again = cgan.ConditionalGenerator(settings["latent_dim"])
    again.load_state_dict(state, strict=True)
    z, y = noise(3, 100), np.array([0, 4, 9])
    np.testing.assert_array_equal(run(again.eval(), z, y), run(g, z, y))

    gens = scramble(cyclegan.build_networks(CYCLE)[0], 3)
    save_generator_safetensors(tmp_path / "cy.safetensors", "cyclegan", CYCLE, gens.state_dict())
    generator, settings = translate.load_translator(str(tmp_path / "cy.safetensors"), "BtoA")
    assert settings == CYCLE
    x = np.random.default_rng(4).uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(run(generator, x), run(gens.b_to_a, x))


def test_trainers_export_safetensors_and_sample_reads_it(tiny_data, tmp_path):
    out = tmp_path / "run"
    train_dcgan.main(flags(tiny_data, out, "--steps", "2", "--export-safetensors"))
    from_ckpt, from_st = tmp_path / "a.npy", tmp_path / "b.npy"
    sample.main(["--checkpoint", str(out / "generator.ckpt"), "--n", "8", "--out", str(tmp_path / "a.png"),
                 "--npy", str(from_ckpt)])
    sample.main(["--checkpoint", str(out / "generator.safetensors"), "--n", "8", "--out", str(tmp_path / "b.png"),
                 "--npy", str(from_st)])
    np.testing.assert_array_equal(np.load(from_ckpt), np.load(from_st))
    assert (tmp_path / "b.png").is_file()


def test_export_command_converts_a_generator_checkpoint(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    train_gan.main(flags(tiny_data, out, "--steps", "2"))
    assert not (out / "generator.safetensors").exists()                 # only with --export-safetensors
    export.main(["--checkpoint", str(out / "generator.ckpt"), "--out", str(tmp_path / "gan.safetensors")])
    assert "wrote" in capsys.readouterr().out
    name, settings, state = load_generator(str(tmp_path / "gan.safetensors"))
    saved = checkpoint.load_generator(str(out / "generator.ckpt"))
    assert name == "gan" and settings == saved[1]
    for key, value in saved[2].items():
        np.testing.assert_array_equal(state[key].data, value.data)
    with pytest.raises(SystemExit):
        export.main(["--checkpoint", str(out / "generator.ckpt"), "--out", str(tmp_path / "gan.ckpt")])


def test_a_file_without_metadata_needs_arch_and_reads_the_latent_size_off_the_weights(tmp_path, capsys):
    generator = scramble(dcgan.make_generator_model(64), 5)
    path = tmp_path / "plain.safetensors"
    minigrad.save_safetensors(generator.state_dict(), path)               # no metadata, as PyTorch writes it
    with pytest.raises(SystemExit) as info:
        sample.main(["--checkpoint", str(path), "--out", str(tmp_path / "x.png")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "does not say which network" in err and "--arch" in err and err.count("\n") == 1
    name, settings, _ = load_generator(str(path), "dcgan")
    assert (name, settings) == ("dcgan", {"latent_dim": 64})
    sample.main(["--checkpoint", str(path), "--arch", "dcgan", "--n", "4", "--out", str(tmp_path / "x.png")])


def test_wrong_names_or_shapes_are_one_line_naming_key_and_shapes(tmp_path, capsys):
    from gans import gan
    path = tmp_path / "gan.safetensors"
    minigrad.save_safetensors(gan.make_generator(30).state_dict(), path)  # a gan generator, read as a dcgan one
    with pytest.raises(SystemExit):
        sample.main(["--checkpoint", str(path), "--arch", "dcgan", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert "size mismatch for 0.weight" in err and "(100, 30)" in err and "(12544, 30)" in err
    assert "Missing key(s)" in err and '"1.running_mean"' in err
    # metadata that disagrees with --arch, and a damaged file
    save_generator_safetensors(path, "gan", {"latent_dim": 30}, gan.make_generator(30).state_dict())
    with pytest.raises(CheckpointError, match="holds a gan generator .* not dcgan"):
        load_generator(str(path), "dcgan")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SystemExit):
        sample.main(["--checkpoint", str(path), "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert "damaged or not a safetensors file" in err and err.count("\n") == 1


def test_evaluate_scores_a_safetensors_generator(tmp_path, capsys):
    from gans import classifier
    minigrad.manual_seed(0)
    weights = str(tmp_path / "clf.ckpt")
    classifier.save_classifier(classifier.make_classifier(), 0.5, weights)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_test_split(data_dir, synthetic_images(50, 4))
    generator = scramble(dcgan.make_generator_model(), 6)
    minigrad.save(({"model": "dcgan", "settings": {"latent_dim": 100}, "generator": generator.state_dict()}),
                  tmp_path / "g.ckpt")
    export.main(["--checkpoint", str(tmp_path / "g.ckpt"), "--out", str(tmp_path / "g.safetensors")])
    common = ["--n", "40", "--data", str(data_dir), "--classifier", weights]
    fd_ckpt, shares_ckpt = evaluate.main(["--checkpoint", str(tmp_path / "g.ckpt")] + common)
    fd_st, shares_st = evaluate.main(["--checkpoint", str(tmp_path / "g.safetensors")] + common)
    assert fd_st == fd_ckpt and (shares_st == shares_ckpt).all()
    minigrad.save_safetensors(generator.state_dict(), tmp_path / "plain.safetensors")
    fd_plain, _ = evaluate.main(["--checkpoint", str(tmp_path / "plain.safetensors"), "--arch", "dcgan"] + common)
    assert fd_plain == fd_ckpt


# ----------------------------------------------------------------------------- PyTorch's models of the same layers

def torch_dcgan_generator(tnn, noise_dim=100):
    """dcgan.make_generator_model, layer for layer, in PyTorch."""
    return tnn.Sequential(
        tnn.Linear(noise_dim, 7 * 7 * 256, bias=False), tnn.BatchNorm1d(7 * 7 * 256), tnn.LeakyReLU(dcgan.SLOPE),
        tnn.Unflatten(1, (256, 7, 7)),
        tnn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False), tnn.BatchNorm2d(128),
        tnn.LeakyReLU(dcgan.SLOPE),
        tnn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False), tnn.BatchNorm2d(64),
        tnn.LeakyReLU(dcgan.SLOPE),
        tnn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False), tnn.Tanh())


def torch_cgan_generator(torch, tnn):
    """cgan.ConditionalGenerator, built the same way (slices of the DCGAN generator keep their indices)."""
    class ConditionalGenerator(tnn.Module):
        def __init__(self):
            super().__init__()
            net = torch_dcgan_generator(tnn)
            self.project = net[:4]
            self.label_map = tnn.Sequential(tnn.Embedding(cgan.N_CLASSES, cgan.LABEL_DIM),
                                            tnn.Linear(cgan.LABEL_DIM, 7 * 7), tnn.Unflatten(1, (1, 7, 7)))
            self.upsample = net[4:]
            self.upsample[0] = tnn.ConvTranspose2d(256 + 1, 128, 5, stride=1, padding=2, bias=False)

        def forward(self, z, y):
            return self.upsample(torch.cat([self.project(z), self.label_map(y)], dim=1))
    return ConditionalGenerator()


def torch_cyclegan_generators(tnn, channels, width, res_blocks, **_):
    """cyclegan.Generators: a_to_b and b_to_a, each cyclegan.make_generator in PyTorch."""
    class ResnetBlock(tnn.Module):
        def __init__(self, c):
            super().__init__()
            self.block = tnn.Sequential(tnn.ReflectionPad2d(1), tnn.Conv2d(c, c, 3), tnn.InstanceNorm2d(c), tnn.ReLU(),
                                        tnn.ReflectionPad2d(1), tnn.Conv2d(c, c, 3), tnn.InstanceNorm2d(c))

        def forward(self, x):
            return x + self.block(x)

    def generator():
        k = width
        layers = [tnn.ReflectionPad2d(3), tnn.Conv2d(channels, k, 7), tnn.InstanceNorm2d(k), tnn.ReLU(),
                  tnn.Conv2d(k, 2 * k, 3, stride=2, padding=1), tnn.InstanceNorm2d(2 * k), tnn.ReLU(),
                  tnn.Conv2d(2 * k, 4 * k, 3, stride=2, padding=1), tnn.InstanceNorm2d(4 * k), tnn.ReLU()]
        layers += [ResnetBlock(4 * k) for _ in range(res_blocks)]
        layers += [tnn.ConvTranspose2d(4 * k, 2 * k, 3, stride=2, padding=1, output_padding=1),
                   tnn.InstanceNorm2d(2 * k), tnn.ReLU(),
                   tnn.ConvTranspose2d(2 * k, k, 3, stride=2, padding=1, output_padding=1),
                   tnn.InstanceNorm2d(k), tnn.ReLU(), tnn.ReflectionPad2d(3), tnn.Conv2d(k, channels, 7), tnn.Tanh()]
        return tnn.Sequential(*layers)

    generators = tnn.Module()
    generators.a_to_b, generators.b_to_a = generator(), generator()
    return generators


def torch_scramble(torch, model, seed):
    """The torch twin of scramble(): random weights and statistics, num_batches_tracked 7, eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) * 1.5 + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * (0.1 if t.ndim > 1 else 0.5))
    return model.eval()


def torch_out(torch, model, *inputs):
    with torch.no_grad():
        return model(*(torch.from_numpy(np.asarray(x)) for x in inputs)).numpy()


def models(name, torch, tnn):
    """(minigrad generator, torch generator, its inputs, the module to call in minigrad / torch)."""
    if name == "dcgan":
        return dcgan.make_generator_model(), torch_dcgan_generator(tnn), (noise(4, 100),)
    if name == "cgan":
        return cgan.ConditionalGenerator(100), torch_cgan_generator(torch, tnn), (noise(4, 100), np.array([0, 3, 7, 9]))
    x = np.random.default_rng(8).uniform(-1, 1, (2, 3, 16, 16)).astype(np.float32)
    return cyclegan.build_networks(CYCLE)[0], torch_cyclegan_generators(tnn, **CYCLE), (x,)


def outputs(name, model, inputs, call):
    """Both directions of a CycleGAN, the one output of the others."""
    if name == "cyclegan":
        return np.concatenate([call(model.a_to_b, *inputs), call(model.b_to_a, *inputs)])
    return call(model, *inputs)


@pytest.mark.parametrize("name", ["dcgan", "cgan", "cyclegan"])
def test_minigrad_file_loads_strictly_into_pytorch_and_draws_the_same_images(tmp_path, name):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    from safetensors.torch import load_file
    ours, theirs, inputs = models(name, torch, tnn)
    scramble(ours, 10)
    path = tmp_path / f"{name}.safetensors"
    save_generator_safetensors(path, name, CYCLE if name == "cyclegan" else {"latent_dim": 100}, ours.state_dict())
    result = theirs.load_state_dict(load_file(str(path)), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    theirs.eval()
    mine = outputs(name, ours, inputs, run)
    torch_images = outputs(name, theirs, inputs, lambda m, *x: torch_out(torch, m, *x))
    assert mine.shape == torch_images.shape
    np.testing.assert_allclose(mine, torch_images, rtol=1e-4, atol=1e-5)
    assert (np.abs(mine) < 0.99).mean() > 0.5           # most pixels off tanh's flat ends: the weights show
    if name != "cyclegan":
        bn = [k for k in theirs.state_dict() if k.endswith("num_batches_tracked")]
        assert bn and all(theirs.state_dict()[k].item() == 5 for k in bn)


@pytest.mark.parametrize("name", ["dcgan", "cgan", "cyclegan"])
def test_pytorch_file_loads_strictly_into_minigrad_and_draws_the_same_images(tmp_path, name):
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    from safetensors.torch import save_file
    ours, theirs, inputs = models(name, torch, tnn)
    torch_scramble(torch, theirs, 11)
    path = tmp_path / f"{name}_torch.safetensors"
    save_file(theirs.state_dict(), str(path))
    ours.load_state_dict(minigrad.load_safetensors(path), strict=True)
    ours.eval()
    mine = outputs(name, ours, inputs, run)
    torch_images = outputs(name, theirs, inputs, lambda m, *x: torch_out(torch, m, *x))
    np.testing.assert_allclose(mine, torch_images, rtol=1e-4, atol=1e-5)
    assert (np.abs(mine) < 0.99).mean() > 0.5
    if name == "dcgan":                 # and the command line: gans.sample --arch dcgan on PyTorch's file
        npy = tmp_path / "s.npy"
        sample.main(["--checkpoint", str(path), "--arch", "dcgan", "--n", "3", "--seed", "2",
                     "--out", str(tmp_path / "s.png"), "--npy", str(npy)])
        z = np.random.default_rng(2).standard_normal((3, 100)).astype(np.float32)
        from gans import images
        expected = images.to_uint8(torch_out(torch, theirs, z), (-1.0, 1.0)).astype(int)
        assert np.abs(np.load(npy).astype(int) - expected).max() <= 1      # float rounding may move a pixel by one


# ----------------------------------------------------------------------------- the main job's step in both frameworks

def test_twin_bench_trains_in_lockstep_from_the_same_weights_without_dropout(tiny_data, capsys):
    pytest.importorskip("torch")
    from gans import twin_bench
    ours, theirs = twin_bench.main(["--steps", "3", "--batch-size", "4", "--no-dropout", "--eval-n", "0",
                                      "--data", tiny_data, "--threads", "1"])
    assert ours.shape == theirs.shape == (3, 2)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)          # same weights, data and noise
    np.testing.assert_allclose(ours, theirs, rtol=1e-3)                 # rounding grows a little with each update
    assert not np.allclose(ours[0], ours[2])                              # and the networks did train
    assert "dropout off" in capsys.readouterr().out
