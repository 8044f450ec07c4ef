"""The Pipeline shell: component resolution by name, configs, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

import mammokit
from mammokit import Component, ConfigError, Pipeline, PreprocessConfig, hookimpl
from mammokit.core.config import config_to_dict, save_toml


class ExtraWindow:
    @hookimpl
    def mammokit_windowing_methods(self) -> list[Component]:
        return [Component("extra", "An extra window", lambda **options: lambda d: d)]


def test_unknown_window_lists_available_methods() -> None:
    with pytest.raises(ConfigError) as info:
        Pipeline(window="nope")
    message = str(info.value)
    assert "Unknown windowing method 'nope'" in message
    available = mammokit.get_components(mammokit.get_plugin_manager(), "mammokit_windowing_methods")
    assert available, "built-in windowing methods must be registered"
    for name in available:
        assert name in message


@pytest.mark.parametrize(
    ("field", "noun"),
    [("roi", "ROI extractor"), ("padder", "padder"), ("decoder", "decoder")],
)
def test_every_named_stage_is_resolved_at_construction(field: str, noun: str) -> None:
    with pytest.raises(ConfigError, match=f"Unknown {noun} 'nope'"):
        Pipeline(**{field: "nope"})


def test_inline_plugin_component_is_selectable() -> None:
    pm = mammokit.get_plugin_manager(plugins=[ExtraWindow()], load_entry_points=False)
    pipe = Pipeline(window="extra", manager=pm)
    assert pipe.components["window"].name == "extra"
    assert pipe.manager is pm


def test_overrides_are_validated_like_the_config() -> None:
    pipe = Pipeline(size=(256, 128))
    assert pipe.config.size == (256, 128)
    with pytest.raises(ConfigError, match="unknown option"):
        Pipeline(colour="red")


def test_bad_component_options_raise_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"invalid options for windowing method 'voi_lut' \(no_such_option=1\)"
    ):
        Pipeline(window_options={"no_such_option": 1})


def test_from_toml_reads_the_preprocess_table(tmp_path: Path) -> None:
    config = PreprocessConfig(size=(512, 256), roi="otsu")
    save_toml({"preprocess": config_to_dict(config)}, tmp_path / "config.toml")
    assert Pipeline.from_toml(tmp_path / "config.toml").config == config
