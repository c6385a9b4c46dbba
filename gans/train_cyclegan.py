"""python -m gans.train_cyclegan: CycleGAN (see cyclegan.py) on two Fashion-MNIST classes or two folders.

    python -m gans.train_cyclegan                                   sneakers <-> ankle boots, offline
    python -m gans.train_cyclegan --classes 5,7                     sandals <-> sneakers
    python -m gans.train_cyclegan --dataroot horse2zebra            trainA/trainB (testA/testB for the grids)
    python -m gans.train_cyclegan --domain-a DIR --domain-b DIR     any two folders of pictures

The default demo translates 32x32 sneakers (class 7) into ankle boots (class 9) and back with small
networks (width 16, 3 residual blocks, 34x34 patches), 1000 images a domain, batch 8, 5 epochs
(625 steps): sized for about 15 minutes on 2 CPU cores. The paper's setting is
`--image-size 256 --width 64 --res-blocks 9 --d-layers 3 --batch-size 1 --epochs 200`.

Outputs, through the shared loop (train.py): samples/epoch_NNN.png (rows: A, A->B, A->B->A, B,
B->A, B->A->B for 8 fixed test images a domain), progress.gif, losses.png (adversarial, cycle and
identity terms of both directions, and both discriminators), metrics.csv, checkpoint.ckpt (exact
--resume) and generator.ckpt (both generators, for gans.translate). For the Fashion-MNIST demo,
translation.csv adds a number per epoch: the share of A->B translations the project's classifier
(gans/classifier.py) calls class B, the same for B->A, and the mean cycle reconstruction error.
"""
import os

import numpy as np
from tqdm import tqdm

import minigrad
import minigrad.distributed as dist

from . import classifier, cyclegan, data, image_folders, images, train

DEFAULTS = dict(epochs=5, batch_size=8, lr=2e-4, beta1=0.5, beta2=0.999, limit=1000, out="runs/cyclegan")
SETTINGS = ("width", "res_blocks", "d_layers", "image_size", "channels", "lambda_cycle", "lambda_identity",
            "pool_size", "decay_from", "classes", "domain_a", "domain_b", "dataroot")
SCORES = ("epoch", "a_to_b_is_b", "b_to_a_is_a", "cycle_error_a", "cycle_error_b")


def make_parser():
    p = train.make_parser(__doc__.splitlines()[0], **DEFAULTS)
    g = p.add_argument_group("CycleGAN")
    g.add_argument("--classes", default="7,9", metavar="A,B",
                   help="the two Fashion-MNIST classes of the offline demo (7 sneaker, 9 ankle boot, 5 sandal)")
    g.add_argument("--domain-a", metavar="DIR", help="a folder of pictures of domain A (with --domain-b)")
    g.add_argument("--domain-b", metavar="DIR", help="a folder of pictures of domain B")
    g.add_argument("--dataroot", metavar="DIR", help="a CycleGAN dataset: DIR/trainA, DIR/trainB (, testA, testB)")
    g.add_argument("--image-size", type=int, default=32, help="square side the pictures are brought to (multiple of 4)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="1 grey or 3 colour (default: 1 for Fashion-MNIST, 3 for folders)")
    g.add_argument("--width", type=int, default=16, help="k of the paper's c7s1-k generator and C64 discriminator (64)")
    g.add_argument("--res-blocks", type=int, default=3, help="residual blocks in each generator (paper: 9 at 256x256)")
    g.add_argument("--d-layers", type=int, default=2,
                   help="stride-2 layers of the PatchGAN: 3 judges 70x70 patches (the paper), 2 34x34")
    g.add_argument("--lambda-cycle", type=float, default=cyclegan.LAMBDA_CYCLE, help="weight of the cycle loss")
    g.add_argument("--lambda-identity", type=float, default=cyclegan.LAMBDA_IDENTITY,
                   help="weight of the identity loss, as a share of --lambda-cycle (0 turns it off)")
    g.add_argument("--pool-size", type=int, default=cyclegan.POOL_SIZE, help="past fakes kept for D (0: none)")
    g.add_argument("--decay-from", type=float, default=0.5,
                   help="share of --epochs after which the lr decays linearly to 0 (paper: 100 of 200 epochs); "
                        "--steps only stops the run earlier or later")
    g.add_argument("--eval-images", type=int, default=200,
                   help="Fashion-MNIST test images a domain translated for translation.csv after each epoch")
    return p


# ----------------------------------------------------------------------------- the two domains

def load_domains(args):
    """dict(train_a, train_b, test_a, test_b) of uint8 (N, C, S, S); test_* may repeat the training images."""
    if args.image_size % 4:
        raise train.UserError(f"--image-size {args.image_size}: the generator halves it twice, so it must be a "
                              "multiple of 4")
    if args.dataroot or args.domain_a or args.domain_b:
        if args.dataroot:
            train_a, train_b, test_a, test_b = image_folders.dataroot_folders(args.dataroot)
        elif args.domain_a and args.domain_b:
            train_a, train_b, test_a, test_b = args.domain_a, args.domain_b, None, None
        else:
            raise train.UserError("--domain-a and --domain-b go together (or give --dataroot)")
        load = lambda folder, limit: image_folders.load_folder(folder, args.image_size, args.channels, limit)
        domains = {"train_a": load(train_a, args.limit), "train_b": load(train_b, args.limit)}
        domains["test_a"] = load(test_a, 8) if test_a else domains["train_a"][:8]
        domains["test_b"] = load(test_b, 8) if test_b else domains["train_b"][:8]
        return domains
    class_a, class_b = parse_classes(args.classes)
    get = lambda label, split, limit: image_folders.fashion_class(label, split, args.image_size, args.data, limit)
    return {"train_a": get(class_a, "train", args.limit), "train_b": get(class_b, "train", args.limit),
            "test_a": get(class_a, "test", args.eval_images), "test_b": get(class_b, "test", args.eval_images)}


def parse_classes(text):
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise train.UserError(f"--classes {text!r}: expected two class numbers such as 7,9") from None
    if not (0 <= a <= 9 and 0 <= b <= 9 and a != b):
        raise train.UserError(f"--classes {text!r}: two different Fashion-MNIST classes 0..9 "
                              f"({', '.join(f'{i} {n}' for i, n in enumerate(data.CLASSES))})")
    return a, b


# ----------------------------------------------------------------------------- the number: translation.csv

def translation_scores(generators, model, test_a, test_b, class_a, class_b, batch_size=100):
    """How often the classifier calls A->B translations class B (and B->A class A), and the mean
    absolute cycle error |F(G(a)) - a| (and |G(F(b)) - b|) in the [-1, 1] pixel scale."""
    a, b = image_folders.scale(test_a), image_folders.scale(test_b)
    fake_b, rec_a, fake_a, rec_b = [], [], [], []
    with minigrad.no_grad():
        for start in range(0, max(len(a), len(b)), batch_size):
            x, y = minigrad.tensor(a[start:start + batch_size]), minigrad.tensor(b[start:start + batch_size])
            if len(x):
                fake_b.append(generators.a_to_b(x))
                rec_a.append(generators.b_to_a(fake_b[-1]).data)
            if len(y):
                fake_a.append(generators.b_to_a(y))
                rec_b.append(generators.a_to_b(fake_a[-1]).data)
    fake_b, fake_a = (np.concatenate([t.data for t in ts]) for ts in (fake_b, fake_a))
    says = lambda x: classifier.features_and_logits(model, image_folders.to_28x28(x))[1].argmax(1)
    return {"a_to_b_is_b": float(np.mean(says(fake_b) == class_b)),
            "b_to_a_is_a": float(np.mean(says(fake_a) == class_a)),
            "cycle_error_a": float(np.abs(np.concatenate(rec_a) - a).mean()),
            "cycle_error_b": float(np.abs(np.concatenate(rec_b) - b).mean())}


def score_every_epoch(gan, domains, classes, classifier_path=classifier.WEIGHTS):
    """The end_of_epoch hook of the Fashion-MNIST demo: one row of translation.csv per epoch."""
    model = classifier.load_classifier(classifier_path)

    def end_of_epoch(epoch, out):
        scores = translation_scores(gan.generator, model, domains["test_a"], domains["test_b"], *classes)
        path = os.path.join(out, "translation.csv")
        earlier = images.read_metrics(path) if os.path.exists(path) else []
        log = images.MetricsCSV(path, SCORES)
        for row in earlier:                               # rows of this run's earlier epochs (not of a
            if int(row["epoch"]) < epoch:                 # stretch redone after a --resume)
                log.write(row)
        log.write(dict(scores, epoch=epoch))
        log.close()
        tqdm.write(f"epoch {epoch}: A->B called B {scores['a_to_b_is_b']:.1%}, B->A called A "
                   f"{scores['b_to_a_is_a']:.1%}, cycle error A {scores['cycle_error_a']:.3f} "
                   f"B {scores['cycle_error_b']:.3f}")
    return end_of_epoch


# ----------------------------------------------------------------------------- main

def main(argv=None):
    args = train.parse_args(make_parser(), argv)
    folders = bool(args.dataroot or args.domain_a or args.domain_b)
    if args.channels is None:
        args.channels = 3 if folders else 1
    loaded = {}                     # filled by build, after --resume has restored the run's flags

    def build(args):
        domains = loaded["domains"] = load_domains(args)
        spe = batches(args, world=dist.world_size()).steps_per_epoch      # of the global batch (--distributed)
        gan = cyclegan.build(args, round(args.epochs * spe))        # the lr decay is planned over --epochs
        n = min(8, len(domains["test_a"]), len(domains["test_b"]))          # one column per fixed image
        fixed_a, fixed_b = (image_folders.scale(domains[k][:n]) for k in ("test_a", "test_b"))
        gan.make_samples = lambda: cyclegan.round_trips(gan.generator, fixed_a, fixed_b)
        gan.nrow = n
        if not (args.dataroot or args.domain_a):
            gan.end_of_epoch = score_every_epoch(gan, domains, parse_classes(args.classes))
        return gan

    def batches(args, value_range=None, world=1):
        return image_folders.UnpairedBatches(loaded["domains"]["train_a"], loaded["domains"]["train_b"],
                                             args.batch_size * world, seed=args.seed)

    return train.run(args, build, batches, settings=SETTINGS)


if __name__ == "__main__":
    main()
