"""python -m gans.train_classifier: train the Fashion-MNIST classifier behind gans.evaluate.

Writes gans/assets/classifier.ckpt (or --out) and prints the test accuracy, which should be >= 0.90.
"""
import argparse
import sys

from . import classifier, data, train, validate


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=data.DEFAULT_ROOT, metavar="DIR")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="train on the first N images only")
    p.add_argument("--out", default=classifier.WEIGHTS)
    train.add_backend_flag(p)
    args = p.parse_args(argv)
    try:
        validate.check_ranges(args, {k: validate.TRAINER_RULES[k] for k in ("epochs", "batch_size", "lr", "seed",
                                                                             "limit")})
        validate.check_out_file(args.out)
        train.select_backend(args.backend)
        model, acc = classifier.train_classifier(args.data, args.epochs, args.batch_size, args.lr,
                                                 args.seed, args.limit)
    except (data.DatasetError, validate.UserError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    classifier.save_classifier(model, acc, args.out)
    print(f"test accuracy {acc:.4f}; weights written to {args.out}")
    return acc


if __name__ == "__main__":
    main()
