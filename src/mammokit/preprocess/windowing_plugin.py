"""The built-in windowing methods ``voi_lut`` and ``minmax`` (``mammokit_windowing_methods``)."""

from __future__ import annotations

from mammokit.components import Component
from mammokit.hookspecs import hookimpl
from mammokit.preprocess.windowing import MinMax, VoiLut

__all__ = ["mammokit_windowing_methods"]


@hookimpl
def mammokit_windowing_methods() -> list[Component]:
    return [
        Component(
            name="voi_lut",
            description="DICOM modality LUT + VOI LUT (LINEAR/LINEAR_EXACT/SIGMOID or sequence)",
            factory=VoiLut,
        ),
        Component(
            name="minmax",
            description="Plain min-max stretch of the stored values",
            factory=MinMax,
        ),
    ]
