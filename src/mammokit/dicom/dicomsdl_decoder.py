"""Decoder ``dicomsdl``: a native decoder, several times faster than pydicom on JPEG lossless
and RLE. Optional: ``pip install mammokit[fast]``.

It asks for stored values (``pixelData(storedvalue=True)``, not dicomsdl's float default)
and refuses a result whose dtype is not exactly pydicom's.

dicomsdl is only used for the transfer syntaxes where it was verified pixel-identical to
pydicom on every monochrome file of the public corpus (:data:`VERIFIED_TRANSFER_SYNTAXES`),
and only for 8- and 16-bit data. :data:`EXCLUDED_TRANSFER_SYNTAXES` says why each other
transfer syntax is left to pydicom, naming a corpus file that shows it; a test re-checks that
evidence in a subprocess, so an upgrade that fixes dicomsdl shows up.

dicomsdl parses untrusted bytes in C++ and can crash the process on a corrupted RLE stream
(a fuzz test of random byte changes crashed it in about 1 case in 6); the batch runner's
process pool isolates such a crash to one file. Decode untrusted single files in-process
with ``decoder="pydicom"`` if that matters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mammokit.dicom._base import FrameDecoder, pydicom_dtype
from mammokit.dicom._dicomsdl_table import (
    EXCLUDED_TRANSFER_SYNTAXES,
    VERIFIED_TRANSFER_SYNTAXES,
    dicomsdl_available,
)
from mammokit.dicom._guard import guard
from mammokit.errors import DicomDecodeError
from mammokit.images import DecodedImage, ImageMeta

__all__ = [
    "EXCLUDED_TRANSFER_SYNTAXES",
    "VERIFIED_TRANSFER_SYNTAXES",
    "DicomsdlDecoder",
    "dicomsdl_available",
]

NAME = "dicomsdl"

_quiet = False


def _import_dicomsdl() -> Any:
    global _quiet
    import dicomsdl

    if not _quiet:
        # dicomsdl prints its errors to stderr; they are in the exception text anyway. (A
        # Python logger callback would be simpler but deadlocks at interpreter exit.)
        dicomsdl.set_loglevel(dicomsdl.LogLevel.DISABLE)
        _quiet = True
    return dicomsdl


class DicomsdlDecoder(FrameDecoder):
    """Full-resolution decode with dicomsdl, for the verified transfer syntaxes.

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode`` ignores ``min_shape`` and returns (H, W) stored values in pydicom's dtype.
    """

    name = NAME

    def _decode(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        if meta.transfer_syntax not in VERIFIED_TRANSFER_SYNTAXES:
            raise DicomDecodeError(
                path, f"dicomsdl is not verified for transfer syntax {meta.transfer_syntax}"
            )
        if meta.bits_allocated not in (8, 16):
            raise DicomDecodeError(
                path, f"dicomsdl is only used for 8/16-bit data, not {meta.bits_allocated}-bit"
            )
        with guard(path, "dicomsdl cannot decode the pixel data"):
            dicomsdl = _import_dicomsdl()
            dataset = dicomsdl.open(str(path))
            pixels = dataset.pixelData(index=self.frame or 0, storedvalue=True)
        expected = pydicom_dtype(meta)
        if pixels.dtype != expected:
            raise DicomDecodeError(
                path, f"dicomsdl returned {pixels.dtype}, pydicom's dtype is {expected}"
            )
        return self._result(path, pixels, meta)
