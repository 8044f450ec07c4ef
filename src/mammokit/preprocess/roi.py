"""Where the breast is: ``(H, W) uint8|uint16 -> CropBox | None`` (breast on the left).

Two extractors, both returning None when their box is *degenerate*:

- :class:`ProfileCrop` (``profile_crop``), the smoothed row/column ``sum x std`` profile crop
  of the published method (its step 2; docs/concepts.md);
- :class:`OtsuCrop` (``otsu``), the bounding box of the largest connected component of an
  Otsu mask.

A box is degenerate (:func:`degenerate_reason`) when it is

- *tiny*: narrower or lower than ``min_fraction`` of the frame;
- *the whole frame*: at least ``full_fraction`` of both sides, i.e. no background was found;
- *empty*: it holds less than ``min_mass`` of the image's total brightness.

``ProfileCrop.fallback`` names the extractors the chain tries next (``("otsu",)``); after them
the chain uses the whole image. Which path won is recorded as ``Preprocessed.roi_method``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from mammokit.core.images import CropBox

__all__ = [
    "CheckedExtractor",
    "OtsuCrop",
    "ProfileCrop",
    "degenerate_reason",
    "moments",
    "profile_box",
    "profiles",
    "smooth",
]

_BLOCK_ROWS = 512


def smooth(values: np.ndarray, fraction: float = 0.01) -> np.ndarray:
    """Moving average with a kernel of ``fraction`` of ``len(values)``: (N,) -> (N,) float64.

    Edges are averaged over the part of the kernel inside the array (no zero padding).
    """
    values = np.asarray(values, dtype=np.float64)
    k = max(1, int(len(values) * fraction))
    if k == 1:
        return cast("np.ndarray", values.copy())
    kernel = np.ones(k)
    total = np.convolve(values, kernel, mode="same")
    count = np.convolve(np.ones_like(values), kernel, mode="same")
    smoothed: np.ndarray = total / count
    return smoothed


def profiles(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column and row sums and standard deviations of an (H, W) image.

    Returns:
        ``(col_sum (W,), col_std (W,), row_sum (H,), row_std (H,))``, float64.
    """
    return (*moments(pixels, axis=0), *moments(pixels, axis=1))


def moments(pixels: np.ndarray, *, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums and standard deviations of an (H, W) image per column (``axis=0``: (W,) each)
    or per row (``axis=1``: (H,) each), float64.

    Works in blocks of rows, so memory stays a few rows of float32 whatever the image size.
    Sums are exact; squares are float32, exact for 8-bit values (for 16-bit ones a
    near-zero deviation may read up to about 2**-12 of the value range).
    """
    height, width = pixels.shape
    count = height if axis == 0 else width
    sums = np.zeros(width if axis == 0 else height, np.float64)
    squares = np.zeros_like(sums)
    for start in range(0, height, _BLOCK_ROWS):
        block = pixels[start : start + _BLOCK_ROWS].astype(np.float32)
        where = slice(None) if axis == 0 else slice(start, start + len(block))
        sums[where] += block.sum(axis=axis, dtype=np.float64)
        np.square(block, out=block)
        squares[where] += block.sum(axis=axis, dtype=np.float64)
    mean = sums / count
    std: np.ndarray = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return sums, std


def _edges(
    profile: np.ndarray, lo: int, hi: int, threshold: float, relative_to: str
) -> tuple[int, int, int] | None:
    """Peak of ``profile[lo:hi]`` and the nearest indices on each side of it below
    ``threshold`` times ``max(profile)`` (``relative_to="max"``) or times the peak
    (``"window"``): returns ``(start, peak, stop)`` as a half-open run, or None if the peak
    is 0."""
    hi = max(hi, lo + 1)
    peak = lo + int(np.argmax(profile[lo:hi]))
    level = profile[peak] if relative_to == "window" else profile.max()
    if not profile[peak] > 0:
        return None
    below = profile < threshold * level
    after = np.flatnonzero(below[peak + 1 :])
    stop = peak + 1 + int(after[0]) if after.size else len(profile)
    before = np.flatnonzero(below[:peak])
    start = int(before[-1]) + 1 if before.size else 0
    return start, peak, stop


def _vv(sums: np.ndarray, stds: np.ndarray, fraction: float) -> np.ndarray:
    vv: np.ndarray = smooth(sums, fraction) * smooth(stds, fraction)
    return vv


def profile_box(
    pixels: np.ndarray,
    *,
    smooth_fraction: float = 0.01,
    column_search: float = 0.75,
    row_search: Sequence[float] = (0.25, 0.75),
    threshold: float = 0.05,
    relative_to: str = "max",
    trim_left: bool = False,
) -> CropBox | None:
    """The published smoothed-profile crop of an (H, W) image with the breast on the left.

    As in the published code (``get_x_offset`` then ``get_y_offsets``):

    - columns: ``vv = smooth(column sums) * smooth(column stds)``, the moving average over
      ``smooth_fraction`` of the length; the peak is sought in the first ``column_search`` of
      the columns; the right edge is the first column past it with ``vv`` below
      ``threshold * max(vv)``;
    - rows: the same on the columns kept, with the peak sought in the ``row_search`` band
      (the middle 50%); top and bottom are the nearest rows below the threshold on either
      side.

    The left edge is column 0 (the chest wall), unless ``trim_left`` also trims columns
    below the threshold. ``relative_to="window"`` takes the threshold relative to the peak
    in the search window instead of ``max(vv)``, so a bright marker outside the window
    cannot raise it. Returns None for an image without any structure.
    """
    height, width = pixels.shape
    if height == 0 or width == 0:
        return None
    col_sum, col_std = moments(pixels, axis=0)
    cols = _vv(col_sum, col_std, smooth_fraction)
    col_run = _edges(cols, 0, int(width * column_search), threshold, relative_to)
    if col_run is None:
        return None
    x0 = col_run[0] if trim_left else 0
    x1 = col_run[2]
    row_sum, row_std = moments(pixels[:, x0:x1], axis=1)
    rows = _vv(row_sum, row_std, smooth_fraction)
    lo, hi = row_search
    row_run = _edges(rows, int(height * lo), int(height * hi), threshold, relative_to)
    if row_run is None:
        return None
    return CropBox(row_run[0], x0, row_run[2], x1)


def degenerate_reason(
    pixels: np.ndarray,
    box: CropBox | None,
    *,
    min_fraction: float = 0.1,
    full_fraction: float = 0.99,
    min_mass: float = 0.3,
) -> str | None:
    """Why ``box`` is not a usable breast box in ``pixels`` (H, W), or None if it is.

    Returns one of ``"empty"`` (no box, or it holds less than ``min_mass`` of the total
    brightness), ``"tiny"`` (a side shorter than ``min_fraction`` of the frame's) or
    ``"whole frame"`` (both sides at least ``full_fraction`` of the frame's).
    """
    height, width = pixels.shape
    if box is None:
        return "empty"
    box_height, box_width = box.y1 - box.y0, box.x1 - box.x0
    if box_height < min_fraction * height or box_width < min_fraction * width:
        return "tiny"
    if box_height >= full_fraction * height and box_width >= full_fraction * width:
        return "whole frame"
    total = float(pixels.sum(dtype=np.uint64))
    inside = float(pixels[box.y0 : box.y1, box.x0 : box.x1].sum(dtype=np.uint64))
    if total <= 0 or inside < min_mass * total:
        return "empty"
    return None


class CheckedExtractor:
    """What the built-in extractors share: the degeneracy check (options ``min_fraction``,
    ``full_fraction``, ``min_mass`` of :func:`degenerate_reason`), then ``margin``, a
    fraction of the frame's height and width added around a usable box (0.02), and
    ``fallback``. Subclasses pass these through as ``**checks``."""

    def __init__(
        self,
        *,
        min_fraction: float = 0.1,
        full_fraction: float = 0.99,
        min_mass: float = 0.3,
        margin: float = 0.02,
        fallback: Sequence[str] = ("otsu",),
    ) -> None:
        if not 0 <= margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {margin}")
        if not 0 <= min_fraction < full_fraction <= 1:
            raise ValueError(
                f"need 0 <= min_fraction < full_fraction <= 1, got {min_fraction}, {full_fraction}"
            )
        if not 0 <= min_mass <= 1:
            raise ValueError(f"min_mass must be in [0, 1], got {min_mass}")
        self.min_fraction = min_fraction
        self.full_fraction = full_fraction
        self.min_mass = min_mass
        self.margin = margin
        #: Extractor names the chain tries, in order, when this one returns None.
        self.fallback: tuple[str, ...] = tuple(fallback)

    def _checked(self, pixels: np.ndarray, box: CropBox | None) -> CropBox | None:
        reason = degenerate_reason(
            pixels,
            box,
            min_fraction=self.min_fraction,
            full_fraction=self.full_fraction,
            min_mass=self.min_mass,
        )
        if reason or box is None:
            return None
        height, width = pixels.shape
        dy, dx = round(self.margin * height), round(self.margin * width)
        return CropBox(
            max(0, box.y0 - dy),
            max(0, box.x0 - dx) if box.x0 else 0,
            min(height, box.y1 + dy),
            min(width, box.x1 + dx),
        )


class ProfileCrop(CheckedExtractor):
    """``profile_crop``: the published smoothed-profile crop, None when degenerate.

    Call with (H, W) uint8/uint16 display values, breast on the left. Options: those of
    :func:`profile_box` and of :func:`degenerate_reason`; ``margin``, a fraction of the
    frame's height and width added around a usable box (the published code's ``margin``,
    0 there; 0.02 here keeps the faint skin line at the tip, which falls below the 5%
    threshold); and ``fallback`` (the extractor names the chain tries next; default
    ``("otsu",)``, ``()`` to go straight to the whole image).
    """

    def __init__(
        self,
        *,
        smooth_fraction: float = 0.01,
        column_search: float = 0.75,
        row_search: Sequence[float] = (0.25, 0.75),
        threshold: float = 0.05,
        relative_to: str = "max",
        trim_left: bool = False,
        fallback: Sequence[str] = ("otsu",),
        **checks: float,
    ) -> None:
        super().__init__(fallback=fallback, **checks)
        lo, hi = (float(v) for v in row_search)
        if not (0 <= lo < hi <= 1 and 0 < column_search <= 1 and 0 < threshold < 1):
            raise ValueError(
                "need 0 <= row_search[0] < row_search[1] <= 1, 0 < column_search <= 1 "
                f"and 0 < threshold < 1; got {row_search}, {column_search}, {threshold}"
            )
        if relative_to not in ("max", "window"):
            raise ValueError(f"relative_to must be 'max' or 'window', got {relative_to!r}")
        if not 0 < smooth_fraction < 1:
            raise ValueError(f"smooth_fraction must be in (0, 1), got {smooth_fraction}")
        self.smooth_fraction = smooth_fraction
        self.column_search = column_search
        self.row_search = (lo, hi)
        self.threshold = threshold
        self.relative_to = relative_to
        self.trim_left = trim_left

    def __call__(self, pixels: np.ndarray) -> CropBox | None:
        box = profile_box(
            pixels,
            smooth_fraction=self.smooth_fraction,
            column_search=self.column_search,
            row_search=self.row_search,
            threshold=self.threshold,
            relative_to=self.relative_to,
            trim_left=self.trim_left,
        )
        return self._checked(pixels, box)


def _run_length(flags: np.ndarray) -> int:
    """How many leading entries of ``flags`` are True."""
    stops = np.flatnonzero(~flags)
    return int(stops[0]) if stops.size else len(flags)


def frame_width(mask: np.ndarray, full: float = 0.95) -> tuple[int, int, int, int] | None:
    """The (top, bottom, left, right) line counts of a frame around ``mask`` (H, W) bool.

    A frame is lines at least ``full`` set on *all four* edges (a breast touches at most
    three), such as the unexposed border of scanned film. None when there is none.
    """
    rows, cols = mask.mean(axis=1) >= full, mask.mean(axis=0) >= full
    if not (rows[0] and rows[-1] and cols[0] and cols[-1]):
        return None
    return (
        _run_length(rows),
        _run_length(rows[::-1]),
        _run_length(cols),
        _run_length(cols[::-1]),
    )


class OtsuCrop(CheckedExtractor):
    """``otsu``: bounding box of the largest connected component above Otsu's threshold.

    Call with (H, W) uint8/uint16. The mask is computed on a strided copy whose longer
    side is at most ``max_side`` pixels, then mapped back. With ``strip_frame`` (default), a
    bright frame on all four edges (a scanned film's border) is removed from the mask
    first, so it does not join the breast into one frame-sized component. None when
    degenerate (see :func:`degenerate_reason`); by default it has no fallback of its own.
    """

    def __init__(
        self,
        *,
        max_side: int = 512,
        strip_frame: bool = True,
        fallback: Sequence[str] = (),
        **checks: float,
    ) -> None:
        super().__init__(fallback=fallback, **checks)
        if max_side < 16:
            raise ValueError(f"max_side must be at least 16, got {max_side}")
        self.max_side = int(max_side)
        self.strip_frame = strip_frame

    def __call__(self, pixels: np.ndarray) -> CropBox | None:
        from skimage.filters import threshold_otsu
        from skimage.measure import label

        height, width = pixels.shape
        step = max(1, -(-max(height, width) // self.max_side))
        small = pixels[::step, ::step]
        if small.size == 0 or small.min() == small.max():
            return None
        mask = small > threshold_otsu(small)
        frame = frame_width(mask) if self.strip_frame else None
        if frame is not None:
            # Threshold again inside the frame, without its bright lines in the histogram.
            top, bottom, left, right = frame
            inner = small[top : len(small) - bottom, left : small.shape[1] - right]
            mask[:] = False
            if inner.size and inner.min() < inner.max():
                inside = mask[top : len(small) - bottom, left : small.shape[1] - right]
                inside[:] = inner > threshold_otsu(inner)
        labels = label(mask, connectivity=2)
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        if counts.max() == 0:
            return None
        component = labels == int(np.argmax(counts))
        rows = np.flatnonzero(component.any(axis=1))
        cols = np.flatnonzero(component.any(axis=0))
        box = CropBox(
            int(rows[0]) * step,
            int(cols[0]) * step,
            min(height, (int(rows[-1]) + 1) * step),
            min(width, (int(cols[-1]) + 1) * step),
        )
        return self._checked(pixels, box)
