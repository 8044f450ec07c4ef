"""Hostile files in a batch run: nothing escapes, nothing is lost, crashes stay isolated.

A synthetic RSNA dataset has most of its images replaced by mutants (lying headers, broken
encapsulation, codec header lies, truncation, bit flips, wrong transfer syntax, empty pixel
data) plus mutants of corpus files under new image ids, then goes through the batch runner
with the *default* pipeline and a process pool, as in production. Every row must end in
``index.csv`` or ``failures.csv`` exactly once, honest rows must succeed, and a rerun must
resume to the same files.

With ``dicomsdl`` installed (``mammokit[fast]``) and named for RLE, an RLE file with a lying
Rows overflows dicomsdl's heap buffer and kills its worker: a real native crash, which must
become that row's ``WorkerCrash`` failure while the batch goes on.
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fuzz_mutators import (
    break_encapsulation,
    flip_bits,
    lie,
    lie_in_codec_header,
    set_transfer_syntax,
    truncate,
    zero_pixel_data,
)

import mammokit.core.errors
from mammokit import Pipeline
from mammokit.synthetic import SynthConfig, write_dataset

SIZE = (64, 32)
REGRESSIONS = Path(__file__).resolve().parent / "regressions"

#: Error types a failure row may have: a MammokitError subclass, or a dead worker.
ALLOWED_ERRORS = {
    name
    for name, cls in inspect.getmembers(mammokit.core.errors, inspect.isclass)
    if issubclass(cls, mammokit.core.errors.MammokitError)
} | {"WorkerCrash"}

#: (image file -> mutant) for the synthetic images; None keeps the image honest.
MUTATIONS = [
    None,
    lambda d: lie(d, "Rows", 7),
    lambda d: break_encapsulation(d, "item_length_huge", 1, 0) or truncate(d, len(d) // 2),
    None,
    lambda d: lie_in_codec_header(d, "j2k_tile", 2) or lie(d, "BitsAllocated", 32),
    lambda d: set_transfer_syntax(d, "1.2.840.10008.1.2.4.80"),
    lambda d: flip_bits(d, [8 * 300 + 1, 8 * 301 + 3, 8 * 420]),
    lambda d: zero_pixel_data(d),
]

#: Corpus files whose mutants are added as extra rows.
CORPUS_MUTANTS = [
    ("pydicom/MR_small_RLE.dcm", lambda d: lie(d, "Rows", 7)),
    ("pydicom/JPEGLSNearLossless_16.dcm", lambda d: lie_in_codec_header(d, "jpeg_size", 3)),
    ("pydicom/JPEG2000.dcm", lambda d: lie_in_codec_header(d, "j2k_size", 4)),
    ("pydicom/liver_1frame.dcm", lambda d: lie(lie(d, "Rows", 60000), "Columns", 8)),
]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, corpus_file: Callable[[str], Path]
) -> tuple[Path, set[str]]:
    """A dataset of mutants; returns its root and the ids of its honest images."""
    root = tmp_path_factory.mktemp("hostile")
    write_dataset(root, SynthConfig(patients=2, image_size=(128, 96), seed=5))
    table = root / "train.csv"
    rows = _rows(table)
    honest = set()
    for row, mutate in zip(rows, MUTATIONS, strict=True):
        path = root / "train_images" / row["patient_id"] / f"{row['image_id']}.dcm"
        if mutate is None:
            honest.add(row["image_id"])
            continue
        mutant = mutate(path.read_bytes())
        assert mutant is not None
        path.write_bytes(mutant)
    for i, (name, mutate) in enumerate(CORPUS_MUTANTS):
        extra = dict(rows[i], image_id=str(900000 + i))
        mutant = mutate(corpus_file(name).read_bytes())
        assert mutant is not None
        folder = root / "train_images" / extra["patient_id"]
        (folder / f"{extra['image_id']}.dcm").write_bytes(mutant)
        rows.append(extra)
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root, honest


def test_every_row_is_accounted_for_once_and_crashes_stay_isolated(
    hostile: tuple[Path, set[str]], tmp_path: Path
) -> None:
    root, honest = hostile
    out = tmp_path / "out"
    pipe = Pipeline(size=SIZE)
    result = pipe.preprocess_dataset(
        root / "train_images", root / "train.csv", out, workers=2, quiet=True
    )
    ids = [row["image_id"] for row in _rows(root / "train.csv")]
    done = [row["image_id"] for row in _rows(out / "index.csv")]
    failures = _rows(out / "failures.csv")
    failed = [row["image_id"] for row in failures]
    assert sorted(done + failed) == sorted(ids)
    assert len(set(done)) == len(done) and len(set(failed)) == len(failed)
    assert result.total == len(ids) and result.succeeded + result.failed == len(ids)
    assert honest <= set(done)
    assert {row["error_type"] for row in failures} <= ALLOWED_ERRORS
    assert all(row["message"] for row in failures)
    # Resuming changes nothing: finished rows are skipped, failures retried the same way.
    index = (out / "index.csv").read_bytes()
    again = pipe.preprocess_dataset(
        root / "train_images", root / "train.csv", out, workers=2, quiet=True
    )
    assert again.skipped == result.succeeded and again.processed == result.failed
    assert (out / "index.csv").read_bytes() == index
    assert sorted(r["image_id"] for r in _rows(out / "failures.csv")) == sorted(failed)


needs_dicomsdl = pytest.mark.skipif(
    importlib.util.find_spec("dicomsdl") is None, reason="needs dicomsdl (mammokit[fast])"
)


@needs_dicomsdl
def test_a_native_crash_in_a_named_dicomsdl_fails_one_row(tmp_path: Path) -> None:
    """``decoder="dicomsdl"`` on RLE files, one of them lying about Rows: its worker dies
    (glibc aborts on the corrupt heap, or the decoder sees dicomsdl's overflow report and
    exits the worker before the corrupt heap can touch another image), that row becomes a
    ``WorkerCrash``, every other row is decoded."""
    root = tmp_path / "rle"
    write_dataset(
        root, SynthConfig(patients=2, image_size=(96, 80), seed=3, transfer_syntaxes=("rle",))
    )
    rows = _rows(root / "train.csv")
    victim = rows[5]
    path = root / "train_images" / victim["patient_id"] / f"{victim['image_id']}.dcm"
    path.write_bytes((REGRESSIONS / "rle-panic-lying-rows.dcm").read_bytes())
    result = Pipeline(size=SIZE, decoder="dicomsdl").preprocess_dataset(
        root / "train_images",
        root / "train.csv",
        tmp_path / "out",
        workers=2,
        quiet=True,
        image_timeout=60,  # a corrupt heap may also deadlock malloc: bounded, not a stall
    )
    assert [f.image_id for f in result.failures] == [victim["image_id"]]
    assert result.failures[0].error_type in ("WorkerCrash", "Timeout"), result.failures
    assert result.succeeded == len(rows) - 1
    decoders = {row["decoder"] for row in _rows(tmp_path / "out" / "index.csv")}
    assert decoders == {"dicomsdl"}


@needs_dicomsdl
def test_dicomsdl_heap_overflow_is_a_process_crash_not_an_exception(tmp_path: Path) -> None:
    """Documents why the automatic choice never gives RLE to dicomsdl: on a lying Rows it
    writes past its output buffer (its own message: "out buffer is not filled by -7296
    bytes"), and the corrupted heap aborts the process. No in-process guard can contain
    that; the batch runner's worker processes do (test above)."""
    path = REGRESSIONS / "rle-panic-lying-rows.dcm"
    code = (
        "import sys\n"
        "from mammokit import Pipeline, MammokitError\n"
        "try:\n"
        f"    Pipeline(size=(64, 32), decoder='dicomsdl').preprocess({str(path)!r})\n"
        "except MammokitError as err:\n"
        "    print('MammokitError', err)\n"
        "import gc; gc.collect(); [bytearray(1 << k) for k in range(24)]\n"
    )
    outcome = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    # Either glibc notices the corrupt heap and aborts the process (a negative return code:
    # killed by SIGABRT/SIGSEGV), or dicomsdl's own report of the overflow comes out as a
    # DicomDecodeError saying the process is corrupt. If dicomsdl is fixed, this fails.
    overflowed = "MammokitError" in outcome.stdout and "memory is corrupt" in outcome.stdout
    assert outcome.returncode < 0 or overflowed, outcome
    assert "Traceback" not in outcome.stderr
