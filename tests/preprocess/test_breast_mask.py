"""The default ROI extractor ``breast_mask`` on phantoms with the old method's failure modes,
the side from the header, the table and the mask, the optional mask output, and windowing
only the kept region."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pytest
from phantom_helpers import dicom, kept
from PIL import Image
from skimage.metrics import structural_similarity

from mammokit import CropBox, Pipeline
from mammokit.core.images import DecodedImage, ImageMeta
from mammokit.data import read_index
from mammokit.preprocess.breast import (
    BreastMask,
    breast_mask,
    chest_wall_on_right,
    edge_strips,
    fill_holes,
    mask_box,
    reduced_values,
    thresholds,
)
from mammokit.preprocess.laterality import breast_on_right, choose_side, mirror
from mammokit.preprocess.resize import block_mean, block_sum, box_reduce, resize
from mammokit.preprocess.windowing import linear_percentiles
from mammokit.synthetic import Encoding, Phantom, Traits, make_phantom

#: The ways the published profile crop fails on real film and digital mammograms.
FAILURE_MODES = {
    "faint_skin": Traits(faint_skin=True),
    "canvas": Traits(canvas=0.15),
    "labels": Traits(labels=True),
    "paddle": Traits(bright_band="paddle"),
    "edge_strip": Traits(edge_strip=True),
    "film_border": Traits(film_border=True),
    "all": Traits(faint_skin=True, canvas=0.1, labels=True, edge_strip=True, film_border=True),
}
SHAPE = (640, 512)


def _case(tmp_path: Path, mode: str, seed: int, laterality: str = "") -> tuple[Phantom, Path]:
    right = seed % 2 == 1
    ph = make_phantom(
        SHAPE,
        view=("CC", "MLO")[seed % 3 == 2],
        breast_on_right=right,
        traits=FAILURE_MODES[mode],
        seed=seed,
    )
    encoding = Encoding(
        photometric=("MONOCHROME2", "MONOCHROME1")[seed % 2],
        voi_function=("LINEAR", "SIGMOID")[seed // 3],
        window=seed != 4,
    )
    return ph, dicom(tmp_path / f"{mode}{seed}.dcm", ph, encoding, laterality=laterality)


def _area_ratio(box: CropBox, truth: np.ndarray) -> float:
    reference = mask_box(truth)
    assert reference is not None
    return box.height * box.width / (reference.height * reference.width)


@pytest.mark.parametrize("mode", sorted(FAILURE_MODES))
def test_default_box_keeps_the_breast_tightly_where_the_profile_crop_fails(
    tmp_path: Path, mode: str
) -> None:
    new = Pipeline(size=(256, 128))
    old = Pipeline(size=(256, 128), roi="profile_crop")
    old_failures = 0
    for seed in range(6):
        ph, path = _case(tmp_path, mode, seed)  # no laterality in the header: pixels decide
        out = new.preprocess(path)
        assert out.roi_method == "breast_mask"
        assert kept(ph.breast_mask, out.crop_box) >= 0.995, (seed, out.crop_box)
        assert _area_ratio(out.crop_box, ph.breast_mask) <= 1.2, (seed, out.crop_box)
        assert out.laterality == ("R" if ph.breast_on_right else "L")
        assert out.laterality_source == "pixels"
        box = old.preprocess(path).crop_box
        if kept(ph.breast_mask, box) < 0.995 or _area_ratio(box, ph.breast_mask) > 1.2:
            old_failures += 1
    assert old_failures >= 1, f"the {mode} phantoms do not fail the published crop"


def _mlo_with_a_fatty_tail(height: int = 400, width: int = 260) -> tuple[np.ndarray, np.ndarray]:
    """An MLO-like breast whose dense tissue is low and whose fatty upper part (the axillary
    tail, above the Li threshold but below Otsu's) runs to the top of the frame, more than
    a tenth of the frame from the dense core: (values (h, w) uint16, breast (h, w) bool)."""
    rows, cols = np.mgrid[0:height, 0:width]
    breast = (cols / (0.75 * width)) ** 2 + ((rows - 0.62 * height) / (0.62 * height)) ** 2 < 1
    values = np.where(breast, 18000, 0).astype(np.float64)  # fat: above Li, below Otsu
    dense = ((cols - 0.3 * width) / (0.2 * width)) ** 2 + (
        (rows - 0.7 * height) / (0.18 * height)
    ) ** 2 < 1
    values[dense & breast] = 60000
    values += np.random.default_rng(0).normal(0, 300, values.shape) * breast
    return np.clip(values, 0, 65535).astype(np.uint16), breast


def test_the_fatty_upper_part_of_an_mlo_view_is_kept(tmp_path: Path) -> None:
    # The Li tissue was once kept only within 8.5% of the Otsu core: the upper third of
    # CDD-CESM MLO views (fat, the axillary tail) was cut, 11% of the breast on average.
    values, breast = _mlo_with_a_fatty_tail()
    mask = breast_mask(values)
    assert mask is not None and kept(breast, mask_box(mask)) >= 0.995
    path = tmp_path / "mlo.png"
    Image.fromarray(values).save(path)
    out = Pipeline(size=(128, 64)).preprocess(path, laterality="L")
    assert kept(breast, out.crop_box) >= 0.995, out.crop_box


def test_the_shared_mlo_views_keep_their_upper_part() -> None:
    data = _shared_cesm()
    if data is None:
        pytest.skip("no ../shared/data/real-labelled/cdd-cesm-512 here")
    pipe = Pipeline(size=(128, 64))
    lost = []
    for path in sorted(data.glob("*_DM_MLO*"))[::3]:
        pixels = np.asarray(Image.open(path).convert("L"))
        tissue = pixels > 0.04 * int(pixels.max())
        box = pipe.preprocess(path, laterality=path.name.split("_")[1]).crop_box
        if kept(tissue, box) < 0.98:
            lost.append((path.name, round(kept(tissue, box), 3)))
    assert not lost, lost


def _shared_cesm() -> Path | None:
    for root in (Path(__file__).parents[3] / "shared", Path("/work/shared")):
        folder = root / "data" / "real-labelled" / "cdd-cesm-512" / "images"
        if folder.is_dir():
            return folder
    return None


def test_the_nipple_and_skin_line_are_kept(tmp_path: Path) -> None:
    ph, path = _case(tmp_path, "faint_skin", 0)
    # The faint rim: breast pixels within 0.06 of the background (display values).
    rim = ph.breast_mask & (ph.image < 0.08)
    assert rim.sum() > 1000
    box = Pipeline(size=(256, 128)).preprocess(path).crop_box
    assert kept(rim, box) >= 0.98
    # The nipple: the breast's last 3% of columns towards the tip.
    cols = np.flatnonzero(ph.breast_mask.any(axis=0))
    nipple = ph.breast_mask.copy()
    nipple[:, : cols[-1] - round(0.03 * len(cols))] = False
    assert nipple.sum() > 50
    assert kept(nipple, box) >= 0.85  # all but the last pixel or two of the tip


def test_edge_strips_are_found_on_whole_bright_edges_only() -> None:
    values = np.zeros((100, 80), np.uint16)
    values[:, -6:] = 65000  # a bright strip down the right edge
    values[20:80, :30] = 40000  # a breast on the chest-wall edge
    strips = edge_strips(values)
    assert strips[:, -6:].all() and not strips[:, :-6].any()
    values[:3] = 65000  # and a paddle edge across the top
    assert edge_strips(values)[:3].all()


def test_a_flat_border_strip_a_little_darker_than_the_tissue_is_a_strip() -> None:
    # A scanned film's unexposed border at 86% of the densest tissue, flat, across the top:
    # below the 90% rule, but flat. Without it the strip was the breast mask's largest
    # component and the whole frame was kept (a framed CDD-CESM image, docs/benchmarks.md).
    rng = np.random.default_rng(0)
    values = rng.normal(3000, 800, (200, 160)).clip(0, 65535).astype(np.uint16)
    breast = np.hypot(*np.indices((200, 160)) - np.array([100, 0])[:, None, None]) < 90
    tissue = rng.uniform(15000, 65535, (200, 160))  # textured, up to the maximum
    values[breast] = tissue[breast].astype(np.uint16)
    strips = edge_strips(values)
    assert not strips.any()  # the textured breast rows are no strip, nor its chest wall
    values[:8] = 56400  # flat, 0.86 of the maximum
    strips = edge_strips(values)
    assert strips[:8].all() and not strips[8:].any()
    values[:8] += rng.integers(0, 1200, (8, 160)).astype(np.uint16)  # a little grain
    assert edge_strips(values)[:8].all()


def test_a_flat_label_touching_the_breast_stays_out_of_the_mask() -> None:
    # A scanned film's label block (flat, bright, with dark text strokes) drawn against the
    # breast's skin line: the fat under it is above Li, so the label joined the breast
    # through the connected tissue and the box took it in (framed images, docs/benchmarks.md).
    rng = np.random.default_rng(3)
    height, width = 400, 320
    values = rng.normal(2500, 600, (height, width))
    rows, cols = np.indices((height, width))
    breast = ((rows - 200) / 170) ** 2 + (cols / 200) ** 2 < 1
    depth = np.sqrt(np.clip(1 - ((rows - 200) / 170) ** 2 - (cols / 200) ** 2, 0, 1))
    values[breast] = (9000 + 40000 * depth + rng.normal(0, 3000, (height, width)))[breast]
    label = (slice(150, 230), slice(195, 300))  # over the skin line, out into the background
    values[label] = 60000
    for k in (170, 190, 210):
        values[k, 200:295] = 2000  # text strokes
    values = values.clip(0, 65535).astype(np.uint16)
    mask = breast_mask(values)
    assert mask is not None
    box = mask_box(mask)
    assert box is not None
    assert box.x1 <= 205  # the breast reaches column 200; the label, column 300
    assert mask[breast].mean() > 0.97


def test_mask_side_beats_edge_sums_on_a_far_edge_strip() -> None:
    ph = make_phantom((320, 256), traits=Traits(edge_strip=True), seed=1)
    pixels = np.rint(ph.image * 65535).astype(np.uint16)
    assert breast_on_right(pixels)  # the published edge-sum rule is fooled
    mask = breast_mask(pixels)
    assert mask is not None and not chest_wall_on_right(mask)
    assert chest_wall_on_right(mirror(mask))


@pytest.mark.parametrize(
    ("header", "table", "pixels", "expected"),
    [
        ("L", "", True, ("L", "header", "pixels R")),
        ("R", "L", True, ("R", "header", "table L")),
        ("", "R", True, ("R", "table", "")),
        ("", "", True, ("R", "pixels", "")),
        ("", "x", False, ("L", "pixels", "")),
    ],
)
def test_choose_side(header: str, table: str, pixels: bool, expected: tuple[str, ...]) -> None:
    side = choose_side(header, table, pixels)
    assert (side.laterality, side.source, side.conflict) == expected


@pytest.mark.parametrize("roi", ["breast_mask", "profile_crop"])
def test_header_laterality_wins_and_the_conflict_is_recorded(tmp_path: Path, roi: str) -> None:
    ph = make_phantom((320, 256), breast_on_right=True, seed=2)
    wrong = Pipeline(size=(128, 64), roi=roi).preprocess(
        dicom(tmp_path / "1.dcm", ph, laterality="L")
    )
    assert (wrong.laterality, wrong.laterality_source) == ("L", "header")
    assert wrong.laterality_conflict == "pixels R"
    assert not wrong.flipped  # the header said left: not mirrored
    right = Pipeline(size=(128, 64), roi=roi).preprocess(
        dicom(tmp_path / "2.dcm", ph, laterality="R")
    )
    assert right.flipped and right.laterality_conflict == ""
    table = Pipeline(size=(128, 64), roi=roi).preprocess(
        dicom(tmp_path / "3.dcm", ph, laterality=""), laterality="R"
    )
    assert (table.laterality_source, table.laterality_conflict) == ("table", "")


def test_index_csv_records_laterality_disagreements(tmp_path: Path) -> None:
    images = tmp_path / "train_images"
    rows = []
    for i, (right, header) in enumerate([(False, "L"), (True, "L"), (True, "")]):
        ph = make_phantom((320, 256), breast_on_right=right, seed=i)
        image_id = str(100 + i)
        folder = images / "7"
        folder.mkdir(parents=True, exist_ok=True)
        dicom(folder / f"{image_id}.dcm", ph, laterality=header)
        rows.append({"patient_id": "7", "image_id": image_id, "laterality": "LRR"[i]})
    base = {"site_id": "1", "view": "CC", "age": "50", "cancer": "0", "biopsy": "0"}
    base |= {"invasive": "0", "BIRADS": "", "implant": "0", "density": "", "machine_id": "1"}
    base |= {"difficult_negative_case": "False"}
    table = pd.DataFrame([{**base, **row} for row in rows])
    Pipeline(size=(128, 64)).preprocess_dataset(
        images, table, tmp_path / "out", workers=0, quiet=True
    )
    index = read_index(tmp_path / "out").set_index("image_id")
    assert list(index["laterality_source"]) == ["header", "header", "table"]
    assert list(index["laterality_conflict"]) == ["", "table R; pixels R", ""]


def test_mask_output_is_aligned_with_the_pixels(tmp_path: Path) -> None:
    _, path = _case(tmp_path, "labels", 1)
    out = Pipeline(size=(256, 128), output_mask=True).preprocess(path)
    assert out.mask is not None
    assert out.mask.shape == out.pixels.shape and out.mask.dtype == bool
    inside, outside = out.pixels[out.mask], out.pixels[~out.mask]
    assert inside.mean() > 4 * max(1.0, outside.mean())
    assert Pipeline(size=(256, 128)).preprocess(path).mask is None


@pytest.mark.parametrize("window", [True, False])
def test_windowing_only_the_crop_matches_the_exact_order(tmp_path: Path, window: bool) -> None:
    ph = make_phantom((640, 512), view="MLO", seed=3, traits=Traits(labels=True))
    encoding = Encoding(photometric="MONOCHROME1", voi_function="SIGMOID", window=window)
    path = dicom(tmp_path / "1.dcm", ph, encoding)
    size = (384, 192)  # less than twice smaller than the crop: no block reduction
    pipe = Pipeline(size=size)
    out = pipe.preprocess(path)
    # The exact order: window the whole image, then crop the same box, pad, resize.
    whole = pipe.window(pipe.decode(path)).pixels
    box = out.crop_box
    crop = whole[box.y0 : box.y1, box.x0 : box.x1]
    crop = mirror(crop) if out.flipped else crop
    padded = pipe.stages.pad(crop, pipe.config.target_aspect, 0)
    exact = resize(padded, size, max_value=65535)
    assert structural_similarity(out.pixels, exact, data_range=255) >= 0.99
    if window:  # a window from the header is pointwise: the same pixels
        assert np.abs(out.pixels.astype(int) - exact).max() <= 1


@pytest.mark.parametrize(
    ("photometric", "function", "window", "right"),
    [
        ("MONOCHROME1", "SIGMOID", True, True),
        ("MONOCHROME2", "LINEAR", True, False),
        ("MONOCHROME2", "LINEAR", False, True),
    ],
)
def test_windowing_the_block_means_matches_the_exact_order(
    tmp_path: Path, photometric: str, function: str, window: bool, right: bool
) -> None:
    # A large frame to a small output: the crop is block-reduced (6x6 here) and the block
    # means of the stored values go through the lookup table (the fast order).
    ph = make_phantom((2400, 1920), view="MLO", seed=5, breast_on_right=right)
    encoding = Encoding(photometric=photometric, voi_function=function, window=window)
    path = dicom(tmp_path / "1.dcm", ph, encoding)
    pipe = Pipeline(size=(256, 128))
    out = pipe.preprocess(path)
    assert out.flipped == right
    # The exact order: window the whole frame, crop, mirror, pad, the exact Lanczos filter.
    whole = pipe.window(pipe.decode(path)).pixels
    box = out.crop_box
    crop = whole[box.y0 : box.y1, box.x0 : box.x1]
    padded = pipe.stages.pad(mirror(crop) if right else crop, pipe.config.target_aspect, 0)
    exact = Image.fromarray(padded).convert("I").resize((128, 256), Image.Resampling.LANCZOS)
    reference = np.clip(np.rint(np.asarray(exact) / 257.0), 0, 255).astype(np.uint8)
    assert structural_similarity(out.pixels, reference, data_range=255) >= 0.99
    assert np.abs(out.pixels.astype(int) - reference).mean() < 1.5


def test_block_sum_and_mean() -> None:
    pixels = np.arange(35, dtype=np.uint16).reshape(5, 7)
    sums = block_sum(pixels, 2, 3)
    assert sums.shape == (2, 2) and sums.dtype == np.uint32  # whole blocks only
    assert sums[0, 0] == sum([0, 1, 2, 7, 8, 9])
    assert np.array_equal(block_sum(mirror(pixels), 1, 2)[0], [6 + 5, 4 + 3, 2 + 1])
    signed = block_sum(-pixels.astype(np.int16), 2, 2)
    assert signed.dtype == np.int32 and signed[0, 0] == -(0 + 1 + 7 + 8)
    assert block_mean(pixels, 2, 2)[0, 0] == 4  # (0 + 1 + 7 + 8) / 4 = 4, rounded
    assert block_mean(pixels, 1, 1) is pixels


def test_thresholds_and_fill_holes_match_skimage_and_scipy() -> None:
    from scipy.ndimage import binary_fill_holes
    from skimage.filters import threshold_li, threshold_otsu, threshold_triangle

    ph = make_phantom((600, 480), view="CC", seed=1)
    values = np.rint(ph.image * 60000 + 100).astype(np.uint16)
    occurring, ranks = np.unique(values, return_inverse=True)  # the triangle's bins
    triangle = occurring[int(threshold_triangle(ranks.reshape(values.shape)))]
    expected = (threshold_otsu(values), threshold_li(values), triangle)
    assert thresholds(values.ravel()) == pytest.approx(expected, abs=1e-9)
    # a comb (8-bit values stretched to 16 bits): the triangle is past the fog, not in it
    grey = np.random.default_rng(1)
    fog, tissue = np.rint(grey.normal(15, 3, 5000)), np.rint(grey.uniform(60, 255, 3000))
    comb = (np.concatenate([fog, tissue]) * 257).astype(np.uint16)
    assert thresholds(comb)[2] > np.percentile(fog, 90) * 257
    rng = np.random.default_rng(0)
    noisy = rng.random((120, 90)) > 0.45
    assert np.array_equal(fill_holes(noisy), binary_fill_holes(noisy))
    assert np.array_equal(fill_holes(np.ones((4, 4), bool)), np.ones((4, 4), bool))


@pytest.mark.parametrize("where", ["middle", "corner", "edge", "empty"])
def test_the_reach_over_the_box_equals_the_box_mean_over_the_frame(where: str) -> None:
    """``_near`` filters only the mask's box widened by half the square; the result is the
    box mean of the whole frame thresholded at 0.1%, as the dilation was before."""
    from scipy.ndimage import uniform_filter

    from mammokit.preprocess.breast import _near

    rng = np.random.default_rng(3)
    mask = np.zeros((300, 220), bool)
    place = {"middle": (slice(90, 200), slice(60, 150)), "corner": (slice(0, 70), slice(0, 50))}
    place["edge"] = (slice(40, 260), slice(180, 220))
    if where != "empty":
        rows, cols = place[where]
        mask[rows, cols] = rng.random((rows.stop - rows.start, cols.stop - cols.start)) > 0.3
    for side in (3, 31, 75, 155):
        full = uniform_filter(mask.astype(np.float32), side, mode="constant") > 1e-3
        assert np.array_equal(_near(mask, side), full), (where, side)


def test_linear_percentiles_match_numpy() -> None:
    rng = np.random.default_rng(1)
    sample = rng.integers(0, 50, 1000)
    counts = np.bincount(sample, minlength=60)
    values = np.arange(60, dtype=np.float64) * -1.5  # any order
    got = linear_percentiles(values, counts, (0.5, 37.0, 99.0))
    assert got == pytest.approx(tuple(np.percentile(values[sample], [0.5, 37.0, 99.0])))


def test_box_reduce_then_lanczos_matches_the_exact_filter() -> None:
    ph = make_phantom((1200, 960), view="MLO", seed=4)
    pixels = np.rint(ph.image * 65535).astype(np.uint16)
    ours = resize(pixels, (256, 128), max_value=65535)
    exact = Image.fromarray(pixels).convert("I").resize((128, 256), Image.Resampling.LANCZOS)
    reference = np.clip(np.rint(np.asarray(exact) / 257.0), 0, 255).astype(np.uint8)
    assert structural_similarity(ours, reference, data_range=255) >= 0.999
    means = box_reduce(np.arange(35, dtype=np.uint16).reshape(5, 7), 2, 3)
    assert means.shape == (3, 3)
    assert means[0, 0] == pytest.approx(np.mean([0, 1, 2, 7, 8, 9]))
    assert means[2, 2] == pytest.approx(34.0)  # a partial corner block


def test_reduced_values_are_modality_values_inverted_for_monochrome1() -> None:
    stored = np.tile(np.arange(1000, dtype=np.uint16), (600, 3))  # (600, 3000)
    meta = ImageMeta(photometric="MONOCHROME1", rescale_slope=2.0, pixel_padding_value=999)
    values, step = reduced_values(DecodedImage(pixels=stored, meta=meta), max_side=1000)
    assert step == 3 and values.shape == (200, 1000)
    row = values[0, :333].astype(int)
    assert row[0] == 65535 and (np.diff(row) <= 0).all()  # high stored value = dark
    assert values[stored[::3, ::3] == 999].max() == 0  # padding is background


def test_breast_mask_options_are_checked() -> None:
    with pytest.raises(ValueError, match="edge_fraction"):
        BreastMask(edge_fraction=0.5)
    with pytest.raises(ValueError, match="percentiles"):
        BreastMask(percentiles=(50, 10))


def test_a_wide_range_in_large_blocks_uses_integer_means(tmp_path: Path) -> None:
    # 16 bits spread over the whole range, to a tiny output: the sums of 8x8+ blocks span
    # more than the largest table, so the block means are rounded to integers first.
    ph = make_phantom((1600, 1280), view="CC", seed=2)
    noise = np.random.default_rng(0).random(ph.image.shape)  # the whole 16-bit range
    ph = attrs.evolve(ph, image=np.where(ph.breast_mask, 0.2 + 0.8 * noise, 0.05 * noise))
    # LINEAR: the mean of the windowed values is the window of the mean, but where the
    # window clips (pixel noise across a whole SIGMOID is where the orders differ most).
    encoding = Encoding(bits_stored=16, voi_function="LINEAR")
    path = dicom(tmp_path / "1.dcm", ph, encoding)
    pipe = Pipeline(size=(64, 32))
    out = pipe.preprocess(path)
    whole = pipe.window(pipe.decode(path)).pixels
    box = out.crop_box
    padded = pipe.stages.pad(whole[box.y0 : box.y1, box.x0 : box.x1], pipe.config.target_aspect, 0)
    exact = Image.fromarray(padded).convert("I").resize((32, 64), Image.Resampling.LANCZOS)
    reference = np.clip(np.rint(np.asarray(exact) / 257.0), 0, 255).astype(np.uint8)
    assert np.abs(out.pixels.astype(int) - reference).mean() < 2
