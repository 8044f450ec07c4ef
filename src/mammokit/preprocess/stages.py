"""What one image's preprocessing needs, handed down by the image pipeline.

The chain (:mod:`mammokit.preprocess.chain`) works from a :class:`Stages` record of plain
functions and built components. It never sees the image pipeline
that built it, so a stage cannot call back into its caller (ARCHITECTURE.md, "Layers"): the
decode function is a :class:`mammokit.dicom.decode.ConfiguredDecode`, a record of the
decoder choice and limits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from mammokit.core.config import PreprocessConfig
from mammokit.core.images import DecodedImage
from mammokit.plugins.protocols import Padder, RoiExtractor, WindowingMethod

if TYPE_CHECKING:
    from mammokit.preprocess.chain import RoiChain

__all__ = ["DecodeFn", "Stages"]

#: ``(path, min_shape) -> DecodedImage``: the configured decoder choice and limits.
DecodeFn = Callable[[Path, "tuple[int, int] | None"], DecodedImage]


@attrs.frozen(eq=False)
class Stages:
    """The built stages of one :class:`~mammokit.core.config.PreprocessConfig`.

    Attributes:
        config: the configuration they were built from.
        decode: ``(path, min_shape) -> DecodedImage`` (stored values, pydicom's dtype).
        window_method: the configured windowing method (DICOM images only).
        roi: the configured ROI extractor, built with its options.
        roi_chain: that extractor, its fallbacks, then the whole image.
        pad: the configured padder.
        aspect: the height/width ratio crops are padded to (``config.target_aspect``).
    """

    config: PreprocessConfig
    decode: DecodeFn
    window_method: WindowingMethod
    roi: RoiExtractor
    roi_chain: RoiChain
    pad: Padder
    aspect: float = attrs.field(init=False)

    @aspect.default
    def _target_aspect(self) -> float:
        return self.config.target_aspect
