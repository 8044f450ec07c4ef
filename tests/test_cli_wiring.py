"""One wiring: the CLI's preprocess, train, predict, evaluate and demo commands and the demo compose
their steps through :mod:`mammokit.app.run` (``Pipeline``, ``Run``, ``Ensemble``).

The import-linter contract in pyproject.toml forbids these modules the lower layers'
modules (``mammokit.train.fit``, ``mammokit.evaluate.predict`` ...); this test also catches
the same functions taken from a package that re-exports them (``from mammokit.data import
preprocess_dataset``, ``from mammokit.train import train``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mammokit

SRC = Path(mammokit.__file__).parent
WIRED = (
    "app/cli/preprocess.py",
    "app/cli/train.py",
    "app/cli/predict.py",
    "app/cli/evaluate.py",
    "app/cli/demo.py",
    "app/demo.py",
)
#: The step functions that mammokit.app.run composes, by the name they are exported under.
STEPS = frozenset({"preprocess_dataset", "train", "predict", "evaluate", "write_report"})


def _step_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mammokit"):
            if node.module == "mammokit.app.run":
                continue
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in STEPS]
    return found


@pytest.mark.parametrize("name", WIRED)
def test_the_commands_take_no_step_function_from_a_lower_layer(name: str) -> None:
    assert _step_imports(SRC / name) == []


def test_the_check_sees_a_step_function_taken_from_a_package(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from mammokit.data import preprocess_dataset, read_index\n")
    assert _step_imports(module) == ["mammokit.data.preprocess_dataset"]
