"""The image chain: the stage order of one file, for every ROI extractor.

``preprocess(stages, path) -> Preprocessed`` is what :meth:`ImagePipeline.preprocess
<mammokit.preprocess.pipeline.ImagePipeline.preprocess>` calls, with the
:class:`~mammokit.preprocess.stages.Stages` it built (never the pipeline itself). One
skeleton, whatever the components:

1. decode, at a reduced resolution when the decoder can and the output cannot suffer;
2. find the breast and its side (header, then the table, then the pixels):
   - an extractor that is a :class:`~mammokit.ValuesRoiExtractor` (``breast_mask``,
     the default) works on a reduced copy of the modality values, and only the crop is
     windowed later;
   - any other extractor works on the display values of the whole windowed image;
   either way the box is searched breast-left, and when the extractor finds none, the
   extractors named in its ``fallback`` attribute are tried, then the whole image is kept
   (``Preprocessed.roi_method`` says which);
3. decode again at a finer level if the padded crop is smaller than the output there;
4. crop, mirror breast-left, window (the crop only, or the whole image's display values);
5. pad, resize, mirror to the configured side.

Speed paths are capabilities a component declares (:mod:`mammokit.plugins.protocols`), used here
with ``isinstance`` against the Protocol whoever implements it:

- a :class:`~mammokit.plugins.protocols.PlacingPadder` lets a large crop be box-reduced by integer
  factors (:func:`~mammokit.preprocess.resize.block_factors`) before the resize, and placed
  on the padded canvas at full-resolution geometry
  (:func:`~mammokit.preprocess.resize.resize_placed`);
- a :class:`~mammokit.plugins.protocols.MeanTableWindowing` method then windows the block means of
  the stored values through a table instead of windowing the full-resolution crop;
- a :class:`~mammokit.CropWindowing` method windows the crop with the window of the
  whole image (a default window computed from the pixels).

A component that declares nothing gets the exact order: the crop windowed, padded by the
padder's ``__call__`` and resized. Box transforms are in :mod:`mammokit.preprocess.geometry`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypedDict

import attrs
import numpy as np
from PIL import Image

from mammokit.core.errors import ImageReadError, ResourceLimitError
from mammokit.core.images import CropBox, DecodedImage, Preprocessed, WindowedImage
from mammokit.plugins.protocols import (
    CropWindowing,
    MeanTableWindowing,
    PaddingWindowing,
    PlacingPadder,
    RoiExtractor,
    ValuesRoiExtractor,
)
from mammokit.preprocess.block_table import partial_blocks, table_of_block_means
from mammokit.preprocess.breast import LOW_CONFIDENCE, chest_wall_side
from mammokit.preprocess.geometry import (
    box_at_scale,
    box_with_margin,
    clipped_box,
    first_min_shape,
    mirror_output,
    needed_min_shape,
    padded_shape,
    to_source,
    unmirror,
    view_to_frame,
)
from mammokit.preprocess.laterality import Side, breast_on_right, choose_side, mirror
from mammokit.preprocess.resize import block_factors, block_mean, resize, resize_placed
from mammokit.preprocess.windowing import as_windowed

if TYPE_CHECKING:
    from mammokit.plugins import MammokitPluginManager
    from mammokit.preprocess.stages import Stages

__all__ = [
    "FULL",
    "Found",
    "RoiChain",
    "check_padded_size",
    "extract_roi",
    "find_on_display",
    "find_on_values",
    "finish",
    "locate",
    "mirror_crop",
    "preprocess",
    "side_fields",
    "window",
    "window_crop",
]

logger = logging.getLogger("mammokit.preprocess")

#: ``roi_method`` when no extractor gave a usable box and the whole image was kept.
FULL = "full"

#: Padding may multiply a crop's pixels at most this much (a crop 16 times thinner than the
#: target aspect), unless the padded crop stays under PAD_FREE_PIXELS.
MAX_PAD_GROWTH = 16
PAD_FREE_PIXELS = 1 << 24


class RoiChain:
    """The configured ROI extractor followed by its fallbacks, then the whole image.

    Args:
        manager: resolves the fallback names (``mammokit_roi_extractors``).
        name: the configured extractor's name.
        extractor: the configured extractor, built with its options.

    Raises:
        ConfigError: a fallback name is not a registered extractor.
    """

    def __init__(self, manager: MammokitPluginManager, name: str, extractor: RoiExtractor) -> None:
        self.steps: list[tuple[str, RoiExtractor]] = [(name, extractor)]
        for fallback in getattr(extractor, "fallback", ()):
            if fallback != name:
                self.steps.append((fallback, manager.build_roi(fallback)))

    def __call__(self, pixels: np.ndarray, *, start: int = 0) -> tuple[CropBox, str]:
        """(H, W) breast-left pixels -> (box in those pixels, method name), from step
        ``start`` on (1: the fallbacks only)."""
        height, width = pixels.shape
        for name, extractor in self.steps[start:]:
            box = clipped_box(extractor(pixels), height, width)
            if box is not None:
                return box, name
            logger.debug("ROI extractor %s found no usable box; trying the next", name)
        return CropBox(0, 0, height, width), FULL


class Found(NamedTuple):
    """Where the breast is in one decoded image (step 2 of the chain).

    Attributes:
        box: the crop in the decoded frame, in its own orientation, with the margin.
        method: the ROI method that produced it.
        side: the side used.
        windowed: the whole image's display values when the box was found on them (the
            crop is then cut from them), None when only the crop is to be windowed.
        mask: the breast mask (h, w) bool of a reduced copy, breast-left, or None.
        mask_box: ``box`` in that reduced breast-left copy (with ``mask``).
    """

    box: CropBox
    method: str
    side: Side
    windowed: WindowedImage | None = None
    mask: np.ndarray | None = None
    mask_box: CropBox | None = None


def window(stages: Stages, decoded: DecodedImage) -> WindowedImage:
    """Stored values to display values with the configured method; ordinary images (PNG,
    JPEG, TIFF) are already windowed and pass through unchanged.

    Returns:
        :class:`WindowedImage`: (H, W) uint8/uint16, background dark.
    """
    if not decoded.meta.is_dicom:
        return as_windowed(decoded)
    return stages.window_method(decoded)


def locate(
    pixels: np.ndarray, roi: RoiChain, *, margin: float = 0.0, on_right: bool | None = None
) -> tuple[CropBox, str, bool]:
    """Find the breast in (H, W) display values, whichever side it is on.

    ``on_right`` is the side when already known; None lets the edge-sum rule of the
    published method decide.

    Returns:
        ``(box, method, on_right)``: the box in ``pixels``' own orientation, widened by
        ``margin`` of its size, the ROI method, and whether the breast is on the right.
    """
    if on_right is None:
        on_right = breast_on_right(pixels)
    height, width = pixels.shape
    box, method = roi(mirror(pixels) if on_right else pixels)
    box = box_with_margin(box, margin, height, width)
    return (unmirror(box, width) if on_right else box), method, on_right


def find_on_display(stages: Stages, decoded: DecodedImage, table_laterality: str) -> Found:
    """Step 2 for a display-value extractor: window the whole image, find the box on it."""
    windowed = window(stages, decoded)
    pixels = windowed.pixels
    side = choose_side(
        windowed.meta.laterality, table_laterality, breast_on_right(pixels),
        stages.config.side_policy,
    )  # fmt: skip
    box, method, _ = locate(
        pixels, stages.roi_chain, margin=stages.config.roi_margin, on_right=side.on_right
    )
    return Found(box, method, side, windowed=windowed)


def find_on_values(
    stages: Stages, extractor: ValuesRoiExtractor, decoded: DecodedImage, table_laterality: str
) -> Found:
    """Step 2 for a :class:`~mammokit.ValuesRoiExtractor`: the box and the side
    from its reduced modality values and breast mask; the fallbacks run on the same copy."""
    values, step = extractor.reduce(decoded)
    mask = extractor.mask(values)
    estimate = chest_wall_side(values)
    side = choose_side(
        decoded.meta.laterality,
        table_laterality,
        estimate.on_right,
        stages.config.side_policy,
        confidence=estimate.confidence,
    )
    on_right = side.on_right
    view = mirror(values) if on_right else values
    mask_view = None if mask is None else (mirror(mask) if on_right else mask)
    height, width = values.shape
    box = clipped_box(extractor.box(view, mask_view), height, width)
    method = stages.config.roi
    if box is None:
        box, method = stages.roi_chain(view, start=1)
    box = box_with_margin(box, stages.config.roi_margin, height, width)
    frame_box = view_to_frame(box, width, on_right, step, decoded.pixels.shape)
    return Found(frame_box, method, side, mask=mask_view, mask_box=box)


def check_padded_size(path: str | Path, box: CropBox, aspect: float, max_pixels: int) -> None:
    """Raise ResourceLimitError if ``box`` padded to ``aspect`` is too large.

    The header limits bound the decoded image, not the padded crop: a long thin image
    (e.g. a lying 65535x512 header) would pad to 65535x32768 at aspect 2, gigabytes. The
    padded crop may take at most ``max(MAX_PAD_GROWTH * crop pixels, PAD_FREE_PIXELS)``
    pixels, and never more than ``max(2, aspect, 1 / aspect) * max_pixels`` (enough for a
    square crop of an image at the limit): room for any breast, not for a needle.
    """
    crop_h, crop_w = box.y1 - box.y0, box.x1 - box.x0
    height, width = padded_shape(crop_h, crop_w, aspect)
    cap = int(max(2.0, aspect, 1.0 / aspect) * max_pixels)
    allowed = min(max(MAX_PAD_GROWTH * crop_h * crop_w, PAD_FREE_PIXELS), cap)
    if height * width > allowed:
        raise ResourceLimitError(
            path,
            f"the {crop_h}x{crop_w} crop padded to aspect {aspect:g} would be "
            f"{height}x{width} = {height * width:,} pixels, more than the {allowed:,} "
            f"allowed (max_pixels={max_pixels:,})",
        )


def preprocess(stages: Stages, path: str | Path, laterality: str = "") -> Preprocessed:
    """One file to model input with ``stages``' configuration (see the module doc).

    ``laterality`` is the table's ("L", "R" or ""), used when the header has none.

    Returns:
        :class:`Preprocessed`: ``pixels`` (``config.size``) in ``config.output_dtype``;
        ``crop_box`` in full-resolution source coordinates; ``flipped`` True when the
        output is mirrored relative to the source; ``mask`` with ``output_mask`` and a
        values extractor that found one.

    Raises:
        MammokitError: from decoding or windowing, naming the file; ResourceLimitError when
        the padded crop would be too large.
    """
    config, aspect = stages.config, stages.aspect
    decoded = stages.decode(Path(path), first_min_shape(config.size, aspect))
    meta, frame, scale = decoded.meta, decoded.pixels.shape, decoded.scale
    if meta.presentation_intent == "FOR PROCESSING" and config.for_processing == "refuse":
        raise ImageReadError(
            path,
            "a FOR PROCESSING image (PresentationIntentType: raw detector values, for a "
            "vendor's own processing); mammokit windows FOR PRESENTATION images. Set "
            'for_processing = "window" (--for-processing window) to window it as one',
        )
    source_shape = (
        (meta.rows, meta.columns)
        if meta.rows > 0 and meta.columns > 0
        else (frame[0] * scale, frame[1] * scale)
    )
    roi = stages.roi
    if isinstance(roi, ValuesRoiExtractor):
        found = find_on_values(stages, roi, decoded, laterality)
    else:
        found = find_on_display(stages, decoded, laterality)
    box, windowed, on_right = found.box, found.windowed, found.side.on_right
    full_box = to_source(box, scale, source_shape)
    finer = _decode_finer(stages, path, decoded, box, full_box)
    if finer is not None:
        decoded, box = finer
        windowed = None if windowed is None else window(stages, decoded)
    check_padded_size(path, box, aspect, config.max_pixels)
    placement = None
    if windowed is not None:  # the box was found on the display values: cut them
        meta, max_value, factors = windowed.meta, windowed.max_value, (1, 1)
        display = mirror_crop(windowed.pixels, box, on_right)
    else:
        view = mirror_crop(decoded.pixels, box, on_right)  # so a partial block drops far side
        display, max_value, factors, placement = window_crop(stages, decoded, view, aspect)
    pixels, mirrored = finish(stages, display, max_value, on_right, factors, placement)
    mask = None
    if config.output_mask and found.mask is not None and found.mask_box is not None:
        mask = _output_mask(stages, found.mask, found.mask_box, mirrored)
    return Preprocessed(
        pixels=pixels,
        meta=meta,
        crop_box=full_box,
        flipped=mirrored != on_right,
        source_shape=source_shape,
        roi_method=found.method,
        decoder=decoded.decoder,
        mask=mask,
        **side_fields(found.side),
    )


def _decode_finer(
    stages: Stages, path: str | Path, decoded: DecodedImage, box: CropBox, full_box: CropBox
) -> tuple[DecodedImage, CropBox] | None:
    """Step 3: when ``decoded`` is at reduced resolution and ``box`` in it padded is smaller
    than the output, ``decoded`` again at the level that makes it large enough, and
    ``full_box`` (the source coordinates of ``box``) in it; else None."""
    scale, frame = decoded.scale, decoded.pixels.shape
    config = stages.config
    retry = needed_min_shape(box, frame, config.size, stages.aspect) if scale > 1 else None
    if retry is None:
        return None
    redecoded = stages.decode(Path(path), retry)
    if redecoded.scale >= scale:
        return None
    logger.debug("%s: ROI too small at 1/%d, decoded again at 1/%d", path, scale, redecoded.scale)
    return redecoded, box_at_scale(full_box, redecoded.scale, redecoded.pixels.shape)


def mirror_crop(pixels: np.ndarray, box: CropBox, on_right: bool) -> np.ndarray:
    """``box`` of (H, W) ``pixels``, mirrored when ``on_right`` (breast-left): a view."""
    crop = pixels[box.y0 : box.y1, box.x0 : box.x1]
    return mirror(crop) if on_right else crop


def window_crop(
    stages: Stages, decoded: DecodedImage, stored: np.ndarray, aspect: float
) -> tuple[np.ndarray, int, tuple[int, int], tuple[tuple[int, int], tuple[int, int]] | None]:
    """The breast-left (h, w) stored-value crop ``stored`` (a view of ``decoded``'s pixels)
    as display values, box-reduced when the padder can place a reduced crop.

    Returns:
        ``(display (ceil(h / ky), ceil(w / kx)), max_value, (ky, kx), placement)``: the factors are
        :func:`~mammokit.preprocess.resize.block_factors` of the padded frame when the
        padder is a :class:`~mammokit.plugins.protocols.PlacingPadder` (``placement`` is then its
        answer for this crop), else ``(1, 1)`` and None.

    Exact order: window the crop, then average ky x kx blocks. Fast order, when the method
    is a :class:`~mammokit.plugins.protocols.MeanTableWindowing` whose table is defined here:
    average the *stored* values of each block, then window the means through a table over
    the sums (the full-size crop is read once and never windowed; the table has at most
    ``MAX_TABLE`` entries, the means are rounded to integers beyond that). Both are the same
    for a linear window inside its range; they differ where a block straddles the window's
    ends or bends (SIGMOID), which at the blocks used (2x2 - 6x6) is below the output's
    resolution (``tests/preprocess`` and ``benchmarks/preprocess.py`` check SSIM >= 0.99
    against the exact order).
    """
    config, padder, method = stages.config, stages.pad, stages.window_method
    ky, kx = 1, 1
    placement = None
    if isinstance(padder, PlacingPadder):
        placement = padder.placement(stored.shape, aspect)
        ky, kx = block_factors(placement[0], config.size)
        ky, kx = min(ky, stored.shape[0]), min(kx, stored.shape[1])
    meta = decoded.meta
    if meta.is_dicom and isinstance(method, CropWindowing):
        meta = method.whole_image_meta(decoded)
    if (
        (ky > 1 or kx > 1)
        and meta.is_dicom
        and isinstance(method, MeanTableWindowing)
        and stored.dtype.kind in "iu"
        and stored.dtype.itemsize <= 2
    ):
        padding = method.padding_range(meta) if isinstance(method, PaddingWindowing) else None
        display = table_of_block_means(method, meta, stored, (ky, kx), padding)
        if display is not None:
            max_value = 255 if display.dtype == np.uint8 else 65535
            return partial_blocks(display, stored.shape, ky, kx), max_value, (ky, kx), placement
    windowed = window(stages, attrs.evolve(decoded, pixels=stored, meta=meta))
    if ky == kx == 1:
        return windowed.pixels, windowed.max_value, (1, 1), placement
    display = partial_blocks(block_mean(windowed.pixels, ky, kx), stored.shape, ky, kx)
    return display, windowed.max_value, (ky, kx), placement


def finish(
    stages: Stages,
    display: np.ndarray,
    max_value: int,
    on_right: bool,
    factors: tuple[int, int] = (1, 1),
    placement: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> tuple[np.ndarray, bool]:
    """A breast-left display crop -> padded, resized and mirrored to the configured side:
    ``(pixels config.size, mirrored)``.

    With ``factors`` (1, 1), ``display`` (h, w) is padded by the padder's ``__call__`` and
    resized. Otherwise ``display`` is the crop box-reduced by ``factors`` and is resized in
    place on the padded canvas that ``placement`` (``((H', W'), (y, x))``, full resolution)
    describes.
    """
    config = stages.config
    if placement is None or factors == (1, 1):
        padded = stages.pad(display, stages.aspect, 0)
        pixels = resize(padded, config.size, max_value=max_value, dtype=config.output_dtype)
    else:
        frame, offset = placement
        pixels = resize_placed(
            display,
            factors,
            frame,
            offset,
            config.size,
            max_value=max_value,
            dtype=config.output_dtype,
        )
    mirrored = mirror_output(on_right, config.flip)
    if mirrored:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return pixels, mirrored


def _output_mask(stages: Stages, mask: np.ndarray, box: CropBox, mirrored: bool) -> np.ndarray:
    """The breast-left (h, w) bool mask cropped to ``box``, padded and resized (nearest)
    like the pixels: -> ``config.size`` bool."""
    crop = mask[box.y0 : box.y1, box.x0 : box.x1].astype(np.uint8)
    padded = np.ascontiguousarray(stages.pad(crop, stages.aspect, 0))
    height, width = stages.config.size
    image = Image.fromarray(padded).resize((width, height), Image.Resampling.NEAREST)
    out = np.asarray(image) > 0
    return np.ascontiguousarray(out[:, ::-1]) if mirrored else out


class SideFields(TypedDict):
    laterality: str
    laterality_source: str
    laterality_conflict: str
    side_confidence: float | None


def side_fields(side: Side) -> SideFields:
    """The :class:`Preprocessed` fields that record ``side``: a side that the pixels decided
    with a confidence below :data:`~mammokit.preprocess.breast.LOW_CONFIDENCE` has the
    source "pixels (low confidence)"."""
    source = side.source
    if source == "pixels" and side.confidence is not None and side.confidence < LOW_CONFIDENCE:
        source = "pixels (low confidence)"
    return {
        "laterality": side.laterality,
        "laterality_source": source,
        "laterality_conflict": side.conflict,
        "side_confidence": side.confidence,
    }


def extract_roi(stages: Stages, windowed: WindowedImage) -> CropBox:
    """The crop box of ``windowed`` in its own pixel coordinates (either breast side)."""
    box, _, _ = locate(windowed.pixels, stages.roi_chain, margin=stages.config.roi_margin)
    return box
