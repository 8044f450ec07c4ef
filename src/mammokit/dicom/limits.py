"""Resource limits, checked from the header before any pixel buffer is allocated.

A header that claims a huge image (a lying or malicious file) must fail fast with a
:class:`~mammokit.ResourceLimitError`, not exhaust memory inside a decoder.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import attrs
from pydicom.dataset import Dataset

from mammokit.core.errors import ResourceLimitError

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "check_dataset",
    "check_file_size",
    "check_inflated_size",
    "check_size",
]

_DEFLATED = b"1.2.840.10008.1.2.1.99"
_LONG_VRS = (
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
)
_CHUNK = 1 << 20


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class Limits:
    """The largest image a decoder may allocate.

    Attributes:
        max_pixels: largest rows * columns * frames * samples.
        max_bytes: largest decoded size in bytes (and largest file size).
    """

    max_pixels: int = attrs.field(default=100_000_000, converter=int, validator=_positive)
    max_bytes: int = attrs.field(default=1 << 30, converter=int, validator=_positive)


DEFAULT_LIMITS = Limits()


def check_size(
    path: Path, *, rows: int, columns: int, frames: int, samples: int, bits: int, limits: Limits
) -> None:
    """Raise ResourceLimitError if an image of this size exceeds ``limits``.

    ``bits`` is the bits allocated per sample; decoded samples take ``ceil(bits / 8)``
    bytes each (1-bit data is unpacked to one byte per pixel).
    """
    count = rows * columns * frames * samples
    if count > limits.max_pixels:
        raise ResourceLimitError(
            path,
            f"header claims {rows}x{columns}x{frames} frame(s)x{samples} sample(s) = "
            f"{count:,} pixels, more than the limit max_pixels={limits.max_pixels:,}",
        )
    nbytes = count * max(1, -(-bits // 8))
    if nbytes > limits.max_bytes:
        raise ResourceLimitError(
            path,
            f"decoded pixel data would take {nbytes:,} bytes, more than the limit "
            f"max_bytes={limits.max_bytes:,}",
        )


def check_file_size(path: Path, limits: Limits) -> None:
    """Raise ResourceLimitError if the file itself is larger than ``limits.max_bytes``."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return  # the reader reports the unreadable file with its own message
    if size > limits.max_bytes:
        raise ResourceLimitError(
            path, f"file is {size:,} bytes, more than the limit max_bytes={limits.max_bytes:,}"
        )


def check_dataset(path: Path, ds: Dataset, limits: Limits) -> None:
    """Check a header (read without pixel data) against ``limits``.

    Raises:
        ResourceLimitError: naming the file, the claimed size and the limit.
    """
    frames_raw = ds.get("NumberOfFrames", 1)
    try:
        frames = max(1, int(frames_raw or 1))
    except (TypeError, ValueError):
        frames = 1  # check_image reports the invalid value
    check_size(
        path,
        rows=int(ds.get("Rows", 0) or 0),
        columns=int(ds.get("Columns", 0) or 0),
        frames=frames,
        samples=int(ds.get("SamplesPerPixel", 1) or 1),
        bits=int(ds.get("BitsAllocated", 8) or 8),
        limits=limits,
    )


def _deflated_body(head: bytes) -> int | None:
    """Where the dataset starts if the file meta in ``head`` says Deflated, else None."""
    if head[128:132] != b"DICM":
        return None
    pos, deflated = 132, False
    while pos + 12 <= len(head) and head[pos : pos + 2] == b"\x02\x00":
        element = head[pos + 2 : pos + 4]
        if head[pos + 4 : pos + 6] in _LONG_VRS:
            (length,) = struct.unpack_from("<I", head, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", head, pos + 6)
            start = pos + 8
        if element == b"\x10\x00":
            deflated = head[start : start + length].rstrip(b"\x00 ") == _DEFLATED
        pos = start + length
    return pos if deflated else None


def check_inflated_size(path: Path, limits: Limits) -> None:
    """Raise ResourceLimitError if a Deflated dataset inflates to more than ``max_bytes``.

    pydicom inflates a Deflated Explicit VR Little Endian body in one piece before parsing
    it, so a small file of compressed zeros (a decompression bomb: 300 kB -> 300 MB) would
    take gigabytes. The body is inflated here in chunks, counted and discarded, first.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
            start = _deflated_body(head)
            if start is None:
                return
            handle.seek(start)
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            total = 0
            while not inflater.eof and (chunk := handle.read(_CHUNK)):
                while chunk and not inflater.eof:
                    total += len(inflater.decompress(chunk, _CHUNK))
                    if total > limits.max_bytes:
                        raise ResourceLimitError(
                            path,
                            f"deflated dataset inflates to more than the limit "
                            f"max_bytes={limits.max_bytes:,}",
                        )
                    chunk = inflater.unconsumed_tail
    except (OSError, zlib.error):
        return  # the reader reports the unreadable file or bad stream with its own message
