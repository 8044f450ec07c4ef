"""Meta-tests that keep the plugin surface honest: every hook is tested and documented."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from mammokit.plugins import hookspecs
from mammokit.plugins.hookspecs import REGISTRY_HOOKS

ROOT = Path(__file__).resolve().parents[1]
HOOK_DOCS = ROOT / "docs" / "hooks.md"
SELF_TESTS = {"test_meta.py", "test_hookspecs.py"}


def signature_line(name: str) -> str:
    """The exact signature line docs/hooks.md shows for a hook."""
    function = getattr(hookspecs, name)
    return f"def {name}{inspect.signature(function)}".replace("'", "")


def _test_sources() -> str:
    return "\n".join(
        path.read_text()
        for path in (ROOT / "tests").rglob("test_*.py")
        if path.name not in SELF_TESTS
    )


@pytest.mark.parametrize("hook_name", sorted(REGISTRY_HOOKS))
def test_every_hook_has_a_test(hook_name: str) -> None:
    assert hook_name in _test_sources(), f"no test mentions {hook_name}"


@pytest.mark.parametrize("hook_name", sorted(REGISTRY_HOOKS))
def test_every_hook_is_documented_with_its_exact_signature(hook_name: str) -> None:
    text = HOOK_DOCS.read_text()
    assert f"## `{hook_name}`" in text
    assert signature_line(hook_name) in text, "docs/hooks.md is out of sync with hookspecs"


@pytest.mark.parametrize("hook_name", sorted(REGISTRY_HOOKS))
def test_every_hook_contract_is_documented_from_its_protocol(hook_name: str) -> None:
    from mammokit.plugins.protocols import HOOK_PROTOCOLS

    protocol = HOOK_PROTOCOLS[hook_name].__name__
    text = HOOK_DOCS.read_text()
    assert f"::: mammokit.plugins.protocols.{protocol}\n" in text
    section = text.split(f"## `{hook_name}`", 1)[1].split("\n## ", 1)[0]
    assert f"(#mammokit.plugins.protocols.{protocol})" in section
