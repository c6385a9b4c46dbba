"""CycleGAN: network shapes and sizes, each loss against hand-computed values, the image pool, the
learning-rate schedule, one step against PyTorch, and training through the shared loop on tiny folders."""
import os

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from gans import cyclegan, image_folders


def t(values):
    return minigrad.tensor(np.asarray(values, dtype=np.float32))


# ----------------------------------------------------------------------------- networks

@pytest.mark.parametrize("channels, size, width, blocks", [(1, 16, 4, 1), (3, 20, 8, 2)])
def test_generator_keeps_the_image_shape_and_tanh_range(channels, size, width, blocks):
    minigrad.manual_seed(0)
    g = cyclegan.make_generator(channels, width, blocks)
    x = t(np.random.default_rng(0).uniform(-1, 1, (2, channels, size, size)))
    y = g(x)
    assert y.shape == (2, channels, size, size)
    assert np.all(np.abs(y.data) <= 1)
    assert sum(isinstance(m, cyclegan.ResnetBlock) for m in g.modules()) == blocks


def test_full_size_networks_have_the_reference_parameter_counts():
    # The official implementation prints 11.378 M parameters for resnet_9blocks and 2.765 M for the
    # 70x70 PatchGAN (basic, n_layers=3) with 3 input channels and width 64.
    count = lambda m: sum(p.data.size for p in m.parameters())
    assert count(cyclegan.make_generator(3, 64, 9)) == 11_378_179
    assert count(cyclegan.make_discriminator(3, 64, 3)) == 2_764_737


def test_patchgan_sees_70x70_patches_and_gives_30x30_scores_at_256():
    assert [cyclegan.receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]
    d = cyclegan.make_discriminator(3, 4, 3)
    assert d(minigrad.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    d2 = cyclegan.make_discriminator(1, 4, 2)
    assert d2(minigrad.zeros(2, 1, 16, 16)).shape == (2, 1, 2, 2)


def test_resnet_block_with_zero_weights_is_the_identity():
    block = cyclegan.ResnetBlock(4)
    for p in block.parameters():
        p.data[...] = 0
    x = t(np.random.default_rng(1).standard_normal((1, 4, 6, 6)))
    np.testing.assert_array_equal(block(x).data, x.data)


def test_weights_start_from_normal_0_002():
    minigrad.manual_seed(0)
    g = cyclegan.make_generator(1, 16, 2)
    convs = [m for m in g.modules() if isinstance(m, minigrad.nn.Conv2d)]
    w = np.concatenate([m.weight.data.ravel() for m in convs])
    assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002
    assert all(np.all(m.bias.data == 0) for m in convs)


def test_generator_matches_pytorch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    from gans.cyclegan_bench import torch_discriminator, torch_generator
    minigrad.manual_seed(0)
    for ours, theirs in ((cyclegan.make_generator(1, 4, 2), torch_generator(1, 4, 2)),
                         (cyclegan.make_discriminator(1, 4, 2), torch_discriminator(1, 4, 2))):
        theirs.load_state_dict({k: torch.tensor(v.data) for k, v in ours.state_dict().items()})
        x = np.random.default_rng(2).uniform(-1, 1, (2, 1, 16, 16)).astype(np.float32)
        np.testing.assert_allclose(ours(t(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- losses, by hand

def test_adversarial_loss_pulls_every_patch_score_to_one():
    assert cyclegan.adversarial_loss(t([[0.5, -1.0]])).item() == pytest.approx(((0.5 - 1) ** 2 + (-1 - 1) ** 2) / 2)


def test_discriminator_loss_is_half_the_lsgan_sum():
    real, fake = t([1.0, 0.0]), t([0.0, 2.0])
    # 0.5 * (mean((1-1)^2, (0-1)^2) + mean(0^2, 2^2)) = 0.5 * (0.5 + 2) = 1.25
    assert cyclegan.discriminator_loss(real, fake).item() == pytest.approx(1.25)


def test_cycle_and_identity_losses_weigh_the_mean_absolute_error():
    rec, real = t([[1.0, -2.0], [0.5, 0.0]]), t([[0.0, 0.0], [0.0, 0.0]])
    mae = (1 + 2 + 0.5 + 0) / 4
    assert cyclegan.cycle_loss(rec, real).item() == pytest.approx(10 * mae)
    assert cyclegan.identity_loss(rec, real).item() == pytest.approx(0.5 * 10 * mae)
    assert cyclegan.cycle_loss(rec, real, lam=3).item() == pytest.approx(3 * mae)


# ----------------------------------------------------------------------------- the pool of fakes

def images(n, first=0):
    """n distinguishable 'images': image i is filled with the value first + i."""
    return t(np.arange(first, first + n, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 2, 2)))


def values(batch):
    return [float(x[0, 0, 0]) for x in batch.data]


def test_pool_returns_images_unchanged_while_it_fills():
    pool = cyclegan.ImagePool(5)
    assert values(pool.query(images(3))) == [0, 1, 2]
    assert values(pool.query(images(2, first=3))) == [3, 4]
    assert len(pool.images) == 5
    assert not pool.query(images(2, first=5).requires_grad_()).requires_grad    # detached for D


def test_full_pool_swaps_about_half_for_stored_images():
    minigrad.manual_seed(0)
    pool = cyclegan.ImagePool(50)
    pool.query(images(50))                                       # full: values 0..49
    out = values(pool.query(images(400, first=1000)))
    swapped = [(i, v) for i, v in enumerate(out) if v != 1000 + i]    # a stored image came back instead
    assert len(out) == 400 and len(pool.images) == 50
    assert 150 < len(swapped) < 250                              # each swapped with probability 1/2
    # what comes back instead is an image that went in earlier, and each comes back at most once
    assert all(v < 1000 + i for i, v in swapped)
    assert len({v for _, v in swapped}) == len(swapped)
    stored = [float(x[0, 0, 0]) for x in pool.images]
    assert len(set(stored)) == 50 and sum(v >= 1000 for v in stored) > 40    # the pool moved on


def test_pool_of_size_zero_passes_images_through():
    assert values(cyclegan.ImagePool(0).query(images(3))) == [0, 1, 2]


def test_pool_state_dict_replays_the_same_future():
    minigrad.manual_seed(3)
    pool = cyclegan.ImagePool(4)
    pool.query(images(6))
    saved, rng = pool.state_dict(), minigrad.get_rng_state()
    first = values(pool.query(images(8, first=100)))
    again = cyclegan.ImagePool(4)
    again.load_state_dict(saved)
    minigrad.set_rng_state(rng)
    assert values(again.query(images(8, first=100))) == first


# ----------------------------------------------------------------------------- learning-rate schedule

def test_lr_is_constant_then_decays_linearly_to_zero():
    schedule = cyclegan.ConstantThenLinearDecay(total=10, decay_start=6)
    assert [schedule(s) for s in range(11)] == pytest.approx([1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0])
    p = minigrad.nn.Parameter(np.zeros(1, np.float32))
    opt = optim.Adam([p], lr=2e-4)
    scheduler = optim.lr_scheduler.LambdaLR(opt, schedule)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        scheduler.step()
    assert lrs == pytest.approx([2e-4] * 7 + [1.5e-4, 1e-4, 0.5e-4])
    assert scheduler.state_dict()["lr_lambdas"] == [{"total": 10, "decay_start": 6}]


# ----------------------------------------------------------------------------- one training step

def make_step(width=4, blocks=1, pool=0):
    minigrad.manual_seed(0)
    g, d = cyclegan.build_networks(dict(channels=1, width=width, res_blocks=blocks, d_layers=2))
    opt_g = optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    step = cyclegan.make_train_step(g, d, opt_g, opt_d, [], cyclegan.ImagePool(pool), cyclegan.ImagePool(pool))
    return g, d, step


def test_train_step_matches_pytorch():
    torch = pytest.importorskip("torch")
    import itertools
    from gans.cyclegan_bench import torch_discriminator, torch_generator, torch_train_step
    g, d, step = make_step()
    nets = [torch_generator(1, 4, 1), torch_generator(1, 4, 1),
            torch_discriminator(1, 4, 2), torch_discriminator(1, 4, 2)]
    for ours, theirs in zip((g.a_to_b, g.b_to_a, d.d_a, d.d_b), nets):
        theirs.load_state_dict({k: torch.tensor(v.data) for k, v in ours.state_dict().items()})
    opt_g = torch.optim.Adam(itertools.chain(nets[0].parameters(), nets[1].parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(itertools.chain(nets[2].parameters(), nets[3].parameters()), lr=2e-4, betas=(0.5, 0.999))
    torch_step = torch_train_step(*nets, opt_g, opt_d)
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, (2, 1, 16, 16)).astype(np.float32) for _ in "ab")
    for _ in range(2):
        ours, theirs = step(t(a), t(b)), torch_step(torch.tensor(a), torch.tensor(b))
        for key, value in theirs.items():
            assert ours[key].item() == pytest.approx(value, rel=1e-4), key
    # Weights only: a conv bias right before an instance norm is subtracted out again, so its true
    # gradient is 0 and Adam turns float round-off into full-size steps of either sign (harmless).
    for ours, theirs in zip((g.a_to_b, d.d_b), (nets[0], nets[3])):
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            if name.endswith("weight"):
                np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-3, atol=1e-6, err_msg=name)


def test_train_step_loss_is_the_sum_of_its_terms_and_moves_both_sides():
    g, d, step = make_step(pool=50)
    before_g, before_d = g.a_to_b[1].weight.data.copy(), d.d_b[0].weight.data.copy()
    rng = np.random.default_rng(0)
    m = step(*(t(rng.uniform(-1, 1, (2, 1, 16, 16))) for _ in "ab"))
    terms = sum(m[k].item() for k in ("adv_ab", "adv_ba", "cycle_a", "cycle_b", "idt_ab", "idt_ba"))
    assert m["loss_g"].item() == pytest.approx(terms, rel=1e-5)
    assert m["loss_d"].item() == pytest.approx(m["loss_d_a"].item() + m["loss_d_b"].item(), rel=1e-5)
    assert not np.array_equal(g.a_to_b[1].weight.data, before_g)
    assert not np.array_equal(d.d_b[0].weight.data, before_d)


# ----------------------------------------------------------------------------- unpaired batches

def test_unpaired_batches_cover_the_larger_domain_and_are_a_function_of_the_step():
    a = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 4, 4), np.uint8)
    b = 100 + np.arange(3, dtype=np.uint8)[:, None, None, None] * np.ones((1, 1, 4, 4), np.uint8)
    batches = image_folders.UnpairedBatches(a, b, batch_size=2, seed=1)
    assert batches.steps_per_epoch == 5
    seen_a = [v for s in range(5) for v in (batches.batch(s)[0][:, 0, 0, 0] + 1) * 127.5]
    assert sorted(np.rint(seen_a).astype(int)) == list(range(10))
    again = image_folders.UnpairedBatches(a, b, batch_size=2, seed=1)
    for s in (7, 3, 12):
        for x, y in zip(batches.batch(s), again.batch(s)):
            np.testing.assert_array_equal(x, y)
    assert batches.batch(0)[0].dtype == np.float32 and batches.batch(0)[1].min() >= -1


# ----------------------------------------------------------------------------- through the shared loop

from PIL import Image  # noqa: E402

from gans import images as image_files, train_cyclegan, translate  # noqa: E402
from test_gans_train import assert_same  # noqa: E402  (one bit-for-bit comparer for every trainer)


@pytest.fixture(scope="module")
def tiny_dataroot(tmp_path_factory):
    """A CycleGAN dataset in miniature: red squares (A) and blue discs (B) of 20x20 pixels."""
    root = tmp_path_factory.mktemp("squares2discs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:20, :20]
    for folder, n in (("trainA", 6), ("trainB", 5), ("testA", 2), ("testB", 2)):
        (root / folder).mkdir()
        for i in range(n):
            picture = np.zeros((20, 20, 3), np.uint8)
            cy, cx, r = rng.integers(6, 14), rng.integers(6, 14), rng.integers(3, 6)
            if folder.endswith("A"):
                picture[cy - r:cy + r, cx - r:cx + r, 0] = 220
            else:
                picture[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r, 2] = 220
            Image.fromarray(picture).save(root / folder / f"{i:02d}.png")
    return root


def cyclegan_flags(root, out, *extra):
    return ["--dataroot", str(root), "--out", str(out), "--image-size", "16", "--width", "4", "--res-blocks", "1",
            "--batch-size", "2", "--pool-size", "3", *extra]


def test_trainer_on_folders_writes_every_output_and_translate_reads_it(tiny_dataroot, tmp_path):
    out = tmp_path / "run"
    assert train_cyclegan.main(cyclegan_flags(tiny_dataroot, out, "--epochs", "2", "--sample-every", "1")) == 6
    for name in ("samples/epoch_001.png", "samples/epoch_002.png", "samples/step_000001.png", "progress.gif",
                 "losses.png", "metrics.csv", "checkpoint.ckpt", "generator.ckpt"):
        assert (out / name).is_file(), name
    rows = image_files.read_metrics(str(out / "metrics.csv"))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]     # 6 A (the larger domain) / batch 2: 3 an epoch
    for key in cyclegan.METRICS:
        assert all(np.isfinite(float(r[key])) for r in rows), key
    assert float(rows[0]["lr"]) == pytest.approx(2e-4) and float(rows[-1]["lr"]) == pytest.approx(2e-4 / 3)
    grid = Image.open(out / "samples/epoch_002.png")
    assert grid.mode == "RGB" and grid.size == (4 * (2 * 18 + 2), 4 * (6 * 18 + 2) + 16)   # 6 rows of 2, caption
    assert Image.open(out / "progress.gif").n_frames == 6
    state = minigrad.load(str(out / "checkpoint.ckpt"))
    assert state["model"] == "cyclegan" and state["step"] == 6
    assert state["settings"]["width"] == 4 and state["settings"]["channels"] == 3
    assert len(state["extra"]["pool_a"]["images"]) == 3
    assert state["extra"]["schedulers"][0]["lr_lambdas"] == [{"total": 6, "decay_start": 3}]

    translated = tmp_path / "translated"
    written = translate.main(["--checkpoint", str(out / "generator.ckpt"), "--direction", "BtoA",
                              "--input", str(tiny_dataroot / "testB"), "--out", str(translated)])
    assert sorted(os.path.basename(p) for p in written) == ["00.png", "01.png"]
    picture = Image.open(translated / "00.png")
    assert picture.size == (16, 16) and picture.mode == "RGB"


def test_resume_continues_bit_for_bit(tiny_dataroot, tmp_path):
    """4 steps in one go == 2 steps, stop, --resume, 2 more: weights, optimizers, pools, lr schedules, RNG."""
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    train_cyclegan.main(cyclegan_flags(tiny_dataroot, straight, "--epochs", "2", "--steps", "4"))
    train_cyclegan.main(cyclegan_flags(tiny_dataroot, halves, "--epochs", "2", "--steps", "2"))
    train_cyclegan.main(cyclegan_flags(tiny_dataroot, halves, "--epochs", "2", "--steps", "4", "--resume"))
    assert_same(minigrad.load(str(straight / "checkpoint.ckpt")), minigrad.load(str(halves / "checkpoint.ckpt")))
    losses = lambda run: [{k: v for k, v in r.items() if k != "images_per_s"}
                          for r in image_files.read_metrics(str(run / "metrics.csv"))]
    assert losses(straight) == losses(halves) and len(losses(halves)) == 4


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_fashion_demo_scores_every_epoch(tmp_path):
    """Two classes of a tiny synthetic Fashion-MNIST: translation.csv gets one row per epoch."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 6)):
        labels = np.array([7, 9, 3] * (n // 3))
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", labels)
    out = tmp_path / "run"
    train_cyclegan.main(["--data", str(tmp_path), "--out", str(out), "--image-size", "16", "--width", "4",
                         "--res-blocks", "1", "--batch-size", "2", "--epochs", "2", "--eval-images", "3"])
    rows = image_files.read_metrics(str(out / "translation.csv"))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for r in rows:
        assert 0 <= float(r["a_to_b_is_b"]) <= 1 and 0 <= float(r["b_to_a_is_a"]) <= 1
        assert 0 < float(r["cycle_error_a"]) < 2 and 0 < float(r["cycle_error_b"]) < 2
    assert Image.open(out / "samples/epoch_002.png").mode == "L"


def test_fashion_classes_are_padded_to_32_and_cropped_back():
    x = np.arange(2 * 28 * 28).reshape(2, 1, 28, 28).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1)
    np.testing.assert_array_equal(image_folders.to_28x28(padded), x)
    assert image_folders.to_28x28(np.zeros((3, 1, 16, 16), np.float32)).shape == (3, 1, 28, 28)


def test_folder_errors_are_explained(tmp_path):
    from gans import data
    with pytest.raises(data.DatasetError, match="trainA and trainB"):
        image_folders.dataroot_folders(str(tmp_path))
    with pytest.raises(data.DatasetError, match="no pictures"):
        image_folders.image_paths(str(tmp_path))
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(data.DatasetError, match="bad.png"):
        image_folders.load_picture(str(tmp_path / "bad.png"), 16)
    with pytest.raises(SystemExit):
        train_cyclegan.main(["--domain-a", str(tmp_path), "--out", str(tmp_path / "o")])


def test_an_unreadable_file_in_a_domain_folder_is_skipped_with_a_warning(tmp_path, capsys):
    from PIL import Image
    from gans import image_folders
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    loaded = image_folders.load_folder(str(tmp_path), 16, channels=3)
    assert loaded.shape == (3, 3, 16, 16)
    assert "skipped 1 of 4 files" in capsys.readouterr().err
