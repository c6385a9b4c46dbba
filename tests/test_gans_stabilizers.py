"""gans/stabilizers.py and gans/adversarial.py: each trick does what the lecture says, on tiny networks."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.nn as nn
from gans import adversarial, stabilizers, train


def tiny_generator(latent_dim=4):
    return nn.Sequential(nn.Linear(latent_dim, 2 * 4 * 4), nn.Unflatten(1, (2, 4, 4)), nn.BatchNorm2d(2),
                         nn.ReLU(), nn.ConvTranspose2d(2, 1, 3, padding=1), nn.Tanh())


def tiny_discriminator():
    return nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
                         nn.Linear(3 * 2 * 2, 1))


def parse(*flags):
    parser = adversarial.add_flags(train.make_parser("test"))
    return parser.parse_args(["--latent-dim", "4", "--batch-size", "6", "--steps", "4", *flags])


def make_step(*flags):
    args = parse(*flags)
    minigrad.manual_seed(0)
    G, D = tiny_generator(), tiny_discriminator()
    opt_g, opt_d = adversarial.prepare(G, D, args, D, (1, 4, 4))
    step = adversarial.AdversarialStep(G, D, opt_g, opt_d, 4, args, total_steps=4,
                                       make_generator=lambda: adversarial.prepare_generator(tiny_generator(), args))
    return step, args


def real_batch(n=6, seed=0):
    return minigrad.tensor(np.random.default_rng(seed).uniform(-1, 1, (n, 1, 4, 4)).astype(np.float32))


# ----------------------------------------------------------------------------- labels, noise, replay

def test_label_targets():
    minigrad.manual_seed(0)
    real, fake = stabilizers.label_targets(5)
    assert (real.data == 1).all() and (fake.data == 0).all() and real.shape == (5, 1)
    real, fake = stabilizers.label_targets(5, real_label=0.9)          # one-sided: fakes keep 0
    assert np.allclose(real.data, 0.9) and (fake.data == 0).all()
    real, fake = stabilizers.label_targets(2000, noisy=True)
    assert 0.7 <= real.data.min() and real.data.max() <= 1.2 and real.data.std() > 0.1
    assert 0.0 <= fake.data.min() and fake.data.max() <= 0.3
    real, fake = stabilizers.label_targets(4, flip=1.0)                # every pair swapped
    assert (real.data == 0).all() and (fake.data == 1).all()
    real, _ = stabilizers.label_targets(4000, flip=0.05)
    assert 0.03 < (real.data == 0).mean() < 0.07


def test_instance_noise_decays_linearly_to_zero():
    noise = stabilizers.InstanceNoise(0.2, steps=100)
    assert [noise.std(t) for t in (0, 50, 100, 150)] == pytest.approx([0.2, 0.1, 0.0, 0.0])
    minigrad.manual_seed(0)
    x = minigrad.zeros(200, 1, 8, 8)
    assert (noise(x, 0).data.std()) == pytest.approx(0.2, rel=0.05)
    assert noise(x, 100) is x


def test_replay_buffer_mixes_old_fakes_with_their_labels():
    minigrad.manual_seed(0)
    buffer = stabilizers.ReplayBuffer(size=4, mix=0.5)
    first = minigrad.full((4, 1, 2, 2), 1.0)
    out, labels = buffer(first, minigrad.tensor(np.array([1, 1, 1, 1])))
    assert (out.data == 1).all() and (labels.data == 1).all()           # nothing old yet
    second = minigrad.full((4, 1, 2, 2), 2.0)
    out, labels = buffer(second, minigrad.tensor(np.array([2, 2, 2, 2])))
    per_image = out.data.reshape(4, -1)[:, 0]
    assert sorted(per_image) == [1, 1, 2, 2]                             # half replaced by the old batch
    assert (labels.data == per_image).all()                              # each old image with its own label
    assert (buffer.images == 2).all()                                    # the oldest dropped (size 4)
    restored = stabilizers.ReplayBuffer(size=4, mix=0.5)
    restored.load_state_dict(buffer.state_dict())
    assert restored.count == 8 and (restored.images == buffer.images).all()


# ----------------------------------------------------------------------------- D's layers

def test_minibatch_discrimination_sees_a_collapsed_batch(rng):
    layer = stabilizers.MinibatchDiscrimination(5, num_kernels=3, kernel_dim=2)
    same = minigrad.tensor(np.tile(rng.standard_normal((1, 5)), (4, 1)).astype(np.float32))
    out = layer(same)
    assert out.shape == (4, 8)
    assert np.allclose(out.data[:, 5:], 4.0)                             # exp(-0) summed over the batch of 4
    spread = minigrad.tensor(rng.standard_normal((4, 5)).astype(np.float32) * 10)
    assert (layer(spread).data[:, 5:] < 4.0).all()


def test_minibatch_discrimination_gradcheck(rng):
    layer = stabilizers.MinibatchDiscrimination(3, num_kernels=2, kernel_dim=2).double()
    x = minigrad.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    assert minigrad.gradcheck(layer, [x])


def test_minibatch_stddev_layer(rng):
    x = rng.standard_normal((4, 2, 3, 3))
    out = stabilizers.MinibatchStdDev()(minigrad.tensor(x))
    assert out.shape == (4, 3, 3, 3)
    assert np.allclose(out.data[:, 2], np.sqrt(x.var(0) + 1e-8).mean())
    assert np.allclose(out.data[:, :2], x)
    xt = minigrad.tensor(x, requires_grad=True)
    assert minigrad.gradcheck(stabilizers.MinibatchStdDev(), [xt])


def test_add_batch_features_rebuilds_the_head():
    D = tiny_discriminator()
    stabilizers.add_batch_features(D, (1, 4, 4), minibatch_std=True, minibatch_disc=5)
    kinds = [type(m).__name__ for m in D]
    assert kinds[-4:] == ["MinibatchStdDev", "Flatten", "MinibatchDiscrimination", "Linear"]
    assert D[len(D) - 1].in_features == 4 * 2 * 2 + 5
    assert D(real_batch()).shape == (6, 1)


def test_spectral_norm_makes_every_layer_1_lipschitz():
    minigrad.manual_seed(0)
    D = stabilizers.apply_spectral_norm(tiny_discriminator())
    for _ in range(30):                                                  # power iterations run in forward
        D(real_batch())
    for layer in (D[0], D[3]):
        assert "weight_orig" in dict(layer.named_parameters())
        w = layer.weight.data.reshape(layer.weight.shape[0], -1)
        assert np.linalg.svd(w, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-3)


# ----------------------------------------------------------------------------- G's weights and layers

def test_ema_averages_weights_and_copies_buffers():
    G = tiny_generator()
    ema = stabilizers.EMA(G, tiny_generator, decay=0.9)
    before = {k: v.data.copy() for k, v in ema.model.named_parameters()}
    for p in G.parameters():
        p.data += 1.0
    dict(G.named_buffers())["2.running_mean"].data[...] = 5.0
    ema.update()
    for name, p in G.named_parameters():
        assert np.allclose(dict(ema.model.named_parameters())[name].data, 0.9 * before[name] + 0.1 * p.data)
    assert (dict(ema.model.named_buffers())["2.running_mean"].data == 5.0).all()


def test_pixel_norm(rng):
    x = rng.standard_normal((2, 4, 3, 3)) * 5
    out = stabilizers.PixelNorm()(minigrad.tensor(x)).data
    assert np.allclose((out ** 2).mean(1), 1.0, atol=1e-6)
    assert minigrad.gradcheck(stabilizers.PixelNorm(), [minigrad.tensor(x, requires_grad=True)])
    G = stabilizers.use_pixel_norm(tiny_generator())
    assert isinstance(G[2], stabilizers.PixelNorm)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in G.modules())


def test_equalized_lr_scales_unit_weights_at_runtime(rng):
    minigrad.manual_seed(0)
    conv = stabilizers.equalized_lr(nn.Conv2d(8, 16, 3, padding=1).double())
    assert conv.weight_orig.data.std() == pytest.approx(1.0, rel=0.1)
    x = minigrad.tensor(rng.standard_normal((2, 8, 5, 5)))
    expected = minigrad.nn.functional.conv2d(x, conv.weight_orig * math.sqrt(2 / (8 * 9)), conv.bias, padding=1)
    assert np.allclose(conv(x).data, expected.data)
    conv.weight_orig.data *= 2                                           # the scale is applied at every call
    assert np.allclose(conv(x).data, 2 * expected.data)
    linear = stabilizers.equalized_lr(nn.Linear(3, 2).double())
    xt = minigrad.tensor(rng.standard_normal((2, 3)))
    grad, = minigrad.grad(linear(xt).sum(), linear.weight_orig)          # d sum(x (c W)ᵀ) / dW = c * sum_n x_n
    assert np.allclose(grad.data, math.sqrt(2 / 3) * np.tile(xt.data.sum(0), (2, 1)))
    names = {n for n, _ in stabilizers.apply_equalized_lr(tiny_generator()).named_parameters()}
    assert {"0.weight_orig", "4.weight_orig"} <= names


# ----------------------------------------------------------------------------- the step with the flags

def test_ttur_gives_each_network_its_learning_rate():
    step, _ = make_step("--lr", "1e-4", "--lr-d", "4e-4", "--lr-g", "1e-4")
    assert step.opt_d.param_groups[0]["lr"] == 4e-4 and step.opt_g.param_groups[0]["lr"] == 1e-4


def test_n_critic_updates_g_every_nth_step():
    step, _ = make_step("--loss", "wgan-gp", "--n-critic", "2")
    g_before = [p.data.copy() for p in step.G.parameters()]
    d_before = [p.data.copy() for p in step.D.parameters()]
    metrics = step(real_batch())
    assert all((a == p.data).all() for a, p in zip(g_before, step.G.parameters()))
    assert not all((a == p.data).all() for a, p in zip(d_before, step.D.parameters()))
    assert math.isnan(metrics["loss_g"])
    metrics = step(real_batch(seed=1))
    assert not all((a == p.data).all() for a, p in zip(g_before, step.G.parameters()))
    assert np.isfinite(metrics["loss_g"]) and step.steps == 2


@pytest.mark.parametrize("flags", [
    ("--real-label", "0.9"), ("--noisy-labels",), ("--flip-labels", "0.2"), ("--instance-noise", "0.1"),
    ("--replay", "12"), ("--minibatch-disc", "3"), ("--minibatch-std",), ("--spectral-norm",),
    ("--ema", "0.99"), ("--pixel-norm",), ("--equalized-lr",), ("--loss", "rahinge"), ("--loss", "wgan-gp"),
    ("--loss", "rsgan-gp"), ("--loss", "rasgan-gp"),
])
def test_every_flag_trains_and_its_state_survives_a_checkpoint(flags):
    step, args = make_step(*flags)
    for seed in range(2):
        metrics = step(real_batch(seed=seed))
        assert all(np.isfinite(float(v.item() if hasattr(v, "item") else v)) for v in metrics.values())
    again, _ = make_step(*flags)
    again.load_state_dict(step.state_dict())
    assert again.steps == 2
    if args.ema:
        assert step.sampler is step.ema.model
        assert all((a.data == b.data).all() for a, b in zip(again.sampler.parameters(), step.sampler.parameters()))


@pytest.mark.parametrize("name", ["rsgan", "rasgan"])
def test_the_step_adds_ten_times_the_penalty_for_the_gp_losses(name, monkeypatch):
    # Same seed, same batch: the -GP loss's D objective is the plain one plus gp_weight * penalty.
    from gans import losses
    monkeypatch.setattr(losses, "gradient_penalty", lambda critic, real, fake, *cond: minigrad.tensor(0.5))
    plain = make_step("--loss", name)[0](real_batch())["loss_d"]
    penalised = make_step("--loss", f"{name}-gp")[0](real_batch())["loss_d"]
    plain = float(plain.item() if hasattr(plain, "item") else plain)
    penalised = float(penalised.item() if hasattr(penalised, "item") else penalised)
    assert penalised - plain == pytest.approx(5.0, rel=1e-5)


def test_label_tricks_need_a_loss_with_labels():
    with pytest.raises(ValueError, match="need a loss with labels"):
        adversarial.check_flags(parse("--loss", "hinge", "--real-label", "0.9"))
    with pytest.raises(ValueError, match="pick one"):
        adversarial.check_flags(parse("--spectral-norm", "--equalized-lr"))
