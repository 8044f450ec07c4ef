"""Every box transform between the coordinate frames of one image's preprocessing.

The frames, from the file to the model input:

- *source*: the full-resolution stored image (``meta.rows`` x ``meta.columns``), what
  :attr:`Preprocessed.crop_box <mammokit.core.images.Preprocessed>` is given in;
- *decoded*: what the decoder returned, 1/``scale`` of the source (a JPEG 2000 stream may
  be decoded at 1/2, 1/4 or 1/8);
- *reduced*: a strided copy of the decoded frame, every ``step``-th row and column (where a
  :class:`~mammokit.plugins.protocols.ValuesRoiExtractor` looks for the breast);
- *mirrored*: any of these flipped left-right so that the breast is on the left (where the
  ROI extractors work and the crop is padded);
- *padded*: the crop placed on the canvas of the target aspect (:func:`padded_shape`,
  :func:`crop_offset`).

Boxes are :class:`~mammokit.core.images.CropBox` (half-open, in pixels); shapes are
``(rows, columns)``. Nothing here touches pixels.
"""

from __future__ import annotations

import math

from mammokit.core.images import CropBox

__all__ = [
    "box_at_scale",
    "box_with_margin",
    "clipped_box",
    "crop_offset",
    "first_min_shape",
    "mirror_output",
    "needed_min_shape",
    "padded_shape",
    "to_source",
    "unmirror",
    "view_to_frame",
]


def clipped_box(box: CropBox | None, height: int, width: int) -> CropBox | None:
    """``box`` clipped to a ``height`` x ``width`` frame, or None if nothing is left."""
    if box is None:
        return None
    y0, x0 = max(0, box.y0), max(0, box.x0)
    y1, x1 = min(height, box.y1), min(width, box.x1)
    if y0 >= y1 or x0 >= x1:
        return None
    if (y0, x0, y1, x1) == (box.y0, box.x0, box.y1, box.x1):
        return box  # already inside: the same box, no copy
    return CropBox(y0, x0, y1, x1)


def box_with_margin(box: CropBox, margin: float, height: int, width: int) -> CropBox:
    """``box`` widened by ``margin`` of its size on every side, clipped to the frame."""
    if margin <= 0:
        return box
    dy, dx = round((box.y1 - box.y0) * margin), round((box.x1 - box.x0) * margin)
    return CropBox(
        max(0, box.y0 - dy), max(0, box.x0 - dx), min(height, box.y1 + dy), min(width, box.x1 + dx)
    )


def unmirror(box: CropBox, width: int) -> CropBox:
    """A box in a left-right mirrored frame of ``width`` columns, in the unmirrored frame
    (the same transform takes it back)."""
    return CropBox(box.y0, width - box.x1, box.y1, width - box.x0)


def to_source(box: CropBox, scale: int, source_shape: tuple[int, int]) -> CropBox:
    """A box at 1/``scale`` resolution in the ``scale`` times larger frame of
    ``source_shape``, clipped to it (reduced -> decoded, decoded -> source)."""
    return _scaled(box.y0, box.x0, box.y1, box.x1, scale, source_shape)


def view_to_frame(
    box: CropBox, view_width: int, on_right: bool, step: int, frame_shape: tuple[int, int]
) -> CropBox:
    """A box found in the breast-left view (``view_width`` columns, mirrored when
    ``on_right``) of a 1/``step`` copy, in the ``frame_shape`` frame it was copied from:
    :func:`unmirror` then :func:`to_source` in one step (mirrored reduced -> decoded)."""
    x0, x1 = (view_width - box.x1, view_width - box.x0) if on_right else (box.x0, box.x1)
    return _scaled(box.y0, x0, box.y1, x1, step, frame_shape)


def _scaled(y0: int, x0: int, y1: int, x1: int, scale: int, shape: tuple[int, int]) -> CropBox:
    rows, cols = shape
    return CropBox(
        min(y0 * scale, rows - 1),
        min(x0 * scale, cols - 1),
        min(y1 * scale, rows),
        min(x1 * scale, cols),
    )


def box_at_scale(box: CropBox, scale: int, shape: tuple[int, int]) -> CropBox:
    """A full-resolution box at 1/``scale`` resolution (rounded outwards), clipped to
    ``shape`` (source -> decoded)."""
    rows, cols = shape
    return CropBox(
        min(box.y0 // scale, rows - 1),
        min(box.x0 // scale, cols - 1),
        min(-(-box.y1 // scale), rows),
        min(-(-box.x1 // scale), cols),
    )


def mirror_output(on_right: bool, flip: str) -> bool:
    """Whether the breast-left output must be mirrored to put the breast on the configured
    side (``flip``: "left", "right" or "none", which keeps the source's side)."""
    return flip == "right" or (flip == "none" and on_right)


def padded_shape(height: int, width: int, aspect: float) -> tuple[int, int]:
    """The smallest (H', W') >= (height, width) with H'/W' closest to ``aspect``."""
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    if height < width * aspect:
        return max(height, round(width * aspect)), width
    return height, max(width, round(height / aspect))


def crop_offset(padding_at: str, extra: int) -> int:
    """Where the crop starts on one axis of the padded canvas when ``extra`` pixels of
    padding go at ``padding_at`` ("start", "center" or "end")."""
    return {"start": extra, "center": extra // 2, "end": 0}[padding_at]


def first_min_shape(size: tuple[int, int], aspect: float) -> tuple[int, int]:
    """``min_shape`` for the first decode: the output ``size`` as a frame of ``aspect``.

    The padded crop is at most the frame (when the breast fills it), so no smaller frame
    can be enough; whether this one is enough is checked once the box is known.
    """
    height, width = size
    need = max(height, math.ceil(width * aspect))
    return need, max(width, math.ceil(need / aspect))


def needed_min_shape(
    box: CropBox, frame: tuple[int, int], size: tuple[int, int], aspect: float
) -> tuple[int, int] | None:
    """None if ``box`` (in a ``frame``-shaped image) padded to ``aspect`` is at least
    ``size``; otherwise the frame shape at which it would be (for a second decode)."""
    padded_h, padded_w = padded_shape(box.y1 - box.y0, box.x1 - box.x0, aspect)
    factor = max(size[0] / padded_h, size[1] / padded_w)
    if factor <= 1:
        return None
    return math.ceil(frame[0] * factor), math.ceil(frame[1] * factor)
