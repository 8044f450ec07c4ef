"""Windowing: stored values to display values with a dark background.

``voi_lut`` (the default) follows DICOM PS3.3 C.11.2:

1. the Modality LUT Sequence, or Rescale Slope/Intercept;
2. the window ``window_index`` (default 0) with the VOI LUT Function LINEAR, LINEAR_EXACT
   or SIGMOID, or the VOI LUT Sequence item ``window_index`` when ``use_sequence`` is True
   (the sequence is also used when the file has no window at all);
3. a default window when the file has neither (``default_window``):
   ``"percentile"`` (default) a LINEAR_EXACT window from the 0.1th to the 99.9th percentile
   of the non-padding pixels (after the modality LUT), which ignores a few bright burned-in
   markers; ``"minmax"`` their minimum to maximum; ``"full"`` the whole stored range
   (Bits Stored and Pixel Representation, through the modality LUT), which is what
   ``pydicom.pixels.apply_voi_lut`` leaves unchanged;
4. MONOCHROME1 inverted, so the background is dark;
5. pixels equal to the Pixel Padding Value (or within the Pixel Padding Range Limit),
   compared as stored values, set to 0 (background).

Output: ``dtype="uint16"`` (default) gives display values scaled to 0..65535, whatever
Bits Stored is; ``dtype="uint8"`` gives 0..255. ``WindowedImage.max_value`` is 65535 or 255,
so ``pixels / max_value`` is always in [0, 1] and a uint16 result becomes uint8 with
``(pixels + 128) // 257``.

On 8- and 16-bit integer input every step is computed once per possible stored value
(256 or 65536 entries, float64) and the image goes through that lookup table: no float
copy of the image, no per-pixel ``exp``. 32-bit input uses a table over its distinct values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import attrs
import numpy as np

from mammokit.core.errors import ConfigError, DicomDecodeError, ImageReadError
from mammokit.core.images import DecodedImage, ImageMeta, WindowedImage

__all__ = [
    "DEFAULT_PERCENTILES",
    "MinMax",
    "VoiLut",
    "apply_voi_lut",
    "as_windowed",
    "linear_percentiles",
    "minmax",
    "modality_values",
    "padding_value_mask",
    "stored_histogram",
    "stored_range",
    "stored_value_domain",
]

DEFAULT_PERCENTILES = (0.1, 99.9)
_DTYPES = {"uint8": (np.uint8, 255), "uint16": (np.uint16, 65535)}
_DEFAULT_WINDOWS = ("percentile", "minmax", "full")


def _one_of(*choices: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in choices:
            raise ConfigError(
                f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}"
            )

    return check


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _percentiles(value: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"percentiles must be two numbers, got {value!r}") from err
    if not 0 <= low < high <= 100:
        raise ConfigError(f"percentiles must satisfy 0 <= low < high <= 100, got {value!r}")
    return (low, high)


# --- the lookup-table machinery -------------------------------------------------------


def stored_value_domain(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(values, index)``: every stored value the table covers, and each pixel's entry.

    (H, W) uint8/int8/uint16/int16 -> values (256 or 65536,) int64 and index = a view of
    the pixels as unsigned; other integer dtypes -> their distinct values and an inverse
    index. ``values[index]`` equals ``pixels``.
    """
    if pixels.dtype.kind not in "iub":
        raise TypeError(f"windowing needs integer stored values, got {pixels.dtype}")
    if pixels.dtype.byteorder not in ("=", "|"):
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    if pixels.dtype.kind == "b":
        pixels = pixels.view(np.uint8)
    if pixels.dtype.itemsize <= 2:
        unsigned = np.dtype(f"u{pixels.dtype.itemsize}")
        values = np.arange(1 << (8 * unsigned.itemsize), dtype=unsigned)
        return values.view(pixels.dtype).astype(np.int64), pixels.view(unsigned)
    values, inverse = np.unique(pixels, return_inverse=True)
    return values.astype(np.int64), inverse.reshape(pixels.shape)


def padding_value_mask(meta: ImageMeta, values: np.ndarray) -> np.ndarray:
    """(N,) bool: which stored values are padding (PS3.3 C.7.5.1.1.2)."""
    value, limit = meta.pixel_padding_value, meta.pixel_padding_range_limit
    if value is None:
        return np.zeros(values.shape, dtype=bool)
    if limit is None:
        return cast("np.ndarray", values == value)
    low, high = min(value, limit), max(value, limit)
    return (values >= low) & (values <= high)


def _counts(index: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(index.ravel(), minlength=size)


def _table(meta: ImageMeta, norm: np.ndarray, pad: np.ndarray | None, dtype: str) -> np.ndarray:
    """norm (N,) float in [0, 1] -> (N,) table in ``dtype``, inverted for MONOCHROME1 or a
    Presentation LUT Shape of INVERSE (:attr:`ImageMeta.inverted`), padding 0."""
    out_dtype, out_max = _DTYPES[dtype]
    scaled = np.rint(np.clip(norm, 0.0, 1.0) * out_max)
    if meta.inverted:
        scaled = out_max - scaled
    table: np.ndarray = scaled.astype(out_dtype)
    if pad is not None:
        table[pad] = 0
    return table


def _finish(
    decoded: DecodedImage,
    norm: np.ndarray,
    pad: np.ndarray,
    index: np.ndarray,
    dtype: str,
) -> WindowedImage:
    """norm (N,) float in [0, 1] -> table in ``dtype``, MONOCHROME1 inverted, padding 0."""
    out_max = _DTYPES[dtype][1]
    table = _table(decoded.meta, norm, pad, dtype)
    return WindowedImage(
        pixels=table[index], meta=decoded.meta, max_value=out_max, scale=decoded.scale
    )


def stored_range(meta: ImageMeta) -> tuple[int, int]:
    """The smallest and largest stored value Bits Stored and Pixel Representation allow."""
    if meta.pixel_representation == 1:
        return -(1 << (meta.bits_stored - 1)), (1 << (meta.bits_stored - 1)) - 1
    return 0, (1 << meta.bits_stored) - 1


def modality_values(meta: ImageMeta, values: np.ndarray) -> np.ndarray:
    """Stored values -> modality values (PS3.3 C.11.1): the LUT, or the rescale."""
    if meta.modality_lut is not None:
        (entries, first, _bits), data = meta.modality_lut
        return cast("np.ndarray", data[np.clip(values - first, 0, entries - 1)].astype(np.float64))
    return values * float(meta.rescale_slope) + float(meta.rescale_intercept)


def _modality_range(meta: ImageMeta) -> tuple[float, float]:
    """pydicom's output range of the modality transform (its ``y_min``, ``y_max``)."""
    if meta.modality_lut is not None:
        return 0.0, float((1 << meta.modality_lut[0][2]) - 1)
    low, high = stored_range(meta)
    slope, intercept = float(meta.rescale_slope), float(meta.rescale_intercept)
    return low * slope + intercept, high * slope + intercept


def _linear(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map [low, high] linearly to [0, 1] (LINEAR_EXACT with that window), clipped."""
    if high <= low:
        return (values > low).astype(np.float64)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _window(
    path: str, function: str, center: float, width: float, values: np.ndarray
) -> np.ndarray:
    """PS3.3 C.11.2.1.2 / C.11.2.1.3 on modality values -> (N,) float in [0, 1]."""
    if function in ("LINEAR", "LINEAR_EXACT"):
        if function == "LINEAR":
            if width < 1:
                raise DicomDecodeError(path, f"Window Width {width} < 1 for a LINEAR window")
            center, width = center - 0.5, width - 1
        elif width <= 0:
            raise DicomDecodeError(path, f"Window Width {width} <= 0 for LINEAR_EXACT")
        below = values <= center - width / 2
        above = values > center + width / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            ramp = (values - center) / width + 0.5
        return np.where(below, 0.0, np.where(above, 1.0, ramp))
    if function == "SIGMOID":
        if width <= 0:
            raise DicomDecodeError(path, f"Window Width {width} <= 0 for a SIGMOID window")
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    raise DicomDecodeError(path, f"unsupported VOI LUT Function {function!r}")


def _sequence_lut(path: str, meta: ImageMeta, index: int, values: np.ndarray) -> np.ndarray:
    """The VOI LUT Sequence item ``index`` on modality values -> (N,) float in [0, 1].

    An integer value takes its entry (the first or last beyond the table, PS3.3
    C.11.2.1.1); a value between two integers (a block mean) is interpolated linearly
    between their entries, which is the table's own value at whole numbers.
    """
    if index >= len(meta.voi_lut_sequence):
        raise DicomDecodeError(
            path,
            f"window_index {index} requested but the VOI LUT Sequence has "
            f"{len(meta.voi_lut_sequence)} item(s)",
        )
    (entries, first, bits), data = meta.voi_lut_sequence[index]
    offsets = values - first
    if np.array_equal(offsets, np.trunc(offsets)):
        position = np.clip(offsets, 0, entries - 1).astype(np.int64)
        return cast("np.ndarray", data[position] / float((1 << bits) - 1))
    entry = np.interp(offsets, np.arange(entries, dtype=np.float64), data.astype(np.float64))
    return cast("np.ndarray", entry / float((1 << bits) - 1))


def _weighted_percentiles(
    values: np.ndarray, weights: np.ndarray, percentiles: tuple[float, float]
) -> tuple[float, float]:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    total = cumulative[-1]
    low, high = (
        values[order][
            min(np.searchsorted(cumulative, total * p / 100.0, side="left"), len(order) - 1)
        ]
        for p in percentiles
    )
    return float(low), float(high)


def stored_histogram(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The histogram of (h, w) stored values of at most 16 bits, over their whole domain.

    Returns:
        ``(domain, counts, index)``: every value the dtype can hold ((256,) or (65536,)
        int64), how many pixels have it ((N,) int64) and each pixel's entry ((h, w), a view
        of the pixels as unsigned: ``domain[index]`` equals ``pixels``); None for other
        dtypes (32-bit, float).
    """
    if pixels.dtype.kind not in "iub" or pixels.dtype.itemsize > 2:
        return None
    domain, index = stored_value_domain(pixels)
    counts = np.bincount(index.ravel(), minlength=domain.size)
    return domain, counts, index


def linear_percentiles(
    values: np.ndarray, counts: np.ndarray, percentiles: Sequence[float]
) -> tuple[float, ...]:
    """``np.percentile`` (linear interpolation) of the sample in which ``values[i]`` (N,)
    occurs ``counts[i]`` times (at least one count must be positive)."""
    present = counts > 0
    order = np.argsort(values[present], kind="stable")
    ordered = values[present][order]
    cumulative = np.cumsum(counts[present][order])
    last = int(cumulative[-1]) - 1
    results = []
    for percentile in percentiles:
        position = percentile / 100.0 * last
        rank = int(np.floor(position))
        fraction = position - rank
        low = ordered[np.searchsorted(cumulative, rank, side="right")]
        high = ordered[np.searchsorted(cumulative, min(rank + 1, last), side="right")]
        results.append(float(low + (high - low) * fraction))
    return tuple(results)


# --- the windowing methods ------------------------------------------------------------


@attrs.frozen
class VoiLut:
    """The ``voi_lut`` windowing method (see the module docstring).

    Args:
        window_index: which window (or VOI LUT Sequence item) to use; 0 is the first.
        use_sequence: use the VOI LUT Sequence rather than the window centre/width when
            both are present.
        dtype: "uint16" (display values 0..65535, default) or "uint8" (0..255).
        default_window: "percentile", "minmax" or "full" for files without a window.
        percentiles: the (low, high) percentiles of the "percentile" default window.
        padding: set Pixel Padding Value pixels to 0 (background).

    Call: (H, W) integer stored values -> WindowedImage (H, W) uint16/uint8. It declares
    the capabilities :class:`~mammokit.plugins.protocols.CropWindowing` (:meth:`whole_image_meta`),
    :class:`~mammokit.plugins.protocols.MeanTableWindowing` (:meth:`table_of_means`) and
    :class:`~mammokit.plugins.protocols.PaddingWindowing` (:meth:`padding_range`).
    """

    window_index: int = attrs.field(default=0, validator=_non_negative)
    use_sequence: bool = attrs.field(default=False, converter=bool)
    dtype: str = attrs.field(default="uint16", validator=_one_of(*_DTYPES))
    default_window: str = attrs.field(default="percentile", validator=_one_of(*_DEFAULT_WINDOWS))
    percentiles: tuple[float, float] = attrs.field(
        default=DEFAULT_PERCENTILES, converter=_percentiles
    )
    padding: bool = attrs.field(default=True, converter=bool)

    def __call__(self, decoded: DecodedImage) -> WindowedImage:
        meta, path = decoded.meta, decoded.meta.path
        try:
            values, index = stored_value_domain(decoded.pixels)
        except TypeError as err:
            raise DicomDecodeError(path, str(err)) from err
        pad = padding_value_mask(meta, values) if self.padding else np.zeros(values.shape, bool)
        with np.errstate(over="ignore", invalid="ignore"):
            modality = modality_values(meta, values)
        if not np.isfinite(modality).all():
            raise DicomDecodeError(
                path,
                f"Rescale Slope {meta.rescale_slope:g} / Intercept {meta.rescale_intercept:g} "
                "overflow: the modality values are not finite",
            )
        norm = self._header_window(meta, modality)
        if norm is None:
            low, high = self._default_window(meta, modality, pad, index)
            norm = _linear(modality, low, high)
        return _finish(decoded, norm, pad, index, self.dtype)

    def _header_window(self, meta: ImageMeta, modality: np.ndarray) -> np.ndarray | None:
        """The header's VOI LUT or window on (N,) modality values -> (N,) in [0, 1], or
        None when the file has neither (the default window needs the pixels)."""
        path = meta.path
        has_window = bool(meta.window_centers) and bool(meta.window_widths)
        if meta.voi_lut_sequence and (self.use_sequence or not has_window):
            return _sequence_lut(path, meta, self.window_index, modality)
        if not has_window:
            if self.default_window == "full":
                return _linear(modality, *_modality_range(meta))
            return None
        count = min(len(meta.window_centers), len(meta.window_widths))
        if self.window_index >= count:
            raise DicomDecodeError(
                path,
                f"window_index {self.window_index} requested but the file has {count} window(s)",
            )
        center = meta.window_centers[self.window_index]
        width = meta.window_widths[self.window_index]
        return _window(path, meta.voi_lut_function, center, width, modality)

    def table_of_means(self, meta: ImageMeta, means: np.ndarray) -> np.ndarray | None:
        """The display value of (N,) *mean* stored values (block means, not integers):
        -> (N,) ``dtype`` table, or None when this cannot be done without the pixels.

        A :class:`~mammokit.plugins.protocols.MeanTableWindowing`: what the chain uses to window a
        box-reduced crop instead of the full-resolution crop: the same steps as
        :meth:`__call__` (rescale, the window or VOI LUT Sequence item, SIGMOID included,
        MONOCHROME1 or INVERSE inversion) on the means, padding aside: the chain shows the
        blocks holding Pixel Padding Value itself (:meth:`padding_range`). None (window the
        pixels instead) when the file has a Modality LUT (defined on integers only) or when
        the window must come from the pixels (no window in the header and the ``minmax``
        or ``percentile`` default).
        """
        if not meta.is_dicom or meta.modality_lut is not None:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            modality = modality_values(meta, means)
        if not np.isfinite(modality).all():
            return None  # __call__ on the pixels reports it
        norm = self._header_window(meta, modality)
        return None if norm is None else _table(meta, norm, None, self.dtype)

    def padding_range(self, meta: ImageMeta) -> tuple[int, int] | None:
        """The stored values ``(low, high)`` that :meth:`__call__` sets to 0: the Pixel
        Padding Value (to the Pixel Padding Range Limit), or None (no padding, or
        ``padding`` off). A :class:`~mammokit.plugins.protocols.PaddingWindowing`."""
        value, limit = meta.pixel_padding_value, meta.pixel_padding_range_limit
        if not self.padding or not meta.is_dicom or value is None:
            return None
        if limit is None:
            return value, value
        return min(value, limit), max(value, limit)

    def whole_image_meta(self, decoded: DecodedImage) -> ImageMeta:
        """The header, with the default window of the *whole* image filled in when the file
        has none and ``default_window`` is ``"percentile"`` (a
        :class:`~mammokit.plugins.protocols.CropWindowing`): then a crop windowed with it is
        windowed as the whole image would be.

        The percentiles come from a strided copy of the stored values (every ``step``-th
        row and column, about 1000 px a side) through its histogram (no float copy of the
        pixels), as a LINEAR_EXACT window from the low to the high percentile, which is the
        same mapping as :meth:`__call__`'s default window.
        """
        meta = decoded.meta
        has_window = bool(meta.window_centers) and bool(meta.window_widths)
        if (
            not meta.is_dicom
            or has_window
            or meta.voi_lut_sequence
            or self.default_window != "percentile"
        ):
            return meta
        step = max(1, -(-max(decoded.pixels.shape) // 1024))
        small = decoded.pixels[::step, ::step]
        histogram = stored_histogram(small)
        if histogram is not None:
            domain, counts, _index = histogram
            with np.errstate(over="ignore", invalid="ignore"):
                values = modality_values(meta, domain)
            if self.padding:
                counts[padding_value_mask(meta, domain)] = 0
            if not counts.any():
                return meta
            low, high = linear_percentiles(values, counts, self.percentiles)
        else:
            stored = small.astype(np.int64)
            values = modality_values(meta, stored)
            if self.padding:
                values = values[~padding_value_mask(meta, stored)]
            if values.size == 0:
                return meta
            low, high = (float(v) for v in np.percentile(values, self.percentiles))
        if not high > low:
            return meta
        return attrs.evolve(
            meta,
            window_centers=((low + high) / 2,),
            window_widths=(high - low,),
            voi_lut_function="LINEAR_EXACT",
        )

    def _default_window(
        self, meta: ImageMeta, modality: np.ndarray, pad: np.ndarray, index: np.ndarray
    ) -> tuple[float, float]:
        weights = _counts(index, modality.size)
        weights[pad] = 0
        present = weights > 0
        if not present.any():
            return _modality_range(meta)
        if self.default_window == "minmax":
            return float(modality[present].min()), float(modality[present].max())
        return _weighted_percentiles(modality[present], weights[present], self.percentiles)


@attrs.frozen
class MinMax:
    """The ``minmax`` windowing method: a plain min-max stretch of the stored values.

    The smallest non-padding stored value becomes 0, the largest the top of ``dtype``;
    MONOCHROME1 is inverted and padding set to 0. The modality LUT and the file's windows
    are ignored.

    Args:
        dtype: "uint16" (default) or "uint8".
        padding: set Pixel Padding Value pixels to 0.
    """

    dtype: str = attrs.field(default="uint16", validator=_one_of(*_DTYPES))
    padding: bool = attrs.field(default=True, converter=bool)

    def __call__(self, decoded: DecodedImage) -> WindowedImage:
        try:
            values, index = stored_value_domain(decoded.pixels)
        except TypeError as err:
            raise DicomDecodeError(decoded.meta.path, str(err)) from err
        pad = (
            padding_value_mask(decoded.meta, values)
            if self.padding
            else np.zeros(values.shape, bool)
        )
        weights = _counts(index, values.size)
        weights[pad] = 0
        present = values[weights > 0]
        low, high = (float(present.min()), float(present.max())) if present.size else (0.0, 0.0)
        return _finish(
            decoded, _linear(values.astype(np.float64), low, high), pad, index, self.dtype
        )


def apply_voi_lut(
    decoded: DecodedImage,
    *,
    window_index: int = 0,
    use_sequence: bool = False,
    dtype: str = "uint16",
    default_window: str = "percentile",
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
    padding: bool = True,
) -> WindowedImage:
    """DICOM VOI LUT windowing: (H, W) stored values -> (H, W) uint16 (or uint8) display values.

    The built-in ``voi_lut`` method as a function; see :class:`VoiLut` and the module
    docstring for the options and the exact steps. Ordinary images (``meta.is_dicom``
    False) are already windowed and are returned as they are (see :func:`as_windowed`).

    Raises:
        DicomDecodeError: the header's window cannot be applied (index out of range, width
            out of range, unknown VOI LUT Function), naming the file.
        ConfigError: an invalid option.
    """
    if not decoded.meta.is_dicom:
        return as_windowed(decoded)
    method = VoiLut(
        window_index=window_index,
        use_sequence=use_sequence,
        dtype=dtype,
        default_window=default_window,
        percentiles=percentiles,
        padding=padding,
    )
    return method(decoded)


def minmax(decoded: DecodedImage, *, dtype: str = "uint16", padding: bool = True) -> WindowedImage:
    """The ``minmax`` method as a function; see :class:`MinMax`."""
    return MinMax(dtype=dtype, padding=padding)(decoded)


def as_windowed(decoded: DecodedImage) -> WindowedImage:
    """An ordinary image (PNG/JPEG/TIFF, already display values) as a WindowedImage.

    (H, W) uint8 -> max_value 255; (H, W) uint16 -> max_value 65535; pixels unchanged.

    Raises:
        ImageReadError: the pixels are not uint8 or uint16.
    """
    pixels = decoded.pixels
    if pixels.dtype == np.uint8:
        max_value = 255
    elif pixels.dtype == np.uint16:
        max_value = 65535
    else:
        raise ImageReadError(
            decoded.meta.path, f"an ordinary image must be uint8 or uint16, got {pixels.dtype}"
        )
    return WindowedImage(pixels=pixels, meta=decoded.meta, max_value=max_value, scale=decoded.scale)
