"""Each hook's contract is a Protocol, checked when a component is first built."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import mammokit
from mammokit import Component, PluginError, hookimpl
from mammokit.plugins import (
    build_component,
    get_plugin_manager,
)
from mammokit.plugins.hookspecs import REGISTRY_HOOKS
from mammokit.plugins.protocols import HOOK_PROTOCOLS, contract_problems


def test_every_registry_hook_has_a_protocol_named_in_its_spec() -> None:
    from mammokit.plugins import hookspecs

    assert set(HOOK_PROTOCOLS) == set(REGISTRY_HOOKS)
    for hook_name, protocol in HOOK_PROTOCOLS.items():
        doc = getattr(hookspecs, hook_name).__doc__ or ""
        assert f"mammokit.plugins.protocols.{protocol.__name__}" in doc, hook_name


def test_typed_getters_give_each_hook_its_components() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    getters = {
        "mammokit_decoders": pm.decoders,
        "mammokit_windowing_methods": pm.window_methods,
        "mammokit_roi_extractors": pm.roi_extractors,
        "mammokit_padders": pm.padders,
        "mammokit_sampling_strategies": pm.sampling_strategies,
        "mammokit_external_datasets": pm.external_datasets,
        "mammokit_backbones": pm.backbones,
        "mammokit_losses": pm.losses,
        "mammokit_threshold_policies": pm.threshold_policies,
        "mammokit_metrics": pm.metrics,
        "mammokit_pretraining_methods": pm.pretraining_methods,
    }
    assert set(getters) == set(REGISTRY_HOOKS)
    for hook_name, getter in getters.items():
        components = getter()
        assert components and components.keys() == mammokit.get_components(pm, hook_name).keys()
        assert all(c.plugin.startswith("mammokit.") for c in components.values()), hook_name


@pytest.mark.parametrize(
    ("hook_name", "name", "args", "context"),
    [
        ("mammokit_windowing_methods", "voi_lut", (), {}),
        ("mammokit_windowing_methods", "minmax", (), {}),
        ("mammokit_roi_extractors", "profile_crop", (), {}),
        ("mammokit_roi_extractors", "otsu", (), {}),
        ("mammokit_padders", "aspect_pad", (), {}),
        ("mammokit_sampling_strategies", "undersample", (), {}),
        ("mammokit_sampling_strategies", "class_weight", (), {}),
        ("mammokit_sampling_strategies", "balanced_batches", (), {}),
        ("mammokit_threshold_policies", "fixed", ("0.3",), {}),
        ("mammokit_threshold_policies", "none", (None,), {}),
        ("mammokit_threshold_policies", "prior_quantile", (None,), {"positive_rate": 0.2}),
        ("mammokit_metrics", "pf1", (), {}),
        ("mammokit_metrics", "auc", (), {}),
        ("mammokit_metrics", "f1", (), {"threshold": 0.5}),
        ("mammokit_decoders", "pydicom", (), {}),
        ("mammokit_pretraining_methods", "fcmae", (), {}),
    ],
)
def test_every_builtin_satisfies_its_protocol(
    hook_name: str, name: str, args: tuple[Any, ...], context: dict[str, Any]
) -> None:
    pm = get_plugin_manager(load_entry_points=False)
    built = build_component(pm, hook_name, name, *args, **context)
    assert contract_problems(built, HOOK_PROTOCOLS[hook_name]) == []
    assert isinstance(built, HOOK_PROTOCOLS[hook_name])


def _window_of_two_arguments(**options: Any) -> Any:
    return lambda decoded, extra: decoded  # the pipeline calls window(decoded)


class _PlanlessSampler:
    class_weight = None  # but no plan()


class WrongPlugin:
    @hookimpl
    def mammokit_windowing_methods(self) -> list[Component[Any]]:
        return [Component("two_args", "A window taking two arguments", _window_of_two_arguments)]

    @hookimpl
    def mammokit_sampling_strategies(self) -> list[Component[Any]]:
        return [Component("planless", "A sampler without plan()", _PlanlessSampler)]

    @hookimpl
    def mammokit_metrics(self) -> list[Component[Any]]:
        return [Component("not_callable", "A metric that is a number", lambda: 0.5)]


@pytest.fixture
def wrong() -> mammokit.MammokitPluginManager:
    return get_plugin_manager(plugins=[WrongPlugin()], load_entry_points=False)


def test_a_window_with_a_wrong_signature_is_refused_at_build_time(
    wrong: mammokit.MammokitPluginManager,
) -> None:
    with pytest.raises(PluginError) as info:
        mammokit.Pipeline(window="two_args", manager=wrong)
    message = str(info.value)
    assert "Plugin 'inline-" in message
    assert "windowing method 'two_args' (hook mammokit_windowing_methods)" in message
    assert "mammokit.plugins.protocols.WindowingMethod" in message
    assert "missing a required argument: 'extra'" in message


def test_a_sampler_without_plan_is_refused(wrong: mammokit.MammokitPluginManager) -> None:
    with pytest.raises(PluginError, match=r"SamplingStrategy: method 'plan' is missing"):
        build_component(wrong, "mammokit_sampling_strategies", "planless")


def test_a_metric_that_is_not_callable_is_refused(wrong: mammokit.MammokitPluginManager) -> None:
    with pytest.raises(PluginError, match=r"'not_callable'.*Metric: it is not callable"):
        build_component(wrong, "mammokit_metrics", "not_callable")


def test_contract_problems_lists_every_gap() -> None:
    class HalfSampler:
        def plan(self, labels: np.ndarray) -> np.ndarray:  # no epoch/seed/batch_size
            return labels

    problems = contract_problems(HalfSampler(), HOOK_PROTOCOLS["mammokit_sampling_strategies"])
    assert any("'class_weight' is missing" in p for p in problems)
    assert any("plan" in p and "epoch" in p for p in problems)
