"""Decoder ``j2k_reduced``: JPEG 2000 decoded directly at 1/2, 1/4 or 1/8 resolution.

A JPEG 2000 codestream is a wavelet pyramid: OpenJPEG (through Pillow, ``im.reduce = n``)
can stop n levels early and return the 1/2**n image, several times faster than a full
decode followed by a resize. The level is the largest n <= 3 (and <= the codestream's
decomposition levels) for which the result is still at least ``min_shape``; without
``min_shape`` it decodes at full resolution, identical to pydicom.

Pillow returns the samples in a 16-bit (or 8-bit) container: fewer-bit data is shifted up
to the container's top bits and signed data is offset by ``2**(precision-1)``. This module
undoes both from the codestream's SIZ precision and signedness, then casts to pydicom's
dtype (from Bits Allocated and Pixel Representation) and applies pydicom's correction when
the codestream's signedness disagrees with Pixel Representation, so the result at scale 1
is exactly ``ds.pixel_array``.

When the codestream's signedness disagrees with Pixel Representation (a known encoder
bug), the reduced levels average wrapped-around values and are meaningless, so such files
are decoded at full resolution (scale 1), which is still exact.

A reduced image has ``ceil(rows / 2**n)`` x ``ceil(columns / 2**n)`` pixels (for a zero
image offset), and ``DecodedImage.scale`` is ``s = 2**n``. Its pixel (i, j) is a low-pass
(wavelet LL band) value *at* full-resolution pixel (i*s, j*s), not at the centre of the
block (i*s + (s-1)/2): multiplying coordinates by ``s`` maps them back to full resolution.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import attrs
import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import generate_frames

from mammokit.dicom._base import FrameDecoder, pydicom_dtype
from mammokit.dicom._guard import guard
from mammokit.dicom._uids import J2K, J2K_LOSSLESS
from mammokit.dicom.choose import MAX_REDUCTION, reduction_level
from mammokit.dicom.header import frame_count
from mammokit.dicom.limits import BoundedFile
from mammokit.errors import DicomDecodeError, ResourceLimitError
from mammokit.images import DecodedImage, ImageMeta

__all__ = [
    "J2K_TRANSFER_SYNTAXES",
    "Codestream",
    "J2kReducedDecoder",
    "check_tiles",
    "frame_bytes",
    "parse_codestream",
]

NAME = "j2k_reduced"

#: JPEG 2000 lossless and lossy (Part 1). HTJ2K is left out: no monochrome HTJ2K file to
#: verify against pydicom is at hand.
J2K_TRANSFER_SYNTAXES = frozenset({J2K_LOSSLESS, J2K})

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


def _fewest(current: int | None, value: int) -> int:
    return value if current is None else min(current, value)


def _trim(frame: bytes) -> bytes:
    """Drop padding after the EOC marker (e.g. the byte that makes a fragment even)."""
    end = frame.rfind(_EOC)
    if end >= 0 and end + 2 < len(frame) and not frame[end + 2 :].strip(b"\x00"):
        return frame[: end + 2]
    return frame


def to_stored(container: np.ndarray, stream: Codestream, meta: ImageMeta) -> np.ndarray:
    """Pillow's (H, W) uint8/uint16 container values -> pydicom's stored values and dtype."""
    bits = 8 * container.dtype.itemsize
    raw = container >> (bits - stream.precision) if bits > stream.precision else container
    if stream.signed:  # Pillow adds 2**(p-1); subtract it, wrapping: two's complement bits
        raw = np.subtract(raw, 1 << (stream.precision - 1), dtype=raw.dtype)
        raw = raw.view(np.dtype(f"i{raw.dtype.itemsize}"))
    target = pydicom_dtype(meta)
    if raw.dtype.itemsize != target.itemsize:
        # sign-extend (signed) or zero-extend into the larger container, wrapping like C
        raw = raw.astype(np.dtype(f"{raw.dtype.kind}{target.itemsize}"))
    out = raw.view(target) if raw.dtype.itemsize == target.itemsize else raw.astype(target)
    shift = 8 * target.itemsize - stream.precision
    if shift > 0 and stream.signed != (meta.pixel_representation == 1):
        out = np.right_shift(np.left_shift(out, shift), shift)  # pydicom's sign correction
    return np.ascontiguousarray(out)


class J2kReducedDecoder(FrameDecoder):
    """Reduced-resolution JPEG 2000 decoding with Pillow.

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.
        max_reduction: the largest level tried (0..3; 3 means 1/8).

    ``decode(path, min_shape=...)`` returns (ceil(H / s), ceil(W / s)) stored values in
    pydicom's dtype, with ``scale`` s = 2**n, the coarsest level still >= ``min_shape``.
    """

    name = NAME

    def __init__(self, frame: int | None = None, max_reduction: int = MAX_REDUCTION) -> None:
        super().__init__(frame)
        if not 0 <= max_reduction <= MAX_REDUCTION:
            raise TypeError(f"max_reduction must be in 0..{MAX_REDUCTION}, got {max_reduction}")
        self.max_reduction = max_reduction

    def _decode(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        if meta.transfer_syntax not in J2K_TRANSFER_SYNTAXES:
            raise DicomDecodeError(
                path, f"transfer syntax {meta.transfer_syntax} is not JPEG 2000 (j2k_reduced)"
            )
        data = frame_bytes(path, self.frame)
        with guard(path, "invalid JPEG 2000 codestream"):
            stream = parse_codestream(data)
        self._check_stream(path, stream, meta)
        level = min(
            reduction_level(meta.rows, meta.columns, min_shape, self.max_reduction), stream.levels
        )
        if stream.signed != (meta.pixel_representation == 1):
            # The codestream's signedness is wrong, so its wavelet averaged wrapped-around
            # values: only a full decode (then pydicom's correction) gives the right image.
            level = 0
        with guard(path, f"cannot decode the JPEG 2000 codestream at 1/{1 << level}"):
            container = _pillow_decode(data, stream, level)
        expected = stream.reduced_size(level)
        if container.shape != expected:
            raise DicomDecodeError(
                path, f"JPEG 2000 decode gave {container.shape}, expected {expected}"
            )
        return DecodedImage(
            pixels=to_stored(container, stream, meta), meta=meta, decoder=NAME, scale=1 << level
        )

    @staticmethod
    def _check_stream(path: Path, stream: Codestream, meta: ImageMeta) -> None:
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


def _pillow_decode(data: bytes, stream: Codestream, level: int) -> np.ndarray:
    """(H', W') uint8/uint16 container values from Pillow at level ``level``."""
    with Image.open(io.BytesIO(data)) as image:
        if level:
            # Pillow rounds the reduced size to nearest; OpenJPEG gives the ceiling (B.5).
            # Pre-adjust the size so that Pillow's rounding lands on OpenJPEG's size.
            power = 1 << level
            adjust = power >> 1
            width, height = image.size
            image._size = (width + power - 1 - adjust, height + power - 1 - adjust)
            image.reduce = level  # type: ignore[assignment,method-assign]
        image.load()
        return np.asarray(image)
