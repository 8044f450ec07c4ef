"""Replay every mutant that once found a bug (``tests/fuzz/regressions/MANIFEST.csv``).

Each file is preprocessed as it was when it was found (the fuzz pipeline, plus the
manifest's ``config`` overrides) and must end exactly as ``expect`` says (the error type,
or ``ok``, and a message containing ``contains``), within the time limit and a tight
memory budget. The manifest says which
mutation found the bug and where it was fixed.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from fuzz_guard import fuzz_pipeline, run_case

from mammokit import Pipeline

HERE = Path(__file__).resolve().parent / "regressions"
with (HERE / "MANIFEST.csv").open(newline="") as _handle:
    ROWS = list(csv.DictReader(_handle))

#: Peak traced memory allowed while replaying a regression file.
BUDGET = 32 << 20


def _config(text: str) -> dict[str, Any]:
    pairs = (item.split("=", 1) for item in text.split(";") if item.strip())
    return {key.strip(): int(value) for key, value in pairs}


def test_every_regression_file_is_listed() -> None:
    listed = {row["file"] for row in ROWS}
    present = {path.name for path in HERE.glob("*.dcm")}
    assert listed == present


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_regression(row: dict[str, str], fuzz_pipe: Pipeline, fuzz_dir: Path) -> None:
    config = _config(row["config"])
    pipe = fuzz_pipeline(**config) if config else fuzz_pipe
    outcome = run_case(pipe, (HERE / row["file"]).read_bytes(), fuzz_dir, label="regression")
    assert not outcome.is_finding, f"{outcome.kind}: {outcome.detail}"
    if row["expect"] == "ok":
        assert outcome.kind == "ok", outcome.detail
    else:
        assert outcome.detail.startswith(f"{row['expect']}: "), outcome.detail
    assert row["contains"] in outcome.detail
    assert outcome.traced_peak < BUDGET, outcome


@pytest.fixture(scope="module")
def default_pipe() -> Pipeline:
    """The unmodified default: ``Pipeline(size=(64, 32))`` (default limits, every decoder)."""
    return Pipeline(size=(64, 32))


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_regression_with_the_default_pipeline(
    row: dict[str, str], default_pipe: Pipeline, fuzz_dir: Path
) -> None:
    """No crash, hang or bad output with the default limits and decoders either (memory is
    not judged here: the default limits allow up to 1 GiB, e.g. the 64 MiB deflate bomb)."""
    outcome = run_case(default_pipe, (HERE / row["file"]).read_bytes(), fuzz_dir, label="default")
    assert outcome.kind in ("ok", "error", "memory"), f"{outcome.kind}: {outcome.detail}"
