"""The preprocess chain for ROI extractors that work on the modality values (``breast_mask``).

decode -> reduced modality values -> breast mask -> side -> box -> crop the *stored* values
-> window the crop only -> mirror -> pad -> resize.

The side comes from the header, then the table, then the breast mask
(:mod:`mammokit.preprocess.laterality`); the box is found on the reduced copy in the
breast-left orientation, with the extractor's fallbacks run on that same copy. Only the
kept region is windowed, so the lookup table touches the crop's pixels alone; a
window computed from the image (the default window of a file without one) is computed from
the crop, i.e. from the breast rather than from labels and film borders.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from mammokit.images import CropBox, DecodedImage, ImageMeta, Preprocessed
from mammokit.preprocess.breast import chest_wall_on_right
from mammokit.preprocess.chain import (
    FULL,
    _at_scale,
    _clipped,
    _with_margin,
    finish,
    first_min_shape,
    needed_min_shape,
    side_fields,
    to_source,
    unmirror,
)
from mammokit.preprocess.flip import breast_on_right, mirror
from mammokit.preprocess.laterality import Side, choose_side

if TYPE_CHECKING:
    from mammokit.pipeline import Pipeline

__all__ = ["find_breast", "preprocess_on_values"]

logger = logging.getLogger("mammokit.preprocess")


def find_breast(
    pipe: Pipeline, decoded: DecodedImage, table_laterality: str = ""
) -> tuple[CropBox, str, Side, np.ndarray, np.ndarray | None, int]:
    """Where the breast is in ``decoded``, from its reduced modality values.

    Returns:
        ``(box, method, side, values, mask, step)``: the box in the *breast-left* reduced
        copy, widened by ``roi_margin``; the ROI method; the :class:`Side` used; the
        reduced values (h, w) uint16 and the breast mask (h, w) bool (or None), both in the
        source orientation; the stride of the reduced copy.
    """
    extractor: Any = pipe._roi_fn
    values, step = extractor.reduce(decoded)
    mask = extractor.mask(values)
    pixels_right = chest_wall_on_right(mask) if mask is not None else breast_on_right(values)
    side = choose_side(decoded.meta.laterality, table_laterality, pixels_right)
    view = mirror(values) if side.on_right else values
    mask_view = None if mask is None else (mirror(mask) if side.on_right else mask)
    height, width = values.shape
    box, method = _clipped(extractor.box(view, mask_view), height, width), pipe.config.roi
    if box is None:
        box, method = CropBox(0, 0, height, width), FULL
        for name, fallback in pipe._roi_chain.steps[1:]:
            found = _clipped(fallback(view), height, width)
            if found is not None:
                box, method = found, name
                break
    box = _with_margin(box, pipe.config.roi_margin, height, width)
    return box, method, side, values, mask, step


def _whole_window(pipe: Pipeline, decoded: DecodedImage) -> ImageMeta:
    """The header, with the default window of the *whole* image filled in when the file has
    none and the method is ``voi_lut`` with its ``"percentile"`` default.

    Only the crop is windowed, but the default window is computed from the whole image, as
    when the whole image is windowed: here from a strided copy (about 1M pixels), as a
    LINEAR_EXACT window from the low to the high percentile, which is the same mapping.
    """
    from mammokit.preprocess.windowing import VoiLut, _modality, _padding_mask

    meta, method = decoded.meta, pipe._window_fn
    has_window = bool(meta.window_centers) and bool(meta.window_widths)
    if (
        not meta.is_dicom
        or has_window
        or meta.voi_lut_sequence
        or not isinstance(method, VoiLut)
        or method.default_window != "percentile"
    ):
        return meta
    step = max(1, int(np.sqrt(decoded.pixels.size / 1e6)))
    stored = decoded.pixels[::step, ::step].astype(np.int64)
    values = _modality(meta, stored)
    if method.padding:
        values = values[~_padding_mask(meta, stored)]
    if values.size == 0:
        return meta
    low, high = (float(v) for v in np.percentile(values, method.percentiles))
    if high <= low:
        return meta
    return attrs.evolve(
        meta,
        window_centers=((low + high) / 2,),
        window_widths=(high - low,),
        voi_lut_function="LINEAR_EXACT",
    )


def _output_mask(pipe: Pipeline, mask: np.ndarray, box: CropBox, mirrored: bool) -> np.ndarray:
    """The breast-left (h, w) bool mask cropped to ``box``, padded and resized (nearest)
    like the pixels: -> ``config.size`` bool."""
    from PIL import Image

    crop = mask[box.y0 : box.y1, box.x0 : box.x1].astype(np.uint8)
    padded = np.ascontiguousarray(pipe._pad_fn(crop, pipe.config.target_aspect, 0))
    height, width = pipe.config.size
    image = Image.fromarray(padded).resize((width, height), Image.Resampling.NEAREST)
    out = np.asarray(image) > 0
    return np.ascontiguousarray(out[:, ::-1]) if mirrored else out


def preprocess_on_values(pipe: Pipeline, path: str | Path, laterality: str = "") -> Preprocessed:
    """One file to model input, the ROI found on the modality values (see the module doc).

    ``laterality`` is the table's (used when the header has none).
    """
    config = pipe.config
    aspect = config.target_aspect
    decoded = pipe.decode(path, min_shape=first_min_shape(config.size, aspect))
    small_box, method, side, values, mask, step = find_breast(pipe, decoded, laterality)
    on_right = side.on_right
    local = unmirror(small_box, values.shape[1]) if on_right else small_box
    frame = decoded.pixels.shape
    meta = decoded.meta
    source_shape = (
        (meta.rows, meta.columns)
        if meta.rows > 0 and meta.columns > 0
        else (frame[0] * decoded.scale, frame[1] * decoded.scale)
    )
    box = to_source(local, step, frame)  # reduced copy -> decoded frame
    full_box = to_source(box, decoded.scale, source_shape)
    retry = needed_min_shape(box, frame, config.size, aspect) if decoded.scale > 1 else None
    if retry is not None:
        redecoded = pipe.decode(path, min_shape=retry)
        if redecoded.scale < decoded.scale:
            logger.debug(
                "%s: ROI too small at 1/%d, decoded again at 1/%d",
                path,
                decoded.scale,
                redecoded.scale,
            )
            decoded, frame = redecoded, redecoded.pixels.shape
            box = _at_scale(full_box, decoded.scale, frame)
    crop = decoded.pixels[box.y0 : box.y1, box.x0 : box.x1]
    windowed = pipe.window(attrs.evolve(decoded, pixels=crop, meta=_whole_window(pipe, decoded)))
    view = mirror(windowed.pixels) if on_right else windowed.pixels
    pixels, mirrored = finish(pipe, path, view, box, windowed.max_value, on_right)
    out_mask = None
    if config.output_mask and mask is not None:
        out_mask = _output_mask(pipe, mirror(mask) if on_right else mask, small_box, mirrored)
    return Preprocessed(
        pixels=pixels,
        meta=meta,
        crop_box=full_box,
        flipped=mirrored != on_right,
        source_shape=source_shape,
        roi_method=method,
        decoder=decoded.decoder,
        mask=out_mask,
        **side_fields(side),
    )
