"""Shared fixtures: the public DICOM corpus and fresh plugin managers."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("MAMMOKIT_CORPUS", ROOT.parent / "shared" / "data" / "dicom-corpus"))


def corpus_rows() -> list[dict[str, str]]:
    """MANIFEST.csv rows of the shared corpus ([] when the corpus is absent)."""
    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["relpath"].endswith(".dcm")]


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared DICOM corpus folder; tests using it skip when it is absent."""
    if not (CORPUS / "MANIFEST.csv").exists():
        pytest.skip(f"DICOM corpus not found at {CORPUS}")
    return CORPUS
