"""python -m gans.train_cgan: the conditional DCGAN on Fashion-MNIST (see cgan.py), then its scores.

    python -m gans.train_cgan                               1.25 epochs at batch 16, non-saturating loss
    python -m gans.train_cgan --loss hinge --spectral-norm  any loss and stabiliser of the gallery
    python -m gans.train_cgan --evaluate-only               score runs/cgan/generator.ckpt again

Writes what every trainer writes (samples/epoch_001.png: a 10 x 10 grid, row r = class r, the GIF,
losses.png, metrics.csv, checkpoints), then scores the generator: the share of 10,000 generated
images (1,000 per class) that the project's classifier puts in the intended class, and the Fréchet
distance to the real test images (gans/evaluate.py). `--eval-n 0` skips the scoring.
"""
import os
import sys

from . import adversarial, cgan, data, parallel, train
from .checkpoint import CheckpointError, load_generator

# the main job's CPU budget (train_dcgan.py): many small updates, the DCGAN paper's Adam
DEFAULTS = dict(epochs=1.25, batch_size=16, lr=2e-4, beta1=0.5, beta2=0.999, latent_dim=100,
                sample_every=250, out="runs/cgan")


def make_parser():
    parser = train.make_parser(__doc__.splitlines()[0], **DEFAULTS)
    adversarial.add_flags(parser)
    parser.add_argument("--eval-n", type=int, default=10000, help="images to score after training (0: none)")
    parser.add_argument("--evaluate-only", action="store_true", help="only score OUT/generator.ckpt")
    return parser


def score(args):
    """Load OUT/generator.ckpt and print its class accuracy and Fréchet distance."""
    path = os.path.join(args.out, "generator.ckpt")
    name, settings, state_dict = load_generator(path)
    if name != "cgan":
        raise CheckpointError(f"{path}: a {name} generator, not a cgan one")
    generator = adversarial.prepare_generator(cgan.ConditionalGenerator(settings["latent_dim"]), args)
    generator.load_state_dict(state_dict)
    accuracy, fd, per_class, spread = cgan.evaluate_generator(generator, settings["latent_dim"], n=args.eval_n,
                                                      root=args.data)
    print(f"class accuracy (the classifier agrees with the asked-for class): {accuracy:.1%} "
          f"of {args.eval_n} images")
    for name, acc in zip(data.CLASSES, per_class):
        print(f"  {name:<12} {acc:6.1%}")
    print(f"Fréchet distance (classifier features, vs the real test images): {fd:.3f}")
    print(f"within-class spread (pixel std across one class's images; real test images 0.39, "
          f"one picture per class 0): {spread:.3f}")
    return accuracy, fd


def main(argv=None):
    args = train.parse_args(make_parser(), argv)
    try:
        adversarial.check_flags(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    if not args.evaluate_only:
        train.run(args, cgan.build, settings=adversarial.flag_names())
    if args.eval_n > 0 and parallel.is_writer():      # on N ranks (--distributed), rank 0 scores
        try:
            return score(args)
        except (CheckpointError, data.DatasetError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2)


if __name__ == "__main__":
    main()
