"""Lesion masks go through their image's geometry: crop, mirror, pad, resize, flip.

Ground truth: a phantom whose lesion is the only bright thing in it (255 on tissue of at
most 63), so the lesion's place in the *output image* is known from the pixels alone; the
preprocessed mask must cover the same pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammokit.core.errors import ImageReadError
from mammokit.preprocess.lesion import read_lesion_mask
from mammokit.preprocess.pipeline import ImagePipeline
from mammokit.synthetic import Lesion, make_phantom


def _phantom_files(tmp_path: Path, *, right: bool, seed: int = 3) -> tuple[Path, Path]:
    """A 400x320 phantom PNG (breast on the right when ``right``) whose lesion is 255 and
    everything else at most 63, and its lesion mask PNG (0/255)."""
    lesion = Lesion("mass", radius=0.15, depth=0.05, height=0.15, seed=seed)
    ph = make_phantom((400, 320), breast_on_right=right, lesion=lesion, seed=seed)
    mask = ph.lesion_mask.astype(bool)
    assert mask.sum() > 200
    pixels = np.rint(np.clip(ph.image, 0, 1) * 63).astype(np.uint8)
    pixels[mask] = 255
    image, mask_file = tmp_path / "image.png", tmp_path / "mask.png"
    Image.fromarray(pixels).save(image)
    Image.fromarray(mask.astype(np.uint8) * 255).save(mask_file)
    return image, mask_file


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("flip", ["left", "right", "none"])
@pytest.mark.parametrize("horizontal", ["end", "start"])
def test_the_mask_lands_on_the_lesion(tmp_path: Path, right: bool, flip: str, horizontal: str):
    image, mask_file = _phantom_files(tmp_path, right=right)
    pipeline = ImagePipeline(
        size=(128, 64), flip=flip, padder_options={"horizontal": horizontal}, roi_margin=0.02
    )
    result = pipeline.preprocess(image, laterality="R" if right else "L")  # the table's
    assert result.laterality == ("R" if right else "L")
    mask = pipeline.lesion_mask(result, [mask_file])
    assert mask.shape == (128, 64) and mask.dtype == bool
    bright = result.pixels > 159  # the lesion (halfway from 63 to 255), wherever it went
    assert bright.sum() > 30
    assert _iou(bright, mask) > 0.9
    # the lesion lies near the chest wall, which is on the side flip asks for
    chest_wall_left = flip == "left" or (flip == "none" and not right)
    column = np.nonzero(mask)[1].mean() / mask.shape[1]
    assert (column < 0.5) == chest_wall_left


def test_masks_are_united_and_none_is_background(tmp_path: Path):
    image, mask_file = _phantom_files(tmp_path, right=False)
    source = np.asarray(Image.open(mask_file)) > 0
    half = source.copy()
    half[: source.shape[0] // 2 + 20] = False  # the lower part of the lesion only
    other = tmp_path / "other.png"
    Image.fromarray(~half & source).save(other)
    union = read_lesion_mask([tmp_path / "mask.png"], source.shape)
    assert np.array_equal(read_lesion_mask([other, mask_file], source.shape), union)
    assert not read_lesion_mask([], source.shape).any()
    pipeline = ImagePipeline(size=(128, 64))
    result = pipeline.preprocess(image)
    assert not pipeline.lesion_mask(result, []).any()


def test_a_bad_mask_names_the_file(tmp_path: Path):
    image, _ = _phantom_files(tmp_path, right=False)
    pipeline = ImagePipeline(size=(128, 64))
    result = pipeline.preprocess(image)
    missing = tmp_path / "nowhere.png"
    with pytest.raises(ImageReadError, match="lesion mask file not found") as info:
        pipeline.lesion_mask(result, [missing])
    assert str(missing) in str(info.value)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 32), np.uint8)).save(small)
    with pytest.raises(ImageReadError, match="40x32 but its image is 400x320"):
        pipeline.lesion_mask(result, [small])
