"""The plugin manager: built-ins, inline plugins, entry points, conflicts, errors."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

import pluggy
import pytest

import mammokit
from mammokit import Component, ConfigError, PluginError, get_plugin_manager, hookimpl
from mammokit.plugins import (
    BUILTIN_PLUGINS,
    DISABLE_ENV,
    STRICT_ENV,
    get_components,
    list_plugins,
)
from mammokit.plugins.hookspecs import REGISTRY_HOOKS


def _identity(**options: object) -> object:
    return lambda image: image


class WindowPlugin:
    """An inline plugin registering one windowing method."""

    def __init__(self, name: str = "fake_window") -> None:
        self.component_name = name

    @hookimpl
    def mammokit_windowing_methods(self) -> list[Component]:
        return [Component(self.component_name, "A fake window for tests", _identity)]


def _manager(*plugins: object) -> pluggy.PluginManager:
    return get_plugin_manager(plugins=plugins, load_entry_points=False)


def test_manager_is_a_fresh_factory() -> None:
    first, second = _manager(), _manager()
    assert first is not second
    assert first.project_name == "mammokit"


def test_builtins_are_registered_under_their_module_names() -> None:
    pm = _manager()
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert set(BUILTIN_PLUGINS) <= names


def test_inline_plugin_component_is_collected() -> None:
    pm = _manager(WindowPlugin())
    components = get_components(pm, "mammokit_windowing_methods")
    assert components["fake_window"].description == "A fake window for tests"


def test_duplicate_component_name_names_both_plugins() -> None:
    first, second = WindowPlugin("same"), WindowPlugin("same")
    with pytest.raises(
        PluginError, match="Conflicting plugins for windowing method 'same'"
    ) as info:
        get_plugin_manager(plugins=[first, second], load_entry_points=False)
    message = str(info.value)
    assert message.count("inline-") == 2  # both registration names appear


def test_unknown_hook_implementation_fails_validation() -> None:
    class Misspelt:
        @hookimpl
        def mammokit_windowing_method(self) -> list[Component]:  # missing "s"
            return []

    with pytest.raises(PluginError, match="mammokit_windowing_method"):
        _manager(Misspelt())


def test_plugin_returning_a_non_component_is_rejected() -> None:
    class Wrong:
        @hookimpl
        def mammokit_metrics(self) -> list[object]:
            return ["not a component"]

    with pytest.raises(PluginError, match="expected mammokit.Component"):
        _manager(Wrong())


def test_plugin_raising_in_a_hook_is_named() -> None:
    class Broken:
        @hookimpl
        def mammokit_losses(self) -> list[Component]:
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match=r"failed in hook mammokit_losses: RuntimeError: boom"):
        _manager(Broken())


def test_unknown_component_name_lists_available() -> None:
    pm = _manager(WindowPlugin("aaa"), WindowPlugin("bbb"))
    with pytest.raises(
        ConfigError, match=r"Unknown windowing method 'nope'; choose one of: .*aaa, bbb"
    ):
        mammokit.resolve_component(pm, "mammokit_windowing_methods", "nope")


def test_builtin_import_failure_names_plugin_and_distribution() -> None:
    with pytest.raises(
        PluginError, match=r"'mammokit\.no_such_module' \(distribution 'mammokit'\)"
    ):
        get_plugin_manager(builtins=["mammokit.no_such_module"], load_entry_points=False)


def test_component_records_are_validated() -> None:
    with pytest.raises(ValueError, match="lower case"):
        Component("Bad Name", "x", _identity)
    with pytest.raises(ValueError, match="one non-empty line"):
        Component("ok", "two\nlines", _identity)
    with pytest.raises(TypeError):
        Component("ok", "fine", "not callable")  # type: ignore[arg-type]


# --- entry points, faked with a real .dist-info folder on disk ------------------------


def _fake_distribution(tmp_path: Path, module_source: str, ep_name: str = "fake-ep") -> None:
    """Write an importable module and a dist-info folder declaring it as a mammokit plugin."""
    module = f"fake_mammokit_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(module_source))
    dist_info = tmp_path / "fake_dist-1.2.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-dist\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text(f"[mammokit]\n{ep_name} = {module}\n")


GOOD_PLUGIN = """
    import mammokit

    @mammokit.hookimpl
    def mammokit_metrics():
        return [mammokit.Component("fake_metric", "A metric from an entry point", lambda: len)]
"""


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        importlib.metadata,
        "distributions",
        lambda: iter([importlib.metadata.PathDistribution(tmp_path / "fake_dist-1.2.3.dist-info")]),
    )
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    return tmp_path


def test_entry_point_plugin_is_loaded_and_listed(fake_dist: Path) -> None:
    _fake_distribution(fake_dist, GOOD_PLUGIN)
    pm = get_plugin_manager()
    assert "fake_metric" in get_components(pm, "mammokit_metrics")
    info = {i.name: i for i in list_plugins(pm)}["fake-ep"]
    assert (info.distribution, info.version) == ("fake-dist", "1.2.3")
    assert info.provides == {"mammokit_metrics": ("fake_metric",)}


@pytest.mark.parametrize("blocked", ["fake-ep", "fake-dist", " other , fake-ep "])
def test_disable_variable_blocks_entry_point(
    fake_dist: Path, monkeypatch: pytest.MonkeyPatch, blocked: str
) -> None:
    _fake_distribution(fake_dist, GOOD_PLUGIN)
    monkeypatch.setenv(DISABLE_ENV, blocked)
    pm = get_plugin_manager()
    assert "fake_metric" not in get_components(pm, "mammokit_metrics")
    assert pm.get_plugin("fake-ep") is None


def test_entry_point_import_error_is_fatal_when_strict(
    fake_dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(fake_dist, "import no_such_dependency_anywhere\n")
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(
        PluginError,
        match=r"'fake-ep' from distribution 'fake-dist' 1\.2\.3.*ModuleNotFoundError.*"
        r"set MAMMOKIT_DISABLE_PLUGINS=fake-ep to skip it",
    ):
        get_plugin_manager()


def test_entry_point_import_error_is_reported_and_the_rest_works(
    fake_dist: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_distribution(fake_dist, "import no_such_dependency_anywhere\n")
    monkeypatch.delenv(STRICT_ENV, raising=False)
    with caplog.at_level("WARNING", logger="mammokit.plugins"):
        pm = get_plugin_manager()
    assert "Error loading plugin 'fake-ep'" in caplog.text
    assert "MAMMOKIT_DISABLE_PLUGINS=fake-ep" in caplog.text and STRICT_ENV in caplog.text
    assert "voi_lut" in get_components(pm, "mammokit_windowing_methods")
    info = {i.name: i for i in list_plugins(pm)}["fake-ep"]
    assert (info.status, info.distribution, info.version) == ("failed", "fake-dist", "1.2.3")
    assert "ModuleNotFoundError" in info.error


def test_disabled_plugins_are_listed_as_disabled(
    fake_dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(fake_dist, GOOD_PLUGIN)
    monkeypatch.setenv(DISABLE_ENV, "fake-ep")
    info = {i.name: i for i in list_plugins(get_plugin_manager())}["fake-ep"]
    assert (info.status, info.distribution, info.provides) == ("disabled", "fake-dist", {})


def test_every_conflict_is_reported_at_once() -> None:
    class Windows:
        @hookimpl
        def mammokit_windowing_methods(self) -> list[Component]:
            return [Component("voi_lut", "clash one", _identity)]

        @hookimpl
        def mammokit_padders(self) -> list[Component]:
            return [Component("aspect_pad", "clash two", _identity)]

    with pytest.raises(PluginError) as info:
        get_plugin_manager(plugins=[Windows()], load_entry_points=False)
    message = str(info.value)
    assert "windowing method 'voi_lut'" in message and "padder 'aspect_pad'" in message


def test_entry_point_conflicting_with_inline_plugin_names_both(fake_dist: Path) -> None:
    _fake_distribution(fake_dist, GOOD_PLUGIN)

    class Clash:
        @hookimpl
        def mammokit_metrics(self) -> list[Component]:
            return [Component("fake_metric", "Same name", lambda: len)]

    with pytest.raises(
        PluginError, match=r"metric 'fake_metric'.*'fake-ep'|'fake-ep'.*fake_metric"
    ):
        get_plugin_manager(plugins=[Clash()])


def test_every_registry_hook_can_be_listed() -> None:
    pm = _manager()
    for hook_name in REGISTRY_HOOKS:
        assert isinstance(get_components(pm, hook_name), dict)
    with pytest.raises(ConfigError, match="Unknown hook"):
        get_components(pm, "mammokit_nope")


def test_trace_variable_logs_every_hook_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MAMMOKIT_TRACE_PLUGINS", "1")
    with caplog.at_level("DEBUG", logger="mammokit.plugins"):
        pm = _manager(WindowPlugin("traced"))
        get_components(pm, "mammokit_windowing_methods")
    traced = [
        r.getMessage() for r in caplog.records if "mammokit_windowing_methods" in r.getMessage()
    ]
    assert any("'traced'" in m or "traced" in m for m in traced)
    assert all(hook in caplog.text for hook in REGISTRY_HOOKS)


def test_no_trace_without_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MAMMOKIT_TRACE_PLUGINS", raising=False)
    with caplog.at_level("DEBUG", logger="mammokit.plugins"):
        get_components(_manager(WindowPlugin("quiet")), "mammokit_windowing_methods")
    assert "gave" not in caplog.text
