"""``benchmarks/quality.py`` and ``benchmarks/recipe.py`` run as their docstrings say: the
histogram row on a few dozen real CDD-CESM images (split, preprocessed and scored by the CLI,
each in its own process), a row whose feature is missing stops with a message naming it; a
recipe configuration is checked before any work, and a tiny run prints its validation
figures and is reused by a second call. The runs are skipped without the shared real data
(``../shared/data/real-labelled`` or ``MAMMOKIT_REAL_DATA``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(
    os.environ.get("MAMMOKIT_REAL_DATA") or ROOT.parent / "shared" / "data" / "real-labelled"
)


def _run(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python benchmarks/SCRIPT --data DATA --workdir tmp_path ARGS`` in ``tmp_path``."""
    command = [sys.executable, str(ROOT / "benchmarks" / script), "--data", str(DATA),
               "--workdir", str(tmp_path), *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.skipif(not (DATA / "cdd-cesm-512").is_dir(), reason="no shared real data")
def test_the_histogram_row_prints_a_held_out_auc_with_its_interval(tmp_path: Path) -> None:
    """About 15 s: mammokit split and two mammokit preprocess processes on 40 images."""
    out = tmp_path / "quality.md"
    done = _run("quality.py", tmp_path, "--tasks", "cesm-density", "--models", "hist",
                "--limit", "40", "--size", "64x32", "--boot", "200", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    row = re.search(
        r"\| cesm-density \((\d+), (\d+)\) \| hist \| (\S+) \[(\S+), (\S+)\] \|", out.read_text()
    )
    assert row is not None, out.read_text()
    breasts, positives = int(row[1]), int(row[2])
    assert 0 < positives < breasts  # both classes held out
    auc, low, high = (float(row[k]) for k in (3, 4, 5))
    assert 0.0 <= low <= auc <= high <= 1.0
    assert "--models hist" in out.read_text()  # the command is recorded with the figures
    held = (tmp_path / "cesm-n40-s0" / "split" / "test.csv").read_text()
    trained = (tmp_path / "cesm-n40-s0" / "train.csv").read_text()
    patients = {line.split(",")[0] for line in held.splitlines()[1:]}
    assert patients and not patients & {line.split(",")[0] for line in trained.splitlines()[1:]}


def test_a_row_whose_feature_is_missing_stops_naming_it(tmp_path: Path) -> None:
    helped = subprocess.run([sys.executable, "-m", "mammokit", "train", "--help"],
                            capture_output=True, text=True)  # fmt: skip
    if "--mask-weight" in helped.stdout:
        pytest.skip("this mammokit has the lesion-mask target")
    if not DATA.is_dir():
        pytest.skip("no shared real data")
    done = _run("quality.py", tmp_path, "--models", "hist,atto_mask")
    assert done.returncode != 0
    assert "atto_mask" in done.stderr and "mammokit train --mask-weight" in done.stderr
    assert not any(tmp_path.iterdir())  # stopped before any work


def test_an_unknown_configuration_stops_naming_the_known_ones(tmp_path: Path) -> None:
    done = _run("recipe.py", tmp_path, "--configs", "baseline,lr-1e-3+lr-9")
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
    done = _run("recipe.py", tmp_path, *args)
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
    again = _run("recipe.py", tmp_path, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary.stat().st_mtime_ns == trained_at  # not trained again
    assert out.read_text().splitlines()[2] == done.stdout.splitlines()[2]  # the same row
