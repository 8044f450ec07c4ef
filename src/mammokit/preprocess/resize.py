"""Anti-aliased resize to the model size, and the output dtype."""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["OUTPUT_MAX", "RESAMPLE", "box_reduce", "resize", "to_dtype"]

#: Integer box reduction first when shrinking by at least this many times the factor
#: (Pillow's ``reducing_gap``). 2 leaves ``resample`` a 4/3 - 8/3 reduction of the box
#: means, at a fraction of the exact filter's cost; ``tests/preprocess`` checks SSIM >= 0.999
#: against the exact Lanczos filter.
REDUCING_GAP = 2.0

#: The largest value of each output dtype.
OUTPUT_MAX = {"uint8": 255, "uint16": 65535}

#: Pillow filters by name. All of them are anti-aliased when shrinking (the kernel support
#: grows with the reduction factor).
RESAMPLE = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
}


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
    a box filter, then apply ``resample`` for the rest (at least 4/3 of a reduction; like
    Pillow's ``reducing_gap``). uint8 goes
    through Pillow's "L" mode; uint16 is box-reduced here (:func:`box_reduce`, no int32 copy
    of the image) and finished in Pillow's float "F" mode. The result is rounded and
    clipped to ``dtype``.
    """
    height, width = size
    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"resize expects uint8 or uint16 pixels, got {pixels.dtype}")
    if pixels.shape == (height, width):
        return to_dtype(np.ascontiguousarray(pixels), max_value, dtype)
    if pixels.dtype == np.uint8:
        image = Image.fromarray(np.ascontiguousarray(pixels))
        image = image.resize((width, height), RESAMPLE[resample], reducing_gap=REDUCING_GAP)
        return to_dtype(np.asarray(image), max_value, dtype)
    ky = max(1, round(pixels.shape[0] / height / REDUCING_GAP))
    kx = max(1, round(pixels.shape[1] / width / REDUCING_GAP))
    reduced = box_reduce(pixels, ky, kx)
    box = (0.0, 0.0, pixels.shape[1] / kx, pixels.shape[0] / ky)
    image = Image.fromarray(reduced, mode="F").resize((width, height), RESAMPLE[resample], box=box)
    return to_dtype(np.asarray(image), max_value, dtype)
