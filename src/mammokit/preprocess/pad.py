"""``aspect_pad``: pad a crop to a height/width ratio with background, never stretching it."""

from __future__ import annotations

import numpy as np

from mammokit.preprocess.geometry import crop_offset, padded_shape

__all__ = ["AspectPad", "aspect_pad"]

_PLACES = ("start", "center", "end")


def _placement(
    shape: tuple[int, int], aspect: float, horizontal: str, vertical: str
) -> tuple[tuple[int, int], tuple[int, int]]:
    height, width = shape
    frame = padded_shape(height, width, aspect)
    offset = crop_offset(vertical, frame[0] - height), crop_offset(horizontal, frame[1] - width)
    return frame, offset


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
    (new_h, new_w), (y, x) = _placement((height, width), aspect, horizontal, vertical)
    if (new_h, new_w) == (height, width):
        return pixels
    out = np.full((new_h, new_w), background, dtype=pixels.dtype)
    out[y : y + height, x : x + width] = pixels
    return out


class AspectPad:
    """The ``aspect_pad`` padder: ``(pixels (H, W), aspect, background) -> (H', W')``.

    Options: ``horizontal`` and ``vertical``, one of "start", "center", "end": where the
    *padding* goes (see :func:`aspect_pad`). Defaults: on the right, split top and bottom.
    It is a :class:`~mammokit.plugins.protocols.PlacingPadder`: :meth:`placement` says where a crop
    goes, so the chain may place a box-reduced crop instead of padding the full one.
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

    def placement(
        self, shape: tuple[int, int], aspect: float
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """A crop of ``shape`` (h, w) padded to ``aspect``: ``((H', W'), (y, x))``, the
        padded frame and where the crop's top-left corner goes in it."""
        return _placement(shape, aspect, self.horizontal, self.vertical)
