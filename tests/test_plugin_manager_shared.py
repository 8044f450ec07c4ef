"""One plugin manager per process: built once, its registry hooks called once, frozen."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

import mammokit
from mammokit import Component, PluginError, get_components, get_plugin_manager, hookimpl
from mammokit.plugins import DISABLE_ENV, reset_plugin_managers

#: Counts the hook calls that MAMMOKIT_TRACE_PLUGINS=1 traces (pluggy writes one
#: "  <hook> [hook]" line per call and one "finish <hook> --> ..." line per return).
COUNT_SCRIPT = textwrap.dedent(
    """
    import logging

    calls = []

    class Count(logging.Handler):
        def emit(self, record):
            line = record.getMessage().strip()
            if line.endswith("[hook]") and not line.startswith("finish "):
                calls.append(line.split()[0])

    logger = logging.getLogger("mammokit.plugins")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Count())

    import mammokit

    mammokit.Pipeline()
    mammokit.Pipeline()
    print(len(calls), " ".join(calls))
    """
)


@pytest.fixture(autouse=True)
def fresh_managers() -> Iterator[None]:
    reset_plugin_managers()
    yield
    reset_plugin_managers()


def test_two_pipelines_in_a_new_process_make_at_most_twelve_hook_calls() -> None:
    """As a user's script: the manager is built once (its validation calls each of the 10
    registry hooks once) and the second Pipeline calls none."""
    done = subprocess.run(
        [sys.executable, "-c", COUNT_SCRIPT],
        env={**os.environ, "MAMMOKIT_TRACE_PLUGINS": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    count, *hooks = done.stdout.split()
    assert int(count) <= 12, hooks
    assert len(hooks) == len(set(hooks)), f"a hook was called twice: {hooks}"


def test_the_default_manager_is_shared_and_refuses_registrations() -> None:
    shared = get_plugin_manager()
    assert get_plugin_manager() is shared
    assert mammokit.Pipeline().manager is shared
    with pytest.raises(PluginError, match="shared plugin manager"):
        shared.register(object(), name="late")
    with pytest.raises(PluginError, match="shared plugin manager"):
        shared.unregister(name="mammokit.dicom.plugin")


def test_reset_and_changed_switches_build_a_new_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_plugin_manager()
    reset_plugin_managers()
    second = get_plugin_manager()
    assert second is not first
    monkeypatch.setenv(DISABLE_ENV, "mammokit-clahe")
    third = get_plugin_manager()
    assert third is not second
    assert "clahe" not in get_components(third, "mammokit_windowing_methods")
    monkeypatch.delenv(DISABLE_ENV)
    assert get_plugin_manager() is second


def test_a_manager_with_other_arguments_is_new_and_registering_refreshes_its_components() -> None:
    own = get_plugin_manager(load_entry_points=False)
    assert own is not get_plugin_manager(load_entry_points=False)
    assert "late" not in get_components(own, "mammokit_padders")

    class LatePadder:
        @hookimpl
        def mammokit_padders(self) -> list[Component[object]]:
            return [Component("late", "registered after the first call", factory=object)]

    own.register(LatePadder(), name="late-plugin")
    assert get_components(own, "mammokit_padders")["late"].plugin == "late-plugin"
    own.unregister(name="late-plugin")
    assert "late" not in get_components(own, "mammokit_padders")
