"""Flip, aspect padding and resizing: shapes, dtypes, placement and no distortion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phantom_helpers import display, phantom
from PIL import Image

from mammokit import Component, ConfigError, Pipeline, get_plugin_manager, hookimpl
from mammokit.plugins import get_components
from mammokit.preprocess.geometry import padded_shape
from mammokit.preprocess.laterality import breast_on_right, mirror
from mammokit.preprocess.pad import AspectPad, aspect_pad
from mammokit.preprocess.resize import RESAMPLE, resize, separable_resize, to_dtype


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("view", ["CC", "MLO"])
def test_breast_side_is_detected(seed: int, view: str) -> None:
    assert not breast_on_right(display(phantom(seed=seed, view=view, right=False)))
    assert breast_on_right(display(phantom(seed=seed, view=view, right=True)))


def test_mirror_is_a_view() -> None:
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4)
    flipped = mirror(pixels)
    assert np.shares_memory(flipped, pixels)
    assert flipped[0].tolist() == [3, 2, 1, 0]


def test_padders_hook_registers_aspect_pad() -> None:
    components = get_components(get_plugin_manager(), "mammokit_padders")
    assert isinstance(components["aspect_pad"].factory(), AspectPad)


@pytest.mark.parametrize(
    ("shape", "aspect", "expected"),
    [((100, 80), 2.0, (160, 80)), ((300, 80), 2.0, (300, 150)), ((200, 100), 2.0, (200, 100))],
)
def test_padded_shape(shape: tuple[int, int], aspect: float, expected: tuple[int, int]) -> None:
    assert padded_shape(*shape, aspect) == expected


def test_aspect_pad_places_the_crop_undistorted() -> None:
    crop = np.arange(1, 301, dtype=np.uint16).reshape(30, 10)  # taller than 2:1
    out = aspect_pad(crop, 2.0, background=0)
    assert out.shape == (30, 15) and out.dtype == np.uint16
    assert np.array_equal(out[:, :10], crop)  # default: padding on the right
    assert not out[:, 10:].any()
    left = aspect_pad(crop, 2.0, 7, horizontal="start")
    assert np.array_equal(left[:, 5:], crop) and (left[:, :5] == 7).all()
    wide = np.ones((10, 20), np.uint8)
    centred = aspect_pad(wide, 2.0, 0)
    assert centred.shape == (40, 20)
    assert np.array_equal(centred[15:25], wide) and not centred[:15].any()
    below = aspect_pad(wide, 2.0, 0, vertical="end")
    assert np.array_equal(below[:10], wide) and not below[10:].any()


def test_aspect_pad_returns_the_input_when_no_padding_is_needed() -> None:
    crop = np.zeros((20, 10), np.uint8)
    assert aspect_pad(crop, 2.0) is crop


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    aspect=st.floats(0.25, 4.0),
    horizontal=st.sampled_from(["start", "center", "end"]),
    vertical=st.sampled_from(["start", "center", "end"]),
)
def test_aspect_pad_properties(
    height: int, width: int, aspect: float, horizontal: str, vertical: str
) -> None:
    crop = np.random.default_rng(height * 1000 + width).integers(1, 255, (height, width))
    crop = crop.astype(np.uint8)
    out = AspectPad(horizontal=horizontal, vertical=vertical)(crop, aspect, 0)
    new_h, new_w = out.shape
    # Only one axis grows, and the ratio is the closest integer one.
    assert (new_h == height) or (new_w == width)
    assert new_h >= height and new_w >= width
    assert abs(new_h - new_w * aspect) <= max(1.0, aspect) or (new_h, new_w) == (height, width)
    # The crop appears exactly once, unchanged; everything else is background.
    assert int(out.astype(np.int64).sum()) == int(crop.astype(np.int64).sum())
    assert np.count_nonzero(out) == crop.size


def test_bad_padder_options_are_config_errors() -> None:
    with pytest.raises(
        ConfigError, match=r"invalid options for padder 'aspect_pad' \(horizontal='middle'\)"
    ):
        Pipeline(padder_options={"horizontal": "middle"})


class CenterPad:
    """An inline padder plugin: centre the crop horizontally."""

    @hookimpl
    def mammokit_padders(self) -> list[Component]:
        return [
            Component(
                "center_pad",
                "Pad on both sides",
                lambda **options: (
                    lambda pixels, aspect, background: aspect_pad(
                        pixels, aspect, background, horizontal="center"
                    )
                ),
            )
        ]


def test_third_party_padder_is_used_by_the_chain(tmp_path: object) -> None:
    from pathlib import Path

    from phantom_helpers import dicom

    path = dicom(Path(str(tmp_path)) / "a.dcm", phantom(seed=0))
    pm = get_plugin_manager(plugins=[CenterPad()], load_entry_points=False)
    # A square target: the tall crop gets padded columns, split left/right by center_pad.
    centred = Pipeline(size=(64, 64), padder="center_pad", manager=pm).preprocess(path).pixels
    default = Pipeline(size=(64, 64), manager=pm).preprocess(path).pixels
    assert not default[:, -8:].any()  # aspect_pad pads on the right only
    assert not centred[:, :4].any() and not centred[:, -4:].any()
    assert centred[:, 8:16].any()


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_resize_shape_dtype_and_range(dtype: str) -> None:
    pixels = np.full((300, 200), 4095, np.uint16)
    out = resize(pixels, (64, 32), max_value=4095, dtype=dtype)
    assert out.shape == (64, 32) and out.dtype == np.dtype(dtype)
    assert (out == np.iinfo(dtype).max).all()
    up = resize(pixels[:20, :10], (64, 32), max_value=4095, dtype=dtype)
    assert up.shape == (64, 32)


def test_resize_is_anti_aliased() -> None:
    # A one-pixel checkerboard shrunk 8x must become flat mid-grey, not keep one phase.
    checker = (np.indices((256, 128)).sum(axis=0) % 2 * 255).astype(np.uint8)
    out = resize(checker, (32, 16), max_value=255, dtype="uint8")
    assert abs(float(out.mean()) - 127.5) < 3
    assert float(out.std()) < 3


def test_resize_keeps_sixteen_bit_precision() -> None:
    ramp = np.tile(np.linspace(0, 65535, 400).astype(np.uint16), (400, 1))
    out = resize(ramp, (100, 100), max_value=65535, dtype="uint16")
    assert len(np.unique(out)) > 90
    assert np.all(np.diff(out[50].astype(np.int64)) >= 0)


_PILLOW = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
}


@settings(max_examples=40, deadline=None)
@example(  # a tap range on a rounding edge: Pillow's box is float32
    shape=(185, 2),
    size=(117, 1),
    corner=(0.0, 0.0),
    extent=(0.6499999910593033, 1.0),
    whole=False,
    seed=0,
)
@given(
    shape=st.tuples(st.integers(2, 300), st.integers(2, 300)),
    size=st.tuples(st.integers(1, 200), st.integers(1, 200)),
    corner=st.tuples(st.floats(0, 0.4), st.floats(0, 0.4)),
    extent=st.tuples(st.floats(0.3, 1), st.floats(0.3, 1)),
    whole=st.booleans(),
    seed=st.integers(0, 9),
)
def test_separable_resize_is_pillows_filter(
    shape: tuple[int, int],
    size: tuple[int, int],
    corner: tuple[float, float],
    extent: tuple[float, float],
    whole: bool,
    seed: int,
) -> None:
    # Shrinking and enlarging, the whole image or a fractional box of it, every filter:
    # Pillow's "F" resize to float32 rounding (of values 0-255).
    image = (np.random.default_rng(seed).random(shape) * 255).astype(np.float32)
    height, width = shape
    x0, y0 = corner[1] * width, corner[0] * height
    box = None
    if not whole:
        box = (x0, y0, x0 + extent[1] * (width - x0), y0 + extent[0] * (height - y0))
    for name in RESAMPLE:
        pillow = Image.fromarray(image, mode="F").resize(size[::-1], _PILLOW[name], box=box)
        ours = separable_resize(image, size, box, name)
        assert ours.shape == size and ours.dtype == np.float32
        assert np.abs(ours - np.asarray(pillow)).max() < 0.02, name


def test_resize_rejects_float_input() -> None:
    with pytest.raises(TypeError, match="uint8 or uint16"):
        resize(np.zeros((10, 10)), (8, 8), max_value=1)


def test_to_dtype_scales_and_clips() -> None:
    values = np.array([[0, 2048, 4095, 5000]], np.uint16)
    assert to_dtype(values, 4095, "uint8").tolist() == [[0, 128, 255, 255]]
    assert to_dtype(values, 4095, "uint16")[0, 2] == 65535
    same = np.array([[1, 2]], np.uint8)
    assert to_dtype(same, 255, "uint8") is same
