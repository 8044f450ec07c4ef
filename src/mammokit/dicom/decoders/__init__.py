"""The decoder backends, one module per library, as pydicom 3 keeps its own
(``pydicom.pixels.decoders``): :mod:`~mammokit.dicom.decoders.pydicom` (the reference, every
transfer syntax), :mod:`~mammokit.dicom.decoders.dicomsdl` (native JPEG lossless),
:mod:`~mammokit.dicom.decoders.j2k_reduced` (JPEG 2000 at 1/2, 1/4 or 1/8 size) and
:mod:`~mammokit.dicom.decoders.pylibjpeg_rle` (RLE through pylibjpeg-rle directly).

Backends stay thin: the checks of a frame's own codestream against the header live in
:mod:`mammokit.dicom.codestream`, and the header checks in :class:`FrameDecoder`.

A plugin author's decoder subclasses :class:`FrameDecoder` and implements ``decode_frame(path,
meta, min_shape) -> DecodedImage``; ``decode`` has then read and checked the header (size
limits, monochrome, frame count) before any pixel data, and ``_result`` checks the decoded
shape against it. Any object with the :class:`mammokit.plugins.protocols.Decoder` method works too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mammokit.dicom.decoders.base import FrameDecoder, pydicom_dtype

__all__ = ["FrameDecoder", "pydicom_dtype"]


def __getattr__(name: str) -> Any:
    # Imported on first use: listing the decoder plugin must not import pydicom.
    if name in __all__:
        from mammokit.dicom.decoders import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
