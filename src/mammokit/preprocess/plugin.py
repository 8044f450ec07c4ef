"""Built-in plugin: the ROI extractors (``profile_crop``, ``otsu``) and the padder
(``aspect_pad``)."""

from __future__ import annotations

from typing import Any

from mammokit.components import Component
from mammokit.hookspecs import hookimpl


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
def mammokit_roi_extractors() -> list[Component]:
    return [
        Component(
            "profile_crop",
            "Smoothed row/column sum x std profile crop (published method), Otsu fallback",
            _profile_crop,
        ),
        Component("otsu", "Largest connected component of an Otsu mask", _otsu),
    ]


@hookimpl
def mammokit_padders() -> list[Component]:
    return [
        Component("aspect_pad", "Pad with background to the target height/width ratio", _aspect_pad)
    ]
