"""The files the fuzz suite mutates: small real corpus files and generated phantoms.

Corpus seeds are the monochrome files of the DICOM corpus (the full one when present, else
the bundled ``tests/corpus``; see ``tests/conftest.py``) small enough to keep each case
fast (every transfer syntax the corpus has: raw little/big endian, implicit, deflate, RLE,
JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000), plus a few others (colour,
multi-frame, broken) whose mutants must fail cleanly too. Phantom seeds are mammogram-like
images from :mod:`mammokit.synthetic` in each of its encodings.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

__all__ = [
    "CORPUS",
    "ENCAPSULATED_PHANTOMS",
    "MAX_SEED_BYTES",
    "PHANTOM_LABELS",
    "corpus_seeds",
    "phantom_seeds",
]

#: Corpus files larger than this are not used as seeds (each case stays well under a second).
MAX_SEED_BYTES = 120_000

#: A few non-monochrome or otherwise rejected files, mutated too.
_EXTRA = (
    "pydicom/ExplVR_BigEnd.dcm",
    "pydicom/SC_rgb_rle.dcm",
    "pydicom/SC_rgb_small_odd_jpeg.dcm",
    "pydicom/rtdose.dcm",
    "pydicom/MR_truncated.dcm",
    "pydicom/meta_missing_tsyntax.dcm",
    "pydicom-data/emri_small_jpeg_2k_lossless.dcm",
)

#: Phantom encodings: (label, Encoding keyword arguments).
_PHANTOM_ENCODINGS = (
    ("explicit-m2", {"transfer_syntax": "explicit"}),
    (
        "explicit-m1-pad",
        {"transfer_syntax": "explicit", "photometric": "MONOCHROME1", "padding": True},
    ),
    ("rle-sigmoid", {"transfer_syntax": "rle", "voi_function": "SIGMOID", "bits_stored": 14}),
    ("jpegll-m1", {"transfer_syntax": "jpeg_lossless", "photometric": "MONOCHROME1"}),
    ("j2k-m2", {"transfer_syntax": "jpeg2000", "bits_stored": 16, "extra_windows": 2}),
    (
        "j2k-m1-nowindow",
        {"transfer_syntax": "jpeg2000", "photometric": "MONOCHROME1", "window": False},
    ),
)

#: The labels :func:`phantom_seeds` gives, and those of them with compressed pixel data.
PHANTOM_LABELS = tuple(f"phantom/{label}" for label, _ in _PHANTOM_ENCODINGS)
ENCAPSULATED_PHANTOMS = tuple(
    f"phantom/{label}"
    for label, options in _PHANTOM_ENCODINGS
    if options["transfer_syntax"] != "explicit"
)


def _root_conftest() -> Any:
    """``tests/conftest.py`` (its ``corpus_rows()`` and ``CORPUS``), loaded by path since
    several test folders have a ``conftest`` module."""
    spec = importlib.util.spec_from_file_location(
        "_mammokit_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROOT_CONFTEST = _root_conftest()
CORPUS: Path = _ROOT_CONFTEST.CORPUS


def corpus_seeds(max_bytes: int = MAX_SEED_BYTES) -> list[tuple[str, bytes]]:
    """``(label, file bytes)`` of the corpus seeds, sorted by label."""
    seeds = {}
    for row in _ROOT_CONFTEST.corpus_rows():
        name = f"{row['source']}/{row['relpath']}"
        small = int(row["size"]) <= max_bytes
        mono = row["PhotometricInterpretation"].startswith("MONOCHROME")
        if (small and mono and "dicomdirtests" not in name) or name in _EXTRA:
            seeds[name] = (CORPUS / name).read_bytes()
    return sorted(seeds.items())


def phantom_seeds(folder: Path, shape: tuple[int, int] = (128, 96)) -> list[tuple[str, bytes]]:
    """Write one phantom per encoding into ``folder``; ``(label, file bytes)`` of each."""
    from mammokit.synthetic import Encoding, make_phantom, write_dicom

    seeds = []
    for i, (label, options) in enumerate(_PHANTOM_ENCODINGS):
        view = "MLO" if i % 2 else "CC"
        phantom = make_phantom(shape, view=view, breast_on_right=bool(i % 2), seed=i)
        path = write_dicom(
            folder / f"phantom-{label}.dcm",
            phantom,
            Encoding(**options),
            patient_id=str(i),
            laterality="R" if i % 2 else "L",
            view=view,
            seed=i,
        )
        seeds.append((f"phantom/{label}", path.read_bytes()))
    return seeds
