"""Built-in plugin of the image stages: the windowing methods (``voi_lut``, the default;
``minmax``), the ROI extractors (``breast_mask``, the default; ``profile_crop``, the
published method; ``otsu``) and the padder (``aspect_pad``). Each factory imports its stage
only when called, so listing plugins stays cheap."""

from __future__ import annotations

from typing import Any

from mammokit.plugins.components import Component
from mammokit.plugins.hookspecs import hookimpl
from mammokit.plugins.protocols import Padder, RoiExtractor, WindowingMethod


def _voi_lut(**options: Any) -> Any:
    from mammokit.preprocess.windowing import VoiLut

    return VoiLut(**options)


def _minmax(**options: Any) -> Any:
    from mammokit.preprocess.windowing import MinMax

    return MinMax(**options)


def _breast_mask(**options: Any) -> Any:
    from mammokit.preprocess.breast import BreastMask

    return BreastMask(**options)


def _profile_crop(**options: Any) -> Any:
    from mammokit.preprocess.roi import ProfileCrop

    return ProfileCrop(**options)


def _otsu(**options: Any) -> Any:
    from mammokit.preprocess.roi import OtsuCrop

    return OtsuCrop(**options)


def _aspect_pad(**options: Any) -> Any:
    from mammokit.preprocess.pad import AspectPad

    return AspectPad(**options)


@hookimpl
def mammokit_windowing_methods() -> list[Component[WindowingMethod]]:
    return [
        Component(
            "voi_lut",
            "DICOM modality LUT + VOI LUT (LINEAR/LINEAR_EXACT/SIGMOID or sequence)",
            _voi_lut,
        ),
        Component("minmax", "Plain min-max stretch of the stored values", _minmax),
    ]


@hookimpl
def mammokit_roi_extractors() -> list[Component[RoiExtractor]]:
    return [
        Component(
            "breast_mask",
            "Breast mask on the modality values before windowing (default), Otsu fallback",
            _breast_mask,
        ),
        Component(
            "profile_crop",
            "Smoothed row/column sum x std profile crop (published method), Otsu fallback",
            _profile_crop,
        ),
        Component("otsu", "Largest connected component of an Otsu mask", _otsu),
    ]


@hookimpl
def mammokit_padders() -> list[Component[Padder]]:
    return [
        Component("aspect_pad", "Pad with background to the target height/width ratio", _aspect_pad)
    ]
