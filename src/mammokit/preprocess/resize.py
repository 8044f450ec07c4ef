"""Anti-aliased resize to the model size, and the output dtype."""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["OUTPUT_MAX", "RESAMPLE", "resize", "to_dtype"]

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


def resize(
    pixels: np.ndarray,
    size: tuple[int, int],
    *,
    max_value: int,
    dtype: str = "uint8",
    resample: str = "lanczos",
) -> np.ndarray:
    """(H, W) uint8/uint16 in ``[0, max_value]`` -> ``size`` (h, w) ``dtype``, anti-aliased.

    Pillow resizes uint8 as "L" and uint16 as "I" (int32); large reductions first shrink by
    an integer factor (``reducing_gap=3``), which Pillow documents as indistinguishable
    from the exact filter. The result is rounded and clipped to ``dtype``.
    """
    height, width = size
    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"resize expects uint8 or uint16 pixels, got {pixels.dtype}")
    source = np.ascontiguousarray(pixels)
    if source.shape != (height, width):
        image = Image.fromarray(source)
        if image.mode != "L":
            image = image.convert("I")  # Pillow's integer-factor reduce has no "I;16"
        image = image.resize((width, height), RESAMPLE[resample], reducing_gap=3.0)
        source = np.asarray(image)
    return to_dtype(source, max_value, dtype)
