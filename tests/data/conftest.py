"""A small synthetic RSNA dataset shared by the dataset tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mammokit.synthetic import SynthConfig, write_dataset


@pytest.fixture(scope="session")
def synth_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 patients (12 images, 128x96, every encoding), written once."""
    root = tmp_path_factory.mktemp("synth-source")
    write_dataset(root, SynthConfig(patients=3, image_size=(128, 96), seed=3))
    return root


@pytest.fixture
def synth(synth_source: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic dataset, free to damage."""
    root = tmp_path / "data"
    shutil.copytree(synth_source, root)
    return root
