"""The test-data JPEG lossless encoder: pydicom must decode what it writes, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from mammokit.synthetic.encoders.ljpeg import encode_jpeg_lossless
from mammokit.synthetic.encoders.write import write_dicom


@pytest.mark.parametrize(
    ("precision", "shape"), [(2, (7, 5)), (8, (50, 33)), (12, (300, 41)), (16, (513, 20))]
)
def test_round_trip_through_pydicom(tmp_path: Path, precision: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(precision)
    dtype = np.uint8 if precision <= 8 else np.uint16
    pixels = rng.integers(0, 1 << precision, size=shape).astype(dtype)
    if precision == 16:  # the extreme differences: +-32768 (SSSS 16) and +-65535
        pixels[0, :4] = [0, 65535, 0, 32768]
        pixels[400, :3] = [65535, 0, 32768]
    path = write_dicom(
        tmp_path / "a.dcm", pixels, transfer_syntax="1.2.840.10008.1.2.4.70", bits_stored=precision
    )
    np.testing.assert_array_equal(pydicom.dcmread(path).pixel_array, pixels)


def test_smooth_images_compress() -> None:
    y, x = np.mgrid[:256, :256]
    pixels = (1000 + 2 * x + y).astype(np.uint16)
    assert len(encode_jpeg_lossless(pixels, 12)) < pixels.nbytes / 4


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="precision"):
        encode_jpeg_lossless(np.zeros((4, 4), np.uint16), 17)
    with pytest.raises(TypeError, match="unsigned"):
        write_dicom(
            "unused.dcm", np.zeros((4, 4), np.int16), transfer_syntax="1.2.840.10008.1.2.4.70"
        )
