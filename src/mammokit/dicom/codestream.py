"""Codestream parsing and checks, shared by the decoder backends (as pydicom keeps its
codestream readers in ``pixels/utils.py``): a compressed frame's own header (JPEG SOF, RLE
segment table, JPEG 2000 SIZ and tile grid) against the DICOM header, before a native codec
trusts it.

Before dicomsdl: dicomsdl sizes its output buffer from Rows, Columns and Bits Allocated and
then trusts the codestream: a JPEG lossless frame larger than the header says, or an RLE
header whose segment offsets point outside the fragment, makes it write or read past its
buffers (a heap corruption that kills the process, sometimes several images later). These
checks read only the first bytes of the frame's first fragment and refuse such files with a
``DicomDecodeError``, so the automatic choice falls back to pydicom.

They cannot make dicomsdl's RLE decoder safe: it never checks how many bytes a segment's
runs produce, and that is known only after decoding every run. The automatic choice
therefore never gives RLE to dicomsdl (``NAMED_ONLY`` in :mod:`mammokit.dicom.decoders.dicomsdl`).
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

import attrs
import pydicom
from pydicom.encaps import generate_frames

from mammokit.core.errors import DicomDecodeError, ResourceLimitError
from mammokit.core.images import ImageMeta
from mammokit.dicom import _uids
from mammokit.dicom.header import frame_count
from mammokit.dicom.safety import BoundedFile, guard, short

__all__ = [
    "JPEG_SOF_MARKERS",
    "MIN_MEAN_TILE_PIXELS",
    "MIN_TILE_ALLOWANCE",
    "Codestream",
    "check_codestream",
    "check_frame_stream",
    "checked_frame",
    "check_tiles",
    "checked_codestream",
    "frame_bytes",
    "frame_head",
    "jpeg_frame_header",
    "parse_codestream",
]

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
        start, length = _frame_fragments(path, handle, frame)[0]
        handle.seek(start)
        return handle.read(min(length, _HEAD_BYTES)), length


def checked_frame(path: Path, meta: ImageMeta, frame: int) -> bytes:
    """The encapsulated bytes of frame ``frame``, after :func:`check_frame_stream`'s check of
    their own header (JPEG lossless SOF3, RLE segment table) against ``meta``.

    In a single-frame file the frame is all its fragments joined (as pydicom joins them), in
    a multi-frame file fragment k (:func:`frame_head`'s rule). Reads the header, then only
    the frame's own bytes, once.

    Raises:
        DicomDecodeError: broken items, or a frame header that disagrees with ``meta``.
    """
    with guard(path, "cannot read the encapsulated pixel data"), BoundedFile(path) as handle:
        parts = []
        for start, length in _frame_fragments(path, handle, frame):
            handle.seek(start)
            parts.append(handle.read(length))
    data = b"".join(parts) if len(parts) > 1 else parts[0]
    _check_head(path, meta, data[:_HEAD_BYTES], len(data))
    return data


def _frame_fragments(path: Path, handle: BinaryIO, frame: int) -> list[tuple[int, int]]:
    """(data offset, length) of the fragments that hold frame ``frame`` (see frame_head)."""
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
    if frame >= (frames if frames > 1 else 1):
        raise DicomDecodeError(path, f"pixel data holds fewer than {frame + 1} frame(s)")
    return [fragments[frame]] if frames > 1 else fragments


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
    if meta.transfer_syntax in _STREAM_CHECKED:
        head, length = frame_head(path, frame)
        _check_head(path, meta, head, length)


#: The transfer syntaxes whose frame header :func:`_check_head` reads.
_STREAM_CHECKED = frozenset({_uids.JPEG_LOSSLESS, _uids.JPEG_LOSSLESS_SV1, _uids.RLE})


def _check_head(path: Path, meta: ImageMeta, head: bytes, length: int) -> None:
    """The check of a frame's first bytes ``head`` (of ``length``) for its transfer syntax."""
    if meta.transfer_syntax in (_uids.JPEG_LOSSLESS, _uids.JPEG_LOSSLESS_SV1):
        _check_jpeg_lossless(path, head, meta)
    elif meta.transfer_syntax == _uids.RLE:
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


# --- JPEG 2000 (SIZ, tiles) and the checks before pydicom's codecs ---

#: A codestream may have at most max(MIN_TILE_ALLOWANCE, pixels // MIN_MEAN_TILE_PIXELS)
#: tiles. OpenJPEG spends about 12 kB per tile, so a 3 kB file with 3x3-pixel tiles made it
#: allocate 370 MB; real encoders use one tile or tiles of 256 pixels and more a side.
MIN_MEAN_TILE_PIXELS = 64 * 64
MIN_TILE_ALLOWANCE = 64

_SOC_SIZ = b"\xff\x4f\xff\x51"
_EOC = b"\xff\xd9"


@attrs.frozen
class Codestream:
    """What the main header of a JPEG 2000 codestream says.

    Attributes:
        width, height: the image size (Xsiz - XOsiz, Ysiz - YOsiz).
        x_offset, y_offset: XOsiz, YOsiz.
        components: Csiz.
        precision: bits per sample of the first component.
        signed: whether the first component is signed.
        levels: the fewest decomposition levels of any component (COD/COC).
        tiles: how many tiles the SIZ tile grid has.
    """

    width: int
    height: int
    x_offset: int
    y_offset: int
    components: int
    precision: int
    signed: bool
    levels: int
    tiles: int = 1

    def reduced_size(self, n: int) -> tuple[int, int]:
        """(height, width) of the image decoded at level ``n`` (ISO 15444-1 B.5)."""
        p = 1 << n

        def ceil(v: int) -> int:
            return -(-v // p)

        return (
            ceil(self.y_offset + self.height) - ceil(self.y_offset),
            ceil(self.x_offset + self.width) - ceil(self.x_offset),
        )


def parse_codestream(data: bytes) -> Codestream:
    """Parse SIZ and COD/COC of a J2K codestream (or a JP2 file holding one).

    Raises:
        ValueError: no SOC/SIZ at the start of the codestream, or a malformed header.
    """
    start = data.find(_SOC_SIZ)
    if start < 0 or (start > 0 and not data.startswith(b"\x00\x00\x00\x0cjP  ")):
        raise ValueError("no JPEG 2000 codestream (SOC, SIZ) found")
    pos = start + 2
    _, length = struct.unpack_from(">HH", data, pos)
    (_, _, xsiz, ysiz, xo, yo, xt, yt, xto, yto, csiz) = struct.unpack_from(
        ">HHIIIIIIIIH", data, pos + 2
    )
    if not (xt and yt and xto <= xo < xsiz and yto <= yo < ysiz):
        raise ValueError("invalid image or tile geometry in SIZ")
    ssiz = data[pos + 2 + 38]
    levels: int | None = None
    pos += 2 + length
    while pos + 4 <= len(data):
        marker, length = struct.unpack_from(">HH", data, pos)
        if marker == 0xFF90:  # SOT: end of the main header
            break
        if marker == 0xFF52:  # COD: Scod(1) SGcod(4) then levels
            levels = _fewest(levels, data[pos + 4 + 5])
        elif marker == 0xFF53:  # COC: Ccoc(1 or 2) Scoc(1) then levels
            offset = 2 if csiz < 257 else 3
            levels = _fewest(levels, data[pos + 4 + offset])
        pos += 2 + length
    if levels is None:
        raise ValueError("no COD marker in the JPEG 2000 main header")
    return Codestream(
        width=xsiz - xo,
        height=ysiz - yo,
        x_offset=xo,
        y_offset=yo,
        components=csiz,
        precision=(ssiz & 0x7F) + 1,
        signed=bool(ssiz & 0x80),
        levels=levels,
        tiles=-(-(xsiz - xto) // xt) * -(-(ysiz - yto) // yt),
    )


def check_tiles(path: Path, stream: Codestream) -> None:
    """Raise ResourceLimitError if the codestream has too many tiles for its size."""
    allowed = max(MIN_TILE_ALLOWANCE, stream.width * stream.height // MIN_MEAN_TILE_PIXELS)
    if stream.tiles > allowed:
        raise ResourceLimitError(
            path,
            f"JPEG 2000 codestream has {stream.tiles:,} tiles for a {stream.height}x"
            f"{stream.width} image, more than the {allowed:,} allowed (OpenJPEG needs "
            "about 12 kB per tile)",
        )


def frame_bytes(path: Path, frame: int | None) -> bytes:
    """The encapsulated bytes of frame ``frame`` (0 if None) of a DICOM file.

    Raises:
        DicomDecodeError: unreadable encapsulated pixel data, or too few frames.
    """
    with guard(path, "cannot read the encapsulated pixel data"), BoundedFile(path) as handle:
        ds = pydicom.dcmread(handle)  # bounded: a lying item length must not allocate GiBs
        frames = frame_count(path, ds)
        index = frame or 0
        for i, data in enumerate(generate_frames(ds.PixelData, number_of_frames=frames)):
            if i == index:
                return _trim(data)
    raise DicomDecodeError(path, f"pixel data holds fewer than {index + 1} frame(s)")


def checked_codestream(path: Path, meta: ImageMeta, frame: int | None) -> tuple[bytes, Codestream]:
    """The JPEG 2000 frame ``frame`` (0 if None) and its main header, checked against ``meta``
    before a codec sees it: one component, the header's size, a precision of 1-16 bits, and
    no more tiles than :func:`check_tiles` allows.

    Raises:
        DicomDecodeError: unreadable pixel data, an unparsable main header ("invalid JPEG
            2000 codestream: ..."), or one that disagrees with ``meta``.
        ResourceLimitError: too many tiles.
    """
    data = frame_bytes(path, frame)
    try:
        stream = parse_codestream(data)
    except (ValueError, IndexError, struct.error) as err:
        raise DicomDecodeError(path, f"invalid JPEG 2000 codestream: {short(err)}") from err
    if stream.components != 1:
        raise DicomDecodeError(path, f"JPEG 2000 codestream has {stream.components} components")
    if (stream.height, stream.width) != (meta.rows, meta.columns):
        raise DicomDecodeError(
            path,
            f"JPEG 2000 codestream is {stream.height}x{stream.width} but the header says "
            f"{meta.rows}x{meta.columns}",
        )
    if not 1 <= stream.precision <= 16:
        raise DicomDecodeError(path, f"unsupported JPEG 2000 precision {stream.precision}")
    check_tiles(path, stream)
    return data, stream


def _fewest(current: int | None, value: int) -> int:
    return value if current is None else min(current, value)


def _trim(frame: bytes) -> bytes:
    """Drop padding after the EOC marker (e.g. the byte that makes a fragment even)."""
    end = frame.rfind(_EOC)
    if end >= 0 and end + 2 < len(frame) and not frame[end + 2 :].strip(b"\x00"):
        return frame[: end + 2]
    return frame


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


def check_codestream(path: Path, meta: ImageMeta, frame: int | None) -> None:
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
