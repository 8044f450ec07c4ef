"""Fixtures of the training tests: a synthetic, preprocessed dataset (mammokit synth +
mammokit preprocess output), made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def preprocessed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic patients (48 images) preprocessed to 128x64 uint8 PNGs."""
    from mammokit import Pipeline
    from mammokit.data import preprocess_dataset
    from mammokit.synthetic import SynthConfig, write_dataset

    root = tmp_path_factory.mktemp("train-data")
    write_dataset(
        root / "synth",
        SynthConfig(patients=12, image_size=(256, 208), seed=0, lesion_contrast=0.4),
    )
    preprocess_dataset(
        Pipeline(size=(128, 64)),
        root / "synth" / "train_images",
        root / "synth" / "train.csv",
        root / "pre",
        workers=1,
        quiet=True,
    )
    return root / "pre"
