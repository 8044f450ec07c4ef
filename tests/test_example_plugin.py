"""The example third-party plugin, installed from plugins/mammokit-clahe through its entry point.

The nox ``tests`` session installs it; these tests check discovery, listing and disabling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import mammokit

pytest.importorskip("mammokit_clahe", reason="install ./plugins/mammokit-clahe (nox does)")


def _plugins_json(**env: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "mammokit", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_installed_plugin_is_listed_with_its_distribution() -> None:
    listed = {p["name"]: p for p in _plugins_json(MAMMOKIT_DISABLE_PLUGINS="")}
    clahe = listed["mammokit-clahe"]
    assert clahe["distribution"] == "mammokit-clahe"
    assert clahe["provides"] == {"mammokit_windowing_methods": ["clahe"]}


def test_pipeline_resolves_the_plugin_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAMMOKIT_DISABLE_PLUGINS", raising=False)
    pipe = mammokit.Pipeline(window="clahe")
    assert pipe.components["window"].name == "clahe"


@pytest.mark.parametrize("name", ["mammokit-clahe", "mammokit_clahe"])
def test_disable_variable_removes_the_plugin(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # The entry-point name and the distribution name (either spelling) both block it.
    status = {p["name"]: p["status"] for p in _plugins_json(MAMMOKIT_DISABLE_PLUGINS=name)}
    assert status["mammokit-clahe"] == "disabled"  # listed, not loaded
    monkeypatch.setenv("MAMMOKIT_DISABLE_PLUGINS", name)
    with pytest.raises(mammokit.ConfigError, match="Unknown windowing method 'clahe'"):
        mammokit.Pipeline(window="clahe")
