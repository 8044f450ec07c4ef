"""Defences against untrusted files: resource limits, bounded reads, and one kind of error.

- **Limits**, checked from the header before any pixel buffer is allocated: a header that
  claims a huge image (a lying or malicious file) fails fast with a
  :class:`~mammokit.ResourceLimitError`, not by exhausting memory inside a decoder.
- **Bounded reads** (:class:`BoundedFile`): a lying element length never allocates more
  than the file holds.
- **The guard** (:func:`guard`): decoding untrusted files meets every kind of exception;
  the guard maps them to :class:`~mammokit.DicomDecodeError` (or
  :class:`~mammokit.ImageReadError` / :class:`~mammokit.ResourceLimitError`) with a
  one-line cause naming the step that failed, and routes the warnings the libraries emit
  on odd files to the ``mammokit.dicom`` logger instead of ``warnings``.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
from pydicom.dataset import Dataset

from mammokit.core.errors import (
    DicomDecodeError,
    ImageReadError,
    MammokitError,
    ResourceLimitError,
)

__all__ = [
    "DEFAULT_LIMITS",
    "BoundedFile",
    "Limits",
    "Step",
    "check_dataset",
    "check_file_size",
    "check_inflated_size",
    "check_size",
    "guard",
    "open_error",
    "short",
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


class BoundedFile(io.BufferedReader):
    """A binary file whose ``read(n)`` never asks for more than what is left of it.

    pydicom reads an element value with ``fp.read(length)``; a buffered read allocates
    ``length`` bytes up front, so one flipped bit in a length field would make a 10 kB
    file allocate up to 4 GiB. Pass this to ``pydicom.dcmread`` instead of a path.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._end = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > io.DEFAULT_BUFFER_SIZE:
            size = max(0, min(size, self._end - self.tell()))
        return super().read(size)


logger = logging.getLogger("mammokit.dicom")

_MAX_CAUSE = 300


def short(err: BaseException) -> str:
    """``"TypeName: first line of the message"``, at most a few hundred characters."""
    text = " ".join(str(err).split())
    if len(text) > _MAX_CAUSE:
        text = text[: _MAX_CAUSE - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class Step:
    """What a guarded block is doing now: set :attr:`what` as the block moves from one step
    to the next, and a failure is named after the step it happened in.

    One guard over several steps replaces one guard per step (each guard is a context
    manager entered and left; see docs/decisions.md).
    """

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


_OPEN_CAUSES: dict[type[OSError], str] = {
    FileNotFoundError: "no such file",
    IsADirectoryError: "is a directory",
    PermissionError: "permission denied",
}


def open_error(path: object, what: str, err: OSError) -> ImageReadError:
    """The error for a file that cannot be opened or read: ``"<what>: no such file"`` (or
    ``is a directory``, ``permission denied``, else the OS's own message)."""
    cause = next((text for kind, text in _OPEN_CAUSES.items() if isinstance(err, kind)), None)
    return ImageReadError(path, f"{what}: {cause or short(err)}")


@contextmanager
def guard(
    path: object, what: str, *, error: type[ImageReadError] = DicomDecodeError
) -> Iterator[Step]:
    """Run a block, re-raising any non-mammokit exception as ``error(path, ...)``.

    Args:
        path: the file, named in the error.
        what: what the block does, e.g. ``"cannot read the header"``; it starts the cause.
            The block may change it as it goes through the :class:`Step` it is given
            (``with guard(path, "cannot read the header") as step: ...; step.what = ...``).
        error: the error class for ordinary failures (DicomDecodeError by default).

    Raises:
        MammokitError subclasses unchanged; MemoryError as ResourceLimitError; anything
        else (including a native decoder's panic) as ``error``; KeyboardInterrupt,
        SystemExit and other BaseExceptions unchanged. Library warnings are logged (debug
        level), never raised.

    Note:
        ``warnings.catch_warnings`` is process-global: decoding in several threads at once
        may let a library warning through to the normal warning filters.
    """
    step = Step(what)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield step
        for item in caught:
            logger.debug("%s: %s: %s", path, step.what, item.message)
    except MammokitError:
        raise
    except MemoryError as err:
        raise ResourceLimitError(path, f"{step.what}: out of memory") from err
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise open_error(path, step.what, err) from err
    except Exception as err:
        raise error(path, f"{step.what}: {short(err)}") from err
    except BaseException as err:
        # A Rust decoder's panic (pyo3's PanicException, e.g. pylibjpeg-rle on a lying
        # header) derives from BaseException; it is a decode failure, not an interrupt.
        if type(err).__name__ != "PanicException":
            raise
        raise error(path, f"{step.what}: decoder panicked: {short(err)}") from err
