"""``aspect_pad``: pad a crop to a height/width ratio with background, never stretching it."""

from __future__ import annotations

import numpy as np

__all__ = [
    "AspectPad",
    "aspect_pad",
    "crop_offset",
    "padded_shape",
]

_PLACES = ("start", "center", "end")


def padded_shape(height: int, width: int, aspect: float) -> tuple[int, int]:
    """The smallest (H', W') >= (height, width) with H'/W' closest to ``aspect``."""
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    if height < width * aspect:
        return max(height, round(width * aspect)), width
    return height, max(width, round(height / aspect))


def crop_offset(padding_at: str, extra: int) -> int:
    """Where the crop starts when ``extra`` pixels of padding go at ``padding_at``."""
    return {"start": extra, "center": extra // 2, "end": 0}[padding_at]


def aspect_pad(
    pixels: np.ndarray,
    aspect: float,
    background: int = 0,
    *,
    horizontal: str = "end",
    vertical: str = "center",
) -> np.ndarray:
    """(H, W) -> (H', W') of the same dtype with H'/W' = ``aspect``, filled with ``background``.

    Only one axis grows. ``horizontal`` says where the padding goes in a wider frame:
    ``"end"`` on the right (away from the chest wall once the breast is on the left),
    ``"start"`` on the left, ``"center"`` on both sides; ``vertical`` likewise for a taller
    frame (``"end"`` = below the crop). Returns ``pixels`` itself when no padding is needed.
    """
    height, width = pixels.shape
    new_h, new_w = padded_shape(height, width, aspect)
    if (new_h, new_w) == (height, width):
        return pixels
    out = np.full((new_h, new_w), background, dtype=pixels.dtype)
    y = crop_offset(vertical, new_h - height)
    x = crop_offset(horizontal, new_w - width)
    out[y : y + height, x : x + width] = pixels
    return out


class AspectPad:
    """The ``aspect_pad`` padder: ``(pixels (H, W), aspect, background) -> (H', W')``.

    Options: ``horizontal`` and ``vertical``, one of "start", "center", "end": where the
    *padding* goes (see :func:`aspect_pad`). Defaults: on the right, split top and bottom.
    """

    def __init__(self, *, horizontal: str = "end", vertical: str = "center") -> None:
        for name, value in (("horizontal", horizontal), ("vertical", vertical)):
            if value not in _PLACES:
                raise ValueError(f"{name} must be one of {', '.join(_PLACES)}; got {value!r}")
        self.horizontal = horizontal
        self.vertical = vertical

    def __call__(self, pixels: np.ndarray, aspect: float, background: int = 0) -> np.ndarray:
        return aspect_pad(
            pixels, aspect, background, horizontal=self.horizontal, vertical=self.vertical
        )
