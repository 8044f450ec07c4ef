"""The built-in decoders, registered through the ``mammokit_decoders`` hook."""

from __future__ import annotations

from typing import Any

from mammokit.dicom._uids import J2K, J2K_LOSSLESS, JPEG_LOSSLESS, JPEG_LOSSLESS_SV1, RLE
from mammokit.dicom.decoders._dicomsdl_table import (
    NAMED_ONLY,
    VERIFIED_TRANSFER_SYNTAXES,
    dicomsdl_available,
)
from mammokit.plugins.components import DecoderComponent
from mammokit.plugins.hookspecs import hookimpl

__all__ = ["mammokit_decoders"]

_J2K: frozenset[str] = frozenset({J2K_LOSSLESS, J2K})
_DICOMSDL: frozenset[str] = frozenset(VERIFIED_TRANSFER_SYNTAXES)


def _pydicom(**options: Any) -> Any:
    from mammokit.dicom.decoders.pydicom import PydicomDecoder

    return PydicomDecoder(**options)


def _j2k_reduced(**options: Any) -> Any:
    from mammokit.dicom.decoders.j2k_reduced import J2kReducedDecoder

    return J2kReducedDecoder(**options)


def _pylibjpeg_rle(**options: Any) -> Any:
    from mammokit.dicom.decoders.pylibjpeg_rle import PylibjpegRleDecoder

    return PylibjpegRleDecoder(**options)


def _imagecodecs(**options: Any) -> Any:
    from mammokit.dicom.decoders.imagecodecs import ImagecodecsDecoder

    return ImagecodecsDecoder(**options)


def _imagecodecs_available() -> bool:
    from mammokit.dicom.decoders.imagecodecs import imagecodecs_available

    return imagecodecs_available()


def _dicomsdl(**options: Any) -> Any:
    from mammokit.dicom.decoders.dicomsdl import DicomsdlDecoder

    return DicomsdlDecoder(**options)


def _rle_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("rle") is not None  # pylibjpeg-rle, a core dependency


def _pillow_has_openjpeg() -> bool:
    from PIL import features

    return bool(features.check_codec("jpg_2000"))


@hookimpl
def mammokit_decoders() -> list[DecoderComponent]:
    return [
        DecoderComponent(
            name="pydicom",
            description="pydicom 3 + pylibjpeg plugins: every transfer syntax; the reference",
            factory=_pydicom,
            speed_rank=100,
        ),
        DecoderComponent(
            name="j2k_reduced",
            description="JPEG 2000 at 1/2, 1/4 or 1/8 resolution (Pillow/OpenJPEG) when allowed",
            factory=_j2k_reduced,
            transfer_syntaxes=_J2K,
            is_available=_pillow_has_openjpeg,
            reduces_resolution=True,
            speed_rank=10,
        ),
        DecoderComponent(
            name="pylibjpeg_rle",
            description="RLE Lossless through pylibjpeg-rle directly (pydicom's decoder, "
            "without its copies)",
            factory=_pylibjpeg_rle,
            transfer_syntaxes=frozenset({RLE}),
            is_available=_rle_available,
            speed_rank=15,
        ),
        DecoderComponent(
            name="imagecodecs",
            description="imagecodecs (mammokit[fast]): JPEG lossless through libjpeg-turbo 3",
            factory=_imagecodecs,
            transfer_syntaxes=frozenset({JPEG_LOSSLESS, JPEG_LOSSLESS_SV1}),
            is_available=_imagecodecs_available,
            speed_rank=18,
        ),
        DecoderComponent(
            name="dicomsdl",
            description="dicomsdl (mammokit[fast]): native JPEG lossless; RLE only when named",
            factory=_dicomsdl,
            transfer_syntaxes=_DICOMSDL,
            is_available=dicomsdl_available,
            speed_rank=20,
            named_only=NAMED_ONLY,
        ),
    ]
