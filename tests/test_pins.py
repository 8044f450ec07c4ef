"""The `lowest` environment holds exactly the versions ``constraints/lowest.txt`` pins.

The environments are built by uv where it is installed and by pip otherwise; the two resolve
in their own ways, so this checks the result rather than the tool. ``nox -s tests`` sets
``MAMMOKIT_DEPS`` to the session's dependency set; outside a `lowest` session there is
nothing to check.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOWEST = Path(__file__).resolve().parents[1] / "constraints" / "lowest.txt"

pytestmark = pytest.mark.skipif(
    os.environ.get("MAMMOKIT_DEPS") != "lowest",
    reason="checks a `lowest` environment (MAMMOKIT_DEPS=lowest, set by nox -s tests)",
)


def exact_pins(path: Path = LOWEST) -> dict[str, str]:
    """``{canonical name: version}`` of every ``==`` pin whose marker holds here."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if exact:
            pins[canonicalize_name(requirement.name)] = exact[0]
    return pins


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_every_installed_pin_is_the_pinned_version() -> None:
    pins = exact_pins()
    assert len(pins) > 20, pins
    wrong = {
        name: (version, installed_version(name))
        for name, version in pins.items()
        if installed_version(name) not in (None, version)
    }
    assert not wrong, f"installed versions differ from constraints/lowest.txt: {wrong}"


def test_every_direct_dependency_is_pinned_and_installed_at_its_pin() -> None:
    """mammokit's own requirements (core, dev, dask) are each pinned and installed as pinned,
    so `lowest` tests the lower bounds that pyproject.toml promises."""
    pins = exact_pins()
    requirements = [Requirement(text) for text in metadata.requires("mammokit") or []]
    wanted = {
        canonicalize_name(req.name)
        for req in requirements
        if req.marker is None
        or any(req.marker.evaluate({"extra": extra}) for extra in ("", "dev", "dask"))
    }
    wanted -= {"pandas-stubs", "types-tqdm"}  # typing stubs: no lower bound to test
    missing = sorted(name for name in wanted if name not in pins)
    assert not missing, f"not pinned in constraints/lowest.txt: {missing}"
    differ = {
        name: (pins[name], installed_version(name))
        for name in wanted
        if installed_version(name) != pins[name]
    }
    assert not differ, f"(pinned, installed) differ: {differ}"
