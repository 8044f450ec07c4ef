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

Threads: OpenJPEG (in Pillow) decodes code-blocks on several threads when its environment
variable ``OPJ_NUM_THREADS`` says so, with pixel-identical output; Pillow has no other way
to ask. The decoder's ``threads`` option, or by default :func:`decode_threads` by this rule:

1. ``OPJ_NUM_THREADS`` set by the user (a number, or ``ALL_CPUS``) is left alone;
2. in a worker of mammokit's process pool, the worker's share of the CPUs
   (:func:`set_worker_share`: the CPUs divided by the workers, at least 1), so a batch run
   never runs more decode threads than cores; a Dask task uses 1;
3. otherwise (one image in the calling process) every CPU the process may run on.

The decoder sets the variable only for the length of one decode (:func:`openjpeg_threads`)
and restores it after. ``os.environ`` is process-wide, so two threads decoding at once
share one value; they compute the same one.

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
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom._uids import J2K, J2K_LOSSLESS
from mammokit.dicom.codestream import Codestream, checked_codestream
from mammokit.dicom.decoders.base import (
    MAX_REDUCTION,
    FrameDecoder,
    pydicom_dtype,
    reduction_level,
)
from mammokit.dicom.safety import guard

__all__ = [
    "J2K_TRANSFER_SYNTAXES",
    "OPENJPEG_ENV",
    "J2kReducedDecoder",
    "cpus",
    "decode_threads",
    "openjpeg_threads",
    "set_worker_share",
]

NAME = "j2k_reduced"

#: JPEG 2000 lossless and lossy (Part 1). HTJ2K is left out: no monochrome HTJ2K file to
#: verify against pydicom is at hand.
J2K_TRANSFER_SYNTAXES = frozenset({J2K_LOSSLESS, J2K})

#: OpenJPEG's own variable, read each time a codec is created.
OPENJPEG_ENV = "OPJ_NUM_THREADS"

_worker_share: int | None = None


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def set_worker_share(threads: int | None) -> None:
    """Declare this process a batch worker allowed ``threads`` decode threads (None: not a
    worker). Called by the pool's worker initializer and by a Dask task."""
    global _worker_share
    _worker_share = None if threads is None else max(1, int(threads))


def decode_threads() -> int:
    """The decode threads for this process now (the module docstring's rule)."""
    named = os.environ.get(OPENJPEG_ENV, "").strip()
    if named.isdigit() and int(named) > 0:
        return int(named)
    if named.upper() == "ALL_CPUS":
        return cpus()
    return _worker_share if _worker_share is not None else cpus()


@contextmanager
def openjpeg_threads(threads: int) -> Iterator[None]:
    """Run a block with ``OPJ_NUM_THREADS`` = ``threads``, unless the user set it."""
    if os.environ.get(OPENJPEG_ENV):
        yield
        return
    os.environ[OPENJPEG_ENV] = str(max(1, int(threads)))
    try:
        yield
    finally:
        os.environ.pop(OPENJPEG_ENV, None)


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
        threads: OpenJPEG's decode threads; 0 (default) means
            :func:`decode_threads`.

    ``decode(path, min_shape=...)`` returns (ceil(H / s), ceil(W / s)) stored values in
    pydicom's dtype, with ``scale`` s = 2**n, the coarsest level still >= ``min_shape``.
    """

    name = NAME

    def __init__(
        self, frame: int | None = None, max_reduction: int = MAX_REDUCTION, threads: int = 0
    ) -> None:
        super().__init__(frame)
        if not 0 <= max_reduction <= MAX_REDUCTION:
            raise TypeError(f"max_reduction must be in 0..{MAX_REDUCTION}, got {max_reduction}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise TypeError(f"threads must be an integer >= 0, got {threads!r}")
        self.max_reduction = max_reduction
        self.threads = threads

    def decode_frame(
        self, path: Path, meta: ImageMeta, min_shape: tuple[int, int] | None
    ) -> DecodedImage:
        if meta.transfer_syntax not in J2K_TRANSFER_SYNTAXES:
            raise DicomDecodeError(
                path, f"transfer syntax {meta.transfer_syntax} is not JPEG 2000 (j2k_reduced)"
            )
        data, stream = checked_codestream(path, meta, self.frame)
        level = min(
            reduction_level(meta.rows, meta.columns, min_shape, self.max_reduction), stream.levels
        )
        if stream.signed != (meta.pixel_representation == 1):
            # The codestream's signedness is wrong, so its wavelet averaged wrapped-around
            # values: only a full decode (then pydicom's correction) gives the right image.
            level = 0
        with (
            guard(path, f"cannot decode the JPEG 2000 codestream at 1/{1 << level}"),
            openjpeg_threads(self.threads or decode_threads()),
        ):
            container = _pillow_decode(data, stream, level)
        expected = stream.reduced_size(level)
        if container.shape != expected:
            raise DicomDecodeError(
                path, f"JPEG 2000 decode gave {container.shape}, expected {expected}"
            )
        return DecodedImage(
            pixels=to_stored(container, stream, meta), meta=meta, decoder=NAME, scale=1 << level
        )


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
            image.reduce = level
        image.load()
        return np.asarray(image)
