"""Anti-aliased resize to the model size, and the output dtype.

The filters are Pillow's (``libImaging/Resample.c``: the same kernels, supports, tap
ranges and normalisation), applied as two passes of banded matrix products (numpy's BLAS,
one thread) instead of Pillow's scalar loops: the same numbers to float32 rounding, Lanczos
1.2 - 1.7 times faster on the crops of a mammogram (docs/decisions.md, "The resize is
Pillow's filter as matrix products").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "OUTPUT_MAX",
    "RESAMPLE",
    "BLOCK_REDUCING_GAP",
    "block_factors",
    "block_fold",
    "block_mean",
    "block_sum",
    "box_reduce",
    "reduction_factors",
    "resize",
    "resize_placed",
    "separable_resize",
    "to_dtype",
]

#: Integer box reduction first when shrinking by at least this many times the factor
#: (Pillow's ``reducing_gap``). 2 leaves ``resample`` a 4/3 - 8/3 reduction of the box
#: means, at a fraction of the exact filter's cost; ``tests/preprocess`` checks SSIM >= 0.999
#: against the exact Lanczos filter.
REDUCING_GAP = 2.0

#: The largest value of each output dtype.
OUTPUT_MAX = {"uint8": 255, "uint16": 65535}


def _lanczos(x: np.ndarray) -> np.ndarray:
    inside = (x >= -3.0) & (x < 3.0)
    weights: np.ndarray = np.where(inside, np.sinc(x) * np.sinc(x / 3.0), 0.0)
    return weights


def _bicubic(x: np.ndarray) -> np.ndarray:
    a, x = -0.5, np.abs(x)
    inner = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    outer = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, inner, np.where(x < 2.0, outer, 0.0))


def _bilinear(x: np.ndarray) -> np.ndarray:
    weights: np.ndarray = np.maximum(0.0, 1.0 - np.abs(x))
    return weights


def _box(x: np.ndarray) -> np.ndarray:
    return ((x > -0.5) & (x <= 0.5)).astype(np.float64)


#: Pillow's filters by name: ``(support at a 1x scale, kernel)``. All of them are
#: anti-aliased when shrinking (the support grows with the reduction factor).
RESAMPLE: dict[str, tuple[float, Callable[[np.ndarray], np.ndarray]]] = {
    "lanczos": (3.0, _lanczos),
    "bicubic": (2.0, _bicubic),
    "bilinear": (1.0, _bilinear),
    "box": (0.5, _box),
}

#: Output lines per matrix product of a pass: a band of the weights, dense.
CHUNK = 64

_blas: Any = None


def _one_blas_thread() -> Any:
    """A context in which numpy's BLAS runs one thread: OpenBLAS's float32 products come out
    a few ulp apart with one thread and with two, so a resize would depend on the CPUs and
    on the workers (a batch worker runs one); one thread gives every caller the same
    pixels. The controller (which reads the loaded libraries) is made once."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def _pass_weights(
    n_in: int, n_out: int, start: float, stop: float, kernel: str
) -> list[tuple[slice, slice, np.ndarray]]:
    """The weights of one pass (``n_in`` lines, the span ``[start, stop)`` of them, to
    ``n_out``) as Pillow's ``precompute_coeffs`` defines them, in dense bands of ``CHUNK``
    outputs: ``(output lines, input lines, (outputs, inputs) float32 weights)``."""
    support, function = RESAMPLE[kernel]
    scale = (stop - start) / n_out
    spread = max(scale, 1.0)
    reach = support * spread
    centers = start + (np.arange(n_out) + 0.5) * scale
    first = np.maximum(0, np.trunc(centers - reach + 0.5)).astype(np.intp)
    end = np.minimum(n_in, np.trunc(centers + reach + 0.5)).astype(np.intp)
    taps = np.arange(max(1, int((end - first).max())))
    inside = taps[None, :] < (end - first)[:, None]  # (n_out, taps)
    offsets = (first[:, None] + taps - centers[:, None] + 0.5) * (1.0 / spread)  # as Pillow
    weights = np.where(inside, function(offsets), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    total[total == 0.0] = 1.0
    weights /= total
    bands = []
    for s in range(0, n_out, CHUNK):
        e = min(n_out, s + CHUNK)
        a, b = int(first[s:e].min()), int(end[s:e].max())
        band = np.zeros((e - s, b - a), np.float32)
        rows, cols = np.nonzero(inside[s:e])
        band[rows, first[s + rows] - a + cols] = weights[s + rows, cols]
        bands.append((slice(s, e), slice(a, b), band))
    return bands


def separable_resize(
    image: np.ndarray,
    size: tuple[int, int],
    box: tuple[float, float, float, float] | None = None,
    kernel: str = "lanczos",
) -> np.ndarray:
    """(H, W) float32 (or any real dtype, read as float32) -> ``size`` (h, w) float32:
    Pillow's ``Image.resize(size[::-1], filter, box=box)`` of an "F" image, to float32
    rounding.

    ``box`` is ``(x0, y0, x1, y1)`` in ``image``'s pixels (the area that is resized; the
    whole image when None). Columns first, on the rows the vertical filter reads, then
    rows, as Pillow does; a pass that maps the lines onto themselves is skipped. The
    products run on one BLAS thread (the same pixels whatever the CPUs).
    """
    with _one_blas_thread():
        return _separable(image, size, box, kernel)


def _separable(
    image: np.ndarray,
    size: tuple[int, int],
    box: tuple[float, float, float, float] | None,
    kernel: str,
) -> np.ndarray:
    height, width = image.shape
    whole = (0.0, 0.0, float(width), float(height))
    # Pillow passes the box to C as float32: rounded so, the tap ranges come out the same
    x0, y0, x1, y1 = whole if box is None else (float(np.float32(v)) for v in box)
    out_h, out_w = size
    rows = None
    top, bottom = 0, height
    if (out_h, y0, y1) != (height, 0.0, float(height)):
        rows = _pass_weights(height, out_h, y0, y1, kernel)
        top, bottom = rows[0][1].start, rows[-1][1].stop  # the rows the vertical pass reads
    work = np.ascontiguousarray(image[top:bottom], dtype=np.float32)
    if (out_w, x0, x1) != (width, 0.0, float(width)):
        across = np.empty((work.shape[0], out_w), np.float32)
        for outputs, inputs, weights in _pass_weights(width, out_w, x0, x1, kernel):
            np.matmul(work[:, inputs], weights.T, out=across[:, outputs])
        work = across
    if rows is None:
        return work
    down = np.empty((out_h, work.shape[1]), np.float32)
    for outputs, inputs, weights in rows:
        np.matmul(weights, work[inputs.start - top : inputs.stop - top], out=down[outputs])
    return down


def to_dtype(pixels: np.ndarray, max_value: int, dtype: str) -> np.ndarray:
    """(H, W) values in ``[0, max_value]`` -> (H, W) ``dtype`` spanning ``[0, dtype max]``.

    Values above ``max_value`` (e.g. filter overshoot) are clipped. No copy when the input is
    already ``dtype`` with the same range.
    """
    out_max = OUTPUT_MAX[dtype]
    if pixels.dtype == np.dtype(dtype) and max_value == out_max:
        return pixels
    scaled = pixels.astype(np.float32)
    scaled *= np.float32(out_max / max_value)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, out_max, out=scaled)
    return scaled.astype(dtype)


def box_reduce(pixels: np.ndarray, ky: int, kx: int) -> np.ndarray:
    """(H, W) uint8/uint16 -> (ceil(H / ky), ceil(W / kx)) float32 block means.

    The last row and column of blocks average the pixels they have (as Pillow's
    ``Image.reduce``). Sums run in uint32 through strided views: no full-size copy.
    """
    height, width = pixels.shape
    rows = np.zeros((-(-height // ky), width), np.uint32)
    for i in range(ky):
        part = pixels[i::ky]
        rows[: len(part)] += part
    sums = np.zeros((len(rows), -(-width // kx)), np.uint32)
    for j in range(kx):
        part = rows[:, j::kx]
        sums[:, : part.shape[1]] += part
    count_y = np.minimum(ky, height - ky * np.arange(len(rows)))
    count_x = np.minimum(kx, width - kx * np.arange(sums.shape[1]))
    means: np.ndarray = sums.astype(np.float32)
    means /= (count_y[:, None] * count_x[None, :]).astype(np.float32)
    return means


def reduction_factors(shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """The integer box factors ``(ky, kx)`` :func:`resize` applies first to bring an image
    of ``shape`` towards ``size``: ``round(reduction / REDUCING_GAP)`` a side, at least 1."""
    ky = max(1, round(shape[0] / size[0] / REDUCING_GAP))
    kx = max(1, round(shape[1] / size[1] / REDUCING_GAP))
    return ky, kx


#: The reducing gap of the crop's block reduction after the ``breast_mask`` ROI
#: (:func:`block_factors`): Pillow's sense, the filter is left at least a 1.5x reduction.
BLOCK_REDUCING_GAP = 1.5


#: The smallest reduction that is box-reduced at all (2x2 blocks) by :func:`block_factors`.
MIN_BLOCK_REDUCTION = 2.0


def _block_factor(reduction: float) -> int:
    if reduction < MIN_BLOCK_REDUCTION:
        return 1
    return max(2, int(reduction / BLOCK_REDUCING_GAP))


def block_factors(shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """The integer block factors ``(ky, kx)`` for bringing ``shape`` towards ``size`` before
    the filter, a side: ``floor(reduction / BLOCK_REDUCING_GAP)``, as Pillow's
    ``reducing_gap``, so that Lanczos still does a 1.5x - 3x reduction (SSIM >= 0.999
    against the exact filter on the benchmark's phantoms); but 2 from a reduction of
    ``MIN_BLOCK_REDUCTION`` (2x) on, where Lanczos is then left 1x - 1.5x (a 2294 - 3062 row
    crop to 1024 rows: the filter at full resolution was most of the time after decoding),
    and 1 below it."""
    return _block_factor(shape[0] / size[0]), _block_factor(shape[1] / size[1])


def block_fold(
    fold: np.ufunc, pixels: np.ndarray, ky: int, kx: int, dtype: Any = None
) -> np.ndarray:
    """(H, W) -> (H // ky, W // kx): ``fold`` (``np.add``, ``np.minimum``, ``np.maximum``)
    over each whole ky x kx block, accumulated in ``dtype`` (None: the input's).

    The last ``H % ky`` rows and ``W % kx`` columns (less than one block) are left out.
    Reads ``pixels`` through strided views, rows then columns (a mirrored view is fine, at
    about half the speed of one in memory order): no full-size copy.
    """
    height, width = (pixels.shape[0] // ky) * ky, (pixels.shape[1] // kx) * kx
    whole = pixels[:height, :width]
    if ky == 1:
        rows = whole.astype(dtype if dtype is not None else whole.dtype)
    else:
        rows = fold(whole[0::ky], whole[1::ky], dtype=dtype)
        for i in range(2, ky):
            fold(rows, whole[i::ky], out=rows)
    if kx == 1:
        return rows
    blocks: np.ndarray = fold(rows[:, 0::kx], rows[:, 1::kx])
    for j in range(2, kx):
        fold(blocks, rows[:, j::kx], out=blocks)
    return blocks


def block_sum(pixels: np.ndarray, ky: int, kx: int) -> np.ndarray:
    """(H, W) integers -> (H // ky, W // kx) sums of whole ky x kx blocks (uint32, or int32
    for signed input of at most 16 bits; int64 otherwise), by :func:`block_fold`."""
    total: np.dtype[Any]
    if pixels.dtype.kind not in "iub" or pixels.dtype.itemsize > 2:
        total = np.dtype(np.int64)
    else:
        total = np.dtype(np.int32 if pixels.dtype.kind == "i" else np.uint32)
    return block_fold(np.add, pixels, ky, kx, total)


def block_mean(pixels: np.ndarray, ky: int, kx: int) -> np.ndarray:
    """(H, W) uint8/uint16 -> (H // ky, W // kx) block means, rounded, of the same dtype
    (whole blocks only, as :func:`block_sum`)."""
    if ky == kx == 1:
        return pixels
    count = ky * kx
    sums = block_sum(pixels, ky, kx)
    sums += count // 2
    sums //= count
    return sums.astype(pixels.dtype)


def resize(
    pixels: np.ndarray,
    size: tuple[int, int],
    *,
    max_value: int,
    dtype: str = "uint8",
    resample: str = "lanczos",
) -> np.ndarray:
    """(H, W) uint8/uint16 in ``[0, max_value]`` -> ``size`` (h, w) ``dtype``, anti-aliased.

    Large reductions first shrink by the integer factor ``round(scale / REDUCING_GAP)`` with
    a box filter (:func:`box_reduce`, no full-size float copy), then apply the ``resample``
    filter for the rest (at least 4/3 of a reduction; like Pillow's ``reducing_gap``) in
    float32 (:func:`separable_resize`). The result is rounded and clipped to ``dtype``.
    """
    height, width = size
    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"resize expects uint8 or uint16 pixels, got {pixels.dtype}")
    if pixels.shape == (height, width):
        return to_dtype(np.ascontiguousarray(pixels), max_value, dtype)
    ky, kx = reduction_factors(pixels.shape, size)
    reduced = pixels if ky == kx == 1 else box_reduce(pixels, ky, kx)
    box = (0.0, 0.0, pixels.shape[1] / kx, pixels.shape[0] / ky)
    return to_dtype(separable_resize(reduced, size, box, resample), max_value, dtype)


def resize_placed(
    reduced: np.ndarray,
    factors: tuple[int, int],
    frame: tuple[int, int],
    offset: tuple[int, int],
    size: tuple[int, int],
    *,
    max_value: int,
    dtype: str = "uint8",
    resample: str = "lanczos",
) -> np.ndarray:
    """A block-reduced crop, placed in its padded frame and resized: -> ``size`` ``dtype``.

    ``reduced`` (h, w) uint8/uint16 are the ``factors`` (ky, kx) block means of a crop that
    sits at ``offset`` (y, x) in a zero-padded ``frame`` (H', W') at full resolution. The
    result is :func:`resize` of that padded frame, without building it: the reduced crop
    goes into a zero canvas at 1/ky, 1/kx, and the filter reads exactly the frame's area
    of it (a fractional box), so the crop keeps its place to a fraction of a pixel. The
    canvas has one more row and column on every side, copied from its edge (Pillow clips
    its kernel at the image edge; the copy does nearly the same at a frame edge that falls
    inside a block; a frame edge on a block edge is the canvas's edge).
    """
    ky, kx = factors
    (rows, cols), (y, x) = frame, offset
    canvas = np.zeros((-(-rows // ky) + 2, -(-cols // kx) + 2), np.float32)
    top, left = y // ky + 1, x // kx + 1
    part = reduced[: canvas.shape[0] - 1 - top, : canvas.shape[1] - 1 - left]
    canvas[top : top + part.shape[0], left : left + part.shape[1]] = part
    canvas[0], canvas[-1] = canvas[1], canvas[-2]
    canvas[:, 0], canvas[:, -1] = canvas[:, 1], canvas[:, -2]
    y0, x0 = top - y / ky, left - x / kx
    y1, x1 = y0 + rows / ky, x0 + cols / kx
    # Where the frame's edge falls on a canvas pixel's edge (the usual case: a whole number
    # of blocks), the canvas ends there, so Pillow clips its kernel at the frame's edge, as
    # the exact order does; the copied row or column is only for a fractional edge.
    r0, c0 = (int(y0) if y0.is_integer() else 0), (int(x0) if x0.is_integer() else 0)
    r1 = int(y1) if y1.is_integer() else canvas.shape[0]
    c1 = int(x1) if x1.is_integer() else canvas.shape[1]
    canvas = canvas[r0:r1, c0:c1]
    box = (x0 - c0, y0 - r0, x1 - c0, y1 - r0)
    return to_dtype(separable_resize(canvas, size, box, resample), max_value, dtype)
