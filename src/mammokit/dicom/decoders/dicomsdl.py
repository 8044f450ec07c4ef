"""Decoder ``dicomsdl``: a native decoder, several times faster than pydicom on JPEG lossless
and RLE. Optional: ``pip install mammokit[fast]``.

It asks for stored values (``pixelData(storedvalue=True)``, not dicomsdl's float default)
and refuses a result whose dtype is not exactly pydicom's.

dicomsdl is only used for the transfer syntaxes where it was verified pixel-identical to
pydicom on every monochrome file of the public corpus (:data:`VERIFIED_TRANSFER_SYNTAXES`),
and only for 8- and 16-bit data. :data:`EXCLUDED_TRANSFER_SYNTAXES` says why each other
transfer syntax is left to pydicom, naming a corpus file that shows it; a test re-checks that
evidence in a subprocess, so an upgrade that fixes dicomsdl shows up.

dicomsdl parses untrusted bytes in C++ and trusts the header: a JPEG lossless or RLE frame
that disagrees with Rows, Columns or Bits Allocated makes it write past its buffers. Before
calling it, :func:`~mammokit.dicom.codestream.check_frame_stream` compares the frame's
own header (JPEG SOF3, RLE segment table) with the DICOM header and refuses a mismatch.
That is enough for JPEG lossless (no crash in 3,600 mutated files, each decoded in a forked
child), not for RLE: a changed run length overflows the output buffer (24 crashes in 600
mutants) and no check short of decoding sees it. The automatic choice therefore gives RLE
to ``pylibjpeg_rle`` (memory-safe Rust; dicomsdl is at most 1.3x faster); naming
``decoder="dicomsdl"`` uses dicomsdl for RLE too (:data:`NAMED_ONLY`). In a batch run a
crash then fails one image (the worker processes isolate it); in-process it kills the caller.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from pathlib import Path
from typing import Any

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom.codestream import check_frame_stream
from mammokit.dicom.decoders._dicomsdl_table import (
    EXCLUDED_TRANSFER_SYNTAXES,
    NAMED_ONLY,
    VERIFIED_TRANSFER_SYNTAXES,
    dicomsdl_available,
)
from mammokit.dicom.decoders.base import FrameDecoder, pydicom_dtype
from mammokit.dicom.safety import guard

__all__ = [
    "EXCLUDED_TRANSFER_SYNTAXES",
    "HEAP_CORRUPT_EXIT",
    "NAMED_ONLY",
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


#: dicomsdl's RLE report when the runs wrote more bytes than its buffer holds (a negative
#: count of unfilled bytes): the bytes past the buffer have already overwritten the heap.
_OVERFLOW = re.compile(r"is not filled by -\d+ bytes")
#: The exit status of a worker process stopped because its heap was corrupt.
HEAP_CORRUPT_EXIT = 70


def _stop_if_heap_corrupt(path: Path, err: Exception) -> None:
    """After a reported overflow the heap is corrupt: continuing could crash later or, worse,
    hand out wrong pixels for another image. A child process (a batch worker) exits at
    once, so the batch records this image as a ``WorkerCrash``; the main process gets an
    error saying it should be restarted."""
    if not _OVERFLOW.search(str(err)):
        return
    if multiprocessing.parent_process() is not None:
        os._exit(HEAP_CORRUPT_EXIT)
    raise DicomDecodeError(
        path,
        f"dicomsdl wrote past its output buffer ({err}); this process's memory is corrupt: "
        "restart it, and decode this file with decoder='pydicom'",
    ) from err


class DicomsdlDecoder(FrameDecoder):
    """Full-resolution decode with dicomsdl, for the verified transfer syntaxes.

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode`` ignores ``min_shape`` and returns (H, W) stored values in pydicom's dtype.
    """

    name = NAME

    def decode_frame(
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
        check_frame_stream(path, meta, self.frame or 0)
        with guard(path, "dicomsdl cannot decode the pixel data"):
            dicomsdl = _import_dicomsdl()
            dataset = dicomsdl.open(str(path))
            try:
                pixels = dataset.pixelData(index=self.frame or 0, storedvalue=True)
            except Exception as err:  # dicomsdl.DicomException
                _stop_if_heap_corrupt(path, err)
                raise
        expected = pydicom_dtype(meta)
        if pixels.dtype != expected:
            raise DicomDecodeError(
                path, f"dicomsdl returned {pixels.dtype}, pydicom's dtype is {expected}"
            )
        return self._result(path, pixels, meta)
