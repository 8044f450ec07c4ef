"""The ``mammokit`` entry point: --help, --version, plugins."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mammokit
from mammokit.app.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mammokit", *args], capture_output=True, text=True, check=False
    )


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mammokit {mammokit.__version__}"


def test_help_lists_commands() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "plugins" in result.stdout


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2


def test_unknown_option_is_a_usage_error() -> None:
    assert _run("--no-such-option").returncode == 2


def test_plugins_json_lists_builtin_distribution() -> None:
    result = _run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = json.loads(result.stdout)
    builtin = [p for p in plugins if p["distribution"] == "mammokit"]
    assert builtin and all(p["version"] == mammokit.__version__ for p in builtin)


def test_plugins_text_shows_components(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for info in mammokit.list_plugins(mammokit.get_plugin_manager()):
        assert info.name in out
