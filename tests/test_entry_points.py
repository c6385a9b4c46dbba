"""Every `python -m ...` entry point answers --help (argparse formats each help string, so a stray %
in one crashes the whole page) and exits 0."""
import importlib

import pytest

ENTRY_POINTS = ["gans.bench", "gans.compare", "gans.cyclegan_bench", "gans.evaluate", "gans.export", "gans.twin_bench",
                "gans.sample",
                "gans.style_bench", "gans.style_transfer", "gans.train_cgan", "gans.train_classifier",
                "gans.train_cyclegan", "gans.train_dcgan", "gans.train_gan", "gans.translate",
                "kernels.bench", "minigrad.bench"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_help_prints_and_exits_cleanly(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out
