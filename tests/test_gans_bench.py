"""gans.bench runs end to end (tiny batch, one timed step) and prints its table."""
from gans import bench


def test_bench_prints_a_row_per_backend_and_batch(capsys):
    rows = bench.main(["--batch-sizes", "2", "--rounds", "1", "--burst", "2"])
    out = capsys.readouterr().out
    names = {name for name, _, _ in rows}
    assert any(name.startswith("minigrad (") for name in names)
    assert {bs for _, bs, _ in rows} == {2}
    assert all(seconds > 0 for _, _, seconds in rows)
    assert "ms/step" in out and "images/s" in out
