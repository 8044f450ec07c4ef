"""Decoder ``imagecodecs`` (libjpeg-turbo 3, the ``fast`` extra): JPEG lossless exactly as
pydicom decodes it, chosen automatically, and a named error (never a crash) on broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from mutant_helpers import decode_mutants
from pydicom.uid import JPEGLossless, JPEGLosslessSV1

import mammokit
from mammokit.dicom import decode_file
from mammokit.dicom.decoders.imagecodecs import (
    IMAGECODECS_TRANSFER_SYNTAXES,
    imagecodecs_available,
)
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.synthetic.encoders.write import write_dicom

pytestmark = pytest.mark.skipif(
    not imagecodecs_available(), reason="mammokit[fast] (imagecodecs) not installed"
)


def _decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


def test_every_corpus_jpeg_lossless_file_decodes_to_pydicoms_pixels_or_a_named_error(
    corpus_dir: Path, corpus_manifest: list[dict[str, str]], full_corpus: bool
) -> None:
    rows = [
        r
        for r in corpus_manifest
        if r["ts"] in IMAGECODECS_TRANSFER_SYNTAXES and r["relpath"].endswith(".dcm")
    ]
    assert len(rows) >= (8 if full_corpus else 3)
    decoded_count = 0
    for row in rows:
        path = corpus_dir / row["source"] / row["relpath"]
        frames = int(row["NumberOfFrames"] or 1)
        frame = frames - 1 if frames > 1 else None
        try:
            reference = pydicom.dcmread(path).pixel_array
        except Exception:
            reference = None
        try:
            decoded = decode_file(
                path, decoders=_decoders(), name="imagecodecs", options={"frame": frame}
            )
        except mammokit.MammokitError as err:
            assert str(path) in str(err)
            monochrome = row["PhotometricInterpretation"].startswith("MONOCHROME")
            assert reference is None or not monochrome, (row["relpath"], str(err))
            continue
        assert reference is not None, row
        expected = reference[frame] if frame is not None else reference
        assert decoded.pixels.dtype == expected.dtype, row["relpath"]
        np.testing.assert_array_equal(decoded.pixels, expected, err_msg=row["relpath"])
        decoded_count += 1
    assert decoded_count >= (5 if full_corpus else 2)


@pytest.mark.parametrize(
    ("ts", "dtype", "bits"),
    [
        (JPEGLosslessSV1, np.uint8, 8),
        (JPEGLosslessSV1, np.uint16, 10),
        (JPEGLosslessSV1, np.uint16, 12),
        (JPEGLosslessSV1, np.uint16, 16),
        (JPEGLossless, np.uint16, 14),
    ],
)
def test_generated_files_decode_identically_and_auto_chooses_it(
    tmp_path: Path, ts: str, dtype: type, bits: int
) -> None:
    pixels = np.random.default_rng(bits).integers(
        0, (1 << bits) - 1, size=(97, 65), endpoint=True, dtype=dtype
    )
    path = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=ts, bits_stored=bits)
    decoded = decode_file(path, decoders=_decoders())  # auto
    assert decoded.decoder == "imagecodecs"
    assert decoded.pixels.dtype == pydicom.dcmread(path).pixel_array.dtype
    np.testing.assert_array_equal(decoded.pixels, pixels)
    np.testing.assert_array_equal(decoded.pixels, pydicom.dcmread(path).pixel_array)


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("Rows", 95, "the JPEG stream is 96x64 but the header says 95x64"),
        ("Columns", 128, "the JPEG stream is 96x64 but the header says 96x128"),
        ("BitsAllocated", 8, "12-bit samples, more than the header's 8 bits allocated"),
    ],
)
def test_a_header_that_disagrees_with_the_stream_is_refused(
    tmp_path: Path, attribute: str, value: int, message: str
) -> None:
    pixels = np.random.default_rng(0).integers(0, 4095, size=(96, 64), dtype=np.uint16)
    path = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=JPEGLosslessSV1, bits_stored=12)
    ds = pydicom.dcmread(path)
    setattr(ds, attribute, value)
    if attribute == "BitsAllocated":
        ds.BitsStored, ds.HighBit = 8, 7
    bad = tmp_path / "bad.dcm"
    ds.save_as(bad)
    with pytest.raises(mammokit.DicomDecodeError, match=message) as err:
        decode_file(bad, decoders=_decoders(), name="imagecodecs")
    assert str(bad) in str(err.value)


def test_random_corruption_never_crashes_the_process(tmp_path: Path) -> None:
    """300 files with 1-5 random bytes changed in the JPEG stream (its tables, SOF and
    entropy-coded data): each decodes or raises a DicomDecodeError naming it; none kills the
    process."""
    pixels = np.random.default_rng(2).integers(0, 4095, (80, 56), endpoint=True, dtype=np.uint16)
    good = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=JPEGLosslessSV1, bits_stored=12)
    _equal, refused, _other = decode_mutants(good, tmp_path / "mutants", "imagecodecs", seed=11)
    assert refused >= 10
