"""What every built-in decoder shares: the frame option, the header check, the result check."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom.header import read_checked
from mammokit.dicom.safety import DEFAULT_LIMITS, Limits

__all__ = [
    "MAX_REDUCTION",
    "FrameDecoder",
    "as_pydicom_values",
    "correct_unused_bits",
    "pydicom_dtype",
    "reduction_level",
]

#: The largest reduction tried: 3 means 1/8 of the full resolution.
MAX_REDUCTION = 3


def reduction_level(
    rows: int, columns: int, min_shape: tuple[int, int] | None, max_level: int = MAX_REDUCTION
) -> int:
    """The largest n in 0..max_level with a 1/2**n decode still at least ``min_shape``.

    A reduced image has ``floor(size / 2**n)`` rows and columns or one more (rounding
    differs between codecs), so the floor is what must be at least ``min_shape``.
    ``min_shape`` None means full resolution (0).
    """
    if min_shape is None:
        return 0
    min_rows, min_cols = min_shape
    level = 0
    while (
        level < max_level
        and rows >> (level + 1) >= max(1, min_rows)
        and columns >> (level + 1) >= max(1, min_cols)
    ):
        level += 1
    return level


def pydicom_dtype(meta: ImageMeta) -> np.dtype:
    """The dtype pydicom gives: uint8/int8 up to 8 bits allocated, else uint16/int16
    (32-bit data: uint32/int32)."""
    size = 1 if meta.bits_allocated <= 8 else 2 if meta.bits_allocated <= 16 else 4
    return np.dtype(f"{'i' if meta.pixel_representation == 1 else 'u'}{size}")


def correct_unused_bits(pixels: np.ndarray, bits_stored: int) -> np.ndarray:
    """pydicom's correction of the bits above ``bits_stored`` in (H, W) integer ``pixels``,
    in place: shifted out and back, so signed values are sign-extended from the stored bits
    and unsigned ones have the unused bits cleared."""
    shift = 8 * pixels.dtype.itemsize - bits_stored
    if shift > 0:
        if pixels.dtype.kind == "u":
            pixels &= pixels.dtype.type((1 << bits_stored) - 1)
        else:
            pixels <<= shift
            pixels >>= shift
    return pixels


def as_pydicom_values(samples: np.ndarray, meta: ImageMeta) -> np.ndarray:
    """(H, W) unsigned samples in native byte order, as a codec returns them, -> the values
    ``ds.pixel_array`` holds: widened to Bits Allocated if narrower, viewed in pydicom's
    dtype (signed for Pixel Representation 1), the bits above Bits Stored corrected
    (:func:`correct_unused_bits`, in place when ``samples`` is writeable)."""
    target = pydicom_dtype(meta)
    if samples.dtype.itemsize != target.itemsize:  # e.g. 8-bit precision in 16 bits allocated
        samples = samples.astype(np.dtype(f"u{target.itemsize}"))
    pixels = samples.view(target)
    if 0 < meta.bits_stored < meta.bits_allocated:
        if not pixels.flags.writeable:
            pixels = pixels.copy()
        correct_unused_bits(pixels, meta.bits_stored)
    return pixels


class FrameDecoder:
    """Base of the decoders (the object a decoder component's factory returns), public for
    plugin authors (``mammokit.dicom.decoders.FrameDecoder``).

    Args:
        frame: the frame to take from a multi-frame file; None (default) rejects them.

    ``decode(path, *, min_shape=None, limits=None)`` reads and checks the header (limits,
    monochrome, frames) before any pixel data, then calls :meth:`decode_frame`.
    """

    name: ClassVar[str] = ""

    def __init__(self, frame: int | None = None) -> None:
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int)):
            raise TypeError(f"frame must be an integer or None, got {frame!r}")
        self.frame = frame

    def decode(
        self,
        path: Path,
        *,
        min_shape: tuple[int, int] | None = None,
        limits: Limits | None = None,
    ) -> DecodedImage:
        """(H, W) stored values of ``path`` (see the subclass for ``min_shape``).

        Raises:
            DicomDecodeError, ImageReadError, ResourceLimitError: naming the file.
        """
        path = Path(path)
        _header, meta = read_checked(path, limits or DEFAULT_LIMITS, frame=self.frame)
        return self.decode_frame(path, meta, min_shape)

    def decode_frame(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        """Decode ``path`` whose header was read and checked into ``meta``: what a
        subclass implements. The automatic choice calls it directly after reading the
        header once for every candidate decoder."""
        raise NotImplementedError

    def _result(self, path: Path, pixels: np.ndarray, meta: ImageMeta) -> DecodedImage:
        """A full-resolution result, after checking its shape against the header."""
        if pixels.shape != (meta.rows, meta.columns):
            raise DicomDecodeError(
                path,
                f"{self.name}: decoded shape {pixels.shape} does not match the header's "
                f"{meta.rows}x{meta.columns}",
            )
        return DecodedImage(pixels=pixels, meta=meta, decoder=self.name, scale=1)
