"""The box transforms between the coordinate frames (mammokit.preprocess.geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from mammokit import CropBox
from mammokit.preprocess.geometry import (
    box_at_scale,
    box_with_margin,
    clipped_box,
    crop_offset,
    mirror_output,
    to_source,
    unmirror,
    view_to_frame,
)
from mammokit.preprocess.laterality import mirror


def test_unmirror_is_its_own_inverse_and_matches_the_pixels() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (40, 30))
    box = CropBox(3, 4, 20, 11)
    back = unmirror(box, 30)
    assert back == CropBox(3, 19, 20, 26) and unmirror(back, 30) == box
    mirrored = mirror(pixels)
    crop = mirrored[box.y0 : box.y1, box.x0 : box.x1]
    original = pixels[back.y0 : back.y1, back.x0 : back.x1]
    np.testing.assert_array_equal(crop, original[:, ::-1])


def test_scale_round_trip_keeps_the_box_inside() -> None:
    box = CropBox(10, 3, 101, 77)  # in a 1/4 frame of 128x96
    full = to_source(box, 4, (509, 383))
    assert full == CropBox(40, 12, 404, 308)
    assert box_at_scale(full, 4, (128, 96)) == box
    assert box_at_scale(full, 2, (255, 192)) == CropBox(20, 6, 202, 154)
    # rounded outwards, and clipped at the frame's edge
    assert box_at_scale(CropBox(1, 1, 507, 383), 4, (127, 96)) == CropBox(0, 0, 127, 96)
    assert to_source(CropBox(0, 0, 128, 96), 4, (509, 383)) == CropBox(0, 0, 509, 383)


def test_view_to_frame_is_unmirror_then_to_source() -> None:
    frame = (509, 383)
    for box in (CropBox(10, 3, 101, 77), CropBox(0, 0, 128, 96), CropBox(5, 90, 6, 96)):
        for on_right in (False, True):
            local = unmirror(box, 96) if on_right else box
            assert view_to_frame(box, 96, on_right, 4, frame) == to_source(local, 4, frame)


def test_clipped_box_returns_a_box_inside_unchanged() -> None:
    box = CropBox(1, 2, 9, 10)
    assert clipped_box(box, 10, 10) is box
    assert clipped_box(CropBox(1, 2, 12, 10), 10, 10) == CropBox(1, 2, 10, 10)


def test_clipped_box_and_margin() -> None:
    assert clipped_box(None, 10, 10) is None
    assert clipped_box(CropBox(5, 5, 30, 30), 10, 12) == CropBox(5, 5, 10, 12)
    assert clipped_box(CropBox(10, 0, 20, 5), 10, 10) is None
    box = CropBox(10, 0, 50, 20)
    assert box_with_margin(box, 0.0, 60, 60) is box
    assert box_with_margin(box, 0.1, 60, 60) == CropBox(6, 0, 54, 22)
    assert box_with_margin(box, 0.5, 60, 25) == CropBox(0, 0, 60, 25)


@pytest.mark.parametrize(
    ("where", "expected"), [("start", 7), ("center", 3), ("end", 0)]
)  # fmt: skip
def test_crop_offset(where: str, expected: int) -> None:
    assert crop_offset(where, 7) == expected


def test_mirror_output() -> None:
    assert [mirror_output(r, "left") for r in (False, True)] == [False, False]
    assert [mirror_output(r, "right") for r in (False, True)] == [True, True]
    assert [mirror_output(r, "none") for r in (False, True)] == [False, True]
