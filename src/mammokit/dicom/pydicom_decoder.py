"""Decoder ``pydicom``: pydicom 3's pixel pipeline with the pylibjpeg plugins.

It handles every transfer syntax pydicom has an available decoder for (raw little/big
endian, deflate, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K) and is the
reference: every other decoder must give the same pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom.pixels
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID

from mammokit.dicom._guard import guard
from mammokit.dicom._uids import DEFLATED
from mammokit.dicom.header import read_checked
from mammokit.dicom.limits import DEFAULT_LIMITS, Limits
from mammokit.errors import DicomDecodeError
from mammokit.images import DecodedImage

__all__ = ["PydicomDecoder", "native", "pydicom_can_decode"]

NAME = "pydicom"


def pydicom_can_decode(uid: str) -> bool:
    """True when pydicom has a decoder for ``uid`` whose plugins are installed."""
    try:
        return bool(get_decoder(UID(uid)).is_available)
    except (NotImplementedError, ValueError):
        return False


def native(pixels: np.ndarray) -> np.ndarray:
    """The same values in native byte order (big endian files decode to '>u2' otherwise)."""
    if pixels.dtype.byteorder not in ("=", "|"):
        return pixels.astype(pixels.dtype.newbyteorder("="))
    return pixels


class PydicomDecoder:
    """Full-resolution decode through ``pydicom.pixels.pixel_array``.

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode`` returns (H, W) stored values in pydicom's dtype (native byte order):
    exactly ``ds.pixel_array`` (or ``ds.pixel_array[frame]``).
    """

    name = NAME

    def __init__(self, frame: int | None = None) -> None:
        self.frame = frame

    def decode(
        self,
        path: Path,
        *,
        min_shape: tuple[int, int] | None = None,
        limits: Limits | None = None,
    ) -> DecodedImage:
        """Decode ``path``; ``min_shape`` is ignored (always full resolution)."""
        path = Path(path)
        _ds, meta = read_checked(path, limits or DEFAULT_LIMITS, frame=self.frame)
        if not pydicom_can_decode(meta.transfer_syntax):
            raise DicomDecodeError(
                path,
                f"unsupported transfer syntax {_describe(meta.transfer_syntax)}: "
                "no installed pydicom decoder plugin handles it",
            )
        with guard(path, f"cannot decode pixel data ({_describe(meta.transfer_syntax)})"):
            if meta.transfer_syntax == DEFLATED:
                # pixel_array(path) reads the file raw; a deflated dataset must be inflated.
                source: Any = pydicom.dcmread(path)
            else:
                source = path
            pixels = pydicom.pixels.pixel_array(source, index=self.frame)
        pixels = native(pixels)
        if pixels.shape != (meta.rows, meta.columns):
            raise DicomDecodeError(
                path,
                f"decoded shape {pixels.shape} does not match the header's "
                f"{meta.rows}x{meta.columns}",
            )
        return DecodedImage(pixels=pixels, meta=meta, decoder=NAME, scale=1)


def _describe(uid: str) -> str:
    name = UID(uid).name if uid else ""
    return f"{uid} ({name})" if name and name != uid else uid or "(none)"
