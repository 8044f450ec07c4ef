"""``decode_file``: one file to a DecodedImage, with the named or automatically chosen decoder."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mammokit.components import Component, DecoderComponent
from mammokit.dicom._guard import guard
from mammokit.dicom.choose import candidates
from mammokit.dicom.decoders.base import FrameDecoder
from mammokit.dicom.header import read_checked
from mammokit.dicom.imagefile import read_image, read_image_meta, sniff
from mammokit.dicom.limits import DEFAULT_LIMITS, Limits
from mammokit.errors import ConfigError, DicomDecodeError, ImageReadError
from mammokit.images import DecodedImage, ImageMeta
from mammokit.plugins import build_record
from mammokit.plugins.types import DECODERS

__all__ = ["AUTO", "ConfiguredDecode", "decode_file", "read_meta"]

logger = logging.getLogger("mammokit.dicom")

AUTO = "auto"


def read_meta(
    path: str | Path, *, limits: Limits = DEFAULT_LIMITS, frame: int | None = None
) -> ImageMeta:
    """The ImageMeta of a DICOM or ordinary image file, without decoding pixels.

    Raises:
        DicomDecodeError, ImageReadError, ResourceLimitError: naming the file.
    """
    path = Path(path)
    kind = sniff(path)
    if kind == "DICOM":
        return read_checked(path, limits, frame=frame)[1]
    if kind:
        return read_image_meta(path, limits)
    raise _not_an_image(path)


def decode_file(
    path: Path,
    *,
    decoders: Mapping[str, Component[Any]],
    name: str = AUTO,
    options: Mapping[str, Any] | None = None,
    min_shape: tuple[int, int] | None = None,
    max_pixels: int = DEFAULT_LIMITS.max_pixels,
    max_bytes: int = DEFAULT_LIMITS.max_bytes,
) -> DecodedImage:
    """Decode a DICOM file to stored values, or read an ordinary image file.

    Args:
        path: a DICOM file (recognised by the ``DICM`` prefix) or a PNG/PGM/JPEG/TIFF file.
        decoders: the registered decoders by name (``manager.decoders()``).
        name: a decoder name, or ``"auto"`` to choose per file (see
            :mod:`mammokit.dicom.choose`). A named decoder is used or fails, never replaced.
        options: keyword arguments for the decoder's factory (e.g. ``frame=0``).
        min_shape: (rows, columns) the caller needs at least; lets a decoder such as
            ``j2k_reduced`` decode at 1/2, 1/4 or 1/8. None means full resolution.
        max_pixels, max_bytes: limits checked from the header before any pixels are read.

    Returns:
        DecodedImage: (H, W) stored values in pydicom's dtype (native byte order), with
        ``decoder`` the name of the decoder that produced them (``"pillow"`` for ordinary
        images, which are always read with Pillow whatever ``name`` says).

    Raises:
        DicomDecodeError: not DICOM nor an image, a bad header, unsupported data, a
            truncated stream, or a decoder failure; the message names the file and cause.
        ImageReadError: the file cannot be opened, or an image file is unusable.
        ResourceLimitError: the header claims more than the limits.
        ConfigError: ``name`` is unknown or not available, or ``options`` are invalid.
    """
    path = Path(path)
    options = dict(options or {})
    with guard(path, "invalid limits", error=ImageReadError):
        limits = Limits(max_pixels=max_pixels, max_bytes=max_bytes)
    kind = sniff(path)
    if kind and kind != "DICOM":
        return read_image(path, limits)
    if not kind:
        raise _not_an_image(path)
    _ds, meta = read_checked(path, limits, frame=_frame(options))
    if name != AUTO:
        _check_named(path, decoders, name, meta)
        return _run(path, decoders[name], options, min_shape, limits, meta)
    names = candidates(decoders, meta, min_shape)
    if not names:
        raise DicomDecodeError(
            path, f"no available decoder handles transfer syntax {meta.transfer_syntax}"
        )
    for i, candidate in enumerate(names):
        try:
            return _run(path, decoders[candidate], options, min_shape, limits, meta)
        except DicomDecodeError as err:
            if i == len(names) - 1:
                raise
            logger.warning(
                "%s: decoder %r failed (%s); falling back to %r",
                path,
                candidate,
                err,
                names[i + 1],
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _frame(options: dict[str, Any]) -> int | None:
    frame = options.get("frame")
    return frame if isinstance(frame, int) and not isinstance(frame, bool) else None


def _not_an_image(path: Path) -> DicomDecodeError:
    return DicomDecodeError(
        path, "not a DICOM file (no 'DICM' prefix at byte 128) nor a PNG/PGM/JPEG/TIFF image"
    )


def _check_named(
    path: Path, decoders: Mapping[str, Component[Any]], name: str, meta: ImageMeta
) -> None:
    if name not in decoders:
        raise ConfigError(
            f"Unknown decoder {name!r}; choose one of: {', '.join(sorted(decoders)) or '(none)'}"
        )
    component = decoders[name]
    if not isinstance(component, DecoderComponent):
        return
    if not component.is_available():
        raise ConfigError(f"decoder {name!r} is not available (its dependencies are missing)")
    if component.transfer_syntaxes and meta.transfer_syntax not in component.transfer_syntaxes:
        raise DicomDecodeError(
            path,
            f"decoder {name!r} does not handle transfer syntax {meta.transfer_syntax}; "
            f"it handles {', '.join(sorted(component.transfer_syntaxes))}",
        )


def _run(
    path: Path,
    component: Component[Any],
    options: dict[str, Any],
    min_shape: tuple[int, int] | None,
    limits: Limits,
    meta: ImageMeta,
) -> DecodedImage:
    decoder = build_record(DECODERS, component, options=options)
    with guard(path, f"decoder {component.name!r} failed"):
        if isinstance(decoder, FrameDecoder) and decoder.frame == _frame(options):
            # A built-in decoder: the header was read and checked above, skip doing it again.
            result = decoder._decode(path, meta, min_shape)
        else:
            result = decoder.decode(path, min_shape=min_shape, limits=limits)
    if not isinstance(result, DecodedImage):
        raise DicomDecodeError(
            path, f"decoder {component.name!r} returned {type(result).__name__}, not DecodedImage"
        )
    _check_result(path, component.name, result, meta)
    if result.decoder != component.name:
        result = attrs.evolve(result, decoder=component.name)
    return result


def _check_result(path: Path, name: str, result: DecodedImage, meta: ImageMeta) -> None:
    pixels = result.pixels
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2:
        shape = getattr(pixels, "shape", type(pixels).__name__)
        raise DicomDecodeError(path, f"decoder {name!r} returned a non-2-D pixel array {shape}")
    scale = result.scale
    rows, cols = pixels.shape
    if not (
        abs(rows * scale - meta.rows) < scale + 1 and abs(cols * scale - meta.columns) < scale + 1
    ):
        raise DicomDecodeError(
            path,
            f"decoder {name!r} returned {rows}x{cols} at scale {scale} for a "
            f"{meta.rows}x{meta.columns} image",
        )


@attrs.frozen(eq=False)
class ConfiguredDecode:
    """:func:`decode_file` with one configuration's decoder choice, options and limits:
    ``(path, min_shape) -> DecodedImage``, what the image chain decodes with
    (:class:`~mammokit.preprocess.stages.Stages`).

    Attributes:
        decoders: the registered decoders by name.
        name: a decoder name, or ``"auto"``.
        options: keyword arguments for the decoder's factory.
        max_pixels, max_bytes: the limits checked from the header.
    """

    decoders: Mapping[str, Component[Any]]
    name: str = AUTO
    options: Mapping[str, Any] = attrs.field(factory=dict)
    max_pixels: int = DEFAULT_LIMITS.max_pixels
    max_bytes: int = DEFAULT_LIMITS.max_bytes

    def __call__(self, path: Path, min_shape: tuple[int, int] | None = None) -> DecodedImage:
        """See :func:`decode_file`."""
        return decode_file(
            path,
            decoders=self.decoders,
            name=self.name,
            options=self.options,
            min_shape=min_shape,
            max_pixels=self.max_pixels,
            max_bytes=self.max_bytes,
        )
