"""The DICOM header: reading it without pixel data, checking it, and turning it into ImageMeta.

Only monochrome images are accepted (``MONOCHROME1``/``MONOCHROME2``, one sample per pixel):
mammograms are greyscale, and a colour or palette image here is a wrong file, so it is
rejected with a clear :class:`~mammokit.DicomDecodeError` rather than converted.
Multi-frame files (e.g. tomosynthesis) are rejected too unless the decoder is told which
frame to take (decoder option ``frame``).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import ImageMeta
from mammokit.dicom.safety import (
    BoundedFile,
    Limits,
    Step,
    check_dataset,
    check_file_size,
    check_inflated_size,
    guard,
)

__all__ = [
    "MONOCHROME",
    "check_image",
    "frame_count",
    "meta_from_dataset",
    "read_checked",
    "read_header",
    "transfer_syntax",
]

MONOCHROME = ("MONOCHROME1", "MONOCHROME2")

_REQUIRED = ("Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation")


def read_header(path: Path) -> Dataset:
    """The dataset up to (not including) the pixel data.

    Raises:
        DicomDecodeError: not a DICOM file, or its header cannot be parsed.
        ImageReadError: the file cannot be opened.
    """
    with guard(path, "cannot read the DICOM header"):
        return _dataset(path)


def _dataset(path: Path) -> Dataset:
    """pydicom's header read through a :class:`BoundedFile` (no guard: the caller's)."""
    with BoundedFile(path) as handle:
        return pydicom.dcmread(handle, stop_before_pixels=True)


def read_checked(
    path: Path, limits: Limits, *, frame: int | None = None
) -> tuple[Dataset, ImageMeta]:
    """Read, check and describe a header: what every decoder does before touching pixels.

    One guard covers the steps (read, check against ``limits``, check the image, describe
    it), and a failure names the step: the same messages as :func:`read_header`,
    :func:`check_image` and :func:`meta_from_dataset` give one by one.

    Raises:
        ResourceLimitError: the file or the image it claims exceeds ``limits``.
        DicomDecodeError: see :func:`read_header` and :func:`check_image`.
    """
    with guard(path, "cannot read the DICOM header") as step:
        check_file_size(path, limits)
        check_inflated_size(path, limits)
        ds = _dataset(path)
        step.what = "invalid image header"
        check_dataset(path, ds, limits)
        _check_image(path, ds, frame, step)
        step.what = "invalid header value"
        return ds, _meta(path, ds)


def transfer_syntax(ds: Dataset) -> str:
    """The transfer syntax UID from the file meta ("" when absent or not a string).

    Raises:
        pydicom's errors for an element it cannot convert (callers run it in a guard).
    """
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID", "") if meta is not None else ""
    # A broken file can hold a sequence here, whose str() parses its items lazily.
    return str(uid) if isinstance(uid, str) else ""


def frame_count(path: Path, ds: Dataset) -> int:
    """NumberOfFrames (1 when absent). Raises DicomDecodeError when it is not a number."""
    raw = ds.get("NumberOfFrames", 1)
    try:
        frames = int(raw if raw not in (None, "") else 1)
    except (TypeError, ValueError) as err:
        raise DicomDecodeError(path, f"invalid Number of Frames {raw!r}") from err
    if frames < 1:
        raise DicomDecodeError(path, f"invalid Number of Frames {frames}")
    return frames


def check_image(path: Path, ds: Dataset, *, frame: int | None = None) -> None:
    """Reject what mammokit does not decode, before any pixel data is read.

    Args:
        path: the file (for messages).
        ds: its header.
        frame: the frame to take from a multi-frame file; None rejects multi-frame files.

    Raises:
        DicomDecodeError: no transfer syntax, no pixel data, a missing or invalid image
            tag, a non-monochrome image, or a multi-frame image without ``frame``.
    """
    with guard(path, "invalid image header") as step:
        _check_image(path, ds, frame, step)


def _check_image(path: Path, ds: Dataset, frame: int | None, step: Step) -> None:
    """:func:`check_image` inside the caller's guard; ``step`` names what it reads."""
    step.what = "invalid file meta"
    syntax = transfer_syntax(ds)
    if not syntax:
        raise DicomDecodeError(path, "missing Transfer Syntax UID (0002,0010) in the file meta")
    step.what = "invalid image header"
    missing = [kw for kw in _REQUIRED if ds.get(kw) in (None, "")]
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise DicomDecodeError(path, "float pixel data is not supported (integer images only)")
    if missing:
        raise DicomDecodeError(path, f"missing required tag(s): {', '.join(missing)}")
    if not photometric:
        raise DicomDecodeError(path, "missing required tag(s): PhotometricInterpretation")
    if photometric not in MONOCHROME or samples != 1:
        raise DicomDecodeError(
            path,
            f"photometric interpretation {photometric} with {samples} sample(s) per pixel is "
            "not supported: only MONOCHROME1/MONOCHROME2 greyscale images are",
        )
    rows, cols = int(ds.Rows), int(ds.Columns)
    allocated, stored = int(ds.BitsAllocated), int(ds.BitsStored)
    representation = int(ds.PixelRepresentation)
    if rows < 1 or cols < 1:
        raise DicomDecodeError(path, f"invalid image size {rows}x{cols}")
    if allocated not in (1, 8, 16, 32) or not 1 <= stored <= allocated:
        raise DicomDecodeError(
            path, f"unsupported Bits Allocated {allocated} / Bits Stored {stored}"
        )
    if representation not in (0, 1):
        raise DicomDecodeError(path, f"invalid Pixel Representation {representation}")
    frames = frame_count(path, ds)
    if frame is None and frames > 1:
        raise DicomDecodeError(
            path,
            f"multi-frame image ({frames} frames) is not supported; set the decoder option "
            "frame=<index> to take one frame",
        )
    if frame is not None and not 0 <= frame < frames:
        raise DicomDecodeError(path, f"frame {frame} requested but the file has {frames}")


def meta_from_dataset(path: Path, ds: Dataset) -> ImageMeta:
    """ImageMeta from a header checked by :func:`check_image`.

    The image id is the file name without suffix (the RSNA layout
    ``<patient_id>/<image_id>.dcm``); the patient id is Patient ID (0010,0020).

    Raises:
        DicomDecodeError: a LUT, window or padding tag cannot be interpreted.
    """
    with guard(path, "invalid header value"):
        return _meta(path, ds)


def _meta(path: Path, ds: Dataset) -> ImageMeta:
    """:func:`meta_from_dataset` inside the caller's guard."""
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper() or "LINEAR"
    return ImageMeta(
        path=str(path),
        patient_id=str(ds.get("PatientID", "") or ""),
        image_id=path.stem,
        laterality=_laterality(ds),
        view=str(ds.get("ViewPosition", "") or "").strip().upper(),
        photometric=str(ds.PhotometricInterpretation).strip().upper(),
        bits_stored=int(ds.BitsStored),
        bits_allocated=int(ds.BitsAllocated),
        pixel_representation=int(ds.PixelRepresentation),
        rescale_slope=_float_or(ds, "RescaleSlope", 1.0),
        rescale_intercept=_float_or(ds, "RescaleIntercept", 0.0),
        window_centers=_floats(ds, "WindowCenter"),
        window_widths=_floats(ds, "WindowWidth"),
        voi_lut_function=function,
        voi_lut_sequence=tuple(
            _lut(ds, item) for item in ds.get("VOILUTSequence") or () if _has_lut(item)
        ),
        modality_lut=_modality_lut(ds),
        pixel_padding_value=_padding(ds, "PixelPaddingValue"),
        pixel_padding_range_limit=_padding(ds, "PixelPaddingRangeLimit"),
        transfer_syntax=transfer_syntax(ds),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        is_dicom=True,
        presentation_intent=_upper_text(ds, "PresentationIntentType"),
        presentation_lut_shape=_upper_text(ds, "PresentationLUTShape"),
    )


def _upper_text(ds: Dataset, keyword: str) -> str:
    """A code string element, stripped and upper case ("" when absent or not text)."""
    value = ds.get(keyword, "")
    return str(value).strip().upper() if isinstance(value, str) else ""


def _laterality(ds: Dataset) -> str:
    for keyword in ("ImageLaterality", "Laterality"):
        value = str(ds.get(keyword, "") or "").strip().upper()
        if value in ("L", "R"):
            return value
    return ""


def _finite(keyword: str, value: Any) -> float:
    """``float(value)``; ValueError for NaN or infinity (they poison the lookup tables)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{keyword} is {value!r}, not a finite number")
    return number


def _float_or(ds: Dataset, keyword: str, default: float) -> float:
    value = ds.get(keyword)
    return default if value in (None, "") else _finite(keyword, value)


def _floats(ds: Dataset, keyword: str) -> tuple[float, ...]:
    value = ds.get(keyword)
    if value in (None, ""):
        return ()
    if isinstance(value, str | bytes | int | float):
        return (_finite(keyword, value),)
    return tuple(_finite(keyword, v) for v in value)


def _padding(ds: Dataset, keyword: str) -> int | None:
    """A padding value as the signed or unsigned stored value it stands for."""
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    number = int(value)
    allocated = int(ds.BitsAllocated)
    if int(ds.PixelRepresentation) == 1 and number >= 1 << (allocated - 1):
        number -= 1 << allocated  # read as US but meant as SS
    return number


def _has_lut(item: Dataset) -> bool:
    """False for an empty LUT item (no descriptor or no data), which is ignored."""
    return item.get("LUTDescriptor") not in (None, "") and item.get("LUTData") not in (None, b"")


def _modality_lut(ds: Dataset) -> tuple[tuple[int, int, int], np.ndarray] | None:
    sequence = ds.get("ModalityLUTSequence")
    return _lut(ds, sequence[0]) if sequence and _has_lut(sequence[0]) else None


def _lut(ds: Dataset, item: Dataset) -> tuple[tuple[int, int, int], np.ndarray]:
    """``((entries, first_mapped, bits), data)`` from a LUT item, as pydicom reads it."""
    descriptor: Any = item.LUTDescriptor
    entries = int(descriptor[0]) or 1 << 16
    first, bits = int(descriptor[1]), int(descriptor[2])
    element = item["LUTData"]
    if isinstance(element.value, bytes):
        little = _little_endian(ds)
        values: Any = struct.unpack_from(f"{'<' if little else '>'}{entries}H", element.value)
    else:
        values = element.value
        if isinstance(values, int):
            values = [values]
    dtype = np.uint8 if bits == 8 else np.uint16
    data = np.asarray(values, dtype=dtype)
    if data.size < entries:
        raise ValueError(f"LUT Data has {data.size} entries, the descriptor says {entries}")
    return (entries, first, bits), data[:entries]


def _little_endian(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return bool(meta.TransferSyntaxUID.is_little_endian)
    return bool(ds.original_encoding[1])
