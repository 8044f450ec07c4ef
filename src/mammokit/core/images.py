"""The records that flow between the image stages.

Arrays keep the dtype they arrive in: stored values are uint16/int16 (or uint8), display
values are uint8 or uint16; nothing here is float64.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

__all__ = ["CropBox", "DecodedImage", "ImageMeta", "Preprocessed", "WindowedImage"]


def _tuple_of_floats(value: Any) -> tuple[float, ...]:
    if value is None:
        return ()
    if isinstance(value, int | float | str):
        return (float(value),)
    return tuple(float(v) for v in value)


@attrs.frozen
class ImageMeta:
    """What later stages need from the DICOM header (or from an ordinary image file).

    Attributes:
        path: the source file.
        patient_id, image_id: the ids, as strings ("" when unknown).
        laterality: "L", "R" or "" (unknown).
        view: e.g. "CC", "MLO", or "".
        photometric: "MONOCHROME1" or "MONOCHROME2" ("MONOCHROME2" for ordinary images).
        bits_stored, bits_allocated: from the header (8 or 16 for ordinary images).
        pixel_representation: 0 unsigned, 1 signed.
        rescale_slope, rescale_intercept: the modality rescale (1, 0 when absent).
        window_centers, window_widths: every window in the header, in order.
        voi_lut_function: "LINEAR", "LINEAR_EXACT" or "SIGMOID".
        voi_lut_sequence: the VOI LUT Sequence items as (descriptor, lut array) pairs.
        modality_lut: the Modality LUT Sequence as (descriptor, lut array), or None.
        pixel_padding_value: the Pixel Padding Value, or None.
        pixel_padding_range_limit: the Pixel Padding Range Limit, or None.
        transfer_syntax: the transfer syntax UID ("" for ordinary images).
        rows, columns: the full-resolution size in the header.
        is_dicom: False for PNG/JPEG/TIFF input, which is treated as already windowed.
        presentation_intent: PresentationIntentType, "FOR PRESENTATION" or "FOR PROCESSING"
            (raw detector values), "" when absent.
        presentation_lut_shape: Presentation LUT Shape, "IDENTITY" or "INVERSE", "" when
            absent.
        inverted: derived, not given: whether the display inverts the stored values.
    """

    path: str = ""
    patient_id: str = ""
    image_id: str = ""
    laterality: str = ""
    view: str = ""
    photometric: str = "MONOCHROME2"
    bits_stored: int = 16
    bits_allocated: int = 16
    pixel_representation: int = 0
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    window_centers: tuple[float, ...] = attrs.field(default=(), converter=_tuple_of_floats)
    window_widths: tuple[float, ...] = attrs.field(default=(), converter=_tuple_of_floats)
    voi_lut_function: str = "LINEAR"
    voi_lut_sequence: tuple[tuple[tuple[int, int, int], np.ndarray], ...] = attrs.field(
        default=(), eq=False
    )
    modality_lut: tuple[tuple[int, int, int], np.ndarray] | None = attrs.field(
        default=None, eq=False
    )
    pixel_padding_value: int | None = None
    pixel_padding_range_limit: int | None = None
    transfer_syntax: str = ""
    rows: int = 0
    columns: int = 0
    is_dicom: bool = True
    presentation_intent: str = ""
    presentation_lut_shape: str = ""

    #: True when the display inverts the stored values: MONOCHROME1 (the lowest value is
    #: white), or a Presentation LUT Shape of INVERSE (which a conformant MONOCHROME1 file
    #: carries too: the inversion is applied once). Derived from the two fields when the
    #: record is made (``attrs.evolve`` derives it again).
    inverted: bool = attrs.field(init=False, eq=False, repr=False)

    @inverted.default
    def _inverted(self) -> bool:
        return self.photometric == "MONOCHROME1" or self.presentation_lut_shape == "INVERSE"


@attrs.frozen
class DecodedImage:
    """Stored pixel values and the header.

    Attributes:
        pixels: (H, W) stored values in the dtype pydicom gives (uint8/uint16/int16...).
            H, W may be smaller than ``meta.rows, meta.columns`` when decoded at reduced
            resolution.
        meta: the header.
        decoder: the name of the decoder that produced the pixels.
        scale: full-resolution size divided by decoded size (1, 2, 4 or 8).
    """

    pixels: np.ndarray = attrs.field(eq=False)
    meta: ImageMeta
    decoder: str = ""
    scale: int = 1


@attrs.frozen
class WindowedImage:
    """Display values with a dark background.

    Attributes:
        pixels: (H, W) uint8 or uint16; 0 is black (MONOCHROME1 already inverted).
        meta: the header of the source.
        max_value: the largest display value (255 or 65535, or 2**bits_stored - 1).
        scale: as in :class:`DecodedImage`.
    """

    pixels: np.ndarray = attrs.field(eq=False)
    meta: ImageMeta
    max_value: int
    scale: int = 1


@attrs.frozen
class CropBox:
    """A half-open box ``[y0, y1) x [x0, x1)`` in some image's pixel coordinates."""

    y0: int
    x0: int
    y1: int
    x1: int

    def __attrs_post_init__(self) -> None:
        if not (0 <= self.y0 < self.y1 and 0 <= self.x0 < self.x1):
            raise ValueError(f"degenerate crop box {self!r}")

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0


@attrs.frozen
class Preprocessed:
    """Model input made from one image.

    Attributes:
        pixels: (H, W) uint8 or uint16 at the configured size.
        meta: the header of the source.
        crop_box: the crop in full-resolution source pixel coordinates (before the flip).
        flipped: True if the image was mirrored left-right.
        source_shape: the full-resolution (rows, columns) of the source.
        roi_method: which ROI path produced the box ("breast_mask", "profile_crop",
            "otsu", "full").
        decoder: the decoder that was used.
        laterality: "L" or "R", the side the chest wall is on in the source ("" if the
            pipeline did not decide one).
        laterality_source: "header", "table" or "pixels": what decided ``laterality``
            ("pixels (low confidence)" when the pixels decided with a low confidence).
        laterality_conflict: "" when the header, the table and the pixels agree, else the
            sources that disagree with the one used (e.g. "pixels R").
        side_confidence: the pixel side rule's confidence in [0, 1], whichever source
            decided; None when the rule gives none (display-value ROI extractors).
        mask: with ``PreprocessConfig.output_mask``, the breast as an (H, W) bool array
            aligned with ``pixels``; None otherwise (or when no mask was found).
    """

    pixels: np.ndarray = attrs.field(eq=False)
    meta: ImageMeta
    crop_box: CropBox
    flipped: bool
    source_shape: tuple[int, int]
    roi_method: str = ""
    decoder: str = ""
    laterality: str = ""
    laterality_source: str = ""
    laterality_conflict: str = ""
    mask: np.ndarray | None = attrs.field(default=None, eq=False)
    side_confidence: float | None = None
