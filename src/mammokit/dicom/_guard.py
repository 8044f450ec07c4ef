"""Turning every pydicom/numpy/PIL failure into a mammokit error that names the file.

Decoding untrusted files meets every kind of exception; :func:`guard` maps them to
:class:`~mammokit.DicomDecodeError` (or :class:`~mammokit.ImageReadError` /
:class:`~mammokit.ResourceLimitError`) with a one-line cause, and routes the warnings the
libraries emit on odd files to the ``mammokit.dicom`` logger instead of ``warnings``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from mammokit.core.errors import DicomDecodeError, ImageReadError, MammokitError, ResourceLimitError

__all__ = ["guard", "short"]

logger = logging.getLogger("mammokit.dicom")

_MAX_CAUSE = 300


def short(err: BaseException) -> str:
    """``"TypeName: first line of the message"``, at most a few hundred characters."""
    text = " ".join(str(err).split())
    if len(text) > _MAX_CAUSE:
        text = text[: _MAX_CAUSE - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@contextmanager
def guard(
    path: object, what: str, *, error: type[ImageReadError] = DicomDecodeError
) -> Iterator[None]:
    """Run a block, re-raising any non-mammokit exception as ``error(path, ...)``.

    Args:
        path: the file, named in the error.
        what: what the block does, e.g. ``"cannot read the header"``; it starts the cause.
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
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for item in caught:
            logger.debug("%s: %s: %s", path, what, item.message)
    except MammokitError:
        raise
    except MemoryError as err:
        raise ResourceLimitError(path, f"{what}: out of memory") from err
    except FileNotFoundError as err:
        raise ImageReadError(path, f"{what}: no such file") from err
    except IsADirectoryError as err:
        raise ImageReadError(path, f"{what}: is a directory") from err
    except PermissionError as err:
        raise ImageReadError(path, f"{what}: permission denied") from err
    except Exception as err:
        raise error(path, f"{what}: {short(err)}") from err
    except BaseException as err:
        # A Rust decoder's panic (pyo3's PanicException, e.g. pylibjpeg-rle on a lying
        # header) derives from BaseException; it is a decode failure, not an interrupt.
        if type(err).__name__ != "PanicException":
            raise
        raise error(path, f"{what}: decoder panicked: {short(err)}") from err
