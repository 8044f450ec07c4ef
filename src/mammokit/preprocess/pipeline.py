"""The image-stage :class:`ImagePipeline`: named components chained into stages.

This layer owns the stage order of one image (decode, window, ROI, pad, resize). The
:class:`mammokit.Pipeline` users construct is :class:`mammokit.app.run.Pipeline`, which adds
datasets, training and prediction on top (ARCHITECTURE.md, "Layers").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pluggy

from mammokit.core.config import PreprocessConfig, config_from_dict, config_with
from mammokit.core.images import CropBox, DecodedImage, Preprocessed, WindowedImage
from mammokit.plugins import MammokitPluginManager, build_record, manager_or_shared
from mammokit.plugins.components import Component
from mammokit.plugins.types import DECODERS, PADDERS, ROI_EXTRACTORS, WINDOWING_METHODS

__all__ = ["ImagePipeline"]

AUTO_DECODER = "auto"


class ImagePipeline:
    """Preprocessing stages built from named plugin components.

    ``ImagePipeline()`` uses the built-in defaults. Give a :class:`PreprocessConfig`, or any
    of its fields as keywords (``ImagePipeline(window="clahe", size=(512, 256))``), and
    optionally a plugin manager (else the process's shared one). Every component name is resolved at
    construction, so a typo fails at once with a :class:`ConfigError` listing the choices.
    """

    def __init__(
        self,
        config: PreprocessConfig | None = None,
        *,
        manager: pluggy.PluginManager | None = None,
        **overrides: Any,
    ) -> None:
        self.config: PreprocessConfig = config_with(PreprocessConfig, config, overrides)
        self.manager: MammokitPluginManager = manager_or_shared(manager)
        self._decoders = self.manager.decoders()
        if self.config.decoder != AUTO_DECODER:
            self.manager.resolve(DECODERS, self.config.decoder)
        self._window_component = self.manager.resolve(WINDOWING_METHODS, self.config.window)
        self._roi_component = self.manager.resolve(ROI_EXTRACTORS, self.config.roi)
        self._padder_component = self.manager.resolve(PADDERS, self.config.padder)
        roi = build_record(ROI_EXTRACTORS, self._roi_component, options=self.config.roi_options)
        from mammokit.dicom.decode import ConfiguredDecode
        from mammokit.preprocess.chain import RoiChain
        from mammokit.preprocess.stages import Stages

        #: the built stages, handed to the chain (which never sees this object)
        self.stages = Stages(
            config=self.config,
            decode=ConfiguredDecode(
                self._decoders,
                name=self.config.decoder,
                options=self.config.decoder_options,
                max_pixels=self.config.max_pixels,
                max_bytes=self.config.max_bytes,
            ),
            window_method=build_record(
                WINDOWING_METHODS, self._window_component, options=self.config.window_options
            ),
            roi=roi,
            roi_chain=RoiChain(self.manager, self.config.roi, roi),
            pad=build_record(PADDERS, self._padder_component, options=self.config.padder_options),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @classmethod
    def from_toml(cls, path: str | Path, **kwargs: Any) -> ImagePipeline:
        """A pipeline from a ``preprocess.toml`` (or a TOML with a ``[preprocess]`` table)."""
        from mammokit.core.config import load_toml

        data = load_toml(path)
        data = data.get("preprocess", data)
        return cls(config_from_dict(PreprocessConfig, data, where=str(path)), **kwargs)

    @property
    def components(self) -> dict[str, Component[Any]]:
        """The resolved component per stage (the decoder only when one is named)."""
        chosen = {
            "window": self._window_component,
            "roi": self._roi_component,
            "padder": self._padder_component,
        }
        if self.config.decoder != AUTO_DECODER:
            chosen["decoder"] = self._decoders[self.config.decoder]
        return chosen

    def decode(self, path: str | Path, *, min_shape: tuple[int, int] | None = None) -> DecodedImage:
        """Decode a DICOM (or ordinary image) file to stored values.

        Args:
            path: the file.
            min_shape: if given, a decoder may return a reduced-resolution image no
                smaller than this (rows, columns); otherwise full resolution.

        Returns:
            :class:`DecodedImage` with (H, W) stored values in pydicom's dtype.

        Raises:
            DicomDecodeError, ImageReadError, ResourceLimitError: naming the file.
        """
        return self.stages.decode(Path(path), min_shape)

    def window(self, decoded: DecodedImage) -> WindowedImage:
        """Stored values to display values with the configured windowing method.

        Ordinary images (PNG, JPEG, TIFF) are already windowed and pass through unchanged.

        Returns:
            :class:`WindowedImage`: (H, W) uint8/uint16, background dark.
        """
        from mammokit.preprocess.chain import window

        return window(self.stages, decoded)

    def extract_roi(self, windowed: WindowedImage) -> CropBox:
        """Where the breast is in a windowed image, with the configured ROI extractor.

        The breast may be on either side. When the extractor finds no usable box, its
        fallbacks are tried (``breast_mask`` or ``profile_crop`` -> ``otsu``), then the
        whole image is kept. The side is found from the pixels (the header is not read
        here).

        Returns:
            :class:`CropBox` in ``windowed``'s pixel coordinates, widened by ``roi_margin``.
        """
        from mammokit.preprocess.chain import extract_roi

        return extract_roi(self.stages, windowed)

    def preprocess(self, path: str | Path, *, laterality: str = "") -> Preprocessed:
        """One DICOM or ordinary image file to model input.

        The stage order is :mod:`mammokit.preprocess.chain`'s, for every ROI extractor.
        With the default ``breast_mask`` (a :class:`~mammokit.ValuesRoiExtractor`):
        decode -> reduced modality values -> breast mask -> side -> crop -> flip -> window
        the crop (box-reduced first, through the lookup table of the block means, when the
        components declare they can) -> pad -> resize. With a display-value extractor
        (``profile_crop``, ``otsu``): decode -> window -> flip -> ROI -> crop -> pad ->
        resize. A JPEG 2000 stream is decoded at reduced resolution when that cannot make
        the output worse.

        Args:
            path: the file.
            laterality: the table's laterality ("L", "R" or ""); the header's wins, and
                the pixels decide only when both are absent.

        Returns:
            :class:`Preprocessed`: ``pixels`` (``config.size``) of ``config.output_dtype``,
            ``crop_box`` in full-resolution source coordinates, ``flipped``,
            ``source_shape``, ``roi_method`` ("breast_mask", "profile_crop", "otsu" or
            "full"), ``decoder``, the ``laterality`` used, its source and any conflict,
            and ``mask`` with ``output_mask``.

        Raises:
            MammokitError: naming the file and the cause.
        """
        from mammokit.preprocess.chain import preprocess

        return preprocess(self.stages, path, laterality)

    def lesion_mask(self, result: Preprocessed, mask_files: Sequence[str | Path]) -> np.ndarray:
        """The union of the lesion masks ``mask_files`` (drawn on the source image that
        gave ``result``) through ``result``'s geometry: -> ``config.size`` bool, aligned
        with ``result.pixels``; no file gives an all-background mask.

        Raises:
            ImageReadError: a mask file missing, unreadable or not of the source's size.
        """
        from mammokit.preprocess.lesion import lesion_mask, read_lesion_mask

        return lesion_mask(self.stages, result, read_lesion_mask(mask_files, result.source_shape))
