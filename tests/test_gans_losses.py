"""gans/losses.py: every loss against the lecture's formula by hand, and WGAN-GP's penalty to second order."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.nn.functional as F
from gans import losses
from gans.losses import gradient_penalty

REAL = [2.0, -1.0]          # C(x_r) for two real images
FAKE = [0.5, -0.5]          # C(x_f) for two fakes


def sig(x):
    return 1 / (1 + math.exp(-x))


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def logits(values):
    return minigrad.tensor(np.array(values, dtype=np.float64).reshape(-1, 1))


# The lecture's formulas (notes 001), written with plain floats: log(sigmoid), max(0, .), squares.
mr, mf = mean(REAL), mean(FAKE)                     # E C(x_r) = 0.5, E C(x_f) = 0
EXPECTED = {
    "non-saturating": (-mean(math.log(sig(r)) for r in REAL) - mean(math.log(1 - sig(f)) for f in FAKE),
                       -mean(math.log(sig(f)) for f in FAKE)),
    "minimax": (-mean(math.log(sig(r)) for r in REAL) - mean(math.log(1 - sig(f)) for f in FAKE),
                mean(math.log(1 - sig(f)) for f in FAKE)),
    "lsgan": (mean((r - 1) ** 2 for r in REAL) + mean(f ** 2 for f in FAKE),
              mean((f - 1) ** 2 for f in FAKE)),
    "hinge": (mean(max(0, 1 - r) for r in REAL) + mean(max(0, 1 + f) for f in FAKE),
              -mean(FAKE)),
    "wgan-gp": (-mean(REAL) + mean(FAKE), -mean(FAKE)),
    "rsgan": (-mean(math.log(sig(r - f)) for r, f in zip(REAL, FAKE)),
              -mean(math.log(sig(f - r)) for r, f in zip(REAL, FAKE))),
    "rasgan": (-mean(math.log(sig(r - mf)) for r in REAL) - mean(math.log(1 - sig(f - mr)) for f in FAKE),
               -mean(math.log(sig(f - mr)) for f in FAKE) - mean(math.log(1 - sig(r - mf)) for r in REAL)),
    "ralsgan": (mean((r - mf - 1) ** 2 for r in REAL) + mean((f - mr + 1) ** 2 for f in FAKE),
                mean((f - mr - 1) ** 2 for f in FAKE) + mean((r - mf + 1) ** 2 for r in REAL)),
    "rahinge": (mean(max(0, 1 - (r - mf)) for r in REAL) + mean(max(0, 1 + (f - mr)) for f in FAKE),
                mean(max(0, 1 - (f - mr)) for f in FAKE) + mean(max(0, 1 + (r - mf)) for r in REAL)),
}
# The -GP losses are the relativistic ones plus gp_weight * penalty, which the training step adds.
EXPECTED["rsgan-gp"] = EXPECTED["rsgan"]
EXPECTED["rasgan-gp"] = EXPECTED["rasgan"]


def test_every_loss_has_a_hand_computed_value():
    assert set(EXPECTED) == set(losses.LOSSES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loss_matches_the_lecture_formula(name):
    loss = losses.get_loss(name)
    d_expected, g_expected = EXPECTED[name]
    assert loss.d_loss(logits(REAL), logits(FAKE)).item() == pytest.approx(d_expected, rel=1e-12)
    assert loss.g_loss(logits(REAL), logits(FAKE)).item() == pytest.approx(g_expected, rel=1e-12)


def test_a_few_values_worked_out_on_paper():
    r, f = logits(REAL), logits(FAKE)
    # hinge D: mean(max(0, -1), max(0, 2)) + mean(max(0, 1.5), max(0, 0.5)) = 1 + 1 = 2
    assert losses.get_loss("hinge").d_loss(r, f).item() == pytest.approx(2.0)
    # LSGAN D: mean(1, 4) + mean(0.25, 0.25) = 2.75;  G: mean(0.25, 2.25) = 1.25
    assert losses.get_loss("lsgan").d_loss(r, f).item() == pytest.approx(2.75)
    assert losses.get_loss("lsgan").g_loss(r, f).item() == pytest.approx(1.25)
    # WGAN critic: -0.5 + 0 = -0.5
    assert losses.get_loss("wgan-gp").d_loss(r, f).item() == pytest.approx(-0.5)
    # RaLSGAN D: mean((2-0-1)^2, (-1-0-1)^2) + mean((0.5-0.5+1)^2, (-0.5-0.5+1)^2) = 2.5 + 0.5 = 3
    assert losses.get_loss("ralsgan").d_loss(r, f).item() == pytest.approx(3.0)
    # D that cannot tell (all logits 0): the SGAN D loss is 2 log 2, G's log 2
    zero = logits([0.0, 0.0])
    assert losses.get_loss("non-saturating").d_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert losses.get_loss("non-saturating").g_loss(zero, zero).item() == pytest.approx(math.log(2))


def test_lsgan_is_the_lectures_game_with_the_labels_swapped():
    # The lecture's L_D = E[(C'(x_r) - 0)^2] + E[(C'(x_f) - 1)^2] with C' = 1 - C equals ours.
    lecture = mean((1 - r) ** 2 for r in REAL) + mean((1 - f - 1) ** 2 for f in FAKE)
    assert losses.get_loss("lsgan").d_loss(logits(REAL), logits(FAKE)).item() == pytest.approx(lecture)


def test_sgan_losses_stay_finite_for_huge_logits():
    big, small = logits([500.0, 800.0]), logits([-500.0, -900.0])
    for name in ("non-saturating", "minimax", "rsgan", "rasgan"):
        loss = losses.get_loss(name)
        for a, b in ((big, small), (small, big)):
            assert np.isfinite(loss.d_loss(a, b).item()) and np.isfinite(loss.g_loss(a, b).item())


def test_label_targets_reach_the_losses_with_labels():
    r, f = logits(REAL), logits(FAKE)
    loss = losses.get_loss("non-saturating")
    smoothed = loss.d_loss(r, f, real_target=0.9)
    expected = mean(-(0.9 * math.log(sig(x)) + 0.1 * math.log(1 - sig(x))) for x in REAL) \
        - mean(math.log(1 - sig(x)) for x in FAKE)
    assert smoothed.item() == pytest.approx(expected)
    per_sample = loss.d_loss(r, f, real_target=logits([1.0, 0.0]), fake_target=logits([0.0, 1.0]))
    manual = F.binary_cross_entropy_with_logits(r, logits([1.0, 0.0])) + \
        F.binary_cross_entropy_with_logits(f, logits([0.0, 1.0]))
    assert per_sample.item() == pytest.approx(manual.item())
    assert losses.get_loss("lsgan").d_loss(r, f, 0.9, 0.1).item() == pytest.approx(
        mean((x - 0.9) ** 2 for x in REAL) + mean((x - 0.1) ** 2 for x in FAKE))
    assert {n for n, cls in losses.LOSSES.items() if cls.uses_labels} == {"non-saturating", "minimax", "lsgan"}


def test_generator_gradient_points_the_right_way():
    # Every G loss must fall when the fakes' logits rise (G wants its fakes judged more real).
    for name in losses.LOSSES:
        f = logits([0.3, -0.2]).requires_grad_()
        g, = minigrad.grad(losses.get_loss(name).g_loss(logits([0.1, 0.4]), f), f)
        assert (g.data < 0).all(), name


def test_unknown_loss_names_the_choices():
    with pytest.raises(ValueError, match="wgan-gp"):
        losses.get_loss("wgan")


# ----------------------------------------------------------------------------- gradient penalty

def test_penalty_of_a_linear_critic_is_worked_out_by_hand():
    # C(x) = <x, w> has gradient w everywhere: ||w|| = 5, penalty (5 - 1)^2 = 16 whatever eps is.
    w = minigrad.tensor(np.array([3.0, 0.0, 0.0, 4.0]))

    def critic(x):
        return (x.reshape(len(x), -1) * w).sum(1, keepdim=True)
    real, fake = minigrad.randn(3, 1, 2, 2, dtype=minigrad.float64), minigrad.randn(3, 1, 2, 2, dtype=minigrad.float64)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)


def test_penalty_uses_one_eps_per_sample_in_the_unit_interval():
    # C(x) = |x|^2 / 2 has gradient x^ = eps * 1 + (1 - eps) * 0 = eps, so ||grad|| = eps * sqrt(4) = 2 eps.
    def critic(x):
        return (x * x).reshape(len(x), -1).sum(1, keepdim=True) / 2
    real, fake = minigrad.ones(2, 1, 2, 2, dtype=minigrad.float64), minigrad.zeros(2, 1, 2, 2, dtype=minigrad.float64)
    value = gradient_penalty(critic, real, fake, eps=np.array([0.25, 1.0])).item()
    assert value == pytest.approx(((0.5 - 1) ** 2 + (2.0 - 1) ** 2) / 2)
    minigrad.manual_seed(3)
    n = 4000
    real, fake = minigrad.ones(n, 1, 1, 1, dtype=minigrad.float64), minigrad.zeros(n, 1, 1, 1, dtype=minigrad.float64)
    drawn = gradient_penalty(critic, real, fake).item()        # E[(eps - 1)^2] = 1/3 for eps ~ U[0, 1]
    assert drawn == pytest.approx(1 / 3, abs=0.02)


def small_critic(x, w1, b1, w2):
    """conv 3x3 -> leaky relu -> linear: a tiny critic whose second derivatives are not zero (tanh)."""
    h = F.conv2d(x, w1, b1, stride=1, padding=1)            # (N, 2, 3, 3)
    h = h.tanh()
    return h.reshape(len(x), -1) @ w2                      # (N, 1)


def critic_weights(rng):
    return [minigrad.tensor(rng.standard_normal(s) * 0.5, requires_grad=True) for s in ((2, 1, 3, 3), (2,), (18, 1))]


def test_penalty_gradient_wrt_the_critic_weights_matches_finite_differences(rng):
    weights = critic_weights(rng)
    real = minigrad.tensor(rng.standard_normal((2, 1, 3, 3)))
    fake = minigrad.tensor(rng.standard_normal((2, 1, 3, 3)))
    eps = np.array([0.3, 0.8])

    def penalty(w1, b1, w2):
        return gradient_penalty(lambda x: small_critic(x, w1, b1, w2), real, fake, eps=eps)
    assert minigrad.gradcheck(penalty, weights)


def test_critic_second_derivatives_pass_gradgradcheck(rng):
    weights = critic_weights(rng)
    x = minigrad.tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    assert minigrad.gradgradcheck(small_critic, [x] + weights)


def test_penalty_gradgradcheck_with_respect_to_the_last_layer(rng):
    w1, b1, w2 = (w.detach() for w in critic_weights(rng))
    real = minigrad.tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    fake = minigrad.tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)

    def penalty_of_weights_as_inputs(w2_):
        return gradient_penalty(lambda x: small_critic(x, w1, b1, w2_), real, fake, eps=np.array([0.5, 0.2]))
    assert minigrad.gradgradcheck(penalty_of_weights_as_inputs, [w2.requires_grad_()])


# ----------------------------------------------------------------------------- RSGAN-GP and RaSGAN-GP

W = np.array([3.0, 0.0, 0.0, 4.0])                  # C(x) = <x, w>: ||grad C|| = ||w|| = 5 everywhere
# Images whose logits under that critic are REAL = [2, -1] and FAKE = [0.5, -0.5]:
REAL_IMAGES = np.array([[2 / 3, 0, 0, 0], [0, 0, 0, -0.25]]).reshape(2, 1, 2, 2)
FAKE_IMAGES = np.array([[0, 0, 0, 0.125], [0, 0, 0, -0.125]]).reshape(2, 1, 2, 2)


def linear_critic(x):
    return (x.reshape(len(x), -1) * minigrad.tensor(W)).sum(1, keepdim=True)


@pytest.mark.parametrize("name, plain", [("rsgan-gp", "rsgan"), ("rasgan-gp", "rasgan")])
def test_relativistic_gp_critic_loss_worked_out_by_hand(name, plain):
    # The notes' L_D with lambda = 10 and the linear critic: the relativistic term + 10 * (5 - 1)^2.
    loss = losses.get_loss(name)
    assert loss.gp_weight == 10.0 and loss.g_uses_real
    real, fake = minigrad.tensor(REAL_IMAGES), minigrad.tensor(FAKE_IMAGES)
    real_logits, fake_logits = linear_critic(real), linear_critic(fake)
    assert real_logits.data.ravel().tolist() == pytest.approx(REAL)
    assert fake_logits.data.ravel().tolist() == pytest.approx(FAKE)
    total = loss.d_loss(real_logits, fake_logits) + loss.gp_weight * gradient_penalty(linear_critic, real, fake)
    by_hand = {"rsgan-gp": -mean(math.log(sig(r - f)) for r, f in zip(REAL, FAKE)),
               "rasgan-gp": -mean(math.log(sig(r - mf)) for r in REAL) - mean(math.log(1 - sig(f - mr)) for f in FAKE)}
    assert total.item() == pytest.approx(by_hand[name] + 10 * 16, rel=1e-12)
    # rsgan-gp: -(log sig(1.5) + log sig(-0.5)) / 2 = 0.58775, so 160.58775
    if name == "rsgan-gp":
        assert total.item() == pytest.approx(160.587745, abs=1e-5)
    assert losses.get_loss(plain).gp_weight == 0.0          # the plain relativistic losses stay unpenalised
    g = loss.g_loss(real_logits, fake_logits).item()
    assert g == pytest.approx(losses.get_loss(plain).g_loss(real_logits, fake_logits).item())


def test_every_loss_has_a_row_in_the_comparison_table():
    from gans import compare
    compared = {flags[flags.index("--loss") + 1] for _, flags in compare.ROWS if "--loss" in flags}
    assert set(losses.LOSSES) - compared == {"non-saturating"}          # the default: the first row, no flags
