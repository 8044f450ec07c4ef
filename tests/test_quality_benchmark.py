"""``benchmarks/quality.py`` runs as its docstring says: the histogram row on a few dozen
real CDD-CESM images (split, preprocessed and scored by the CLI, each in its own process),
and a row whose feature is missing stops with a message naming it. Skipped without the
shared real data (``../shared/data/real-labelled`` or ``MAMMOKIT_REAL_DATA``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "quality.py"
DATA = Path(
    os.environ.get("MAMMOKIT_REAL_DATA") or ROOT.parent / "shared" / "data" / "real-labelled"
)


def _quality(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), "--data", str(DATA), "--workdir", str(tmp_path), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.skipif(not (DATA / "cdd-cesm-512").is_dir(), reason="no shared real data")
def test_the_histogram_row_prints_a_held_out_auc_with_its_interval(tmp_path: Path) -> None:
    """About 15 s: mammokit split and two mammokit preprocess processes on 40 images."""
    out = tmp_path / "quality.md"
    done = _quality(tmp_path, "--tasks", "cesm-density", "--models", "hist", "--limit", "40",
                    "--size", "64x32", "--boot", "200", "--out", str(out))  # fmt: skip
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
    done = _quality(tmp_path, "--models", "hist,atto_mask")
    assert done.returncode != 0
    assert "atto_mask" in done.stderr and "mammokit train --mask-weight" in done.stderr
    assert not any(tmp_path.iterdir())  # stopped before any work
