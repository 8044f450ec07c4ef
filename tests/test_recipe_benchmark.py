"""``benchmarks/recipe.py`` runs as its docstring says: configurations are checked before any
work, and a tiny run prints its validation figures and is reused by a second call. The
training test is skipped without the shared real data (``../shared/data/real-labelled`` or
``MAMMOKIT_REAL_DATA``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "recipe.py"
DATA = Path(
    os.environ.get("MAMMOKIT_REAL_DATA") or ROOT.parent / "shared" / "data" / "real-labelled"
)


def _recipe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), "--data", str(DATA), "--workdir", str(tmp_path), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)


def test_an_unknown_configuration_stops_naming_the_known_ones(tmp_path: Path) -> None:
    done = _recipe(tmp_path, "--configs", "baseline,lr-1e-3+lr-9")
    assert done.returncode != 0
    assert "unknown configuration lr-9" in done.stderr and "augment-off" in done.stderr
    assert not any(tmp_path.iterdir())  # stopped before any work


@pytest.mark.train
@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "cdd-cesm-512").is_dir(), reason="no shared real data")
def test_a_configuration_prints_its_validation_figures_and_is_reused(tmp_path: Path) -> None:
    """About a minute: Atto for 2 epochs on about 40 CDD-CESM images at 64x32."""
    out = tmp_path / "recipe.md"
    args = ("--task", "cesm-density", "--configs", "lr-1e-3", "--limit", "40", "--size", "64x32",
            "--epochs", "2", "--out", str(out))  # fmt: skip
    done = _recipe(tmp_path, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    row = re.search(
        r"\| lr-1e-3 \| \{.learning_rate.: 0.001\} \| ([12]) \| (\S+) \|", out.read_text()
    )
    assert row is not None, out.read_text()
    assert row[2] == "nan" or 0.0 <= float(row[2]) <= 1.0  # a tiny fold may hold one class
    assert "--configs lr-1e-3" in out.read_text()  # the command is recorded with the figures
    (config,) = (tmp_path / "runs").glob("cesm-density-atto-64x32-n40-*.toml")
    assert "learning_rate = 0.001" in config.read_text()
    assert not (tmp_path / "cesm-n40-s0" / "prep-test-64x32").exists()  # never the test split
    summary = next((tmp_path / "runs").glob("cesm-density-atto-64x32-n40-*/summary.json"))
    trained_at = summary.stat().st_mtime_ns
    again = _recipe(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary.stat().st_mtime_ns == trained_at  # not trained again
    assert out.read_text().splitlines()[2] == done.stdout.splitlines()[2]  # the same row
