"""The plugin core: the manager (:mod:`mammokit.plugins.manager`) and the types of each
registry hook (:mod:`mammokit.plugins.types`); hook specs are in :mod:`mammokit.plugins.hookspecs`.
"""

from __future__ import annotations

from mammokit.plugins.manager import (
    BUILTIN_PLUGINS,
    DISABLE_ENV,
    STRICT_ENV,
    TRACE_ENV,
    MammokitPluginManager,
    PluginInfo,
    build_component,
    build_record,
    build_resolved,
    check_component_options,
    get_components,
    get_plugin_manager,
    hookimpl,
    list_plugins,
    manager_or_shared,
    reset_plugin_managers,
    resolve_component,
)
from mammokit.plugins.types import HOOK_TYPES, HookType

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "HOOK_TYPES",
    "STRICT_ENV",
    "TRACE_ENV",
    "HookType",
    "MammokitPluginManager",
    "PluginInfo",
    "build_component",
    "build_record",
    "build_resolved",
    "check_component_options",
    "get_components",
    "get_plugin_manager",
    "hookimpl",
    "list_plugins",
    "manager_or_shared",
    "reset_plugin_managers",
    "resolve_component",
]
