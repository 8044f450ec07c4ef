"""The fast order for every header window: a VOI LUT Sequence, a SIGMOID window and a Pixel
Padding Value (as GE Senographe files have) window block means through the method's table,
close to the exact order; blocks holding padding are computed exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pydicom
import pytest
from phantom_helpers import dicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from skimage.metrics import structural_similarity

from mammokit import DecodedImage, ImageMeta, PaddingWindowing, Pipeline
from mammokit.preprocess import chain
from mammokit.preprocess.block_table import padded_blocks, table_of_block_means
from mammokit.preprocess.resize import block_factors, block_mean
from mammokit.preprocess.windowing import VoiLut
from mammokit.synthetic import Encoding, make_phantom

SIZE = (256, 128)


def _with_lut_sequence(path: Path, *, keep_window: bool) -> Path:
    """Add a GE-like VOI LUT Sequence (a 12-bit sigmoid table over part of the stored
    range, then a second item) to the file at ``path``; drop its window unless asked."""
    ds = pydicom.dcmread(path)
    items = []
    for first, entries in ((900, 2700), (1300, 2300)):
        ramp = np.arange(entries, dtype=np.float64)
        data = 4095 / (1 + np.exp(-4 * (ramp - entries / 2) / entries))
        item = Dataset()
        item.LUTDescriptor = [entries, first, 12]
        item.add_new(0x00283006, "US", [int(v) for v in np.rint(data)])  # LUT Data
        items.append(item)
    ds.VOILUTSequence = Sequence(items)
    if not keep_window:
        for keyword in ("WindowCenter", "WindowWidth", "VOILUTFunction"):
            if keyword in ds:
                delattr(ds, keyword)
    ds.save_as(path)
    return path


class Recording:
    """``VoiLut`` as a plugin would wrap it: the same capabilities, calls counted."""

    def __init__(self, inner: VoiLut) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {"table_of_means": 0, "padding_range": 0}

    def __call__(self, decoded: Any) -> Any:
        return self.inner(decoded)

    def whole_image_meta(self, decoded: Any) -> ImageMeta:
        return self.inner.whole_image_meta(decoded)

    def table_of_means(self, meta: ImageMeta, means: np.ndarray) -> np.ndarray | None:
        self.calls["table_of_means"] += 1
        return self.inner.table_of_means(meta, means)

    def padding_range(self, meta: ImageMeta) -> tuple[int, int] | None:
        self.calls["padding_range"] += 1
        return self.inner.padding_range(meta)


class Exact:
    """A component without speed capabilities (the window of the whole image kept)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any) -> Any:
        return self.inner(*args)

    def whole_image_meta(self, decoded: Any) -> Any:
        return self.inner.whole_image_meta(decoded)


CASES = {
    "sequence_padding": (Encoding(transfer_syntax="explicit", padding=True), False),
    "sigmoid_padding_and_sequence": (
        Encoding(transfer_syntax="explicit", voi_function="SIGMOID", padding=True),
        True,
    ),
    "sequence_monochrome1": (
        Encoding(transfer_syntax="explicit", photometric="MONOCHROME1", rescale=True),
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_is_taken_and_close_to_the_exact_order(tmp_path: Path, case: str) -> None:
    encoding, keep_window = CASES[case]
    ph = make_phantom((900, 700), view="MLO", seed=5)
    path = _with_lut_sequence(dicom(tmp_path / "1.dcm", ph, encoding), keep_window=keep_window)
    fast = Pipeline(size=SIZE)
    recording = Recording(fast.stages.window_method)
    fast.stages = attrs.evolve(fast.stages, window_method=recording)
    exact = Pipeline(size=SIZE)
    exact.stages = attrs.evolve(
        exact.stages,
        window_method=Exact(exact.stages.window_method),
        pad=Exact(exact.stages.pad),
    )
    a, c = fast.preprocess(path), exact.preprocess(path)
    assert a.crop_box == c.crop_box
    assert recording.calls["table_of_means"] >= 1  # the block means went through the table
    assert recording.calls["padding_range"] == 1
    diff = np.abs(a.pixels.astype(int) - c.pixels.astype(int))
    assert structural_similarity(a.pixels, c.pixels, data_range=255) >= 0.99
    assert diff.mean() < 1.5
    assert a.pixels.max() > 100  # windowed, not blank


def test_sequence_item_is_chosen_and_interpolated_between_entries(tmp_path: Path) -> None:
    ph = make_phantom((300, 240), seed=1)
    path = _with_lut_sequence(
        dicom(tmp_path / "1.dcm", ph, Encoding(transfer_syntax="explicit")), keep_window=True
    )
    meta = Pipeline().decode(path).meta
    assert len(meta.voi_lut_sequence) == 2
    first = VoiLut(use_sequence=True).table_of_means(meta, np.array([899.0, 900, 901, 900.5]))
    second = VoiLut(use_sequence=True, window_index=1).table_of_means(
        meta, np.array([1300.0, 1301.0])
    )
    assert first is not None and second is not None
    data = meta.voi_lut_sequence[0][1]
    expected = np.rint(data[[0, 0, 1]] / 4095 * 65535)
    assert list(first[:3]) == list(expected)  # integers: the entries, clipped below
    assert first[2] >= first[3] >= first[1]  # a mean between two entries lies between them
    assert int(second[0]) == round(int(meta.voi_lut_sequence[1][1][0]) / 4095 * 65535)


def _sigmoid_meta(padding: tuple[int, int]) -> ImageMeta:
    """A 12-bit SIGMOID header with the Pixel Padding Value (and range limit) ``padding``."""
    return ImageMeta(
        path="x.dcm",
        is_dicom=True,
        bits_stored=12,
        window_centers=(2000.0,),
        window_widths=(1500.0,),
        voi_lut_function="SIGMOID",
        pixel_padding_value=padding[0],
        pixel_padding_range_limit=None if padding[0] == padding[1] else padding[1],
    )


def test_padded_blocks_are_the_exact_order() -> None:
    rng = np.random.default_rng(0)
    stored = rng.integers(100, 4000, (12, 18)).astype(np.uint16)
    stored[:6, :6] = 0  # whole blocks of padding
    stored[5, 7] = stored[9, 2] = 0  # blocks mixing padding and tissue
    meta = _sigmoid_meta((0, 0))
    method = VoiLut()
    assert isinstance(method, PaddingWindowing)
    assert method.padding_range(meta) == (0, 0)
    assert VoiLut(padding=False).padding_range(meta) is None
    fast = table_of_block_means(method, meta, stored, (3, 3), (0, 0))
    windowed = method(DecodedImage(pixels=stored, meta=meta, decoder="test"))
    exact = block_mean(windowed.pixels, 3, 3)
    assert fast is not None and fast.shape == exact.shape
    pad_blocks = np.zeros(exact.shape, bool)
    pad_blocks[:2, :2] = True
    assert (fast[pad_blocks] == 0).all()
    mixed = [(1, 2), (3, 0)]
    for y, x in mixed:
        assert fast[y, x] == exact[y, x]  # mixing padding and tissue: the exact order
    plain = table_of_block_means(method, meta, stored, (3, 3))
    assert plain is not None and plain[1, 2] != exact[1, 2]  # without the padding rule
    again = padded_blocks(method, meta, stored, (3, 3), (0, 0), plain.copy())
    assert np.array_equal(again, fast)


@pytest.mark.parametrize("width", [18, 19, 20])
def test_a_mirrored_crop_gives_the_blocks_of_its_copy(width: int) -> None:
    """A right breast's crop is a mirrored view; it is blocked in memory order and the
    result mirrored back, the far side's partial block (a width that is no multiple of
    the factor) dropped as from a copy."""
    rng = np.random.default_rng(2)
    stored = rng.integers(100, 4000, (12, width)).astype(np.uint16)
    stored[:6, :6] = 0
    stored[5, 7] = stored[9, 2] = 0
    meta = _sigmoid_meta((0, 0))
    method = VoiLut()
    view = stored[:, ::-1]
    for padding in ((0, 0), None):
        from_view = table_of_block_means(method, meta, view, (3, 3), padding)
        from_copy = table_of_block_means(method, meta, np.ascontiguousarray(view), (3, 3), padding)
        assert from_view is not None and from_copy is not None
        assert np.array_equal(from_view, from_copy)


@pytest.mark.parametrize(
    ("padding", "value"),
    [((0, 0), 0), ((4095, 4095), 4095), ((3900, 4095), 3950), ((1000, 1200), 1100)],
    ids=["zero", "top value", "top range", "inside the values"],
)
def test_padding_at_either_end_or_inside_is_found_per_block(
    padding: tuple[int, int], value: int
) -> None:
    """Whichever way the blocks holding padding are found (a block's smallest or largest
    value when the padding range is an end of the stored range, else a pixel count), the
    blocks come out as the exact order's."""
    rng = np.random.default_rng(1)
    stored = rng.integers(100, 3800, (12, 18)).astype(np.uint16)
    stored[(stored >= padding[0]) & (stored <= padding[1])] = 1500  # no padding by chance
    stored[:6, :6] = value
    stored[5, 7] = stored[9, 2] = stored[11, 17] = value
    meta = _sigmoid_meta(padding)
    method = VoiLut()
    assert method.padding_range(meta) == padding
    fast = table_of_block_means(method, meta, stored, (3, 3), padding)
    exact = block_mean(method(DecodedImage(pixels=stored, meta=meta, decoder="test")).pixels, 3, 3)
    assert fast is not None
    assert (fast[:2, :2] == 0).all()
    for y, x in [(1, 2), (3, 0), (3, 5)]:
        assert fast[y, x] == exact[y, x] != 0


@pytest.mark.parametrize(
    ("shape", "factors"),
    [
        ((2047, 1023), (1, 1)),
        ((2048, 1024), (2, 2)),
        ((3062, 1531), (2, 2)),
        ((4608, 2304), (3, 3)),
    ],
)
def test_block_factors_start_at_twice_the_output(
    shape: tuple[int, int], factors: tuple[int, int]
) -> None:
    assert block_factors(shape, (1024, 512)) == factors


@pytest.mark.parametrize("windowing", ["voi_lut", "minmax"], ids=["block table", "exact"])
def test_a_partial_last_block_is_not_background(windowing: str) -> None:
    """A crop of 2k + 1 rows reduced by 2x2 blocks: its last half-block row is the crop,
    not the zero canvas, so the output's last row is as bright as the rest (it once came
    out 40% darker on a real GE file)."""
    stored = np.full((259, 120), 3000, np.uint16)
    meta = ImageMeta(
        path="x.dcm", is_dicom=True, bits_stored=12, window_centers=(2048.0,),
        window_widths=(4096.0,), voi_lut_function="LINEAR",
    )  # fmt: skip
    stages = Pipeline(size=(128, 64), window=windowing).stages
    decoded = DecodedImage(pixels=stored, meta=meta, decoder="test")
    display, max_value, factors, placement = chain.window_crop(stages, decoded, stored, 2.0)
    assert factors == (2, 2) and display.shape == (130, 60)
    pixels, _ = chain.finish(stages, display, max_value, False, factors, placement)
    body = pixels[:, :50]  # the crop's columns (the padding is beyond them)
    assert abs(int(body[-1].mean()) - int(body[64].mean())) <= 1
