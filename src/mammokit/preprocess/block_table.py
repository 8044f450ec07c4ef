"""Windowing after the ROI through a table over block sums (the chain's fast order).

``table_of_block_means`` windows the ky x kx block means of a crop's *stored* values
through a :class:`~mammokit.plugins.protocols.MeanTableWindowing` method's table, and
``padded_blocks`` gives the blocks that hold Pixel Padding Value the exact order's value.
:func:`~mammokit.preprocess.chain.window_crop` decides when this order is used; arrays are
(h, w) integer stored values of at most 16 bits in, (h // ky, w // kx) display values out.
"""

from __future__ import annotations

import numpy as np

from mammokit.core.images import ImageMeta
from mammokit.plugins.protocols import MeanTableWindowing
from mammokit.preprocess.resize import block_fold, block_sum
from mammokit.preprocess.windowing import stored_range

__all__ = ["MAX_TABLE", "padded_blocks", "partial_blocks", "table_of_block_means"]

#: The largest lookup table over block sums (entries); a wider range of sums (large blocks
#: of values spread over 16 bits) is windowed through the block means rounded to integers,
#: at most 65536 entries (a rounding of half a stored value).
MAX_TABLE = 1 << 18


def partial_blocks(display: np.ndarray, shape: tuple[int, ...], ky: int, kx: int) -> np.ndarray:
    """(h // ky, w // kx) means of the whole blocks of an (h, w) crop -> (ceil(h / ky),
    ceil(w / kx)): the last, partial block row and column (when the crop has one) repeat
    the last whole one, so the crop's edge is not left as background on the canvas."""
    extra = (int(shape[0] % ky > 0), int(shape[1] % kx > 0))
    return np.pad(display, ((0, extra[0]), (0, extra[1])), mode="edge") if any(extra) else display


def table_of_block_means(
    method: MeanTableWindowing,
    meta: ImageMeta,
    stored: np.ndarray,
    factors: tuple[int, int],
    padding: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """(h, w) integer stored values of at most 16 bits -> (h // ky, w // kx) display values:
    the block means windowed through ``method``'s table over the block sums (at most
    ``MAX_TABLE`` entries; the means rounded to integers beyond that), or None when the
    method has no table for them.

    With ``padding`` (the stored values ``(low, high)`` the method shows as 0, from a
    :class:`~mammokit.plugins.protocols.PaddingWindowing`), blocks of padding only are 0
    and blocks mixing padding and tissue get the exact order's value (each pixel
    windowed, padding 0, the rounded mean), as :func:`padded_blocks` computes.
    """
    ky, kx = factors
    mirrored = stored.strides[1] < 0
    if mirrored:  # numpy's passes run at half speed over reversed columns: block the
        # columns in memory order (the far side's partial block still dropped), mirror after
        stored = stored[:, ::-1][:, stored.shape[1] % kx :]
    sums = block_sum(stored, ky, kx)
    count = ky * kx
    low, high = int(sums.min()), int(sums.max())
    if high - low >= MAX_TABLE:  # a wide range in large blocks: integer means
        half = count // 2
        sums += half
        sums //= count
        low, high, count = (low + half) // count, (high + half) // count, 1
    first = 0 if low >= 0 and high < 4 * (high - low + 1) else low
    table = method.table_of_means(meta, np.arange(first, high + 1) / count)
    if table is None:
        return None
    display: np.ndarray = table[sums if first == 0 else sums - first]
    if padding is not None:
        display = padded_blocks(method, meta, stored, factors, padding, display)
    return display[:, ::-1] if mirrored else display


def padded_blocks(
    method: MeanTableWindowing,
    meta: ImageMeta,
    stored: np.ndarray,
    factors: tuple[int, int],
    padding: tuple[int, int],
    display: np.ndarray,
) -> np.ndarray:
    """``display`` (the block means of (h, w) ``stored`` windowed through the table) with
    the blocks holding padding values (``padding`` = (low, high), both included) replaced:
    0 for padding only, and for a block mixing padding and tissue the exact order's value,
    the rounded mean of its pixels windowed one by one (padding 0)."""
    ky, kx = factors
    low, high = padding
    height, width = display.shape
    whole = stored[: height * ky, : width * kx]
    only_padding, mixed = _padding_in_blocks(whole, factors, padding, stored_range(meta))
    np.copyto(display, 0, where=only_padding)
    rows, cols = np.nonzero(mixed)
    if rows.size == 0:
        return display
    pixels = np.stack(
        [whole[rows * ky + dy, cols * kx + dx] for dy in range(ky) for dx in range(kx)]
    )  # (ky * kx, M): the pixels of each mixed block
    values, index = np.unique(pixels, return_inverse=True)
    table = method.table_of_means(meta, values.astype(np.float64))
    if table is None:  # pragma: no cover - it gave a table for the means
        raise ValueError("table_of_means gave a table for block means but not for pixels")
    count = ky * kx
    shown = table[index.reshape(pixels.shape)].astype(np.int64)
    shown[(pixels >= low) & (pixels <= high)] = 0
    display[rows, cols] = (shown.sum(axis=0) + count // 2) // count
    return display


def _padding_in_blocks(
    whole: np.ndarray,
    factors: tuple[int, int],
    padding: tuple[int, int],
    value_range: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """The ky x kx blocks of (H, W) stored values ``whole`` (whole blocks only) that hold
    padding values only, and those that mix padding and tissue: two (H // ky, W // kx) bool.

    Padding at the bottom or the top of the stored ``value_range`` (the usual case: 0, or
    the largest value of MONOCHROME1) is read from each block's smallest and largest value,
    a few strided passes over the crop; a padding range inside the values is counted pixel
    by pixel.
    """
    ky, kx = factors
    low, high = padding
    if low <= value_range[0] or high >= value_range[1]:
        smallest = block_fold(np.minimum, whole, ky, kx)
        largest = block_fold(np.maximum, whole, ky, kx)
        if low <= value_range[0]:  # padding is every value up to ``high``
            has_padding, has_tissue = smallest <= high, largest > high
        else:  # every value from ``low`` up
            has_padding, has_tissue = largest >= low, smallest < low
        return has_padding & ~has_tissue, has_padding & has_tissue
    pad_count = block_sum((whole >= low) & (whole <= high), ky, kx)
    return pad_count == ky * kx, (pad_count > 0) & (pad_count < ky * kx)
