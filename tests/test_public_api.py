"""The public surface: ``mammokit.__all__`` and every public signature are snapshotted.

A change to a public name or signature must be deliberate: regenerate the snapshot with
``MAMMOKIT_UPDATE_API_SNAPSHOT=1 pytest tests/test_public_api.py`` and review the diff.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mammokit
from mammokit.plugins import BUILTIN_PLUGINS

SNAPSHOT = Path(__file__).with_name("api_snapshot.json")
REQUIRED = {
    "Pipeline",
    "hookimpl",
    "get_plugin_manager",
    "MammokitError",
    "PluginError",
    "ConfigError",
    "__version__",
}


class _Named:
    """Shows a module constant used as a default by its name, not its (growing) value."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NAMED_DEFAULTS = {id(BUILTIN_PLUGINS): _Named("BUILTIN_PLUGINS")}


def _param(param: inspect.Parameter) -> inspect.Parameter:
    param = param.replace(annotation=inspect.Parameter.empty)
    if id(param.default) in NAMED_DEFAULTS:
        param = param.replace(default=NAMED_DEFAULTS[id(param.default)])
    return param


def _signature(obj: Any) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "<no signature>"
    params = [_param(p) for p in sig.parameters.values()]
    text = str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def _describe(obj: Any) -> Any:
    if inspect.isclass(obj):
        # inherited methods count: they are part of what a user can call
        own = {}
        for klass in reversed(obj.__mro__[:-1]):  # object's methods are not mammokit's
            if klass.__module__.startswith("mammokit"):
                own.update(vars(klass))
        members = {
            name: _signature(getattr(obj, name))  # bound: classmethods drop ``cls``
            for name, member in sorted(own.items())
            if not name.startswith("_") and (callable(member) or isinstance(member, classmethod))
        }
        fields = [f.name for f in getattr(obj, "__attrs_attrs__", ())]
        return {"init": _signature(obj), "fields": fields, "methods": members}
    if callable(obj):
        return _signature(obj)
    return type(obj).__name__


def current_api() -> dict[str, Any]:
    return {name: _describe(getattr(mammokit, name)) for name in sorted(mammokit.__all__)}


def test_required_names_are_public() -> None:
    assert set(mammokit.__all__) >= REQUIRED


def test_all_is_sorted_unique_and_importable() -> None:
    assert len(set(mammokit.__all__)) == len(mammokit.__all__)
    for name in mammokit.__all__:
        assert hasattr(mammokit, name), name


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, Any] = {}
    exec("from mammokit import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(mammokit.__all__)


def test_version_comes_from_metadata() -> None:
    assert mammokit.__version__ == version("mammokit")


def test_public_signatures_match_snapshot() -> None:
    api = current_api()
    if os.environ.get("MAMMOKIT_UPDATE_API_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(api, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert api == expected, "public API changed: regenerate the snapshot if deliberate"


def test_import_does_not_import_tensorflow() -> None:
    code = "import mammokit, sys; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
