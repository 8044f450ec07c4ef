"""Fixtures of the training tests: a synthetic dataset (mammokit synth) preprocessed
(mammokit preprocess) to PNGs and to TFRecord shards, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic patients (48 images of 256x208) with clear lesions."""
    from mammokit.synthetic import SynthConfig, write_dataset

    root = tmp_path_factory.mktemp("train-synth")
    write_dataset(
        root, SynthConfig(patients=12, image_size=(256, 208), seed=0, lesion_contrast=0.4)
    )
    return root


def _preprocess(synth_dir: Path, out: Path, fmt: str) -> Path:
    from mammokit import Pipeline
    from mammokit.data import preprocess_dataset

    preprocess_dataset(
        Pipeline(size=(128, 64)),
        synth_dir / "train_images",
        synth_dir / "train.csv",
        out,
        workers=1,
        format=fmt,
        quiet=True,
    )
    return out


@pytest.fixture(scope="session")
def preprocessed_dir(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic dataset preprocessed to 128x64 uint8 PNGs."""
    return _preprocess(synth_dir, tmp_path_factory.mktemp("train-png") / "pre", "png")


@pytest.fixture(scope="session")
def tfrecord_dir(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic dataset preprocessed to 128x64 uint8 TFRecord shards."""
    return _preprocess(synth_dir, tmp_path_factory.mktemp("train-tfr") / "pre", "tfrecord")
