"""Lesion masks through the same geometry as their image.

A lesion mask (CBIS-DDSM's ROI masks, CDD-CESM's segmentations) is drawn on the *source*
image; the model sees the preprocessed one. :func:`lesion_mask` replays the geometry that
:class:`~mammokit.core.images.Preprocessed` records on the mask: the crop
(``crop_box``, source pixels), the mirror that put the breast on the left (the side used,
``laterality``), the padder's canvas, the resize to ``config.size`` and the mirror to the
configured side (``flipped``). The resize averages the mask over each output pixel's area
and keeps the pixels at least half covered (:data:`COVERED`): no label is smeared, and a
lesion keeps its area to within a pixel of its outline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from mammokit.core.errors import ImageReadError
from mammokit.core.images import Preprocessed
from mammokit.preprocess.laterality import mirror

if TYPE_CHECKING:
    from mammokit.preprocess.stages import Stages

__all__ = ["COVERED", "lesion_mask", "read_lesion_mask"]

#: The fraction of an output pixel a lesion must cover for the pixel to be lesion.
COVERED = 0.5


def _read_one(path: Path) -> np.ndarray:
    """(H, W) bool, nonzero pixels of any 8/16-bit greyscale or colour image file."""
    if not path.is_file():
        raise ImageReadError(path, "lesion mask file not found")
    try:
        with Image.open(path) as image:
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ImageReadError(path, f"cannot read the lesion mask: {err}") from err
    return (array.max(axis=2) if array.ndim == 3 else array) > 0


def read_lesion_mask(paths: Sequence[str | Path], shape: tuple[int, int]) -> np.ndarray:
    """The union of the mask files ``paths`` as an (H, W) = ``shape`` bool array (no file:
    all background, a negative image).

    Raises:
        ImageReadError: a file missing or unreadable, or not of the source's ``shape``,
            naming the file.
    """
    union = np.zeros(shape, bool)
    for name in paths:
        path = Path(name)
        mask = _read_one(path)
        if mask.shape != tuple(shape):
            raise ImageReadError(
                path,
                f"the lesion mask is {mask.shape[0]}x{mask.shape[1]} but its image is "
                f"{shape[0]}x{shape[1]}; a mask must be drawn on the full-resolution image",
            )
        union |= mask
    return union


def lesion_mask(stages: Stages, result: Preprocessed, mask: np.ndarray) -> np.ndarray:
    """A source-frame (rows, columns) bool ``mask`` -> ``config.size`` bool, aligned with
    ``result.pixels`` (see the module doc)."""
    box = result.crop_box
    on_right = result.laterality == "R"
    crop = mask[box.y0 : box.y1, box.x0 : box.x1].astype(np.uint8)
    if on_right:
        crop = mirror(crop)
    padded = np.ascontiguousarray(stages.pad(crop, stages.aspect, 0), dtype=np.float32)
    height, width = stages.config.size
    image = Image.fromarray(padded, mode="F").resize((width, height), Image.Resampling.BOX)
    out = np.asarray(image) >= COVERED
    if result.flipped != on_right:  # mirrored to the configured side
        out = out[:, ::-1]
    return np.ascontiguousarray(out)
