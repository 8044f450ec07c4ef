"""The preprocess chain for ROI extractors that work on the modality values (``breast_mask``).

decode -> reduced modality values -> breast mask -> side -> box -> crop the *stored* values
-> mirror -> box-reduce and window the crop only -> pad -> resize.

The side comes from the header, then the table, then the breast mask
(:mod:`mammokit.preprocess.laterality`); the box is found on the reduced copy in the
breast-left orientation, with the extractor's fallbacks run on that same copy. Only the
kept region is windowed, and it is box-reduced first (:func:`reduced_display`: the stored
values of each block are averaged and the means go through the lookup table), so nothing
after the ROI search touches more than the crop once; a window computed from the image
(the default window of a file without one) is computed from the whole image's strided copy.
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
    box_at_scale,
    box_with_margin,
    check_padded_size,
    clipped_box,
    finish,
    first_min_shape,
    mirror_output,
    needed_min_shape,
    padded_shape,
    side_fields,
    to_source,
    unmirror,
)
from mammokit.preprocess.flip import breast_on_right, mirror
from mammokit.preprocess.laterality import Side, choose_side

if TYPE_CHECKING:
    from mammokit.preprocess.stages import Stages

__all__ = ["find_breast", "preprocess_on_values", "reduced_display"]

logger = logging.getLogger("mammokit.preprocess")

#: The largest lookup table over block sums (entries); a wider range of sums (large blocks
#: of values spread over 16 bits) is windowed through the block means rounded to integers,
#: at most 65536 entries (a rounding of half a stored value).
_MAX_TABLE = 1 << 18


def find_breast(
    stages: Stages, decoded: DecodedImage, table_laterality: str = ""
) -> tuple[CropBox, str, Side, np.ndarray, np.ndarray | None, int]:
    """Where the breast is in ``decoded``, from its reduced modality values.

    Returns:
        ``(box, method, side, values, mask, step)``: the box in the *breast-left* reduced
        copy, widened by ``roi_margin``; the ROI method; the :class:`Side` used; the
        reduced values (h, w) uint16 and the breast mask (h, w) bool (or None), both in the
        source orientation; the stride of the reduced copy.
    """
    extractor: Any = stages.roi
    values, step = extractor.reduce(decoded)
    mask = extractor.mask(values)
    pixels_right = chest_wall_on_right(mask) if mask is not None else breast_on_right(values)
    side = choose_side(decoded.meta.laterality, table_laterality, pixels_right)
    view = mirror(values) if side.on_right else values
    mask_view = None if mask is None else (mirror(mask) if side.on_right else mask)
    height, width = values.shape
    box, method = clipped_box(extractor.box(view, mask_view), height, width), stages.config.roi
    if box is None:
        box, method = CropBox(0, 0, height, width), FULL
        for name, fallback in stages.roi_chain.steps[1:]:
            found = clipped_box(fallback(view), height, width)
            if found is not None:
                box, method = found, name
                break
    box = box_with_margin(box, stages.config.roi_margin, height, width)
    return box, method, side, values, mask, step


def _whole_window(stages: Stages, decoded: DecodedImage) -> ImageMeta:
    """The header, with the default window of the *whole* image filled in when the file has
    none and the method is ``voi_lut`` with its ``"percentile"`` default.

    Only the crop is windowed, but the default window is computed from the whole image, as
    when the whole image is windowed: here from the strided copy of the ROI search (every
    ``step``-th row and column, about 1000 px a side), as a LINEAR_EXACT window from the low to
    the high percentile, which is the same mapping. The percentiles come from the copy's
    histogram of stored values (no float copy of the pixels).
    """
    from mammokit.preprocess.breast import linear_percentiles, stored_histogram
    from mammokit.preprocess.windowing import VoiLut, modality_values, padding_value_mask

    meta, method = decoded.meta, stages.window_method
    has_window = bool(meta.window_centers) and bool(meta.window_widths)
    if (
        not meta.is_dicom
        or has_window
        or meta.voi_lut_sequence
        or not isinstance(method, VoiLut)
        or method.default_window != "percentile"
    ):
        return meta
    step = max(1, -(-max(decoded.pixels.shape) // 1024))
    small = decoded.pixels[::step, ::step]
    histogram = stored_histogram(small)
    if histogram is not None:
        domain, counts, _index = histogram
        with np.errstate(over="ignore", invalid="ignore"):
            values = modality_values(meta, domain)
        if method.padding:
            counts[padding_value_mask(meta, domain)] = 0
        if not counts.any():
            return meta
        low, high = linear_percentiles(values, counts, method.percentiles)
    else:
        stored = small.astype(np.int64)
        values = modality_values(meta, stored)
        if method.padding:
            values = values[~padding_value_mask(meta, stored)]
        if values.size == 0:
            return meta
        low, high = (float(v) for v in np.percentile(values, method.percentiles))
    if not high > low:
        return meta
    return attrs.evolve(
        meta,
        window_centers=((low + high) / 2,),
        window_widths=(high - low,),
        voi_lut_function="LINEAR_EXACT",
    )


def reduced_display(
    stages: Stages, decoded: DecodedImage, meta: ImageMeta, stored: np.ndarray
) -> tuple[np.ndarray, int, tuple[int, int]]:
    """The (h, w) stored-value crop ``stored`` (a view) as display values, box-reduced by
    the integer factors :func:`~mammokit.preprocess.resize.block_factors` of its padded
    frame: -> ``(display (h // ky, w // kx), max_value, (ky, kx))``.

    Exact order: window the crop, then average ky x kx blocks. Fast order, used with
    ``voi_lut`` when :meth:`VoiLut.table_of_means` allows it: average the *stored* values
    of each block, then window the means through a table over the sums (the full-size crop
    is read once and never windowed; the table has at most 2**18 entries, the means are
    rounded to integers beyond that). Both are the same for a linear window inside its
    range; they differ where a block straddles the window's ends or bends (SIGMOID), which
    at the blocks used (2x2 - 6x6) is below the output's resolution (``tests/preprocess`` and
    ``benchmarks/preprocess.py`` check SSIM >= 0.99 against the exact order). A padder
    other than ``aspect_pad`` gets the whole windowed crop (factors 1, 1).
    """
    from mammokit.preprocess.pad import AspectPad
    from mammokit.preprocess.resize import block_factors, block_mean, block_sum
    from mammokit.preprocess.windowing import VoiLut

    config = stages.config
    ky, kx = 1, 1
    if isinstance(stages.pad, AspectPad):
        padded = padded_shape(CropBox(0, 0, *stored.shape), config.target_aspect)
        ky, kx = block_factors(padded, config.size)
        ky, kx = min(ky, stored.shape[0]), min(kx, stored.shape[1])
    method = stages.window_method
    if (
        (ky > 1 or kx > 1)
        and meta.is_dicom
        and isinstance(method, VoiLut)
        and stored.dtype.kind in "iu"
        and stored.dtype.itemsize <= 2
    ):
        sums = block_sum(stored, ky, kx)
        count = ky * kx
        low, high = int(sums.min()), int(sums.max())
        if high - low >= _MAX_TABLE:  # a wide range in large blocks: integer means
            half = count // 2
            sums += half
            sums //= count
            low, high, count = (low + half) // count, (high + half) // count, 1
        first = 0 if low >= 0 and high < 4 * (high - low + 1) else low
        table = method.table_of_means(meta, np.arange(first, high + 1) / count)
        if table is not None:
            index = sums if first == 0 else sums - first
            max_value = 255 if table.dtype == np.uint8 else 65535
            return table[index], max_value, (ky, kx)
    windowed = stages.window(attrs.evolve(decoded, pixels=stored, meta=meta))
    return block_mean(windowed.pixels, ky, kx), windowed.max_value, (ky, kx)


def _finish_reduced(
    stages: Stages,
    display: np.ndarray,
    crop_shape: tuple[int, int],
    factors: tuple[int, int],
    max_value: int,
    on_right: bool,
) -> tuple[np.ndarray, bool]:
    """:func:`~mammokit.preprocess.chain.finish` for a crop box-reduced by ``factors``
    with ``aspect_pad``: the padding is placed at full-resolution geometry
    (:func:`~mammokit.preprocess.resize.resize_placed`)."""
    from mammokit.preprocess.pad import AspectPad, crop_offset
    from mammokit.preprocess.pad import padded_shape as shape_of
    from mammokit.preprocess.resize import resize_placed

    config, padder = stages.config, stages.pad
    assert isinstance(padder, AspectPad)  # the caller takes this path only for aspect_pad
    height, width = crop_shape
    frame = shape_of(height, width, config.target_aspect)
    offset = (
        crop_offset(padder.vertical, frame[0] - height),
        crop_offset(padder.horizontal, frame[1] - width),
    )
    pixels = resize_placed(
        display, factors, frame, offset, config.size, max_value=max_value, dtype=config.output_dtype
    )
    mirrored = mirror_output(on_right, config.flip)
    if mirrored:
        pixels = np.ascontiguousarray(pixels[:, ::-1])
    return pixels, mirrored


def _output_mask(stages: Stages, mask: np.ndarray, box: CropBox, mirrored: bool) -> np.ndarray:
    """The breast-left (h, w) bool mask cropped to ``box``, padded and resized (nearest)
    like the pixels: -> ``config.size`` bool."""
    from PIL import Image

    crop = mask[box.y0 : box.y1, box.x0 : box.x1].astype(np.uint8)
    padded = np.ascontiguousarray(stages.pad(crop, stages.config.target_aspect, 0))
    height, width = stages.config.size
    image = Image.fromarray(padded).resize((width, height), Image.Resampling.NEAREST)
    out = np.asarray(image) > 0
    return np.ascontiguousarray(out[:, ::-1]) if mirrored else out


def preprocess_on_values(stages: Stages, path: str | Path, laterality: str = "") -> Preprocessed:
    """One file to model input, the ROI found on the modality values (see the module doc).

    ``laterality`` is the table's (used when the header has none).
    """
    config = stages.config
    aspect = config.target_aspect
    decoded = stages.decode(Path(path), first_min_shape(config.size, aspect))
    small_box, method, side, values, mask, step = find_breast(stages, decoded, laterality)
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
        redecoded = stages.decode(Path(path), retry)
        if redecoded.scale < decoded.scale:
            logger.debug(
                "%s: ROI too small at 1/%d, decoded again at 1/%d",
                path,
                decoded.scale,
                redecoded.scale,
            )
            decoded, frame = redecoded, redecoded.pixels.shape
            box = box_at_scale(full_box, decoded.scale, frame)
    check_padded_size(path, box, aspect, config.max_pixels)
    crop = decoded.pixels[box.y0 : box.y1, box.x0 : box.x1]
    view = mirror(crop) if on_right else crop  # breast-left: a partial block drops far side
    window_meta = _whole_window(stages, decoded)
    display, max_value, factors = reduced_display(stages, decoded, window_meta, view)
    if factors == (1, 1):
        pixels, mirrored = finish(stages, path, display, box, max_value, on_right)
    else:
        shape = (box.height, box.width)
        pixels, mirrored = _finish_reduced(stages, display, shape, factors, max_value, on_right)
    out_mask = None
    if config.output_mask and mask is not None:
        out_mask = _output_mask(stages, mirror(mask) if on_right else mask, small_box, mirrored)
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
