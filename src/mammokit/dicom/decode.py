"""``decode_file``: one file to a DecodedImage, with the named or automatically chosen decoder.

The automatic choice (``decoder = "auto"``) is made per file. The rule, from what each
:class:`~mammokit.DecoderComponent` declares:

1. only decoders that are available (``is_available()``) and handle the file's transfer
   syntax (``transfer_syntaxes`` contains it, or is empty for "any") take part, except
   where the decoder lists the transfer syntax in ``named_only``;
2. if ``min_shape`` allows decoding at 1/2 or less (:func:`reduction_level` >= 1),
   decoders that ``reduces_resolution`` come first;
3. otherwise full-resolution decoders come first;
4. within each group the lowest ``speed_rank`` wins (then the name, so the order never
   depends on plugin registration order).

With the built-ins this gives: ``j2k_reduced`` for JPEG 2000 when the target size allows a
reduction; ``pylibjpeg_rle`` for RLE; else ``dicomsdl`` when installed and verified for that
transfer syntax (see :data:`mammokit.dicom.decoders.dicomsdl.VERIFIED_TRANSFER_SYNTAXES`)
and not named-only (RLE is: see :data:`mammokit.dicom.decoders.dicomsdl.NAMED_ONLY`); else
``pydicom``. The choice depends on the file, ``min_shape`` and what is installed, never on
how the run is executed, so an in-process run and a process-pool run write the same index.
The candidates after the first are the logged fallbacks if the first fails on a file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mammokit.core.errors import ConfigError, DicomDecodeError, ImageReadError
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.dicom.decoders.base import FrameDecoder, reduction_level
from mammokit.dicom.header import read_checked
from mammokit.dicom.imagefile import read_image, read_image_meta
from mammokit.dicom.safety import DEFAULT_LIMITS, Limits, guard, open_error
from mammokit.plugins import build_record
from mammokit.plugins.components import Component, DecoderComponent
from mammokit.plugins.protocols import Decoder
from mammokit.plugins.types import DECODERS

__all__ = [
    "AUTO",
    "ConfiguredDecode",
    "candidates",
    "decode_file",
    "is_image_file",
    "read_meta",
    "sniff",
]

logger = logging.getLogger("mammokit.dicom")

AUTO = "auto"

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"P5", "PGM"),
    (b"P2", "PGM"),
)


def sniff(path: Path) -> str:
    """``"DICOM"``, ``"PNG"``, ``"JPEG"``, ``"TIFF"``, ``"PGM"`` or ``""`` from the first bytes.

    Raises:
        ImageReadError: the file cannot be opened.
    """
    try:  # no guard: opening and reading 132 bytes fails only with an OSError
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError as err:
        raise open_error(path, "cannot open the file", err) from err
    if head[128:132] == b"DICM":
        return "DICOM"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return ""


def is_image_file(path: Path) -> bool:
    """True for PNG/PGM/JPEG/TIFF files (by content, not by name)."""
    return sniff(path) not in ("", "DICOM")


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
            this module's docstring). A named decoder is used or fails, never replaced.
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
    return _decode(
        Path(path),
        decoders,
        name,
        dict(options or {}),
        min_shape,
        (max_pixels, max_bytes),
        _Built(),
    )


class _Built:
    """What one configuration builds once and reuses for every file: its Limits, the
    decoders built so far and their availability (by name)."""

    __slots__ = ("decoders", "limits", "probed")

    def __init__(self) -> None:
        self.limits: Limits | None = None
        self.decoders: dict[str, Decoder] = {}
        self.probed: dict[str, bool] = {}

    def available(self, name: str, component: Component[Any]) -> bool:
        """``component.is_available()`` (False if the probe breaks), probed once."""
        if name not in self.probed:
            self.probed[name] = _available(component)
        return self.probed[name]


def _decode(
    path: Path,
    decoders: Mapping[str, Component[Any]],
    name: str,
    options: dict[str, Any],
    min_shape: tuple[int, int] | None,
    sizes: tuple[int, int],
    built: _Built,
) -> DecodedImage:
    """:func:`decode_file` with ``built`` holding what earlier calls built."""
    limits = built.limits
    if limits is None:
        with guard(path, "invalid limits", error=ImageReadError):
            limits = built.limits = Limits(max_pixels=sizes[0], max_bytes=sizes[1])
    kind = sniff(path)
    if kind and kind != "DICOM":
        return read_image(path, limits)
    if not kind:
        raise _not_an_image(path)
    _ds, meta = read_checked(path, limits, frame=_frame(options))
    if name != AUTO:
        _check_named(path, decoders, name, meta)
        return _run(path, decoders[name], options, min_shape, limits, meta, built)
    names = _ranked(decoders, meta, min_shape, built)
    if not names:
        raise DicomDecodeError(
            path, f"no available decoder handles transfer syntax {meta.transfer_syntax}"
        )
    for i, candidate in enumerate(names):
        try:
            return _run(path, decoders[candidate], options, min_shape, limits, meta, built)
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


def _handles(component: Component[Any], transfer_syntax: str) -> bool:
    """Whether ``component`` declares it takes part for ``transfer_syntax`` (rule 1 without
    the availability)."""
    if not isinstance(component, DecoderComponent):
        return True  # a plain Component declares nothing: assume it takes anything
    if component.transfer_syntaxes and transfer_syntax not in component.transfer_syntaxes:
        return False
    return transfer_syntax not in component.named_only


def _available(component: Component[Any]) -> bool:
    if not isinstance(component, DecoderComponent):
        return True
    try:
        return bool(component.is_available())
    except Exception:  # an availability probe that breaks means "not available"
        return False


def candidates(
    decoders: Mapping[str, Component[Any]], meta: ImageMeta, min_shape: tuple[int, int] | None
) -> list[str]:
    """Decoder names to try for this file, best first (see the module docstring)."""
    return _ranked(decoders, meta, min_shape, _Built())


def _ranked(
    decoders: Mapping[str, Component[Any]],
    meta: ImageMeta,
    min_shape: tuple[int, int] | None,
    built: _Built,
) -> list[str]:
    """:func:`candidates`, with availability probed once per decoder into ``built``."""
    reduce = reduction_level(meta.rows, meta.columns, min_shape) >= 1

    def key(name: str) -> tuple[bool, int, str]:
        component = decoders[name]
        reduces = isinstance(component, DecoderComponent) and component.reduces_resolution
        rank = component.speed_rank if isinstance(component, DecoderComponent) else 100
        return (reduces != reduce, rank, name)

    usable = [
        name
        for name, c in decoders.items()
        if _handles(c, meta.transfer_syntax) and built.available(name, c)
    ]
    return sorted(usable, key=key)


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
    built: _Built,
) -> DecodedImage:
    decoder = built.decoders.get(component.name)
    if decoder is None:
        decoder = built.decoders[component.name] = build_record(
            DECODERS, component, options=options
        )
    # A FrameDecoder for the same frame: the header was read and checked above, so it
    # decodes the frame directly instead of reading the header again.
    framed = decoder if isinstance(decoder, FrameDecoder) else None
    if framed is not None and framed.frame != _frame(options):
        framed = None
    with guard(path, f"decoder {component.name!r} failed"):
        if framed is not None:
            result = framed.decode_frame(path, meta, min_shape)
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
    _built: _Built = attrs.field(factory=_Built, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Build now what every file would otherwise build again: the limits and the
        # decoders. Whatever fails to build here is left for the first file that needs it,
        # which builds it again and fails with the usual error (ConfigError, ...).
        with contextlib.suppress(Exception):
            self._built.limits = Limits(max_pixels=self.max_pixels, max_bytes=self.max_bytes)
        names = list(self.decoders) if self.name == AUTO else [self.name]
        for name in names:
            component = self.decoders.get(name)
            if component is not None and self._built.available(name, component):
                with contextlib.suppress(Exception):
                    self._built.decoders[name] = build_record(
                        DECODERS, component, options=dict(self.options)
                    )

    def __call__(self, path: Path, min_shape: tuple[int, int] | None = None) -> DecodedImage:
        """See :func:`decode_file`. The limits and each decoder are built on first use and
        kept for the next files."""
        return _decode(
            Path(path),
            self.decoders,
            self.name,
            dict(self.options),
            min_shape,
            (self.max_pixels, self.max_bytes),
            self._built,
        )
