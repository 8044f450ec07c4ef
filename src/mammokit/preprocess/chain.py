"""The preprocess chain: decode -> window -> flip -> ROI -> crop -> pad -> resize.

``preprocess(stages, path) -> Preprocessed`` is what :meth:`Pipeline.preprocess` calls, with
the :class:`~mammokit.preprocess.stages.Stages` it built (never the Pipeline itself).

Resolution. The ROI and the stages after it work in the *breast-left* orientation of the
windowed image, at whatever resolution the decoder returned. The first decode asks for
``min_shape`` = the whole frame at the size the padded crop would need if the breast filled
the frame (:func:`first_min_shape`); a JPEG 2000 decoder may then return 1/2, 1/4 or 1/8
resolution. Once the crop box is known, :func:`needed_min_shape` checks that the padded
crop is at least the output size at that resolution; if not (a small breast), the file is
decoded again at the resolution that makes it so, and the same box is reused. A reduced
decode therefore never leaves the resize *upsampling* what a full decode would have
downsampled.

The ROI fallback chain: the configured extractor first; when it returns None (a degenerate
box), the extractors named in its ``fallback`` attribute (``profile_crop`` -> ``otsu``);
then the whole image. ``Preprocessed.roi_method`` records which one produced the box.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import pluggy

from mammokit.errors import ResourceLimitError
from mammokit.images import CropBox, Preprocessed, WindowedImage
from mammokit.preprocess.flip import breast_on_right, mirror
from mammokit.preprocess.laterality import Side, choose_side
from mammokit.preprocess.resize import resize
from mammokit.protocols import RoiExtractor

if TYPE_CHECKING:
    from mammokit.preprocess.stages import Stages

__all__ = [
    "FULL",
    "RoiChain",
    "box_at_scale",
    "box_with_margin",
    "check_padded_size",
    "clipped_box",
    "extract_roi",
    "finish",
    "first_min_shape",
    "locate",
    "mirror_output",
    "needed_min_shape",
    "padded_shape",
    "preprocess_display",
    "side_fields",
    "to_source",
    "unmirror",
]

logger = logging.getLogger("mammokit.preprocess")

#: ``roi_method`` when no extractor gave a usable box and the whole image was kept.
FULL = "full"


class RoiChain:
    """The configured ROI extractor followed by its fallbacks, then the whole image.

    Args:
        manager: resolves the fallback names (``mammokit_roi_extractors``).
        name: the configured extractor's name.
        extractor: the configured extractor, built with its options.

    Raises:
        ConfigError: a fallback name is not a registered extractor.
    """

    def __init__(self, manager: pluggy.PluginManager, name: str, extractor: RoiExtractor) -> None:
        from mammokit.plugins import build_component

        self.steps: list[tuple[str, RoiExtractor]] = [(name, extractor)]
        for fallback in getattr(extractor, "fallback", ()):
            if fallback != name:
                built = build_component(manager, "mammokit_roi_extractors", fallback)
                self.steps.append((fallback, built))

    def __call__(self, pixels: np.ndarray) -> tuple[CropBox, str]:
        """(H, W) breast-left pixels -> (box in those pixels, method name)."""
        height, width = pixels.shape
        for name, extractor in self.steps:
            box = clipped_box(extractor(pixels), height, width)
            if box is not None:
                return box, name
            logger.debug("ROI extractor %s found no usable box; trying the next", name)
        return CropBox(0, 0, height, width), FULL


def clipped_box(box: CropBox | None, height: int, width: int) -> CropBox | None:
    """``box`` clipped to the frame, or None if nothing is left."""
    if box is None:
        return None
    y0, x0 = max(0, box.y0), max(0, box.x0)
    y1, x1 = min(height, box.y1), min(width, box.x1)
    if y0 >= y1 or x0 >= x1:
        return None
    return CropBox(y0, x0, y1, x1)


def box_with_margin(box: CropBox, margin: float, height: int, width: int) -> CropBox:
    if margin <= 0:
        return box
    dy, dx = round(box.height * margin), round(box.width * margin)
    return CropBox(
        max(0, box.y0 - dy), max(0, box.x0 - dx), min(height, box.y1 + dy), min(width, box.x1 + dx)
    )


def locate(
    pixels: np.ndarray,
    roi: Callable[[np.ndarray], tuple[CropBox, str]],
    *,
    margin: float = 0.0,
    on_right: bool | None = None,
) -> tuple[CropBox, str, bool]:
    """Find the breast in (H, W) display values, whichever side it is on.

    ``on_right`` is the side when already known (from the header); None lets the edge-sum
    rule of the published method decide.

    Returns:
        ``(box, method, on_right)``: the box in the *breast-left* orientation (mirrored
        coordinates when ``on_right``), widened by ``margin`` of its size, the ROI method
        that produced it, and whether the breast is on the right in ``pixels``.
    """
    if on_right is None:
        on_right = breast_on_right(pixels)
    view = mirror(pixels) if on_right else pixels
    box, method = roi(view)
    return box_with_margin(box, margin, *pixels.shape), method, on_right


def unmirror(box: CropBox, width: int) -> CropBox:
    """A box in a left-right mirrored image of ``width`` columns, in the original image."""
    return CropBox(box.y0, width - box.x1, box.y1, width - box.x0)


def to_source(box: CropBox, scale: int, source_shape: tuple[int, int]) -> CropBox:
    """A box at 1/``scale`` resolution in full-resolution coordinates, clipped to the frame."""
    rows, cols = source_shape
    return CropBox(
        min(box.y0 * scale, rows - 1),
        min(box.x0 * scale, cols - 1),
        min(box.y1 * scale, rows),
        min(box.x1 * scale, cols),
    )


def box_at_scale(box: CropBox, scale: int, shape: tuple[int, int]) -> CropBox:
    """A full-resolution box at 1/``scale`` resolution (rounded outwards), clipped."""
    rows, cols = shape
    return CropBox(
        min(box.y0 // scale, rows - 1),
        min(box.x0 // scale, cols - 1),
        min(-(-box.y1 // scale), rows),
        min(-(-box.x1 // scale), cols),
    )


def padded_shape(box: CropBox, aspect: float) -> tuple[int, int]:
    """(H', W') of ``box`` padded to ``aspect`` (as ``pad.padded_shape``)."""
    from mammokit.preprocess.pad import padded_shape as shape_of

    return shape_of(box.height, box.width, aspect)


def first_min_shape(size: tuple[int, int], aspect: float) -> tuple[int, int]:
    """``min_shape`` for the first decode: the output size as a frame of ``aspect``.

    The padded crop is at most the frame (when the breast fills it), so no smaller frame
    can be enough; whether this one is enough is checked once the box is known.
    """
    height, width = size
    need = max(height, math.ceil(width * aspect))
    return need, max(width, math.ceil(need / aspect))


def needed_min_shape(
    box: CropBox, frame: tuple[int, int], size: tuple[int, int], aspect: float
) -> tuple[int, int] | None:
    """None if ``box`` (in a ``frame``-shaped image) padded to ``aspect`` is at least
    ``size``; otherwise the frame shape at which it would be (for a second decode)."""
    padded_h, padded_w = padded_shape(box, aspect)
    factor = max(size[0] / padded_h, size[1] / padded_w)
    if factor <= 1:
        return None
    return math.ceil(frame[0] * factor), math.ceil(frame[1] * factor)


def _source_shape(windowed: WindowedImage) -> tuple[int, int]:
    meta = windowed.meta
    if meta.rows > 0 and meta.columns > 0:
        return meta.rows, meta.columns
    height, width = windowed.pixels.shape
    return height * windowed.scale, width * windowed.scale


#: Padding may multiply a crop's pixels at most this much (a crop 16 times thinner than the
#: target aspect), unless the padded crop stays under PAD_FREE_PIXELS.
MAX_PAD_GROWTH = 16
PAD_FREE_PIXELS = 1 << 24


def check_padded_size(path: str | Path, box: CropBox, aspect: float, max_pixels: int) -> None:
    """Raise ResourceLimitError if ``box`` padded to ``aspect`` is too large.

    The header limits bound the decoded image, not the padded crop: a long thin image
    (e.g. a lying 65535x512 header) would pad to 65535x32768 at aspect 2, gigabytes. The
    padded crop may take at most ``max(MAX_PAD_GROWTH * crop pixels, PAD_FREE_PIXELS)``
    pixels, and never more than ``max(2, aspect, 1 / aspect) * max_pixels`` (enough for a
    square crop of an image at the limit): room for any breast, not for a needle.
    """
    height, width = padded_shape(box, aspect)
    cap = int(max(2.0, aspect, 1.0 / aspect) * max_pixels)
    allowed = min(max(MAX_PAD_GROWTH * box.height * box.width, PAD_FREE_PIXELS), cap)
    if height * width > allowed:
        raise ResourceLimitError(
            path,
            f"the {box.height}x{box.width} crop padded to aspect {aspect:g} would be "
            f"{height}x{width} = {height * width:,} pixels, more than the {allowed:,} "
            f"allowed (max_pixels={max_pixels:,})",
        )


def mirror_output(on_right: bool, flip: str) -> bool:
    """Whether the breast-left output must be mirrored to get the configured side."""
    return flip == "right" or (flip == "none" and on_right)


def preprocess_display(stages: Stages, path: str | Path, laterality: str = "") -> Preprocessed:
    """One file to model input with ``stages``' configuration, the ROI found on the display
    values (see the module doc).

    ``laterality`` is the table's ("L", "R" or ""), used when the header has none. An
    extractor that works on the modality values (``works_on = "values"``, ``breast_mask``)
    goes through :func:`mammokit.preprocess.on_values.preprocess_on_values` instead (the
    image pipeline chooses).

    Returns:
        :class:`Preprocessed`: ``pixels`` (``config.size``) in ``config.output_dtype``;
        ``crop_box`` in full-resolution source coordinates; ``flipped`` True when the
        output is mirrored relative to the source.

    Raises:
        MammokitError: from decoding or windowing, naming the file.
    """
    config = stages.config
    aspect = config.target_aspect
    decoded = stages.decode(Path(path), first_min_shape(config.size, aspect))
    windowed = stages.window(decoded)
    side = choose_side(windowed.meta.laterality, laterality, breast_on_right(windowed.pixels))
    box, method, on_right = locate(
        windowed.pixels, stages.roi_chain, margin=config.roi_margin, on_right=side.on_right
    )
    source_shape = _source_shape(windowed)
    frame = windowed.pixels.shape
    scale = windowed.scale
    full_box = to_source(unmirror(box, frame[1]) if on_right else box, scale, source_shape)
    retry = needed_min_shape(box, frame, config.size, aspect) if scale > 1 else None
    if retry is not None:
        redecoded = stages.decode(Path(path), retry)
        if redecoded.scale < scale:
            logger.debug(
                "%s: ROI too small at 1/%d, decoded again at 1/%d", path, scale, redecoded.scale
            )
            decoded, windowed = redecoded, stages.window(redecoded)
            frame, scale = windowed.pixels.shape, windowed.scale
            local = box_at_scale(full_box, scale, frame)
            box = unmirror(local, frame[1]) if on_right else local
    view = mirror(windowed.pixels) if on_right else windowed.pixels
    crop = view[box.y0 : box.y1, box.x0 : box.x1]
    pixels, mirrored = finish(stages, path, crop, box, windowed.max_value, on_right)
    return Preprocessed(
        pixels=pixels,
        meta=windowed.meta,
        crop_box=full_box,
        flipped=mirrored != on_right,
        source_shape=source_shape,
        roi_method=method,
        decoder=decoded.decoder,
        **side_fields(side),
    )


def finish(
    stages: Stages,
    path: str | Path,
    crop: np.ndarray,
    box: CropBox,
    max_value: int,
    on_right: bool,
) -> tuple[np.ndarray, bool]:
    """A breast-left (h, w) display crop (``box`` of the decoded frame) -> padded, resized
    and mirrored to the configured side: ``(pixels config.size, mirrored)``.

    Raises:
        ResourceLimitError: the padded crop would be too large.
    """
    config = stages.config
    check_padded_size(path, box, config.target_aspect, config.max_pixels)
    padded = stages.pad(crop, config.target_aspect, 0)
    pixels = resize(padded, config.size, max_value=max_value, dtype=config.output_dtype)
    mirrored = mirror_output(on_right, config.flip)
    if mirrored:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return pixels, mirrored


class SideFields(TypedDict):
    laterality: str
    laterality_source: str
    laterality_conflict: str


def side_fields(side: Side) -> SideFields:
    """The :class:`Preprocessed` fields that record ``side``."""
    return {
        "laterality": side.laterality,
        "laterality_source": side.source,
        "laterality_conflict": side.conflict,
    }


def extract_roi(stages: Stages, windowed: WindowedImage) -> CropBox:
    """The crop box of ``windowed`` in its own pixel coordinates (either breast side)."""
    box, _, on_right = locate(windowed.pixels, stages.roi_chain, margin=stages.config.roi_margin)
    return unmirror(box, windowed.pixels.shape[1]) if on_right else box
