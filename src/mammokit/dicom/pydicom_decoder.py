"""Decoder ``pydicom``: pydicom 3's pixel pipeline with the pylibjpeg plugins.

It handles every transfer syntax pydicom has an available decoder for (raw little/big
endian, deflate, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K) and is the
reference: every other decoder must give the same pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.pixels
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID

from mammokit.dicom import _uids
from mammokit.dicom._base import FrameDecoder
from mammokit.dicom._guard import guard
from mammokit.dicom._stream_checks import JPEG_SOF_MARKERS, jpeg_frame_header
from mammokit.dicom.j2k_reduced import check_tiles, frame_bytes, parse_codestream
from mammokit.dicom.limits import BoundedFile
from mammokit.errors import DicomDecodeError
from mammokit.images import DecodedImage, ImageMeta

__all__ = ["PydicomDecoder", "describe_uid", "native", "pydicom_can_decode"]

#: JPEG 2000 and HTJ2K (lossless, lossless RPCL, lossy): decoded by OpenJPEG, whose tile
#: count is checked first.
_OPENJPEG_SYNTAXES = frozenset(
    {
        _uids.J2K_LOSSLESS,
        _uids.J2K,
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    }
)
#: JPEG (baseline, extended, lossless) and JPEG-LS: decoded by libjpeg / Pillow, whose
#: frame size (SOF) is checked against the header first.
_JPEG_SYNTAXES = frozenset(
    {
        _uids.JPEG_BASELINE,
        _uids.JPEG_EXTENDED,
        _uids.JPEG_LOSSLESS,
        _uids.JPEG_LOSSLESS_SV1,
        _uids.JPEG_LS_LOSSLESS,
        _uids.JPEG_LS_NEAR_LOSSLESS,
    }
)
#: Start-of-frame markers (SOF0-3, 5-7, 9-11, 13-15, and JPEG-LS SOF55).
_SOF_MARKERS = JPEG_SOF_MARKERS | {0xF7}  # and JPEG-LS SOF55


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


def describe_uid(uid: str) -> str:
    """``"1.2.840.10008.1.2.5 (RLE Lossless)"``."""
    name = UID(uid).name if uid else ""
    return f"{uid} ({name})" if name and name != uid else uid or "(none)"


class PydicomDecoder(FrameDecoder):
    """Full-resolution decode through ``pydicom.pixels.pixel_array``.

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode`` ignores ``min_shape`` and returns (H, W) stored values in pydicom's dtype
    (native byte order): exactly ``ds.pixel_array`` (or ``ds.pixel_array[frame]``).
    """

    name = "pydicom"

    def _decode(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        if not pydicom_can_decode(meta.transfer_syntax):
            raise DicomDecodeError(
                path,
                f"unsupported transfer syntax {describe_uid(meta.transfer_syntax)}: "
                "no installed pydicom decoder plugin handles it",
            )
        _check_codestream(path, meta, self.frame)
        with (
            guard(path, f"cannot decode pixel data ({describe_uid(meta.transfer_syntax)})"),
            BoundedFile(path) as handle,  # a lying item length must not allocate GiBs
        ):
            if meta.transfer_syntax == _uids.DEFLATED:
                # pixel_array(path) reads the file raw; a deflated dataset must be inflated.
                source: Any = pydicom.dcmread(handle)
            else:
                source = handle
            pixels = pydicom.pixels.pixel_array(source, index=self.frame)
        return self._result(path, native(pixels), meta)


def _check_codestream(path: Path, meta: ImageMeta, frame: int | None) -> None:
    """Check a compressed frame's own header before a native codec decodes it.

    A JPEG 2000 tile-grid bomb raises ResourceLimitError; a JPEG 2000 (SIZ) or JPEG/JPEG-LS
    (SOF) frame size that differs from Rows x Columns raises DicomDecodeError: libjpeg spent
    minutes on a 738-byte JPEG-LS file whose SOF claimed 65535x65535, and OpenJPEG decoded
    a 3 kB file whose SIZ claimed 60000x60000 into a 3.6 G-sample buffer. A JP2 file whose
    box walk would never end (pydicom 3.0 loops forever on a box of length 0) raises
    DicomDecodeError. A stream whose header cannot be parsed here is left to the codec.
    """
    syntax = meta.transfer_syntax
    if syntax not in _OPENJPEG_SYNTAXES and syntax not in _JPEG_SYNTAXES:
        return
    data = frame_bytes(path, frame)
    if syntax in _OPENJPEG_SYNTAXES:
        if _jp2_box_loops(data):
            raise DicomDecodeError(
                path, "a JP2 box of length 0 comes before the codestream box (jp2c)"
            )
        try:
            stream = parse_codestream(data)
        except (ValueError, IndexError, struct.error):
            return
        size: tuple[int, int] | None = (stream.height, stream.width)
        check_tiles(path, stream)
    else:
        size = _jpeg_frame_size(data)
    if size is not None and size[0] != 0 and size != (meta.rows, meta.columns):
        raise DicomDecodeError(
            path,
            f"the {'JPEG 2000' if syntax in _OPENJPEG_SYNTAXES else 'JPEG'} stream is "
            f"{size[0]}x{size[1]} but the header says {meta.rows}x{meta.columns}",
        )


def _jp2_box_loops(data: bytes) -> bool:
    """True if pydicom's JP2 box walk (``get_j2k_parameters``) would never end: a box of
    length 0 ("to the end of the file") before the ``jp2c`` box, so it adds 0 forever."""
    if not data.startswith(b"\x00\x00\x00\x0cjP  "):
        return False
    offset = 12
    while offset < len(data):
        if data[offset + 4 : offset + 8] == b"jp2c":
            return False
        length = int.from_bytes(data[offset : offset + 4], "big")
        if length == 0:
            return True
        offset += length
    return False


def _jpeg_frame_size(data: bytes) -> tuple[int, int] | None:
    """(lines, samples per line) from the first SOF segment of a JPEG/JPEG-LS stream."""
    header = jpeg_frame_header(data, _SOF_MARKERS)
    return None if header is None else (header[2], header[3])
