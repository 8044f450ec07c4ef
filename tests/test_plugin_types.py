"""The typed plugin core: one record type per hook, typed manager methods, and results
attributed to their plugin by wrapping each hook implementation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pluggy
import pytest

import mammokit
from mammokit import (
    Component,
    ConfigError,
    MetricComponent,
    PadderComponent,
    PluginError,
    WindowingMethodComponent,
    get_plugin_manager,
    hookimpl,
)
from mammokit.plugins import HOOK_TYPES, MammokitPluginManager, manager_or_shared
from mammokit.plugins.protocols import Padder, WindowingMethod
from mammokit.plugins.types import METRICS, PADDERS

SRC = Path(mammokit.__file__).resolve().parents[1]


def _manager(*plugins: object) -> MammokitPluginManager:
    return get_plugin_manager(plugins=plugins, load_entry_points=False)


def _pad(**options: object) -> Padder:
    def pad(pixels: np.ndarray, aspect: float, background: int, /) -> np.ndarray:
        return pixels

    return pad


class Pads:
    """An inline plugin giving a padder as a plain Component."""

    @hookimpl
    def mammokit_padders(self) -> list[Component[Padder]]:
        return [Component("plain_pad", "A padder given as a plain Component", _pad)]


class Fails:
    """An inline plugin whose padder hook raises."""

    @hookimpl
    def mammokit_padders(self) -> list[Component[Padder]]:
        raise RuntimeError("no padders today")


def test_each_hook_gives_its_own_record_type_tagged_with_the_plugin() -> None:
    pm = _manager(Pads())
    padders = pm.padders()
    assert type(padders["plain_pad"]) is PadderComponent
    assert padders["plain_pad"].plugin.startswith("inline-")
    assert type(padders["aspect_pad"]) is PadderComponent
    assert padders["aspect_pad"].plugin == "mammokit.preprocess.plugin"
    windows = pm.window_methods()
    assert all(type(c) is WindowingMethodComponent for c in windows.values())
    # A plain Component in mammokit_metrics is a metric shown under its name, no threshold.
    assert all(isinstance(c, MetricComponent) for c in pm.metrics().values())
    for name, hook in HOOK_TYPES.items():
        assert all(isinstance(c, hook.record) for c in pm.registered(hook).values()), name


def test_typed_build_methods_build_and_check_what_they_build() -> None:
    pm = _manager()
    assert isinstance(pm.build_window("voi_lut"), WindowingMethod)
    assert isinstance(pm.build_padder("aspect_pad"), Padder)
    policy = pm.build_threshold_policy("fixed", "0.25")
    assert policy(np.array([0.1, 0.9])) == pytest.approx(0.25)
    metric = pm.build_metric("sensitivity", threshold=0.5)
    assert metric(np.array([1, 1, 0]), np.array([0.9, 0.2, 0.7])) == pytest.approx(0.5)
    assert pm.resolve(METRICS, "sensitivity").needs_threshold


def test_typed_build_methods_report_errors_as_build_component_does() -> None:
    pm = _manager()
    with pytest.raises(ConfigError, match=r"Unknown padder 'nope'; choose one of: aspect_pad"):
        pm.build_padder("nope")
    with pytest.raises(ConfigError, match=r"invalid options for padder 'aspect_pad' \(bogus=1\)"):
        pm.build_padder("aspect_pad", bogus=1)
    with pytest.raises(ConfigError) as direct:
        mammokit.build_component(pm, PADDERS.name, "aspect_pad", options={"bogus": 1})
    with pytest.raises(ConfigError) as typed:
        pm.build(PADDERS, "aspect_pad", options={"bogus": 1})
    assert str(direct.value) == str(typed.value)


@pytest.mark.parametrize("order", ["failing first", "failing last"])
def test_the_plugin_that_raised_is_named_whatever_the_order(order: str) -> None:
    plugins = [Fails(), Pads()] if order == "failing first" else [Pads(), Fails()]
    with pytest.raises(PluginError) as info:
        _manager(*plugins)
    failing = next(p for p in plugins if isinstance(p, Fails))
    message = str(info.value)
    assert message.startswith(f"Plugin 'inline-{id(failing):x}' failed in hook mammokit_padders")
    assert "RuntimeError: no padders today" in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_each_result_comes_with_its_plugin_whatever_the_order() -> None:
    class Other:
        @hookimpl(tryfirst=True)
        def mammokit_padders(self) -> list[Component[Padder]]:
            return [Component("other_pad", "Another padder", _pad)]

    pads, other = Pads(), Other()
    for plugins in ([pads, other], [other, pads]):
        padders = _manager(*plugins).padders()
        assert padders["plain_pad"].plugin == f"inline-{id(pads):x}"
        assert padders["other_pad"].plugin == f"inline-{id(other):x}"


def test_a_plugin_returning_none_is_named() -> None:
    class Forgot:
        @hookimpl
        def mammokit_losses(self) -> None:
            return None

    forgot = Forgot()
    with pytest.raises(PluginError, match=rf"'inline-{id(forgot):x}' returned None from hook"):
        _manager(forgot)


def test_the_record_of_another_hook_is_refused() -> None:
    class Mixed:
        @hookimpl
        def mammokit_padders(self) -> list[object]:
            return [WindowingMethodComponent("wrong", "A window in the padders", _pad)]

    with pytest.raises(PluginError, match=r"expected mammokit.Component records \(mammokit"):
        _manager(Mixed())


def test_a_manager_not_built_by_get_plugin_manager_is_refused() -> None:
    assert manager_or_shared(None) is get_plugin_manager()
    own = _manager()
    assert manager_or_shared(own) is own
    with pytest.raises(PluginError, match="built by mammokit.get_plugin_manager"):
        mammokit.get_components(pluggy.PluginManager("mammokit"), PADDERS.name)


BAD_FACTORIES = """
    import numpy as np

    from mammokit.plugins.components import BackboneComponent, PadderComponent
    from mammokit.plugins.protocols import Padder


    class Pad:
        def __call__(self, pixels: np.ndarray, aspect: float, background: int, /) -> np.ndarray:
            return pixels


    def make_pad(width: int = 2) -> Pad:
        return Pad()


    def make_text(width: int = 2) -> str:
        return "not a padder"


    def make_backbone(size: int) -> Padder:
        return Pad()


    PadderComponent("good", "A padder", make_pad)
    PadderComponent("bad", "Builds a string", make_text)
    BackboneComponent("bb", "Takes no input shape", make_backbone)
"""


@pytest.mark.slow
def test_mypy_checks_a_plugin_factory_against_its_hook(tmp_path: Path) -> None:
    """A plugin author's mypy refuses a factory that builds the wrong thing or takes the
    wrong arguments, and accepts a right one."""
    pytest.importorskip("mypy")
    snippet = tmp_path / "my_plugin.py"
    snippet.write_text(textwrap.dedent(BAD_FACTORIES))
    done = subprocess.run(
        # the running Python's version: the installed libraries mypy follows into are
        # written for it (tifffile on 3.13 uses the 3.12 `type` statement)
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull,
         "--follow-imports", "silent", "--no-error-summary", str(snippet)],
        env={**os.environ, "MYPYPATH": str(SRC)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, done.stdout + done.stderr
    assert all(line.startswith(("my_plugin.py", str(snippet))) for line in errors), errors
    assert 'Argument 3 to "PadderComponent" has incompatible type' in errors[0]
    assert "PadderFactory" in errors[0]
    assert 'Argument 3 to "BackboneComponent" has incompatible type' in errors[1]
    assert "BackboneFactory" in errors[1]
