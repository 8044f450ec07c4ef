"""The parts of the lesion-mask head, in this process: the loss on the head's grid, the
masks' augmentation, which rows count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammokit import ConfigError
from mammokit.train.config import AugmentConfig, TrainConfig

pytestmark = pytest.mark.train


def _losses(kind: str, masks: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    from mammokit.train.lesion_head import mask_loss

    return np.asarray(mask_loss(kind)(masks.astype(np.float32), predictions.astype(np.float32)))


def test_a_cell_is_lesion_when_any_pixel_is() -> None:
    masks = np.zeros((2, 8, 4, 1))
    masks[0, 5, 1] = 1.0  # one pixel: the cell (1, 0) of a 4x2 grid of 2x2 cells
    exact = np.zeros((2, 4, 2, 1))
    exact[0, 2, 0] = 1.0
    assert _losses("dice", masks, exact) == pytest.approx([0.0, 0.0], abs=1e-6)
    assert _losses("bce", masks, np.clip(exact, 1e-4, 1 - 1e-4)) == pytest.approx(
        [0.0, 0.0], abs=1e-3
    )
    shifted = np.roll(exact, 1, axis=1)
    assert (_losses("dice", masks, shifted) > [0.6, -1]).all()
    everywhere = np.ones((2, 4, 2, 1))
    dice = _losses("dice", masks, everywhere)
    assert dice[1] == pytest.approx(8 / 9)  # an image without lesion: a false alarm costs
    with pytest.raises(ConfigError, match="mask_loss"):
        _losses("focal", masks, exact)


def test_masks_move_with_their_images() -> None:
    """Geometry only: with the intensity changes off, an image that *is* its mask comes out
    of augment_batch as augment_masks moves the mask, batch after batch."""
    from mammokit.train.data import augment_batch, augment_masks

    rng = np.random.default_rng(0)
    images = (rng.random((6, 32, 16, 1)) > 0.8).astype(np.float32)
    cfg = AugmentConfig(
        hflip=0.5, vflip=0.5, rotate_degrees=10, scale=0.1, translate=0.1,
        brightness=0, contrast=0, gamma=0, cutout=0,
    )  # fmt: skip
    for step in range(3):
        moved = np.asarray(augment_batch(images, cfg, seed=5, step=step))
        assert np.array_equal(moved, np.asarray(augment_masks(images, cfg, seed=5, step=step)))
        assert not np.array_equal(moved, images)


def test_rows_without_a_mask_file_are_left_out(tmp_path) -> None:
    from mammokit.train.lesion_head import mask_files

    rows = pd.DataFrame({"mask_path": ["masks/1/a.png", np.nan, ""]})
    files = mask_files(rows, tmp_path)
    assert list(files) == [str(tmp_path.resolve() / "masks/1/a.png"), "", ""]
    with pytest.raises(ConfigError, match="no lesion masks"):
        mask_files(pd.DataFrame({"path": ["x.png"]}), tmp_path)


def test_save_mask_model_needs_the_head() -> None:
    with pytest.raises(ValueError, match="save_mask_model needs a mask head"):
        TrainConfig(save_mask_model=True)
    assert TrainConfig(mask_weight=0.5, save_mask_model=True).mask_loss == "dice"
