"""mammokit-clahe: a ``clahe`` windowing method (VOI LUT, then CLAHE)."""

from __future__ import annotations

from typing import Any

import numpy as np

import mammokit

__all__ = ["ClaheWindow", "mammokit_windowing_methods"]


class ClaheWindow:
    """VOI LUT windowing followed by contrast-limited adaptive histogram equalisation.

    Args:
        clip_limit: CLAHE clip limit in (0, 1]; higher gives more contrast.
        kernel_size: tile size in pixels; None uses 1/8 of each side.
        nbins: histogram bins.
        **voi_options: passed to :func:`mammokit.apply_voi_lut` (e.g. ``window_index``).

    Call it with a :class:`mammokit.DecodedImage`; it returns a
    :class:`mammokit.WindowedImage` of the same (H, W) and dtype as the VOI LUT output.
    """

    def __init__(
        self,
        clip_limit: float = 0.01,
        kernel_size: int | None = None,
        nbins: int = 256,
        **voi_options: Any,
    ) -> None:
        if not 0 < clip_limit <= 1:
            raise ValueError(f"clip_limit must be in (0, 1], got {clip_limit}")
        self.clip_limit = clip_limit
        self.kernel_size = kernel_size
        self.nbins = nbins
        self.voi_options = voi_options

    def __call__(self, decoded: mammokit.DecodedImage) -> mammokit.WindowedImage:
        from skimage.exposure import equalize_adapthist

        windowed = mammokit.apply_voi_lut(decoded, **self.voi_options)
        pixels = windowed.pixels
        scaled = pixels.astype(np.float32) / float(windowed.max_value)
        equalised = equalize_adapthist(
            scaled, kernel_size=self.kernel_size, clip_limit=self.clip_limit, nbins=self.nbins
        )
        out = np.rint(equalised * windowed.max_value).astype(pixels.dtype)
        # CLAHE lifts the flat background; keep it exactly where it was.
        out[pixels == 0] = 0
        return mammokit.WindowedImage(
            pixels=out, meta=windowed.meta, max_value=windowed.max_value, scale=windowed.scale
        )


@mammokit.hookimpl
def mammokit_windowing_methods() -> list[mammokit.Component[mammokit.WindowingMethod]]:
    return [
        mammokit.Component(
            name="clahe",
            description="VOI LUT then contrast-limited adaptive histogram equalisation",
            factory=ClaheWindow,
        )
    ]
