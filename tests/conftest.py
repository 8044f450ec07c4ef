"""Shared fixtures: the DICOM corpus the tests read, full or bundled.

Which corpus the tests read (``CORPUS``), decided once at import:

* the **full public corpus** when there is one: the folder ``$MAMMOKIT_CORPUS`` names, else
  ``../shared/data/dicom-corpus`` beside the project root (278 files, 48 MB; not part of the
  repository). It is used alone, not merged: it holds every bundled file byte for byte under
  the same path, which ``tests/dicom/test_bundled_corpus.py`` checks.
* otherwise the **bundled subset** in ``tests/corpus`` (committed; a few MB): one or more
  files of every transfer syntax the built-in decoders support, MONOCHROME1 and MONOCHROME2,
  window, VOI LUT and modality LUT files, broken files, and every file a test names (see
  ``tests/corpus/README.md``). A fresh clone runs the whole suite on it.

``$MAMMOKIT_CORPUS`` set to a folder without ``MANIFEST.csv`` is an error, not a silent
fallback. Both corpora have the same layout: ``MANIFEST.csv`` (one row per file, the file
at ``<source>/<relpath>``) and the files. Thresholds meant for the full corpus are scaled
with ``FULL_CORPUS``; a test that needs a file the corpus lacks asks ``corpus_file``, which
skips naming the file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The subset committed with the tests.
BUNDLED_CORPUS = ROOT / "tests" / "corpus"


def _full_corpus() -> Path | None:
    """The full corpus folder, or None when there is none."""
    named = os.environ.get("MAMMOKIT_CORPUS")
    if named:
        if not (Path(named) / "MANIFEST.csv").is_file():
            raise RuntimeError(f"MAMMOKIT_CORPUS={named!r} has no MANIFEST.csv")
        return Path(named)
    beside = ROOT.parent / "shared" / "data" / "dicom-corpus"
    return beside if (beside / "MANIFEST.csv").is_file() else None


_FULL = _full_corpus()
#: True when the tests run on the full public corpus, False on the bundled subset.
FULL_CORPUS = _FULL is not None and _FULL.resolve() != BUNDLED_CORPUS.resolve()
#: The corpus the tests read: the full one when present, else the bundled subset.
CORPUS = _FULL if _FULL is not None else BUNDLED_CORPUS


def manifest_rows(corpus: Path = CORPUS) -> list[dict[str, str]]:
    """Every MANIFEST.csv row of ``corpus`` (DICOM files and, in the full corpus, others)."""
    with (corpus / "MANIFEST.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def corpus_rows(corpus: Path = CORPUS) -> list[dict[str, str]]:
    """MANIFEST.csv rows of the ``.dcm`` files of ``corpus``; never empty."""
    rows = [row for row in manifest_rows(corpus) if row["relpath"].endswith(".dcm")]
    if not rows:  # parametrising over [] is a collection error in pytest 8.0
        raise RuntimeError(f"no .dcm rows in {corpus / 'MANIFEST.csv'}")
    return rows


def pytest_report_header() -> str:
    kind = "full" if FULL_CORPUS else "bundled subset"
    return f"mammokit DICOM corpus: {CORPUS} ({kind})"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The DICOM corpus folder: the full corpus when present, else the bundled subset."""
    return CORPUS


@pytest.fixture(scope="session")
def corpus_manifest() -> list[dict[str, str]]:
    """Every MANIFEST.csv row of ``corpus_dir``."""
    return manifest_rows()


@pytest.fixture(scope="session")
def full_corpus() -> bool:
    """True when ``corpus_dir`` is the full public corpus (thresholds scale with it)."""
    return FULL_CORPUS


@pytest.fixture(scope="session")
def corpus_file() -> Callable[[str], Path]:
    """``corpus_file("pydicom/CT_small.dcm")``: that corpus file, or a skip naming it."""

    def find(name: str) -> Path:
        path = CORPUS / name
        if not path.is_file():
            pytest.skip(f"{name} is not in the DICOM corpus at {CORPUS}")
        return path

    return find
