"""The voi_lut and minmax windowing methods."""

from __future__ import annotations

import numpy as np
import pytest

import mammokit
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.preprocess.windowing import MinMax, VoiLut, apply_voi_lut, minmax

RAMP12 = np.arange(4096, dtype=np.uint16).reshape(64, 64)


def _decoded(pixels: np.ndarray = RAMP12, **meta: object) -> DecodedImage:
    fields: dict[str, object] = {
        "bits_stored": 12,
        "rows": pixels.shape[0],
        "columns": pixels.shape[1],
        "path": "x.dcm",
    }
    fields.update(meta)
    return DecodedImage(pixels=pixels, meta=ImageMeta(**fields))  # type: ignore[arg-type]


def _expected_linear(x: np.ndarray, c: float, w: float) -> np.ndarray:
    c, w = c - 0.5, w - 1
    y = np.where(x <= c - w / 2, 0.0, np.where(x > c + w / 2, 1.0, (x - c) / w + 0.5))
    return y


def test_registered_and_resolvable() -> None:
    components = get_components(
        get_plugin_manager(load_entry_points=False), "mammokit_windowing_methods"
    )
    assert {"voi_lut", "minmax"} <= set(components)
    assert isinstance(components["voi_lut"].factory(window_index=1), VoiLut)
    with pytest.raises(TypeError):
        components["voi_lut"].factory(windw_index=1)


def test_linear_window_matches_ps3_3_formula() -> None:
    out = apply_voi_lut(_decoded(window_centers=[1000], window_widths=[801]))
    assert out.pixels.dtype == np.uint16 and out.max_value == 65535
    expected = _expected_linear(RAMP12.astype(float), 1000, 801) * 65535
    assert np.abs(out.pixels - expected).max() <= 0.5
    assert out.pixels[RAMP12 <= 599].max() == 0 and out.pixels[RAMP12 >= 1400].min() == 65535


def test_linear_exact_sigmoid_and_window_index() -> None:
    meta = {"window_centers": [1000, 3000], "window_widths": [800, 400]}
    x = RAMP12.astype(float)
    exact = apply_voi_lut(_decoded(voi_lut_function="LINEAR_EXACT", **meta), window_index=1)
    expected = np.clip((x - 3000) / 400 + 0.5, 0, 1) * 65535
    assert np.abs(exact.pixels - expected).max() <= 0.5
    sigmoid = apply_voi_lut(_decoded(voi_lut_function="SIGMOID", **meta), dtype="uint8")
    expected = 255 / (1 + np.exp(-4 * (x - 1000) / 800))
    assert sigmoid.pixels.dtype == np.uint8 and sigmoid.max_value == 255
    assert np.abs(sigmoid.pixels - expected).max() <= 0.5


def test_rescale_applies_before_the_window() -> None:
    out = apply_voi_lut(
        _decoded(
            rescale_slope=2.0, rescale_intercept=-1000.0, window_centers=[0], window_widths=[2001]
        )
    )
    modality = RAMP12 * 2.0 - 1000
    expected = _expected_linear(modality, 0, 2001) * 65535
    assert np.abs(out.pixels - expected).max() <= 0.5


def test_monochrome1_is_inverted_and_padding_is_background() -> None:
    pixels = RAMP12.copy()
    pixels[:4] = 4095  # padding, bright in MONOCHROME1 terms
    decoded = _decoded(
        pixels,
        photometric="MONOCHROME1",
        window_centers=[2048],
        window_widths=[4096],
        pixel_padding_value=4095,
    )
    out = apply_voi_lut(decoded)
    assert (out.pixels[:4] == 0).all()
    # the darkest stored value is the brightest display value after inversion
    assert out.pixels[4:].max() == out.pixels[pixels == pixels[4:].min()][0]
    unpadded = apply_voi_lut(decoded, padding=False)
    assert (unpadded.pixels[:4] == 0).all()  # 4095 inverts to 0 anyway
    ranged = _decoded(
        RAMP12,
        window_centers=[2048],
        window_widths=[4096],
        pixel_padding_value=0,
        pixel_padding_range_limit=99,
    )
    out = apply_voi_lut(ranged)
    assert (out.pixels[RAMP12 < 100] == 0).all() and (out.pixels[RAMP12 >= 100] > 0).all()


def test_voi_lut_sequence_when_chosen_or_when_no_window() -> None:
    lut = np.arange(1000, dtype=np.uint16) * 4  # 1000 entries, 12-bit output
    sequence = (((1000, 500, 12), lut),)
    with_both = _decoded(window_centers=[2048], window_widths=[4096], voi_lut_sequence=sequence)
    window = apply_voi_lut(with_both)
    table = apply_voi_lut(with_both, use_sequence=True)
    assert not np.array_equal(window.pixels, table.pixels)
    x = RAMP12.astype(int)
    expected = lut[np.clip(x - 500, 0, 999)] / 4095 * 65535
    assert np.abs(table.pixels - expected).max() <= 0.5
    only_sequence = apply_voi_lut(_decoded(voi_lut_sequence=sequence))
    np.testing.assert_array_equal(only_sequence.pixels, table.pixels)


def test_default_window_ignores_a_few_bright_marker_pixels() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(100, 1100, size=(200, 200), dtype=np.uint16)
    pixels[:3, :3] = 4095  # a burned-in marker, 0.02% of the image
    percentile = apply_voi_lut(_decoded(pixels))
    full_range = apply_voi_lut(_decoded(pixels), default_window="minmax")
    tissue = percentile.pixels[3:, 3:]
    assert tissue.max() == 65535 and tissue.min() == 0  # the tissue range fills the output
    assert full_range.pixels[3:, 3:].max() < 20000  # min/max is dominated by the marker
    full = apply_voi_lut(_decoded(pixels), default_window="full")
    np.testing.assert_allclose(full.pixels, pixels / 4095 * 65535, atol=0.5)


def test_signed_pixels_use_the_whole_table() -> None:
    pixels = np.arange(-2048, 2048, dtype=np.int16).reshape(64, 64)
    out = apply_voi_lut(
        _decoded(pixels, pixel_representation=1, window_centers=[0], window_widths=[4096])
    )
    expected = _expected_linear(pixels.astype(float), 0, 4096) * 65535
    assert np.abs(out.pixels - expected).max() <= 0.5


def test_32_bit_pixels_use_a_table_over_their_values() -> None:
    pixels = (np.arange(64 * 64, dtype=np.uint32) * 1000).reshape(64, 64)
    out = apply_voi_lut(
        _decoded(
            pixels,
            bits_stored=32,
            bits_allocated=32,
            window_centers=[2_000_000],
            window_widths=[4_000_000],
        )
    )
    expected = _expected_linear(pixels.astype(float), 2_000_000, 4_000_000) * 65535
    assert np.abs(out.pixels - expected).max() <= 0.5


def test_bad_window_requests_are_named_errors() -> None:
    decoded = _decoded(window_centers=[100], window_widths=[0.5])
    with pytest.raises(mammokit.DicomDecodeError, match=r"x\.dcm: Window Width 0.5 < 1"):
        apply_voi_lut(decoded)
    with pytest.raises(mammokit.DicomDecodeError, match="window_index 3 requested"):
        apply_voi_lut(_decoded(window_centers=[1], window_widths=[9]), window_index=3)
    with pytest.raises(mammokit.DicomDecodeError, match="unsupported VOI LUT Function 'CUBIC'"):
        apply_voi_lut(_decoded(window_centers=[1], window_widths=[9], voi_lut_function="CUBIC"))
    with pytest.raises(mammokit.ConfigError, match="dtype must be one of"):
        apply_voi_lut(decoded, dtype="float32")
    with pytest.raises(mammokit.ConfigError, match="percentiles"):
        VoiLut(percentiles=(50, 10))


def test_minmax_stretches_the_stored_range() -> None:
    pixels = (RAMP12 // 4 + 100).astype(np.uint16)
    out = minmax(_decoded(pixels, window_centers=[5], window_widths=[2]))
    assert out.pixels.min() == 0 and out.pixels.max() == 65535
    np.testing.assert_allclose(
        out.pixels, (pixels - 100.0) / (pixels.max() - 100) * 65535, atol=0.5
    )
    inverted = MinMax(dtype="uint8")(_decoded(pixels, photometric="MONOCHROME1"))
    assert inverted.pixels[pixels == pixels.max()].max() == 0
    assert inverted.pixels[pixels == 100].min() == 255


def test_output_keeps_the_decoded_scale() -> None:
    decoded = DecodedImage(
        pixels=RAMP12,
        meta=ImageMeta(bits_stored=12, rows=256, columns=256),
        decoder="j2k_reduced",
        scale=4,
    )
    assert apply_voi_lut(decoded).scale == 4
