"""Fixtures for plugin authors, registered as the ``pytest11`` plugin ``mammokit``.

Use them in a plugin package's tests::

    def test_my_window(mammokit_manager_with):
        pm = mammokit_manager_with(my_plugin_module)
        pipe = mammokit.Pipeline(window="mine", manager=pm)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mammokit.plugins import MammokitPluginManager, get_plugin_manager

__all__ = ["mammokit_manager", "mammokit_manager_with", "mammokit_tiny_dataset"]


@pytest.fixture
def mammokit_manager() -> MammokitPluginManager:
    """A fresh plugin manager with the built-ins only (no entry points)."""
    return get_plugin_manager(load_entry_points=False)


@pytest.fixture
def mammokit_manager_with() -> Callable[..., MammokitPluginManager]:
    """A factory: ``mammokit_manager_with(plugin, ...)`` gives a fresh manager with the
    built-ins plus the given inline plugins (modules, classes or objects with hookimpls)."""

    def make(*plugins: object, entry_points: bool = False) -> MammokitPluginManager:
        return get_plugin_manager(plugins=plugins, load_entry_points=entry_points)

    return make


@pytest.fixture
def mammokit_tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tiny synthetic RSNA-shaped dataset: ``train_images/``, ``train.csv``, made once per
    test. Returns its root folder."""
    from mammokit.synthetic import SynthConfig, write_dataset

    root = tmp_path_factory.mktemp("mammokit-tiny")
    write_dataset(root, SynthConfig(patients=4, image_size=(128, 96), seed=0))
    yield root
