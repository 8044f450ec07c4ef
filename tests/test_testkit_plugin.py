"""The test plugin ``mammokit-testkit`` registers one component of every kind, typed
against the Protocols (``nox -s plugin`` runs ``mypy --strict`` on it); here every one of
them is found through its real entry point and built through the manager's contract check,
and the preprocessing ones run in a Pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mammokit
from installed_plugins import env_with
from mammokit.plugins import build_component, get_plugin_manager
from mammokit.plugins.hookspecs import REGISTRY_HOOKS
from mammokit.plugins.protocols import HOOK_PROTOCOLS

TESTKIT = Path(__file__).resolve().parent / "plugins" / "testkit"


@pytest.fixture(scope="module")
def testkit_manager() -> mammokit.MammokitPluginManager:
    sys.path.insert(0, str(TESTKIT))
    try:
        import mammokit_testkit

        return get_plugin_manager(plugins=[mammokit_testkit], load_entry_points=False)
    finally:
        sys.path.remove(str(TESTKIT))


def test_the_entry_point_registers_one_component_of_every_kind() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "mammokit", "plugins", "--json"],
        env=env_with(TESTKIT),
        capture_output=True,
        text=True,
        check=True,
    )
    testkit = {p["name"]: p for p in json.loads(listing.stdout)}["mammokit-testkit"]
    assert testkit["status"] == "loaded" and testkit["distribution"] == "mammokit-testkit"
    assert set(testkit["provides"]) == set(REGISTRY_HOOKS)


@pytest.mark.parametrize(
    ("hook_name", "name", "args", "context"),
    [
        ("mammokit_decoders", "testkit_decoder", (), {}),
        ("mammokit_windowing_methods", "testkit_half", (), {}),
        ("mammokit_roi_extractors", "testkit_whole", (), {}),
        ("mammokit_padders", "testkit_bottom_pad", (), {}),
        ("mammokit_sampling_strategies", "testkit_every_row", (), {}),
        ("mammokit_external_datasets", "testkit_folder", (".",), {}),
        ("mammokit_threshold_policies", "testkit_median", (None,), {}),
        ("mammokit_metrics", "testkit_mean_score", (), {}),
        ("mammokit_pretraining_methods", "testkit_brightness", (), {}),
    ],
)
def test_every_testkit_component_builds_and_meets_its_protocol(
    testkit_manager: mammokit.MammokitPluginManager,
    hook_name: str,
    name: str,
    args: tuple[object, ...],
    context: dict[str, object],
) -> None:
    built = build_component(testkit_manager, hook_name, name, *args, **context)
    assert isinstance(built, HOOK_PROTOCOLS[hook_name])
    assert mammokit.get_components(testkit_manager, hook_name)[name].plugin == "mammokit_testkit"


def test_the_testkit_stages_run_in_a_pipeline(
    testkit_manager: mammokit.MammokitPluginManager, tmp_path: Path
) -> None:
    mammokit.write_dataset(tmp_path, mammokit.SynthConfig(patients=1, image_size=(96, 64)))
    image = next((tmp_path / "train_images").rglob("*.dcm"))
    pipe = mammokit.Pipeline(size=(64, 32), window="testkit_half", roi="testkit_whole",
                             padder="testkit_bottom_pad", manager=testkit_manager)  # fmt: skip
    out = pipe.preprocess(image)
    assert out.pixels.shape == (64, 32) and out.pixels.dtype == np.uint8
    assert out.roi_method == "testkit_whole"
    decoded = pipe.decode(image)
    assert decoded.decoder != "testkit_decoder"  # named_only: never the automatic choice
