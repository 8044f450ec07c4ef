"""Tests of the example plugin, written with mammokit's plugin-author fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mammokit_clahe
import numpy as np
import pytest

import mammokit

#: The ``mammokit_manager_with`` fixture: plugins -> a fresh manager.
ManagerFactory = Callable[..., mammokit.MammokitPluginManager]


def _first_dicom(root: Path) -> Path:
    return sorted((root / "train_images").rglob("*.dcm"))[0]


def test_clahe_is_registered_by_the_hook(mammokit_manager_with: ManagerFactory) -> None:
    pm = mammokit_manager_with(mammokit_clahe)
    components = mammokit.get_components(pm, "mammokit_windowing_methods")
    assert components["clahe"].factory is mammokit_clahe.ClaheWindow


def test_clahe_raises_local_contrast(
    mammokit_manager_with: ManagerFactory, mammokit_tiny_dataset: Path
) -> None:
    pm = mammokit_manager_with(mammokit_clahe)
    path = _first_dicom(mammokit_tiny_dataset)
    plain = mammokit.Pipeline(manager=pm)
    clahe = mammokit.Pipeline(window="clahe", window_options={"clip_limit": 0.05}, manager=pm)
    decoded = plain.decode(path)
    base, enhanced = plain.window(decoded), clahe.window(decoded)
    assert enhanced.pixels.shape == base.pixels.shape
    assert enhanced.pixels.dtype == base.pixels.dtype
    tissue = base.pixels > 0
    assert tissue.any()
    # Equalisation spreads the tissue's grey levels; the background stays black.
    assert enhanced.pixels[tissue].std() > base.pixels[tissue].std()
    assert np.all(enhanced.pixels[~tissue] == 0)


def test_clahe_runs_through_the_whole_pipeline(
    mammokit_manager_with: ManagerFactory, mammokit_tiny_dataset: Path
) -> None:
    pm = mammokit_manager_with(mammokit_clahe)
    pipe = mammokit.Pipeline(window="clahe", size=(128, 64), manager=pm)
    out = pipe.preprocess(_first_dicom(mammokit_tiny_dataset))
    assert out.pixels.shape == (128, 64)


def test_invalid_clip_limit_is_a_config_error(mammokit_manager_with: ManagerFactory) -> None:
    pm = mammokit_manager_with(mammokit_clahe)
    with pytest.raises(mammokit.ConfigError, match="clip_limit"):
        mammokit.Pipeline(window="clahe", window_options={"clip_limit": 5}, manager=pm)


class _WrongWindow:
    """A window whose call takes the wrong arguments (it must take a DecodedImage)."""

    def __call__(self, decoded: mammokit.DecodedImage, gamma: float) -> mammokit.WindowedImage:
        raise AssertionError("never called: the contract check refuses it first")


class _WrongPlugin:
    @mammokit.hookimpl
    def mammokit_windowing_methods(self) -> list[mammokit.Component[mammokit.WindowingMethod]]:
        return [mammokit.Component("wrong_window", "Takes two arguments", _WrongWindow)]  # type: ignore[arg-type]


def test_a_wrong_component_is_refused_with_a_plugin_error(
    mammokit_manager_with: ManagerFactory,
) -> None:
    pm = mammokit_manager_with(_WrongPlugin())
    with pytest.raises(mammokit.PluginError, match=r"WindowingMethod: __call__.*'gamma'"):
        mammokit.Pipeline(window="wrong_window", manager=pm)
