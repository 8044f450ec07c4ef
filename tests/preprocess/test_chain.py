"""The whole chain: Pipeline.preprocess on DICOM and ordinary images, flip, reduced decodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from phantom_helpers import dicom, kept, phantom, png, windowed

from mammokit import (
    CropBox,
    DecodedImage,
    DecoderComponent,
    Pipeline,
    Preprocessed,
    get_plugin_manager,
    hookimpl,
)
from mammokit.preprocess.geometry import first_min_shape, needed_min_shape
from mammokit.preprocess.laterality import breast_on_right
from mammokit.synthetic import Encoding, Lesion


@pytest.mark.parametrize("syntax", ["jpeg2000", "rle", "explicit"])
@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
@pytest.mark.parametrize("function", ["LINEAR", "SIGMOID"])
def test_preprocess_dicom(tmp_path: Path, syntax: str, photometric: str, function: str) -> None:
    ph = phantom(seed=5, view="MLO", right=True)
    encoding = Encoding(
        photometric=photometric,
        voi_function=function,
        bits_stored=14,
        transfer_syntax=syntax,
        padding=True,
        extra_windows=1,
    )
    path = dicom(tmp_path / "123.dcm", ph, encoding, laterality="R")
    out = Pipeline(size=(128, 64)).preprocess(path)
    assert isinstance(out, Preprocessed)
    assert out.pixels.shape == (128, 64) and out.pixels.dtype == np.uint8
    assert out.source_shape == (160, 128)
    assert out.meta.image_id == "123" and out.meta.laterality == "R"
    assert out.flipped  # breast on the right, configured to the left
    assert out.roi_method == "breast_mask"
    assert out.decoder
    assert kept(ph.breast_mask, out.crop_box) >= 0.98
    # The breast is on the left of the output, and the background is dark.
    assert not breast_on_right(out.pixels)
    assert out.pixels[:, :8].mean() > 60 > out.pixels[:, -8:].mean()


@pytest.mark.parametrize(
    ("flip", "right", "flipped", "output_right"),
    [
        ("left", False, False, False),
        ("left", True, True, False),
        ("right", False, True, True),
        ("right", True, False, True),
        ("none", False, False, False),
        ("none", True, False, True),
    ],
)
def test_flip_setting(
    tmp_path: Path, flip: str, right: bool, flipped: bool, output_right: bool
) -> None:
    ph = phantom(seed=2, right=right)
    path = dicom(tmp_path / "1.dcm", ph)
    out = Pipeline(size=(96, 48), flip=flip).preprocess(path)
    assert out.flipped is flipped
    assert breast_on_right(out.pixels) is output_right
    # The crop box is in source coordinates whatever the flip.
    assert kept(ph.breast_mask, out.crop_box) >= 0.98
    assert (out.crop_box.x0 == 0) != right


def test_mirrored_sources_give_the_same_output(tmp_path: Path) -> None:
    left = Pipeline(size=(96, 48)).preprocess(dicom(tmp_path / "l.dcm", phantom(seed=4)))
    right = Pipeline(size=(96, 48)).preprocess(
        dicom(tmp_path / "r.dcm", phantom(seed=4, right=True))
    )
    assert np.array_equal(left.pixels, right.pixels)
    assert right.crop_box == CropBox(
        left.crop_box.y0, 128 - left.crop_box.x1, left.crop_box.y1, 128 - left.crop_box.x0
    )


def test_uint16_output(tmp_path: Path) -> None:
    path = dicom(tmp_path / "1.dcm", phantom(seed=1), Encoding(bits_stored=16))
    out8 = Pipeline(size=(64, 32)).preprocess(path)
    out16 = Pipeline(size=(64, 32), output_dtype="uint16").preprocess(path)
    assert out16.pixels.dtype == np.uint16
    assert len(np.unique(out16.pixels)) > len(np.unique(out8.pixels))
    assert np.abs(out16.pixels / 257.0 - out8.pixels).max() <= 1.0


def test_output_is_padded_not_stretched(tmp_path: Path) -> None:
    ph = phantom(seed=3)
    out = Pipeline(size=(64, 64)).preprocess(dicom(tmp_path / "1.dcm", ph))
    box = out.crop_box
    # A tall crop in a square frame: its width is scaled like its height, the rest is pad.
    breast_cols = np.flatnonzero(out.pixels.max(axis=0) > 20)
    expected = box.width * 64 / box.height
    assert abs(len(breast_cols) - expected) <= 3
    assert not out.pixels[:, int(expected) + 2 :].any()


@pytest.mark.parametrize("bits", [8, 16])
def test_preprocess_png(tmp_path: Path, bits: int) -> None:
    ph = phantom(seed=7, view="MLO", right=True)
    path = png(tmp_path / f"img{bits}.png", ph, bits)
    out = Pipeline(size=(128, 64), output_dtype="uint16").preprocess(path)
    assert out.pixels.shape == (128, 64) and out.pixels.dtype == np.uint16
    assert out.meta.is_dicom is False
    assert out.source_shape == (160, 128)
    assert out.flipped
    assert kept(ph.breast_mask, out.crop_box) >= 0.98
    if bits == 16:  # the 16-bit source's precision is kept
        assert len(np.unique(out.pixels)) > 300
    else:  # the 8-bit source on the 16-bit scale: its uint8 output times 257
        as_uint8 = Pipeline(size=(128, 64)).preprocess(path).pixels.astype(np.int64)
        assert np.abs(out.pixels.astype(np.int64) - 257 * as_uint8).max() <= 257 // 2 + 1


def test_lesion_is_visible_after_preprocessing(tmp_path: Path) -> None:
    lesion = Lesion("mass", radius=0.15, contrast=0.25, depth=0.4)
    plain = phantom(seed=9)
    sick = phantom(seed=9, lesion=lesion)
    pipe = Pipeline(size=(128, 64))
    a = pipe.preprocess(dicom(tmp_path / "a.dcm", plain)).pixels.astype(int)
    b = pipe.preprocess(dicom(tmp_path / "b.dcm", sick)).pixels.astype(int)
    difference = b - a
    assert difference.max() >= 40  # about 0.25 of the display range at the centre
    assert (difference > 20).sum() >= 20  # a blob, not a pixel
    assert (difference < -2).sum() == 0


def test_extract_roi_on_a_windowed_image_is_in_its_coordinates() -> None:
    ph = phantom(seed=6, right=True)
    box = Pipeline().extract_roi(windowed(ph))
    assert box.x1 == 128 and box.x0 > 0
    assert kept(ph.breast_mask, box) >= 0.98


def test_min_shape_helpers() -> None:
    assert first_min_shape((1024, 512), 2.0) == (1024, 512)
    assert first_min_shape((1024, 512), 1.5) == (1024, 683)
    box = CropBox(0, 0, 1200, 500)  # padded to 1200 x 600 at aspect 2
    assert needed_min_shape(box, (1339, 1229), (1024, 512), 2.0) is None
    small = CropBox(0, 0, 800, 300)  # padded to 800 x 400: needs 1.28x
    assert needed_min_shape(small, (1339, 1229), (1024, 512), 2.0) == (1714, 1574)


class BlockAverage:
    """A reducing decoder for the tests: pydicom's full decode averaged over s x s blocks,
    with the largest s in (8, 4, 2) that keeps the frame at least ``min_shape``."""

    def decode(
        self, path: Path, *, min_shape: tuple[int, int] | None = None, limits: Any = None
    ) -> DecodedImage:
        from mammokit.dicom import read_meta

        meta = read_meta(path)
        pixels = pydicom.dcmread(path).pixel_array
        rows, cols = pixels.shape
        scale = 1
        for s in (8, 4, 2):
            if min_shape and -(-rows // s) >= min_shape[0] and -(-cols // s) >= min_shape[1]:
                scale = s
                break
        if scale > 1:
            padded = np.pad(
                pixels.astype(np.float64),
                ((0, -rows % scale), (0, -cols % scale)),
                mode="edge",
            )
            blocks = padded.reshape(padded.shape[0] // scale, scale, -1, scale)
            pixels = np.rint(blocks.mean(axis=(1, 3))).astype(pixels.dtype)
        return DecodedImage(pixels=pixels, meta=meta, decoder="blockavg", scale=scale)


class BlockAveragePlugin:
    @hookimpl
    def mammokit_decoders(self) -> list[DecoderComponent]:
        return [
            DecoderComponent(
                "blockavg",
                "Block-averaged reduced decode (tests)",
                lambda **options: BlockAverage(),
                reduces_resolution=True,
            )
        ]


def _reducing_pipeline(size: tuple[int, int]) -> Pipeline:
    pm = get_plugin_manager(plugins=[BlockAveragePlugin()], load_entry_points=False)
    return Pipeline(size=size, decoder="blockavg", manager=pm)


def _calls(pipe: Pipeline, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the scale of every decode the pipeline makes."""
    import attrs

    scales: list[int] = []
    original = pipe.stages.decode

    def decode(path: Any, min_shape: Any = None) -> DecodedImage:
        result = original(path, min_shape)
        scales.append(result.scale)
        return result

    # the chain decodes through the stages it was handed, never through the pipeline
    monkeypatch.setattr(pipe, "stages", attrs.evolve(pipe.stages, decode=decode))
    return scales


def _reduced_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> tuple[Any, Path, Preprocessed, list[int]]:
    """Preprocess a 256 x 208 phantom with the block-average decoder; also return the
    scale of every decode made."""
    ph = phantom((256, 208), seed=1)
    path = dicom(tmp_path / "1.dcm", ph, Encoding(bits_stored=12))
    pipe = _reducing_pipeline(size)
    scales = _calls(pipe, monkeypatch)
    return ph, path, pipe.preprocess(path), scales


def test_reduced_decode_is_used_when_the_crop_stays_large_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ph, path, out, scales = _reduced_run(tmp_path, monkeypatch, (48, 24))
    assert scales == [4]
    assert out.decoder == "blockavg"
    assert out.source_shape == (256, 208)
    assert kept(ph.breast_mask, out.crop_box) >= 0.98
    full = Pipeline(size=(48, 24), decoder="pydicom").preprocess(path)
    assert np.abs(out.pixels.astype(int) - full.pixels.astype(int)).mean() < 4


def test_small_crop_is_decoded_again_at_a_finer_scale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path, out, scales = _reduced_run(tmp_path, monkeypatch, (128, 104))
    # The 1/2 frame is 128 x 104, but the padded crop in it is smaller than the output:
    # decode again at full resolution.
    assert scales == [2, 1]
    # The box was found at 1/2 (so it may differ by the scale) and reused at 1/1.
    full = Pipeline(size=(128, 104), decoder="pydicom").preprocess(path)
    for side in ("y0", "x0", "y1", "x1"):
        assert abs(getattr(out.crop_box, side) - getattr(full.crop_box, side)) <= 2
    assert np.abs(out.pixels.astype(int) - full.pixels.astype(int)).mean() < 3


def test_auto_decoder_reduces_jpeg2000_and_matches_the_full_decode(tmp_path: Path) -> None:
    ph = phantom((512, 416), seed=2, view="MLO")
    path = dicom(tmp_path / "1.dcm", ph, Encoding(transfer_syntax="jpeg2000", bits_stored=12))
    out = Pipeline(size=(96, 48)).preprocess(path)
    full = Pipeline(size=(96, 48), decoder="pydicom").preprocess(path)
    assert out.decoder == "j2k_reduced" and full.decoder == "pydicom"
    assert out.source_shape == (512, 416)
    assert kept(ph.breast_mask, out.crop_box) >= 0.98
    # The breast mask is found on the 1/4 decode (128 x 104 here), so its edges move in
    # 4-pixel steps: within 3 of those steps of the full decode's box.
    for side in ("y0", "x0", "y1", "x1"):
        assert abs(getattr(out.crop_box, side) - getattr(full.crop_box, side)) <= 12
    # A box 1-2% taller scales the output by as much: the pixels agree less than the boxes.
    assert np.abs(out.pixels.astype(int) - full.pixels.astype(int)).mean() < 8
