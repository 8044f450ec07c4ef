"""Writing small monochrome DICOM files, for tests and benchmarks (not a public API).

The synthetic dataset generator (:mod:`mammokit.synthetic`) makes realistic phantoms; this
only wraps an array in a valid header, optionally compressed with one of pydicom's encoders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from mammokit.core.atomic import atomic_write_bytes
from mammokit.dicom._uids import JPEG_LOSSLESS, JPEG_LOSSLESS_SV1

__all__ = ["compress", "dataset_for", "write_dicom"]

_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_DIGITAL_MAMMOGRAPHY = "1.2.840.10008.5.1.4.1.1.1.2"


def dataset_for(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    **elements: Any,
) -> Dataset:
    """A dataset holding (H, W) or (F, H, W) uint8/uint16/int8/int16 ``pixels``, uncompressed.

    ``elements`` are extra keywords set on the dataset (e.g. ``WindowCenter=[...]``,
    ``VOILUTFunction="SIGMOID"``, ``PixelPaddingValue=0``, ``ImageLaterality="L"``).
    """
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype.kind not in "iu" or pixels.dtype.itemsize > 2:
        raise TypeError(f"pixels must be 8/16-bit integers, got {pixels.dtype}")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(_DIGITAL_MAMMOGRAPHY)
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = _DIGITAL_MAMMOGRAPHY
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientID = "0"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.BitsAllocated = 8 * pixels.dtype.itemsize
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()
    return ds


def compress(ds: Dataset, pixels: np.ndarray, transfer_syntax: str, **options: Any) -> None:
    """Encode ``pixels`` into ``ds`` with a compressed ``transfer_syntax``: JPEG lossless
    with mammokit's encoder (unsigned data), anything else with pydicom's encoders
    (``Dataset.compress``, which gets ``options``)."""
    pixels = np.ascontiguousarray(pixels)
    if transfer_syntax in (JPEG_LOSSLESS, JPEG_LOSSLESS_SV1):
        _compress_jpeg_lossless(ds, pixels, transfer_syntax)
    else:
        ds.compress(transfer_syntax, pixels, **options)


def _compress_jpeg_lossless(ds: Dataset, pixels: np.ndarray, transfer_syntax: str) -> None:
    """Encapsulate JPEG lossless SV1 codestreams (pydicom has no encoder for them)."""
    from pydicom.encaps import encapsulate

    from mammokit.synthetic.encoders.ljpeg import encode_jpeg_lossless

    if pixels.dtype.kind != "u":
        raise TypeError("the JPEG lossless encoder takes unsigned pixels only")
    frames = pixels if pixels.ndim == 3 else pixels[None]
    ds.PixelData = encapsulate([encode_jpeg_lossless(f, int(ds.BitsStored)) for f in frames])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)


def write_dicom(
    path: str | Path,
    pixels: np.ndarray,
    *,
    transfer_syntax: str = ExplicitVRLittleEndian,
    encoding_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Path:
    """Write ``pixels`` as a DICOM file with ``transfer_syntax`` (compressing as needed).

    ``kwargs`` go to :func:`dataset_for`. Compressed transfer syntaxes use pydicom's
    encoders (RLE Lossless, JPEG 2000 via pylibjpeg-openjpeg, ...), and JPEG lossless
    (process 14, SV1; unsigned data) mammokit's own encoder. Returns the path.
    """
    path = Path(path)
    ds = dataset_for(pixels, **kwargs)
    if transfer_syntax == ImplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    elif transfer_syntax != ExplicitVRLittleEndian:
        compress(ds, pixels, transfer_syntax, **(encoding_options or {}))
    from io import BytesIO

    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
