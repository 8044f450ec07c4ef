"""Checks of a compressed frame's own header against the DICOM header, before dicomsdl.

dicomsdl sizes its output buffer from Rows, Columns and Bits Allocated and then trusts the
codestream: a JPEG lossless frame larger than the header says, or an RLE header whose
segment offsets point outside the fragment, makes it write or read past its buffers (a
heap corruption that kills the process, sometimes several images later). These checks read
only the first bytes of the frame's first fragment and refuse such files with a
``DicomDecodeError``, so the automatic choice falls back to pydicom.

They cannot make dicomsdl's RLE decoder safe: it never checks how many bytes a segment's
runs produce, and that is known only after decoding every run. The automatic choice
therefore never gives RLE to dicomsdl (``NAMED_ONLY`` in :mod:`mammokit.dicom.dicomsdl_decoder`).
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

import pydicom

from mammokit.dicom import _uids
from mammokit.dicom._guard import guard
from mammokit.dicom.limits import BoundedFile
from mammokit.errors import DicomDecodeError
from mammokit.images import ImageMeta

__all__ = ["JPEG_SOF_MARKERS", "check_frame_stream", "frame_head", "jpeg_frame_header"]

_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
_ITEM_TAG = b"\xfe\xff\x00\xe0"
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: Bytes read from the start of a frame: enough for any JPEG table segments before SOF.
_HEAD_BYTES = 1 << 16
_SOF_LOSSLESS = 0xC3  # SOF3: lossless, Huffman coding (T.81 B.1.1.3)
#: The JPEG (T.81) frame header markers: SOF0-SOF15 except DHT (C4), JPG (C8), DAC (CC).
JPEG_SOF_MARKERS = frozenset(
    (*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0))
)
_RLE_HEADER_BYTES = 64


def frame_head(path: Path, frame: int) -> tuple[bytes, int]:
    """(first bytes, length) of the fragment where frame ``frame`` of encapsulated data starts.

    Reads the header up to the pixel data, then only item tags and lengths. A single-frame
    file's frame starts at its first fragment; in a multi-frame file, frame k is fragment k
    only when there are as many fragments as frames (otherwise the file is refused).

    Raises:
        DicomDecodeError: the pixel data is not encapsulated, or its items are broken.
    """
    with guard(path, "cannot read the encapsulated pixel data"), BoundedFile(path) as handle:
        frames = int(pydicom.dcmread(handle, stop_before_pixels=True).get("NumberOfFrames") or 1)
        element = handle.read(12)
        if len(element) < 12 or element[:4] != _PIXEL_DATA_TAG:
            raise DicomDecodeError(path, "no encapsulated Pixel Data element after the header")
        if struct.unpack_from("<I", element, 8)[0] != _UNDEFINED_LENGTH:
            raise DicomDecodeError(path, "compressed Pixel Data must have an undefined length")
        fragments = _fragments(path, handle)
        if not fragments or (frames > 1 and len(fragments) != frames):
            raise DicomDecodeError(
                path, f"{len(fragments)} fragment(s) for {frames} frame(s): not one per frame"
            )
        start, length = fragments[frame if frames > 1 else 0]
        handle.seek(start)
        return handle.read(min(length, _HEAD_BYTES)), length


def _fragments(path: Path, handle: BinaryIO) -> list[tuple[int, int]]:
    """(data offset, length) of every fragment after the Basic Offset Table; a length is
    what the file holds, which is less than the item claims in a truncated file."""
    end = os.fstat(handle.fileno()).st_size
    items: list[tuple[int, int]] = []
    while True:
        item = handle.read(8)
        if len(item) < 8 or item[:4] != _ITEM_TAG:
            return items[1:]  # the sequence delimiter or the file's end; item 0 is the table
        (length,) = struct.unpack_from("<I", item, 4)
        if length == _UNDEFINED_LENGTH or length % 2:
            raise DicomDecodeError(path, f"an encapsulated item has an invalid length {length}")
        start = handle.tell()
        items.append((start, min(length, end - start)))
        handle.seek(length, 1)


def check_frame_stream(path: Path, meta: ImageMeta, frame: int) -> None:
    """Refuse a JPEG lossless or RLE frame whose own header disagrees with ``meta``.

    Raises:
        DicomDecodeError: naming the file and the disagreement.
    """
    if meta.transfer_syntax in (_uids.JPEG_LOSSLESS, _uids.JPEG_LOSSLESS_SV1):
        head, _length = frame_head(path, frame)
        _check_jpeg_lossless(path, head, meta)
    elif meta.transfer_syntax == _uids.RLE:
        head, length = frame_head(path, frame)
        _check_rle(path, head, length, meta)


def _check_jpeg_lossless(path: Path, head: bytes, meta: ImageMeta) -> None:
    precision, lines, samples, components = _lossless_frame_header(path, head)
    if (lines, samples) != (meta.rows, meta.columns):
        raise DicomDecodeError(
            path,
            f"the JPEG stream is {lines}x{samples} but the header says {meta.rows}x{meta.columns}",
        )
    if components != 1:
        raise DicomDecodeError(
            path, f"the JPEG stream has {components} components; a monochrome image has 1"
        )
    if not 2 <= precision <= meta.bits_allocated:
        raise DicomDecodeError(
            path,
            f"the JPEG stream has {precision}-bit samples, more than the header's "
            f"{meta.bits_allocated} bits allocated",
        )


def _lossless_frame_header(path: Path, head: bytes) -> tuple[int, int, int, int]:
    """(precision, lines, samples per line, components) of the SOF3 segment of ``head``."""
    if not head.startswith(b"\xff\xd8"):
        raise DicomDecodeError(path, "the JPEG stream does not start with an SOI marker")
    header = jpeg_frame_header(head, JPEG_SOF_MARKERS)
    if header is None:
        raise DicomDecodeError(path, "no JPEG frame header (SOF3) before the first scan")
    marker, *fields = header
    if marker != _SOF_LOSSLESS:
        raise DicomDecodeError(
            path, f"the JPEG stream is not lossless Huffman (SOF marker FF{marker:02X})"
        )
    precision, lines, samples, components = fields
    return precision, lines, samples, components


def jpeg_frame_header(
    data: bytes, sof_markers: Collection[int]
) -> tuple[int, int, int, int, int] | None:
    """``(marker, precision, lines, samples per line, components)`` of the first frame
    header (a marker in ``sof_markers``) of a JPEG or JPEG-LS stream; components is 0 when
    the stream ends before it. None if the stream does not start with SOI, a marker is
    broken, a scan comes first, or the segment is cut off."""
    if not data.startswith(b"\xff\xd8"):
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte
            pos += 1
            continue
        if marker in sof_markers:
            if pos + 9 > len(data):
                return None
            precision, lines, samples = struct.unpack_from(">BHH", data, pos + 4)
            components = data[pos + 9] if pos + 9 < len(data) else 0
            return marker, precision, lines, samples, components
        if marker == 0xDA:  # a scan before any frame header
            return None
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
    return None


def _check_rle(path: Path, head: bytes, length: int, meta: ImageMeta) -> None:
    """The RLE header: one segment per byte of each sample, offsets inside the fragment."""
    if len(head) < _RLE_HEADER_BYTES:
        raise DicomDecodeError(path, f"the RLE fragment is {length} bytes, shorter than its header")
    count, *offsets = struct.unpack_from("<16I", head)
    expected = meta.bits_allocated // 8  # monochrome: one sample per pixel
    if count != expected:
        raise DicomDecodeError(
            path,
            f"the RLE header declares {count} segment(s); {meta.bits_allocated}-bit "
            f"monochrome data needs {expected}",
        )
    used = offsets[:count]
    bounds = [*used, length]
    if used[0] != _RLE_HEADER_BYTES or any(a >= b for a, b in itertools.pairwise(bounds)):
        raise DicomDecodeError(
            path,
            f"the RLE segment offsets {used} are not increasing from 64 within the "
            f"{length}-byte fragment",
        )
