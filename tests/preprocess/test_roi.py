"""ROI extraction: the profile crop, Otsu, the degeneracy checks and the fallback chain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from phantom_helpers import background_cut, dicom, kept, phantom, windowed

from mammokit import Component, ConfigError, CropBox, Pipeline, get_plugin_manager, hookimpl
from mammokit.plugins import get_components
from mammokit.preprocess.roi import (
    OtsuCrop,
    ProfileCrop,
    degenerate_reason,
    frame_width,
    moments,
    profile_box,
    profiles,
)
from mammokit.synthetic import Encoding, Traits


def test_roi_extractors_hook_registers_profile_crop_and_otsu() -> None:
    components = get_components(get_plugin_manager(), "mammokit_roi_extractors")
    assert {"profile_crop", "otsu"} <= set(components)
    assert isinstance(components["profile_crop"].factory(), ProfileCrop)
    assert isinstance(components["otsu"].factory(max_side=64), OtsuCrop)


def test_profile_box_edges_follow_the_published_rule() -> None:
    # 100 x 100: a textured block in rows 10-89 and columns 0-59; no smoothing (kernel 1).
    rng = np.random.default_rng(0)
    image = np.zeros((100, 100), np.uint16)
    image[10:90, :60] = rng.integers(1000, 3000, size=(80, 60))
    assert profile_box(image) == CropBox(10, 0, 90, 60)
    # The chest-wall edge stays at column 0 unless trim_left is asked for.
    image[:, :8] = 0
    assert profile_box(image).x0 == 0
    assert profile_box(image, trim_left=True).x0 == 8


def test_profile_box_right_edge_is_the_first_column_below_threshold_past_the_peak() -> None:
    # Rows 10-89 of an outer product: column j has sum and std proportional to b[j], so
    # vv ~ b[j] ** 2. Columns 70-74 are at 0.16 - 0.24 of the others: vv below 5% of the
    # peak (1.2 ** 2), but above 1%.
    rng = np.random.default_rng(1)
    a = rng.uniform(100, 300, size=80)
    b = np.concatenate([rng.uniform(0.8, 1.2, 70), rng.uniform(0.16, 0.24, 5), np.zeros(25)])
    b[10] = 1.2
    image = np.zeros((100, 100), np.uint16)
    image[10:90] = np.rint(a[:, None] * b[None, :])
    assert profile_box(image) == CropBox(10, 0, 90, 70)
    assert profile_box(image, threshold=0.01).x1 == 75


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("view", ["CC", "MLO"])
@pytest.mark.parametrize("right", [False, True])
def test_default_roi_keeps_the_breast_and_cuts_background(
    seed: int, view: str, right: bool
) -> None:
    ph = phantom(seed=seed, view=view, right=right)
    box = Pipeline().extract_roi(windowed(ph))
    assert kept(ph.breast_mask, box) >= 0.98
    assert background_cut(ph.breast_mask, box) >= 0.5
    # The box is on the breast's side.
    assert (box.x0 == 0) != right


def test_roi_is_mirror_symmetric() -> None:
    left = Pipeline().extract_roi(windowed(phantom(seed=3, right=False)))
    right = Pipeline().extract_roi(windowed(phantom(seed=3, right=True)))
    width = 128
    assert (right.y0, right.y1) == (left.y0, left.y1)
    assert (right.x0, right.x1) == (width - left.x1, width - left.x0)


HARD_CASES = {
    "no_window": Traits(no_window=True),
    "paddle": Traits(bright_band="paddle"),
    "text": Traits(bright_band="text"),
    "partial": Traits(partial=True),
    "film_border": Traits(film_border=True),
}


@pytest.mark.parametrize("trait", sorted(HARD_CASES))
@pytest.mark.parametrize("seed", range(4))
def test_default_roi_keeps_the_whole_breast_on_hard_cases(
    tmp_path: Path, trait: str, seed: int
) -> None:
    traits = HARD_CASES[trait]
    right = seed % 2 == 1
    ph = phantom(seed=seed, view=("CC", "MLO")[seed // 2], right=right, traits=traits)
    encoding = Encoding(
        photometric=("MONOCHROME2", "MONOCHROME1")[seed % 2],
        voi_function=("LINEAR", "SIGMOID")[seed // 2],
        bits_stored=(12, 16)[seed % 2],
        window=not traits.no_window,
    )
    path = dicom(tmp_path / f"{trait}.dcm", ph, encoding, laterality="R" if right else "L")
    out = Pipeline(size=(128, 64)).preprocess(path)
    assert kept(ph.breast_mask, out.crop_box) >= 0.98, out.roi_method
    assert out.roi_method == "breast_mask"


def test_film_border_is_cut_by_the_otsu_fallback() -> None:
    ph = phantom(seed=0, traits=Traits(film_border=True))
    pixels = windowed(ph).pixels
    # The border keeps every column above 5% of the peak: the profile box is the frame.
    assert ProfileCrop()(pixels) is None
    box = OtsuCrop()(pixels)
    assert box is not None
    assert kept(ph.breast_mask, box) >= 0.98
    assert background_cut(ph.breast_mask, box) >= 0.3


def test_frame_width_needs_all_four_edges() -> None:
    mask = np.zeros((40, 30), bool)
    mask[:2], mask[-3:], mask[:, :1], mask[:, -2:] = True, True, True, True
    assert frame_width(mask) == (2, 3, 1, 2)
    mask[:, -2:] = False  # a breast touching three edges is no frame
    mask[2:-3, -2:] = False
    assert frame_width(mask) is None


def test_degenerate_reasons() -> None:
    image = np.zeros((100, 80), np.uint16)
    image[20:80, :50] = 1000
    assert degenerate_reason(image, CropBox(20, 0, 80, 50)) is None
    assert degenerate_reason(image, None) == "empty"
    assert degenerate_reason(image, CropBox(20, 0, 25, 50)) == "tiny"
    assert degenerate_reason(image, CropBox(0, 0, 100, 80)) == "whole frame"
    assert degenerate_reason(image, CropBox(0, 55, 100, 79)) == "empty"
    assert degenerate_reason(np.zeros((10, 10), np.uint8), CropBox(0, 0, 5, 5)) == "empty"


def test_constant_image_falls_back_to_the_whole_frame() -> None:
    pipe = Pipeline()
    pixels = np.full((64, 48), 500, np.uint16)
    assert ProfileCrop()(pixels) is None
    assert OtsuCrop()(pixels) is None
    box, method = pipe.stages.roi_chain(pixels)
    assert (box, method) == (CropBox(0, 0, 64, 48), "full")


def test_degenerate_profile_crop_falls_back_to_otsu() -> None:
    # A breast-like blob in the top rows and a thin bright line in the middle rows: the
    # row peak sought in the middle half lands on the line, giving a tiny box.
    image = np.zeros((200, 120), np.uint16)
    yy, xx = np.mgrid[:200, :120]
    blob = ((yy - 40) / 38.0) ** 2 + (xx / 70.0) ** 2 < 1
    image[blob] = 20000 + (yy[blob] * 37 % 5000).astype(np.uint16)
    image[100:103, :40] = 60000
    assert ProfileCrop()(image) is None
    box, method = Pipeline(roi="profile_crop").stages.roi_chain(image)
    assert method == "otsu"
    assert kept(blob, box) >= 0.98


def test_fallback_option_controls_the_chain() -> None:
    pixels = np.full((64, 48), 500, np.uint16)
    pipe = Pipeline(roi="profile_crop", roi_options={"fallback": []})
    assert [name for name, _ in pipe.stages.roi_chain.steps] == ["profile_crop"]
    assert pipe.stages.roi_chain(pixels)[1] == "full"
    assert [name for name, _ in Pipeline().stages.roi_chain.steps] == ["breast_mask", "otsu"]
    with pytest.raises(ConfigError, match="Unknown ROI extractor 'nope'.*otsu"):
        Pipeline(roi_options={"fallback": ["nope"]})


@pytest.mark.parametrize(
    "options",
    [{"threshold": 2}, {"row_search": (0.8, 0.2)}, {"relative_to": "median"}, {"margin": -1}],
)
def test_bad_profile_options_are_config_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="invalid options for ROI extractor 'profile_crop'"):
        Pipeline(roi="profile_crop", roi_options=options)


class FixedBox:
    """An inline plugin: an extractor that always returns the same box (or None)."""

    def __init__(self, box: CropBox | None) -> None:
        self.box = box

    @hookimpl
    def mammokit_roi_extractors(self) -> list[Component]:
        return [Component("fixed", "A fixed box", lambda **options: lambda pixels: self.box)]


def test_third_party_extractor_is_used_and_clipped() -> None:
    pm = get_plugin_manager(plugins=[FixedBox(CropBox(5, 0, 500, 30))], load_entry_points=False)
    pipe = Pipeline(roi="fixed", manager=pm)
    ph = phantom(seed=1)
    assert pipe.extract_roi(windowed(ph)) == CropBox(5, 0, 160, 30)


def test_third_party_extractor_returning_none_gets_the_whole_frame() -> None:
    pm = get_plugin_manager(plugins=[FixedBox(None)], load_entry_points=False)
    pipe = Pipeline(roi="fixed", manager=pm)
    assert pipe.extract_roi(windowed(phantom(seed=1))) == CropBox(0, 0, 160, 128)


def test_roi_margin_widens_the_box_within_the_frame() -> None:
    w = windowed(phantom(seed=2))
    plain = Pipeline().extract_roi(w)
    wide = Pipeline(roi_margin=0.1).extract_roi(w)
    assert wide.y0 <= plain.y0 and wide.y1 >= plain.y1 and wide.x1 > plain.x1
    assert wide.x0 == 0 and wide.y1 <= 160 and wide.x1 <= 128


@pytest.mark.parametrize("shape", [(1100, 37), (3, 5), (513, 1)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_moments_match_numpy(shape: tuple[int, int], dtype: type) -> None:
    """Per column and per row, in blocks of rows: sums exact; standard deviations exact for
    8-bit values, within float32 rounding of the squares for 16-bit ones."""
    top = np.iinfo(dtype).max
    pixels = np.random.default_rng(1).integers(0, top, shape, endpoint=True, dtype=dtype)
    # float32 squares: exact below 2**24; else the mean square is off by ~2**-24 of top**2,
    # so a near-zero standard deviation by up to ~2**-12 * top (16 for 16-bit values).
    atol = 1e-9 if dtype == np.uint8 else 2.0**-11 * top
    for axis in (0, 1):
        sums, stds = moments(pixels, axis=axis)
        np.testing.assert_array_equal(sums, pixels.sum(axis=axis, dtype=np.float64))
        want = pixels.astype(np.float64).std(axis=axis)
        np.testing.assert_allclose(stds, want, rtol=0, atol=atol)
    combined = profiles(pixels)
    for got, want in zip(
        combined, (*moments(pixels, axis=0), *moments(pixels, axis=1)), strict=True
    ):
        np.testing.assert_array_equal(got, want)
