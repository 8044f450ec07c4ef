"""Lesion masks as a training signal, from the CLI, each step in its own process:
``synth --lesion-masks`` -> ``preprocess`` (a mask beside each image) -> ``train
--mask-weight`` (a segmentation head on the backbone's feature map, left out of
``model.keras``), and a killed mask run resumes to the same bits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_processes import mammokit
from test_resume import assert_same_run, killed, train

from mammokit.core.config import load_toml

pytestmark = pytest.mark.train

#: simple_cnn (stride 16: a 8x4 grid at 128x64), every row every epoch.
SIMPLE = ["--backbone", "simple_cnn", "--batch-size", "8", "--strategy", "cpu",
          "--n-folds", "3", "--sampling", "none"]  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 synthetic patients with large, clear masses and their masks, preprocessed to
    128x64 by the CLI (the folder is named ``prep``, as test_resume's helpers expect)."""
    root = tmp_path_factory.mktemp("lesion-masks")
    mammokit("synth", "--out", "data", "--patients", "8", "--size", "256x208",
             "--lesion-contrast", "0.5", "--lesion-size", "0.2", "--positive-fraction", "0.5",
             "--lesion-masks", cwd=root)  # fmt: skip
    done = mammokit("preprocess", "--images", "data/train_images", "--csv", "data/train.csv",
                    "--out", "prep", "--size", "128x64", "--workers", "1", "--quiet",
                    cwd=root)  # fmt: skip
    assert "32 lesion mask(s) written" in done.stderr
    return root


def _cells(root: Path, model_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """The head's lesion probabilities on every preprocessed image, and the masks on its
    grid (a cell is lesion when any of its pixels is)."""
    from mammokit.core.tf import import_tf
    from mammokit.train.data import load_images
    from mammokit.train.load import load_model

    tf = import_tf()
    index = pd.read_csv(root / "prep" / "index.csv")
    images = load_images([str(root / "prep" / p) for p in index["path"]], bit_depth=8)
    masks = load_images([str(root / "prep" / p) for p in index["mask_path"]], bit_depth=8)
    head = load_model(model_file)
    probabilities = head.predict(images, verbose=0)
    grid = tf.image.resize(tf.cast(masks > 0.5, tf.float32), probabilities.shape[1:3], "area")
    return probabilities.ravel(), grid.numpy().ravel() > 0


def test_the_mask_loss_trains_a_head_that_finds_the_lesions(root: Path) -> None:
    """One training process (about 30 s): Dice on the head; the saved model keeps the main
    output, and mask_model.keras maps images to lesion probabilities that rank lesion
    cells above the others."""
    from sklearn.metrics import roc_auc_score

    from mammokit.train.load import load_model

    train(root, "dice", *SIMPLE, "--epochs", "4", "--mask-weight", "1", "--save-mask-model")
    run = root / "dice"
    history = pd.read_csv(run / "history.csv")
    loss = history["lesion_mask_loss"].to_numpy()
    assert loss[-1] < loss[0], loss
    stats = load_toml(run / "config.toml")["stats"]["masks"]
    assert stats["grid"] == [8, 4] and stats["stride"] == [16.0, 16.0]
    assert 0 < stats["with_mask"] == stats["rows"]
    model = load_model(run)
    assert len(model.outputs) == 1 and tuple(model.outputs[0].shape) == (None, 1)
    scores, lesion = _cells(root, run / "mask_model.keras")
    assert 0 < lesion.mean() < 0.3
    assert roc_auc_score(lesion, scores) > 0.65


def test_a_killed_mask_run_resumes_bit_identically(root: Path) -> None:
    """Three processes (about 40 s): BCE on the head with augmentation (the masks are
    flipped, rotated and shifted with their images), killed mid-epoch 2, resumed."""
    args = [*SIMPLE, "--epochs", "2", "--mask-weight", "0.5", "--mask-loss", "bce",
            "--monitor", "val_loss"]  # fmt: skip
    train(root, "bce-a", *args)
    assert "lesion_mask_loss" in pd.read_csv(root / "bce-a" / "history.csv").columns
    killed(root, "bce-k", "batch:5", like="bce-a")
    train(root, "bce-k", *args, "--resume")
    assert_same_run(root / "bce-a", root / "bce-k")


def test_mask_weight_without_masks_is_refused(root: Path) -> None:
    mammokit("preprocess", "--images", "data/train_images", "--csv", "data/train.csv",
             "--out", "plain", "--size", "64x32", "--workers", "0", "--mask-column", "",
             "--quiet", cwd=root)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "mammokit", "train", "--data", "plain", "--out", "none",
         *SIMPLE, "--epochs", "1", "--mask-weight", "1"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0
    assert "no lesion masks" in done.stderr and "--mask-column" in done.stderr
    assert not (root / "none" / "config.toml").exists()
