"""``breast_mask``: the breast found on the modality values, before any windowing.

The display window is for display: a vendor's narrow SIGMOID window makes the skin line and
the anterior fat almost black, so a crop searched on display values cuts them. This
extractor works on the *modality values* instead (stored values through the Modality LUT or
rescale, negated for MONOCHROME1 so the breast is bright), on a strided copy about
``max_side`` pixels on its long side (:func:`reduced_values`):

1. robust range: the values are clipped at the ``percentiles`` (0.5, 99) of the non-padding
   pixels, so the brightest tail (burned-in labels, bright film-edge strips, paddles) cannot
   pull the thresholds up, and scaled to uint16;
2. the breast core: pixels above Otsu's threshold, less bright strips along whole frame
   edges (:func:`edge_strips`: film borders, paddle edges), opened with a square of
   ``open_fraction`` of the long side (thin film-edge strips, ruler marks and text strokes
   disappear), and the largest component kept (labels and markers are separate components);
3. the rest of the breast: the pixels above the lower Li threshold that are connected to
   the core (the lower fold, the anterior fat, the axillary tail and the pectoral muscle of
   an MLO view, however far they reach from the core), and above the still lower triangle
   threshold within ``skin_fraction`` (0.04 of the long side) of that (the skin line, the
   nipple); the largest connected part kept and its holes filled. The connection is sought
   away from the frame edges (``edge_fraction``, 0.04): a film's edge glow runs along a
   whole frame edge above the Li threshold and touches the breast at the chest wall, and
   would carry the mask to the frame's corners; within those zones, Li pixels are kept
   within ``grow_fraction`` (0.03) of the breast found away from them. Flat bright marks
   outside the core (:func:`flat_marks`: a label block, a burned-in marker) are no
   tissue, so a label touching the breast does not join it;
4. the box of that mask, plus ``margin`` of the frame (but not past the chest-wall edge).

Black canvas and film borders are below both thresholds, so the box never keeps them.

The chest-wall side when no header or table knows it: :func:`chest_wall_side` reads the
anatomy on a side mask of the same reduced values (the section "The chest-wall side from
the anatomy" below).

Arrays: ``(H, W)`` stored values of any integer dtype in, ``(h, w)`` uint16 reduced values,
``(h, w)`` bool masks, :class:`~mammokit.core.images.CropBox` in the reduced copy's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from mammokit.core.errors import DicomDecodeError
from mammokit.core.images import CropBox, DecodedImage
from mammokit.preprocess.roi import CheckedExtractor
from mammokit.preprocess.windowing import (
    linear_percentiles,
    modality_values,
    padding_value_mask,
    stored_histogram,
)

__all__ = [
    "CONFIDENT",
    "LOW_CONFIDENCE",
    "MASS_SCALE",
    "SIDE_MAX_SIDE",
    "WEIGHTS",
    "BreastMask",
    "SideEstimate",
    "breast_mask",
    "chest_wall_on_right",
    "chest_wall_side",
    "edge_strips",
    "fill_holes",
    "flat_marks",
    "largest_component",
    "mask_box",
    "reduced_values",
    "side_cues",
    "side_mask",
    "straight_share",
    "thresholds",
]

_TOP = 65535


def reduced_values(
    decoded: DecodedImage,
    *,
    max_side: int = 640,
    percentiles: Sequence[float] = (0.5, 99.0),
) -> tuple[np.ndarray, int]:
    """A strided copy of the modality values, robustly clipped: ``(H, W) -> ((h, w) uint16, step)``.

    ``step`` is the stride (``h = ceil(H / step)``), chosen so the long side is at most
    ``max_side``. The values are the stored values through the Modality LUT or the rescale
    (ordinary images: as they are), negated for MONOCHROME1, clipped at ``percentiles`` of
    the pixels that are not Pixel Padding Value, and scaled to 0..65535; padding pixels are 0.
    Stored values of up to 16 bits go through a table over their domain, built from the
    strided copy's histogram (no float copy of the pixels); others are computed in float64
    on the strided copy (about 1M pixels).

    Raises:
        DicomDecodeError: the rescale or Modality LUT gives values that are not finite.
    """
    pixels = decoded.pixels
    step = max(1, -(-max(pixels.shape) // max_side))
    small = pixels[::step, ::step]
    meta = decoded.meta
    histogram = stored_histogram(small)
    if histogram is not None:
        stored, counts, index = histogram
    else:
        stored, counts, index = small.astype(np.int64), np.ones(small.shape, np.int64), None
    if meta.is_dicom:
        with np.errstate(over="ignore", invalid="ignore"):
            values = modality_values(meta, stored)
        if not np.isfinite(values[counts > 0]).all():
            raise DicomDecodeError(
                meta.path,
                f"Rescale Slope {meta.rescale_slope:g} / Intercept {meta.rescale_intercept:g} "
                "(or the Modality LUT) overflow: the modality values are not finite",
            )
        pad = padding_value_mask(meta, stored)
    else:
        values = stored.astype(np.float64)
        pad = np.zeros(stored.shape, bool)
    if meta.inverted:  # MONOCHROME1, or a Presentation LUT Shape of INVERSE
        np.negative(values, out=values)
    weights = np.where(pad, 0, counts)
    if not weights.any():
        return np.zeros(small.shape, np.uint16), step
    low, high = linear_percentiles(values.ravel(), weights.ravel(), percentiles)
    if not high > low:  # a flat image (or a span below float precision): nothing to find
        return np.zeros(small.shape, np.uint16), step
    with np.errstate(over="ignore", invalid="ignore"):
        values = (values - low) * (_TOP / (high - low))
    np.clip(values, 0, _TOP, out=values)
    values[pad] = 0
    table = np.rint(values).astype(np.uint16)
    return (table if index is None else table[index]), step


def _box_mean(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    result: np.ndarray = uniform_filter(mask.astype(np.float32), size, mode="constant")
    return result


def _square_mean(mask: np.ndarray, side: int) -> np.ndarray:
    return _box_mean(mask, (side, side))


def _erode(mask: np.ndarray, side: int) -> np.ndarray:
    """Binary erosion by a ``side`` x ``side`` square (a separable box mean)."""
    return _square_mean(mask, side) > 1 - 1e-3


def _dilate(mask: np.ndarray, side: int) -> np.ndarray:
    """Binary dilation by a ``side`` x ``side`` square."""
    return _square_mean(mask, side) > 1e-3


def _near(mask: np.ndarray, side: int | tuple[int, int]) -> np.ndarray:
    """Where a ``side`` x ``side`` square (or a ``(rows, cols)`` window) around a pixel holds
    at least 0.1% of ``mask`` pixels (at least one for squares up to 31 px): the reach of a
    large mask, (h, w) bool.

    A box mean (two running sums, whatever the size), computed only over ``mask``'s
    bounding box widened by half the window, beyond which it is zero.
    """
    bounds = _bounds(mask)
    near = np.zeros(mask.shape, bool)
    if bounds is None:
        return near
    size = (side, side) if isinstance(side, int) else side
    half_y, half_x = size[0] // 2, size[1] // 2
    height, width = mask.shape
    y0, x0 = max(0, bounds[0] - half_y), max(0, bounds[1] - half_x)
    y1, x1 = min(height, bounds[2] + half_y), min(width, bounds[3] + half_x)
    # the widened box plus half a window of context, so the filter sees the same neighbours
    cy0, cx0 = max(0, y0 - half_y), max(0, x0 - half_x)
    cy1, cx1 = min(height, y1 + half_y), min(width, x1 + half_x)
    mean = _box_mean(mask[cy0:cy1, cx0:cx1], size)
    near[y0:y1, x0:x1] = mean[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] > 1e-3
    return near


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected components of (h, w) bool ``mask``: (labels (h, w), count)."""
    from scipy.ndimage import label

    labels, count = label(mask, structure=np.ones((3, 3), bool))
    return labels, int(count)


def largest_component(mask: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected component of ``mask`` (H, W) bool, or None if empty."""
    labels, count = _components(mask)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest: np.ndarray = labels == int(np.argmax(sizes))
    return largest


def connected_to(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The 8-connected components of (h, w) bool ``mask`` that hold a pixel of ``seed``."""
    labels, count = _components(mask)
    if count == 0:
        return np.zeros(mask.shape, bool)
    touched = np.zeros(count + 1, bool)
    touched[labels[seed]] = True
    touched[0] = False
    found: np.ndarray = touched[labels]
    return found


def edge_strips(
    values: np.ndarray,
    *,
    bright: float = 0.9,
    even: float = 0.5,
    band: float = 0.05,
    full: float = 0.9,
    reach: float = 0.1,
) -> np.ndarray:
    """Bright strips along the frame edges of ``values`` (h, w): -> (h, w) bool.

    On each edge, the run of lines (rows or columns, up to ``reach`` of the size) that are
    bright all along: at least ``full`` of their pixels at ``bright`` of the maximum or
    more, or, for a flat strip below that, a median at ``even`` of the maximum or more with
    ``full`` of the pixels within ``band`` of the maximum of it. A film's unexposed border,
    a bright film-edge strip or a paddle edge along the whole side; a scanned border strip
    is often a little darker than the densest tissue but flat. A breast's chest-wall line
    is never that uniformly bright, nor its tissue that flat, so it is kept.
    """
    top = float(values.max())
    strips = np.zeros(values.shape, bool)
    for axis in (0, 1):
        lines = values if axis == 0 else values.T
        limit = max(1, int(len(lines) * reach))
        for start, step in ((0, 1), (len(lines) - 1, -1)):
            run = 0
            while run < limit and _strip_line(
                lines[start + step * run], top, bright, even, band, full
            ):
                run += 1
            if run == 0:
                continue
            where = slice(0, run) if step == 1 else slice(len(lines) - run, None)
            if axis == 0:
                strips[where, :] = True
            else:
                strips[:, where] = True
    return strips


def _strip_line(
    line: np.ndarray, top: float, bright: float, even: float, band: float, full: float
) -> bool:
    if np.mean(line >= bright * top) >= full:
        return True
    middle = float(np.median(line))
    return middle >= even * top and bool(np.mean(np.abs(line - middle) <= band * top) >= full)


def thresholds(values: np.ndarray) -> tuple[float, float, float]:
    """Otsu's, Li's and the triangle threshold of (N,) integer values, from one histogram.

    Otsu's and Li's are the same numbers as ``skimage.filters.threshold_otsu`` and
    ``threshold_li`` on ``values`` (which histogram integers with one bin a value), without
    their histograms and Li's copy of the values. Otsu's runs over the occupied bins only
    (a few thousand of 65536): an empty bin moves no pixel between the classes, so the
    between-class variance is flat across it and the first maximum is the same bin. The
    triangle is ``threshold_triangle`` over the values that occur, one bin each (the empty
    bins between them left out): the reduced values of an 8-bit or 12-bit source are
    stretched to 16 bits, a comb of occupied bins 16 - 257 apart, and on a comb the
    triangle's knee is the first empty bin after the background's peak, whatever the
    background's noise (a film scan's background was then half "tissue"). On a histogram
    without gaps it is skimage's number.
    """
    from skimage.filters import threshold_otsu

    low = int(values.min())
    counts = np.bincount(values.ravel() - values.dtype.type(low) if low else values.ravel())
    centers = np.arange(low, low + counts.size)
    occupied = np.flatnonzero(counts)
    counts_on, centers_on = counts[occupied], centers[occupied]
    otsu = float(threshold_otsu(hist=(counts_on, centers_on)))
    return otsu, _li(counts, low), _triangle(counts_on, centers_on)


def _li(counts: np.ndarray, low: int) -> float:
    """``threshold_li`` (integer image path) on the histogram ``counts`` of bins low, low+1...

    The class means come from cumulative sums of the counts and of counts x offset, which
    are integers (exact in float64), so each step is the same as skimage's weighted means.
    """
    offsets = np.arange(counts.size, dtype=np.float64)  # the values less their minimum
    below = np.cumsum(counts, dtype=np.float64)
    below_sum = np.cumsum(counts * offsets)
    total, total_sum = below[-1], below_sum[-1]
    t_next = total_sum / total
    t_curr, tolerance = -1.0, 0.5
    while abs(t_next - t_curr) > tolerance:
        t_curr = t_next
        last = min(int(np.floor(t_curr)), counts.size - 1)  # the last background bin
        mean_back = below_sum[last] / below[last]
        mean_fore = (total_sum - below_sum[last]) / (total - below[last])
        if mean_back == 0:
            break
        t_next = float((mean_back - mean_fore) / (np.log(mean_back) - np.log(mean_fore)))
    return float(t_next) + low


def _triangle(counts: np.ndarray, centers: np.ndarray) -> float:
    """``threshold_triangle`` on the histogram ``counts`` with bin ``centers``."""
    hist = counts
    nbins = len(hist)
    arg_peak = int(np.argmax(hist))
    peak_height = float(hist[arg_peak])
    arg_low, arg_high = (int(v) for v in np.flatnonzero(hist)[[0, -1]])
    if arg_low == arg_high:
        return float(centers[arg_low])
    flip = arg_peak - arg_low < arg_high - arg_peak
    if flip:
        hist = hist[::-1]
        arg_low = nbins - arg_high - 1
        arg_peak = nbins - arg_peak - 1
    width = float(arg_peak - arg_low)
    x1 = np.arange(arg_peak - arg_low)
    y1 = hist[x1 + arg_low]
    norm = np.sqrt(peak_height**2 + width**2)
    length = (peak_height / norm) * x1 - (width / norm) * y1
    level = int(np.argmax(length)) + arg_low
    if flip:
        level = nbins - level - 1
    return float(centers[level])


def _odd(length: float) -> int:
    return max(3, round(length)) | 1


def breast_mask(
    values: np.ndarray,
    *,
    open_fraction: float = 0.02,
    edge_fraction: float = 0.04,
    grow_fraction: float = 0.03,
    skin_fraction: float = 0.04,
) -> np.ndarray | None:
    """The breast in reduced values ``(h, w)`` uint16 (breast bright) -> ``(h, w)`` bool.

    Steps 2 and 3 of the module docstring. None when the image is flat or nothing
    survives the opening (no breast-sized object).
    """
    if values.size == 0 or values.min() == values.max():
        return None
    side = max(values.shape)
    keep = ~edge_strips(values)
    inside = values[keep]  # the thresholds ignore the strips' histogram
    if inside.size == 0 or inside.min() == inside.max():
        return None
    otsu, li, triangle = thresholds(inside)
    opening = _odd(open_fraction * side)
    core = largest_component(_dilate(_erode((values > otsu) & keep, opening), opening))
    if core is None:
        return None
    keep = keep & ~flat_marks(values, otsu, core)
    tissue = (values > li) & keep
    edge = max(1, round(edge_fraction * side))
    away = tissue.copy()  # the Li pixels away from the frame edges
    away[:edge], away[-edge:], away[:, :edge], away[:, -edge:] = False, False, False, False
    inner = connected_to(away, core) | core
    tissue &= _near(inner, 2 * _odd(grow_fraction * side) + 1)  # in the zones, near it only
    skin = (values > triangle) & _near(inner, 2 * _odd(skin_fraction * side) + 1)
    grown = largest_component((tissue | inner | skin) & keep)
    if grown is None:  # pragma: no cover - the core is inside ``inner``, so never empty
        return None
    return fill_holes(grown | core)


def flat_marks(values: np.ndarray, level: float, core: np.ndarray) -> np.ndarray:
    """Flat bright marks outside the breast core: (h, w) bool.

    Pixels above ``level`` equal to their four neighbours, and their rim (one pixel around
    them), outside ``core``: a label block or a burned-in marker drawn on the image is
    flat, tissue and film grain are not. They are kept out of the breast's growth, so a
    label touching the breast does not join it.
    """
    across = values[:, 1:] == values[:, :-1]  # (h, w - 1): equal to the right neighbour
    down = values[1:] == values[:-1]  # (h - 1, w): equal to the one below
    flat: np.ndarray = values > level
    flat[:, 1:] &= across
    flat[:, :-1] &= across
    flat[1:] &= down
    flat[:-1] &= down
    marks: np.ndarray = flat.copy()  # and the rim: a 3x3 dilation, rows then columns
    marks[1:] |= flat[:-1]
    marks[:-1] |= flat[1:]
    rows = marks.copy()
    marks[:, 1:] |= rows[:, :-1]
    marks[:, :-1] |= rows[:, 1:]
    marks &= ~core
    return marks


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` of an (h, w) bool mask, by one labelling.

    The holes are the 4-connected components of the background that touch no frame edge
    (the same result as scipy's, which propagates the background from the edges by
    repeated erosion, at a fraction of its time).
    """
    from scipy.ndimage import label

    labels, count = label(~mask)
    if count == 0:
        full: np.ndarray = mask.copy()
        return full
    keep = np.ones(count + 1, bool)  # label 0 is the mask; a hole is kept (filled) too
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        keep[edge] = False  # background that reaches a frame edge
    keep[0] = True
    filled: np.ndarray = keep[labels]
    return filled


def mask_box(mask: np.ndarray) -> CropBox | None:
    """The bounding box of an (h, w) bool mask, or None when it is empty."""
    bounds = _bounds(mask)
    return None if bounds is None else CropBox(*bounds)


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """:func:`mask_box` as ``(y0, x0, y1, x1)``, for the steps that only read it."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def chest_wall_on_right(mask: np.ndarray, *, end_fraction: float = 0.1) -> bool:
    """Whether the breast in an (h, w) bool mask has its chest wall on the right.

    The chest wall is where the breast meets the frame and is tallest: the mean tissue
    height of the outer ``end_fraction`` of the mask's columns is compared at each end,
    and a column touching the frame edge counts double. A tie counts as left.
    """
    bounds = _bounds(mask)
    if bounds is None:
        return False
    _, x0, _, x1 = bounds
    heights = mask[:, x0:x1].sum(axis=0).astype(np.float64)
    n = max(1, int(len(heights) * end_fraction))
    left, right = heights[:n].mean(), heights[-n:].mean()
    left *= 2.0 if x0 == 0 else 1.0
    right *= 2.0 if x1 == mask.shape[1] else 1.0
    return bool(right > left)


class BreastMask(CheckedExtractor):
    """``breast_mask``: the box of the breast mask on the modality values (the default).

    Unlike the display-value extractors, it is a
    :class:`~mammokit.plugins.protocols.ValuesRoiExtractor`: the chain gives it the reduced
    modality values of :meth:`reduce` (:func:`reduced_values`), ``(h, w)`` uint16 with the
    breast bright, breast on the left. Options: ``max_side`` and ``percentiles`` of
    :func:`reduced_values`; ``open_fraction``, ``edge_fraction``, ``grow_fraction`` and
    ``skin_fraction`` of :func:`breast_mask`; ``margin`` (0.007 of the frame; never added
    past column 0, the chest wall), the degeneracy checks of
    :func:`~mammokit.preprocess.roi.degenerate_reason` and ``fallback`` (``("otsu",)``, run
    on the same reduced values).
    """

    def __init__(
        self,
        *,
        max_side: int = 640,
        percentiles: Sequence[float] = (0.5, 99.0),
        open_fraction: float = 0.02,
        edge_fraction: float = 0.04,
        grow_fraction: float = 0.03,
        skin_fraction: float = 0.04,
        margin: float = 0.007,
        fallback: Sequence[str] = ("otsu",),
        **checks: float,
    ) -> None:
        super().__init__(margin=margin, fallback=fallback, **checks)
        low, high = (float(v) for v in percentiles)
        if not 0 <= low < high <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64, got {max_side}")
        fractions = (
            ("open_fraction", open_fraction),
            ("edge_fraction", edge_fraction),
            ("grow_fraction", grow_fraction),
            ("skin_fraction", skin_fraction),
        )
        for name, value in fractions:
            if not 0 < value < 0.25:
                raise ValueError(f"{name} must be in (0, 0.25), got {value}")
        self.max_side = int(max_side)
        self.percentiles = (low, high)
        self.open_fraction = float(open_fraction)
        self.edge_fraction = float(edge_fraction)
        self.grow_fraction = float(grow_fraction)
        self.skin_fraction = float(skin_fraction)

    def reduce(self, decoded: DecodedImage) -> tuple[np.ndarray, int]:
        """:func:`reduced_values` with this extractor's options."""
        return reduced_values(decoded, max_side=self.max_side, percentiles=self.percentiles)

    def mask(self, values: np.ndarray) -> np.ndarray | None:
        """:func:`breast_mask` with this extractor's options (either breast side)."""
        return breast_mask(
            values,
            open_fraction=self.open_fraction,
            edge_fraction=self.edge_fraction,
            grow_fraction=self.grow_fraction,
            skin_fraction=self.skin_fraction,
        )

    def box(self, values: np.ndarray, mask: np.ndarray | None) -> CropBox | None:
        """The checked, widened box of ``mask`` in ``values`` (both breast-left), or None."""
        return self._checked(values, None if mask is None else mask_box(mask))

    def __call__(self, pixels: np.ndarray) -> CropBox | None:
        """Any (H, W) uint8/uint16 image, breast bright and on the left -> box in ``pixels``.

        What the chain's fallbacks and :meth:`Pipeline.extract_roi` (display values) call;
        a large image is searched on a strided copy of at most ``max_side`` a side.
        """
        step = max(1, -(-max(pixels.shape) // self.max_side))
        small = pixels[::step, ::step]
        box = self.box(small, self.mask(small))
        if box is None or step == 1:
            return box
        height, width = pixels.shape
        return CropBox(
            box.y0 * step, box.x0 * step, min(height, box.y1 * step), min(width, box.x1 * step)
        )


# The chest-wall side from the anatomy.
#
# The chest-wall side from the anatomy: ``chest_wall_side(values) -> SideEstimate``.
#
# The chest wall is the straight, tall edge of the breast (the frame edge, or the edge of the
# film where black canvas lies beyond it); the skin line is the curved edge with the nipple,
# and the breast's mass lies towards the chest wall (a half-ellipse has its centroid at 0.42
# of its depth). The rule reads these on a *side mask* of the reduced modality values
# ``(h, w)`` uint16 (:func:`~mammokit.preprocess.breast.reduced_values`, breast bright):
#
# 1. everything above the triangle threshold (the tail of the background's peak: fatty
#    tissue of processed images is kept), less bright strips along whole frame edges;
# 2. a majority filter (a pixel is kept when ``fill`` of the square of ``square_fraction``
#    of the long side around it is kept): the texture of fat and glands closes up, noise,
#    lines and text strokes thinner than about a third of the square go;
# 3. column runs that are kept on nearly every row of the frame and are narrower than
#    ``band_fraction`` of the width (film-edge lines and bands: no breast is that thin and
#    that tall) are dropped, then an opening by a horizontal segment of ``line_fraction`` of
#    the width (what is left of vertical lines);
# 4. the largest component (labels and markers are apart from the breast), holes filled.
#
# Cues, each signed (> 0: the chest wall on the right) and within [-1, 1]:
#
# - ``straight``: the share of the breast's rows whose right boundary lies on a near-vertical
#   line fitted to it, less the same share on the left;
# - ``mass``: the mask's centroid off the centre of its box, as a share of half the box width
#   times ``MASS_SCALE`` (the skin side tapers, so the centroid leans to the chest wall);
# - ``edge``: the share of rows where the mask touches the right frame edge less the share
#   touching the left one (a breast touching the frame on one side only).
#
# The decision is the sign of their weighted sum ``WEIGHTS``; the confidence is its size
# against ``CONFIDENT`` (clipped to 1). Measured on the shared real images (docs/benchmarks.md,
# ``benchmarks/side_rule.py``).

#: Cue -> weight in the decision.
WEIGHTS: dict[str, float] = {"straight": 1.0, "mass": 1.0, "edge": 0.5}
#: The mass cue is the centroid's offset from the box centre over half the box width,
#: times this (a half-ellipse's offset, 0.16, gives about 0.8).
MASS_SCALE = 5.0
#: A weighted sum this large (or larger) is full confidence.
CONFIDENT = 1.0
#: A pixel decision below this confidence is flagged in ``index.csv`` (``laterality_source``
#: "pixels (low confidence)"): every real image with a visible breast edge measured scored
#: 0.5 or more; a frame filled with breast (no edge to read) scores less (docs/benchmarks.md).
LOW_CONFIDENCE = 0.4


@attrs.frozen
class SideEstimate:
    """The pixel rule's answer for one image.

    Attributes:
        on_right: True when the chest wall is on the right of the image.
        confidence: in [0, 1]; 0 when there was nothing to read (a flat image, no breast).
        cues: cue name -> signed value in [-1, 1] (> 0 means right).
    """

    on_right: bool
    confidence: float
    cues: dict[str, float] = attrs.field(factory=dict, eq=False)


def _drop_bands(
    mask: np.ndarray, band_fraction: float, tall: float = 0.97, alone: float = 0.25
) -> None:
    """Clear, in place, the bands of (h, w) ``mask``: runs of columns kept on at least
    ``tall`` of the rows, narrower than ``band_fraction`` of the width, and with nothing
    kept beside them on at least ``alone`` of the rows (a breast as tall as the frame has
    more breast beside its tallest columns)."""
    height, width = mask.shape
    full = mask.mean(axis=0) >= tall
    if not full.any():
        return
    edges = np.flatnonzero(np.diff(np.concatenate(([0], full.astype(np.int8), [0]))))
    nothing = np.zeros(height, bool)
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        before = mask[:, start - 1] if start > 0 else nothing
        after = mask[:, stop] if stop < width else nothing
        if stop - start < band_fraction * width and np.mean(~before & ~after) >= alone:
            mask[:, start:stop] = False


def side_mask(
    values: np.ndarray,
    *,
    square_fraction: float = 0.03,
    fill: float = 0.3,
    band_fraction: float = 0.15,
    line_fraction: float = 0.04,
) -> np.ndarray | None:
    """The breast for the side rule: ``(h, w)`` uint16 (breast bright) -> ``(h, w)`` bool.

    Steps 1-4 of the module docstring; None when the image is flat or nothing is left.
    """
    if values.size == 0 or values.min() == values.max():
        return None
    keep = ~edge_strips(values)
    inside = values[keep]
    if inside.size == 0 or inside.min() == inside.max():
        return None
    _, _, triangle = thresholds(inside)
    side = max(values.shape)
    square = max(3, round(square_fraction * side)) | 1
    mask = _box_mean((values > triangle) & keep, (square, square)) > fill
    _drop_bands(mask, band_fraction)
    line = max(3, round(line_fraction * values.shape[1])) | 1
    mask = _box_mean(_box_mean(mask, (1, line)) > 1 - 1e-3, (1, line)) > 1e-3
    largest = largest_component(mask)
    return None if largest is None else fill_holes(largest)


def straight_share(
    boundary: np.ndarray, tolerance: float, *, max_slope: float = 0.6, rounds: int = 3
) -> float:
    """The share of (n,) boundary columns (one a row) within ``tolerance`` of a line.

    The line ``x = a + b y`` is fitted by least squares, then again on the rows within
    three tolerances of it (``rounds`` fits in all), so a straight part of most of the rows
    is found despite the curved rest. A line steeper than ``max_slope`` columns a row is not
    a chest wall: 0.
    """
    n = boundary.size
    if n < 3:
        return 0.0
    rows = np.arange(n, dtype=np.float64)
    inliers = np.ones(n, bool)
    residual = np.zeros(n)
    slope = 0.0
    for _ in range(rounds):
        if inliers.sum() < 3:
            return 0.0
        slope, intercept = np.polyfit(rows[inliers], boundary[inliers], 1)
        residual = np.abs(boundary - (intercept + slope * rows))
        inliers = residual <= 3 * tolerance
    if abs(slope) > max_slope:
        return 0.0
    return float(np.mean(residual <= tolerance))


def side_cues(mask: np.ndarray, *, tolerance: float = 0.015) -> dict[str, float]:
    """The signed cues (> 0: chest wall on the right) of an (h, w) bool side mask.

    ``tolerance`` is the straightness tolerance as a share of the width (at least 2 px).
    """
    width = mask.shape[1]
    rows = mask[mask.any(axis=1)]
    left = rows.argmax(axis=1).astype(np.float64)
    right = (width - 1 - rows[:, ::-1].argmax(axis=1)).astype(np.float64)
    tol = max(2.0, tolerance * width)
    straight = straight_share(right, tol) - straight_share(left, tol)
    edge = float(np.mean(right == width - 1) - np.mean(left == 0))
    columns = mask.sum(axis=0, dtype=np.float64)
    x0, x1 = float(left.min()), float(right.max()) + 1
    centroid = float(columns @ np.arange(width)) / float(columns.sum()) + 0.5
    offset = (centroid - (x0 + x1) / 2) / max(1.0, (x1 - x0) / 2)
    mass = float(np.clip(MASS_SCALE * offset, -1, 1))
    return {"straight": straight, "mass": mass, "edge": edge}


#: The side rule reads a strided copy of the reduced values at most this long a side: its
#: cues are shapes a few percent of the frame across, which 320 px resolve (the real
#: images of ``benchmarks/side_rule.py`` come out the same), at a quarter of the cost of
#: the ROI's 640 px.
SIDE_MAX_SIDE = 320


def chest_wall_side(values: np.ndarray, *, max_side: int = SIDE_MAX_SIDE) -> SideEstimate:
    """The chest-wall side of reduced values ``(h, w)`` uint16 (breast bright), read on
    every ``ceil(max(h, w) / max_side)``-th row and column.

    A tie, or no breast found, counts as left with confidence 0.
    """
    step = max(1, -(-max(values.shape) // max_side))
    mask = side_mask(values[::step, ::step] if step > 1 else values)
    if mask is None:
        return SideEstimate(False, 0.0)
    cues = side_cues(mask)
    score = sum(WEIGHTS[name] * value for name, value in cues.items())
    return SideEstimate(bool(score > 0), float(min(1.0, abs(score) / CONFIDENT)), cues)
