"""Imports go only downward: kernels <- minigrad <- gans (read with ast, no import needed)."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = {"kernels": {"minigrad", "gans"}, "minigrad": {"gans"}}


def imported_top_levels(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(layer):
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no Python files under {layer}/"
    offences = [f"{p.relative_to(ROOT)}:{line} imports {name}"
                for p in files for line, name in imported_top_levels(p) if name in FORBIDDEN[layer]]
    assert not offences, "layering violated:\n" + "\n".join(offences)


def test_library_never_imports_torch():
    offences = [f"{p.relative_to(ROOT)}:{line}" for layer in ("kernels", "minigrad", "gans")
                for p in sorted((ROOT / layer).rglob("*.py")) if not p.name.endswith("bench.py")
                for line, name in imported_top_levels(p) if name == "torch"]
    assert not offences, "torch is a yardstick for benchmarks and tests only:\n" + "\n".join(offences)
