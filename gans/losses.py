"""The GAN loss family of the lectures (notes 001), one small class each, picked with `--loss NAME`.

Every loss takes the discriminator's raw outputs, its *logits* C(x) (no sigmoid), on a real batch
and on a fake batch of the same size, and has the same two methods:

    loss.d_loss(real_logits, fake_logits)    what D (the critic) minimises
    loss.g_loss(real_logits, fake_logits)    what G minimises (most ignore real_logits)

Written with softplus(x) = log(1 + exp(x)), so that for sigmoid(x) = 1 / (1 + exp(-x)):

    -log(sigmoid(x))     = softplus(-x)
    -log(1 - sigmoid(x)) = softplus(x)

which stays finite for any logit. E[...] is a mean over the batch. The losses that compare a real
with a fake logit in pairs (RSGAN) pair them by position; the "relativistic average" ones (Ra*)
compare each logit with the mean logit of the other batch:

    D~(x_r) = C(x_r) - E C(x_f)         D~(x_f) = C(x_f) - E C(x_r)

The losses with labels (minimax, non-saturating, LSGAN) take targets for the label tricks of
stabilizers.py (`--real-label 0.9`, noisy labels, flips): d_loss(real, fake, real_target, fake_target),
each a number or a tensor shaped like the logits. WGAN-GP, RSGAN-GP and RaSGAN-GP add
gp_weight * `gradient_penalty` to the critic's loss (the training step does, adversarial.py).
"""
import minigrad
import minigrad.nn.functional as F


def _target_like(logits, target):
    return minigrad.full_like(logits, target) if isinstance(target, (int, float)) else target


class Loss:
    name = ""
    uses_labels = False          # accepts real_target / fake_target (the label tricks)
    gp_weight = 0.0              # lambda of the gradient penalty (WGAN-GP: 10)
    g_uses_real = False          # G's loss depends on C(x_r) too (the relativistic losses)

    def d_loss(self, real_logits, fake_logits):
        raise NotImplementedError

    def g_loss(self, real_logits, fake_logits):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class NonSaturating(Loss):
    """SGAN, the default: D is a binary classifier, G maximises log D(G(z)) instead of minimising
    log(1 - D(G(z))) (strong gradients when D rejects the fakes early on).

        L_D = -E[log sigmoid(C(x_r))] - E[log(1 - sigmoid(C(x_f)))]     (binary cross-entropy, targets 1 and 0)
        L_G = -E[log sigmoid(C(x_f))]
    """
    name = "non-saturating"
    uses_labels = True

    def d_loss(self, real_logits, fake_logits, real_target=1.0, fake_target=0.0):
        real_loss = F.binary_cross_entropy_with_logits(real_logits, _target_like(real_logits, real_target))
        fake_loss = F.binary_cross_entropy_with_logits(fake_logits, _target_like(fake_logits, fake_target))
        return real_loss + fake_loss

    def g_loss(self, real_logits, fake_logits):
        return F.softplus(-fake_logits).mean()


class Minimax(NonSaturating):
    """Goodfellow's original game: min_G max_D E[log D(x)] + E[log(1 - D(G(z)))].

        L_D = -E[log sigmoid(C(x_r))] - E[log(1 - sigmoid(C(x_f)))]     (as non-saturating)
        L_G =  E[log(1 - sigmoid(C(x_f)))]                               (saturates: tiny gradient when D wins)
    """
    name = "minimax"

    def g_loss(self, real_logits, fake_logits):
        return -F.softplus(fake_logits).mean()


class LSGAN(Loss):
    """Least squares (Mao et al.): D regresses real to 1 and fake to 0, G pulls fakes to 1.

        L_D = E[(C(x_r) - 1)^2] + E[(C(x_f) - 0)^2]
        L_G = E[(C(x_f) - 1)^2]

    The lecture writes the same game with the labels the other way round (real 0, fake 1):
    L_D = E[(C(x_r) - 0)^2] + E[(C(x_f) - 1)^2], L_G = E[(C(x_f) - 0)^2]; its C is 1 - ours.
    Here, as in every other loss, a larger C means "more real".
    """
    name = "lsgan"
    uses_labels = True

    def d_loss(self, real_logits, fake_logits, real_target=1.0, fake_target=0.0):
        return (F.mse_loss(real_logits, _target_like(real_logits, real_target))
                + F.mse_loss(fake_logits, _target_like(fake_logits, fake_target)))

    def g_loss(self, real_logits, fake_logits):
        return ((fake_logits - 1) ** 2).mean()


class Hinge(Loss):
    """Hinge loss (SAGAN, BigGAN): D stops pushing once a logit is beyond the margin 1.

        L_D = E[max(0, 1 - C(x_r))] + E[max(0, 1 + C(x_f))]
        L_G = -E[C(x_f)]
    """
    name = "hinge"

    def d_loss(self, real_logits, fake_logits):
        return (1 - real_logits).relu().mean() + (1 + fake_logits).relu().mean()

    def g_loss(self, real_logits, fake_logits):
        return -fake_logits.mean()


class WGANGP(Loss):
    """Wasserstein GAN with gradient penalty (Gulrajani et al.): C is a critic, not a classifier.

        L_D = -E[C(x_r)] + E[C(x_f)] + lambda E[(||grad_x^ C(x^)||_2 - 1)^2]
        L_G = -E[C(x_f)]
        x^ = eps x_r + (1 - eps) x_f,  eps ~ U[0, 1] one per sample,  lambda = 10

    d_loss is the first two terms; the training step adds gp_weight * gradient_penalty(critic, ...).
    Train the critic more often than G (`--n-critic 5`) and keep batch norm out of it (the penalty
    is per sample, batch norm mixes samples).
    """
    name = "wgan-gp"
    gp_weight = 10.0

    def d_loss(self, real_logits, fake_logits):
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, real_logits, fake_logits):
        return -fake_logits.mean()


class RSGAN(Loss):
    """Relativistic standard GAN (Jolicoeur-Martineau): D says how much more real x_r is than x_f.

        L_D = -E_(x_r, x_f)[log sigmoid(C(x_r) - C(x_f))]
        L_G = -E_(x_r, x_f)[log sigmoid(C(x_f) - C(x_r))]
    """
    name = "rsgan"
    g_uses_real = True

    def d_loss(self, real_logits, fake_logits):
        return F.softplus(fake_logits - real_logits).mean()

    def g_loss(self, real_logits, fake_logits):
        return F.softplus(real_logits - fake_logits).mean()


class RaSGAN(Loss):
    """Relativistic average standard GAN, with D~(x_r) = sigmoid(C(x_r) - E C(x_f)) and
    D~(x_f) = sigmoid(C(x_f) - E C(x_r)):

        L_D = -E[log D~(x_r)] - E[log(1 - D~(x_f))]
        L_G = -E[log D~(x_f)] - E[log(1 - D~(x_r))]
    """
    name = "rasgan"
    g_uses_real = True

    def d_loss(self, real_logits, fake_logits):
        real_vs_fake, fake_vs_real = _relative(real_logits, fake_logits)
        return F.softplus(-real_vs_fake).mean() + F.softplus(fake_vs_real).mean()

    def g_loss(self, real_logits, fake_logits):
        real_vs_fake, fake_vs_real = _relative(real_logits, fake_logits)
        return F.softplus(-fake_vs_real).mean() + F.softplus(real_vs_fake).mean()


class RaLSGAN(Loss):
    """Relativistic average least squares:

        L_D = E[(C(x_r) - E C(x_f) - 1)^2] + E[(C(x_f) - E C(x_r) + 1)^2]
        L_G = E[(C(x_f) - E C(x_r) - 1)^2] + E[(C(x_r) - E C(x_f) + 1)^2]
    """
    name = "ralsgan"
    g_uses_real = True

    def d_loss(self, real_logits, fake_logits):
        real_vs_fake, fake_vs_real = _relative(real_logits, fake_logits)
        return ((real_vs_fake - 1) ** 2).mean() + ((fake_vs_real + 1) ** 2).mean()

    def g_loss(self, real_logits, fake_logits):
        real_vs_fake, fake_vs_real = _relative(real_logits, fake_logits)
        return ((fake_vs_real - 1) ** 2).mean() + ((real_vs_fake + 1) ** 2).mean()


class RaHinge(Loss):
    """Relativistic average hinge, with D~(x_r) = C(x_r) - E C(x_f) and D~(x_f) = C(x_f) - E C(x_r):

        L_D = E[max(0, 1 - D~(x_r))] + E[max(0, 1 + D~(x_f))]
        L_G = E[max(0, 1 - D~(x_f))] + E[max(0, 1 + D~(x_r))]
    """
    name = "rahinge"
    g_uses_real = True

    def d_loss(self, real_logits, fake_logits):
        real_vs_fake, fake_vs_real = _relative(real_logits, fake_logits)
        return (1 - real_vs_fake).relu().mean() + (1 + fake_vs_real).relu().mean()

    def g_loss(self, real_logits, fake_logits):
        real_vs_fake, fake_vs_real = _relative(real_logits, fake_logits)
        return (1 - fake_vs_real).relu().mean() + (1 + real_vs_fake).relu().mean()


class RSGANGP(RSGAN):
    """RSGAN with the gradient penalty of WGAN-GP on the relativistic critic C (notes 001, RSGAN-GP):

        L_D = -E_(x_r, x_f)[log sigmoid(C(x_r) - C(x_f))] + lambda E[(||grad_x^ C(x^)||_2 - 1)^2]
        L_G = -E_(x_r, x_f)[log sigmoid(C(x_f) - C(x_r))]
        x^ = eps x_r + (1 - eps) x_f,  eps ~ U[0, 1] one per sample,  lambda = 10

    d_loss and g_loss are RSGAN's; the training step adds gp_weight * gradient_penalty(critic, ...),
    exactly as for WGAN-GP. The penalty is on C, the logit, not on sigmoid(C(x_r) - C(x_f)).
    """
    name = "rsgan-gp"
    gp_weight = 10.0


class RaSGANGP(RaSGAN):
    """RaSGAN with the gradient penalty on the critic C (notes 001, RaSGAN-GP), with
    D~(x_r) = sigmoid(C(x_r) - E C(x_f)) and D~(x_f) = sigmoid(C(x_f) - E C(x_r)):

        L_D = -E[log D~(x_r)] - E[log(1 - D~(x_f))] + lambda E[(||grad_x^ C(x^)||_2 - 1)^2]
        L_G = -E[log D~(x_f)] - E[log(1 - D~(x_r))]
        x^ = eps x_r + (1 - eps) x_f,  eps ~ U[0, 1] one per sample,  lambda = 10

    d_loss and g_loss are RaSGAN's; the training step adds gp_weight * gradient_penalty(critic, ...).
    """
    name = "rasgan-gp"
    gp_weight = 10.0


def _relative(real_logits, fake_logits):
    """(C(x_r) - E C(x_f), C(x_f) - E C(x_r)): each logit relative to the other batch's mean."""
    return real_logits - fake_logits.mean(), fake_logits - real_logits.mean()


LOSSES = {cls.name: cls for cls in (NonSaturating, Minimax, LSGAN, Hinge, WGANGP, RSGAN, RaSGAN, RaLSGAN, RaHinge,
                                    RSGANGP, RaSGANGP)}


def get_loss(name):
    """The loss called `name` (see LOSSES), e.g. get_loss("wgan-gp")."""
    if name not in LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]()


# ----------------------------------------------------------------------------- the gradient penalty (WGAN-GP, RSGAN-GP, RaSGAN-GP)

def gradient_penalty(critic, real, fake, *critic_args, eps=None):
    """E[(||grad_x^ C(x^)||_2 - 1)^2] on x^ = eps x_r + (1 - eps) x_f, one eps ~ U[0, 1] per sample.

    The gradient is taken with create_graph=True, so the penalty is itself differentiable with
    respect to the critic's weights (a second derivative: backward through a backward).
    `critic_args` are passed on to the critic after the images (the labels of a conditional D);
    `eps` (N,) fixes the mixing weights (tests), otherwise they are drawn from minigrad's RNG.
    """
    n = real.shape[0]
    if eps is None:
        eps = minigrad.rand(n, dtype=real.dtype)
    eps = minigrad.tensor(eps, dtype=real.dtype).reshape(n, *([1] * (real.ndim - 1)))   # (N, 1, 1, 1)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_()
    scores = critic(x_hat, *critic_args)                                       # (N, 1)
    grad, = minigrad.grad(scores.sum(), x_hat, create_graph=True)             # (N, C, H, W): dC/dx^ per sample
    norms = (grad.reshape(n, -1) ** 2).sum(1).sqrt()                           # (N,)
    return ((norms - 1) ** 2).mean()
