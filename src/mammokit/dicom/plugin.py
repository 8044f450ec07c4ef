"""The built-in decoders, registered through the ``mammokit_decoders`` hook."""

from __future__ import annotations

from typing import Any

from mammokit.components import DecoderComponent
from mammokit.plugins import hookimpl

__all__ = ["mammokit_decoders"]


def _pydicom(**options: Any) -> Any:
    from mammokit.dicom.pydicom_decoder import PydicomDecoder

    return PydicomDecoder(**options)


@hookimpl
def mammokit_decoders() -> list[DecoderComponent]:
    return [
        DecoderComponent(
            name="pydicom",
            description="pydicom 3 + pylibjpeg plugins: every transfer syntax; the reference",
            factory=_pydicom,
            speed_rank=100,
        ),
    ]
