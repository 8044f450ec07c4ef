"""The chest-wall side from the anatomy: ``chest_wall_side(values) -> SideEstimate``.

The chest wall is the straight, tall edge of the breast (the frame edge, or the edge of the
film where black canvas lies beyond it); the skin line is the curved edge with the nipple,
and the breast's mass lies towards the chest wall (a half-ellipse has its centroid at 0.42
of its depth). The rule reads these on a *side mask* of the reduced modality values
``(h, w)`` uint16 (:func:`~mammokit.preprocess.breast.reduced_values`, breast bright):

1. everything above the triangle threshold (the tail of the background's peak: fatty
   tissue of processed images is kept), less bright strips along whole frame edges;
2. a majority filter (a pixel is kept when ``fill`` of the square of ``square_fraction``
   of the long side around it is kept): the texture of fat and glands closes up, noise,
   lines and text strokes thinner than about a third of the square go;
3. column runs that are kept on nearly every row of the frame and are narrower than
   ``band_fraction`` of the width (film-edge lines and bands: no breast is that thin and
   that tall) are dropped, then an opening by a horizontal segment of ``line_fraction`` of
   the width (what is left of vertical lines);
4. the largest component (labels and markers are apart from the breast), holes filled.

Cues, each signed (> 0: the chest wall on the right) and within [-1, 1]:

- ``straight``: the share of the breast's rows whose right boundary lies on a near-vertical
  line fitted to it, less the same share on the left;
- ``mass``: the mask's centroid off the centre of its box, as a share of half the box width
  times ``MASS_SCALE`` (the skin side tapers, so the centroid leans to the chest wall);
- ``edge``: the share of rows where the mask touches the right frame edge less the share
  touching the left one (a breast touching the frame on one side only).

The decision is the sign of their weighted sum ``WEIGHTS``; the confidence is its size
against ``CONFIDENT`` (clipped to 1). Measured on the shared real images (docs/benchmarks.md,
``benchmarks/side_rule.py``).
"""

from __future__ import annotations

import attrs
import numpy as np

from mammokit.preprocess.breast import edge_strips, fill_holes, largest_component, thresholds

__all__ = [
    "CONFIDENT",
    "LOW_CONFIDENCE",
    "MASS_SCALE",
    "WEIGHTS",
    "SideEstimate",
    "chest_wall_side",
    "side_cues",
    "side_mask",
    "straight_share",
]

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


def _box_mean(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from scipy.ndimage import uniform_filter

    result: np.ndarray = uniform_filter(mask.astype(np.float32), size, mode="constant")
    return result


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


def chest_wall_side(values: np.ndarray) -> SideEstimate:
    """The chest-wall side of reduced values ``(h, w)`` uint16 (breast bright).

    A tie, or no breast found, counts as left with confidence 0.
    """
    mask = side_mask(values)
    if mask is None:
        return SideEstimate(False, 0.0)
    cues = side_cues(mask)
    score = sum(WEIGHTS[name] * value for name, value in cues.items())
    return SideEstimate(bool(score > 0), float(min(1.0, abs(score) / CONFIDENT)), cues)
