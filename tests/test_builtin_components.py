"""Every registry hook: the built-in components it provides, and that they can be built.

Factories of TensorFlow components (backbones, losses) are only listed here; building them
is tested in ``tests/train`` under the ``train`` marker, so this file runs without TF.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import mammokit
from mammokit.plugins.hookspecs import REGISTRY_HOOKS

BUILTINS: dict[str, set[str]] = {
    "mammokit_decoders": {"pydicom", "j2k_reduced", "dicomsdl"},
    "mammokit_windowing_methods": {"voi_lut", "minmax"},
    "mammokit_roi_extractors": {"profile_crop", "otsu"},
    "mammokit_padders": {"aspect_pad"},
    "mammokit_sampling_strategies": {"undersample", "class_weight", "balanced_batches", "none"},
    "mammokit_external_datasets": {"ddsm", "image_folder"},
    "mammokit_backbones": {
        "convnextv2_atto",
        "convnextv2_femto",
        "convnextv2_pico",
        "convnextv2_nano",
        "convnextv2_tiny",
        "convnextv2_base",
        "simple_cnn",
    },
    "mammokit_losses": {"bce", "bce_smooth", "focal"},
    "mammokit_threshold_policies": {"prior_quantile", "fixed", "best_pf1", "none"},
    "mammokit_metrics": {"pf1", "auc", "pr_auc", "f1", "sensitivity", "specificity"},
    "mammokit_pretraining_methods": {"fcmae"},
}
NO_TF_FACTORIES = (
    "mammokit_windowing_methods",
    "mammokit_roi_extractors",
    "mammokit_padders",
    "mammokit_sampling_strategies",
    "mammokit_metrics",
    "mammokit_pretraining_methods",
)


@pytest.fixture(scope="module")
def builtin_manager():  # type: ignore[no-untyped-def]
    return mammokit.get_plugin_manager(load_entry_points=False)


def test_every_hook_has_expected_builtins() -> None:
    assert set(BUILTINS) == set(REGISTRY_HOOKS)


@pytest.mark.parametrize("hook_name", sorted(BUILTINS))
def test_builtin_components_are_registered(builtin_manager, hook_name: str) -> None:  # type: ignore[no-untyped-def]
    names = set(mammokit.get_components(builtin_manager, hook_name))
    assert BUILTINS[hook_name] <= names


@pytest.mark.parametrize("hook_name", NO_TF_FACTORIES)
def test_core_factories_build_with_defaults(builtin_manager, hook_name: str) -> None:  # type: ignore[no-untyped-def]
    for name, component in mammokit.get_components(builtin_manager, hook_name).items():
        built = component.factory()
        assert built is not None, f"{hook_name}:{name} built None"


def test_decoder_components_declare_what_they_decode(builtin_manager) -> None:  # type: ignore[no-untyped-def]
    decoders = mammokit.get_components(builtin_manager, "mammokit_decoders")
    for component in decoders.values():
        assert isinstance(component, mammokit.DecoderComponent)
        assert isinstance(component.is_available(), bool)
    assert decoders["pydicom"].is_available()
    assert "1.2.840.10008.1.2.4.90" in decoders["j2k_reduced"].transfer_syntaxes
    assert decoders["j2k_reduced"].reduces_resolution


def test_listing_plugins_imports_no_heavy_backend() -> None:
    code = (
        "import sys, mammokit; pm = mammokit.get_plugin_manager();"
        "mammokit.list_plugins(pm);"
        "sys.exit(any(m in sys.modules for m in ('tensorflow', 'keras', 'dicomsdl')))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
