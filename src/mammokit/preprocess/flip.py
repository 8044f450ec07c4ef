"""Which side the breast is on, and mirroring it to the configured side."""

from __future__ import annotations

import numpy as np

__all__ = ["breast_on_right", "mirror"]


def breast_on_right(pixels: np.ndarray, *, edge_fraction: float = 0.1) -> bool:
    """True if the breast of an (H, W) display image (dark background) is on the right.

    Compares the sums of the outer ``edge_fraction`` of the columns on each side (the published
    method, step 2; docs/concepts.md); a tie counts as left.
    """
    width = pixels.shape[1]
    n = max(1, int(width * edge_fraction))
    left = pixels[:, :n].sum(dtype=np.float64)
    right = pixels[:, width - n :].sum(dtype=np.float64)
    return bool(right > left)


def mirror(pixels: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W) mirrored left-right, as a view (no copy)."""
    return pixels[:, ::-1]
