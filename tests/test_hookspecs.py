"""Pin every hook's name, arguments and calling mode; check the docstring template."""

from __future__ import annotations

import inspect

import pytest

from mammokit.plugins import hookspecs
from mammokit.plugins.hookspecs import REGISTRY_HOOKS

# The stable API: hook name -> argument names. Hooks only grow: adding an argument here is
# allowed (with a versionadded note), removing one is not.
PINNED_HOOKS: dict[str, tuple[str, ...]] = {
    "mammokit_decoders": (),
    "mammokit_windowing_methods": (),
    "mammokit_roi_extractors": (),
    "mammokit_padders": (),
    "mammokit_sampling_strategies": (),
    "mammokit_external_datasets": (),
    "mammokit_backbones": (),
    "mammokit_losses": (),
    "mammokit_threshold_policies": (),
    "mammokit_metrics": (),
    "mammokit_pretraining_methods": (),
}


def _spec_functions() -> dict[str, object]:
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if name.startswith("mammokit_") and callable(obj)
    }


def test_hook_names_are_pinned() -> None:
    assert set(_spec_functions()) == set(PINNED_HOOKS) == set(REGISTRY_HOOKS)


@pytest.mark.parametrize("hook_name", sorted(PINNED_HOOKS))
def test_hook_arguments_are_pinned(hook_name: str) -> None:
    function = _spec_functions()[hook_name]
    params = tuple(inspect.signature(function).parameters)  # type: ignore[arg-type]
    assert params[: len(PINNED_HOOKS[hook_name])] == PINNED_HOOKS[hook_name]
    assert params == PINNED_HOOKS[hook_name], "a hook gained an argument: update PINNED_HOOKS"


@pytest.mark.parametrize("hook_name", sorted(PINNED_HOOKS))
def test_registry_hooks_collect_all_results(hook_name: str) -> None:
    opts = _spec_functions()[hook_name].mammokit_spec
    assert opts["firstresult"] is False


@pytest.mark.parametrize("hook_name", sorted(PINNED_HOOKS))
def test_hook_docstring_follows_the_template(hook_name: str) -> None:
    doc = inspect.getdoc(_spec_functions()[hook_name]) or ""
    summary = doc.splitlines()[0]
    assert summary.endswith(".") and len(summary) < 100
    for part in ("Calling mode:", "Arguments:", "Returns:", ".. versionadded::", "Example::"):
        assert part in doc, f"{hook_name} docstring lacks {part!r}"
    assert "all results are collected" in doc or "first non-None result wins" in doc
