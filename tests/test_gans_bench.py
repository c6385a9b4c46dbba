"""gans.bench runs end to end (tiny batch, one timed step) and prints its table."""
import numpy as np

from gans import bench


def test_bench_prints_a_row_per_backend_and_batch(capsys):
    rows = bench.main(["--batch-sizes", "2", "--rounds", "1", "--burst", "2"])
    out = capsys.readouterr().out
    names = {name for name, _, _ in rows}
    assert any(name.startswith("minigrad (") for name in names)
    assert {bs for _, bs, _ in rows} == {2}
    assert all(seconds > 0 for _, _, seconds in rows)
    assert "ms/step" in out and "images/s" in out


def test_bench_all_prints_the_table_for_one_row(capsys):
    bench.main(["--all", "--rows", "dcgan-16", "--no-torch"])
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("| 28x28 DCGAN, batch 16 |")]
    assert len(row) == 1, out
    ms, gflops, peak = (float(x) for x in row[0].split("|")[2:5])
    assert ms > 0 and gflops > 0 and peak > 0
    assert "matmul rate before / after" in out


def test_bench_all_refuses_an_unknown_row_in_one_line():
    import pytest
    with pytest.raises(SystemExit, match=r"^error: --rows nope: unknown; choose from dcgan-16, "):
        bench.main(["--all", "--rows", "nope"])


def test_bench_rows_alone_imply_all(capsys):
    # --rows without --all once fell through to the default DCGAN table and timed other things.
    bench.main(["--rows", "dcgan-16", "--no-torch"])
    assert any(line.startswith("| 28x28 DCGAN, batch 16 |") for line in capsys.readouterr().out.splitlines())


def test_bench_all_refuses_the_dcgan_tables_flags_in_one_line():
    import pytest
    with pytest.raises(SystemExit, match=r"^error: --batch-sizes, --rounds: not options of --all"):
        bench.main(["--all", "--batch-sizes", "16", "--rounds", "2"])
    with pytest.raises(SystemExit, match=r"^error: --burst: not options of --all"):
        bench.main(["--rows", "dcgan-16", "--burst", "4"])


def test_the_new_rows_run_a_minigrad_step():
    from gans import step_bench
    for build in (step_bench.minigrad_dcgan64, step_bench.minigrad_cgan):
        metrics = build(2)()
        assert np.isfinite(float(metrics["loss_d"].item())) and np.isfinite(float(metrics["loss_g"]))


def test_the_pytorch_twins_have_the_same_networks():
    # Same parameter shapes, layer by layer in order, as the minigrad models they time against.
    import pytest
    pytest.importorskip("torch")
    from gans import cgan, dcgan64, step_bench
    nets = {"dcgan64": ((dcgan64.Generator(128, 3, 64), dcgan64.Discriminator(3, 64)), step_bench.torch_dcgan64_nets()),
            "cgan": ((cgan.ConditionalGenerator(100), cgan.ConditionalDiscriminator()), step_bench.torch_cgan_nets())}
    for name, (ours, theirs) in nets.items():
        for a, b in zip(ours, theirs):
            assert sorted(tuple(p.shape) for p in a.parameters()) == sorted(tuple(p.shape) for p in b.parameters()), name
