"""The plugin manager: hook specs, built-in plugins, entry points, validation.

``"mammokit"`` is at once the PluginManager's project name, the hook marker's name and the
entry-point group (``[project.entry-points.mammokit]``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import os
import re
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import attrs
import pluggy

from mammokit import hookspecs
from mammokit.components import Component
from mammokit.errors import ConfigError, PluginError
from mammokit.hookspecs import PROJECT_NAME, REGISTRY_HOOKS

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "TRACE_ENV",
    "PluginInfo",
    "get_components",
    "get_plugin_manager",
    "hookimpl",
    "list_plugins",
    "build_component",
    "build_resolved",
    "check_component_options",
    "resolve_component",
]

logger = logging.getLogger(__name__)

#: Marker for hook implementations: ``@mammokit.hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Environment variable: comma-separated entry-point (or distribution) names not to load.
DISABLE_ENV = "MAMMOKIT_DISABLE_PLUGINS"
#: Environment variable: when set to 1, every hook call is written to the debug log.
TRACE_ENV = "MAMMOKIT_TRACE_PLUGINS"

#: The built-in plugins, registered in this order by :func:`get_plugin_manager`.
#: Each is an ordinary plugin module living next to the feature it implements.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "mammokit.evaluate.plugin",
    "mammokit.preprocess.plugin",
    "mammokit.preprocess.windowing_plugin",
    "mammokit.dicom.plugin",
    "mammokit.train.plugin",
)

_BUILTIN_DISTRIBUTION = "mammokit"


@attrs.frozen
class PluginInfo:
    """What ``mammokit plugins`` shows for one registered plugin.

    Attributes:
        name: the registration name (the entry-point name for external plugins).
        distribution: the installed distribution that provides it.
        version: that distribution's version.
        provides: hook name -> the component names this plugin registers there.
    """

    name: str
    distribution: str
    version: str
    provides: dict[str, tuple[str, ...]]


def _normalise(name: str) -> str:
    """PEP 503 normalisation, so ``mammokit_clahe`` and ``Mammokit-CLAHE`` match."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _disabled_names() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {_normalise(part.strip()) for part in raw.split(",") if part.strip()}


def _mammokit_version() -> str:
    try:
        return importlib.metadata.version(_BUILTIN_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source tree use
        return "0+unknown"


def _register_builtins(pm: pluggy.PluginManager, modules: Iterable[str]) -> None:
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
            pm.register(module, name=module_name)
        except Exception as err:
            raise PluginError(
                f"Error loading built-in plugin {module_name!r} "
                f"(distribution {_BUILTIN_DISTRIBUTION!r}): {err}"
            ) from err
        pm._mammokit_dists[module_name] = (_BUILTIN_DISTRIBUTION, _mammokit_version())  # type: ignore[attr-defined]


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    disabled = _disabled_names()
    known: set[str] = set()
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points:
            if ep.group != PROJECT_NAME:
                continue
            known.update((_normalise(ep.name), _normalise(dist_name)))
            if _normalise(ep.name) in disabled or _normalise(dist_name) in disabled:
                logger.info("plugin %r (%s) disabled by %s", ep.name, dist_name, DISABLE_ENV)
                continue
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as err:
                raise PluginError(
                    f"Error loading plugin {ep.name!r} from distribution "
                    f"{dist_name!r} {dist.version}: {type(err).__name__}: {err}"
                ) from err
            pm._mammokit_dists[ep.name] = (dist_name, dist.version)  # type: ignore[attr-defined]
    unknown = sorted(disabled - known)
    if unknown:
        installed = ", ".join(sorted(known)) or "(none)"
        logger.warning(
            "%s names %s, which is no installed plugin (entry-point or distribution name); "
            "installed plugins: %s",
            DISABLE_ENV,
            ", ".join(repr(name) for name in unknown),
            installed,
        )


def get_plugin_manager(
    *,
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    load_entry_points: bool = True,
    plugins: Sequence[object] = (),
) -> pluggy.PluginManager:
    """Build a new, validated plugin manager.

    In order: add the hook specs; register the built-ins; register ``plugins`` (objects or
    modules, e.g. from tests); load the ``mammokit`` entry points except those named in
    ``MAMMOKIT_DISABLE_PLUGINS``; check that every implementation matches a spec and that
    no two plugins give a component the same name.

    Raises:
        PluginError: a plugin failed to import or register, implements an unknown hook,
            or conflicts with another plugin.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm._mammokit_dists = {}  # type: ignore[attr-defined]
    pm.add_hookspecs(hookspecs)
    _register_builtins(pm, builtins)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or f"inline-{id(plugin):x}"
        try:
            pm.register(plugin, name=name)
        except Exception as err:
            raise PluginError(f"Error registering plugin {name!r}: {err}") from err
        pm._mammokit_dists[name] = ("(inline)", "")  # type: ignore[attr-defined]
    if load_entry_points:
        _load_entry_points(pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        raise PluginError(f"Plugin {err.plugin!r} is invalid: {err}") from err
    pm._mammokit_trace = os.environ.get(TRACE_ENV) == "1"  # type: ignore[attr-defined]
    if pm._mammokit_trace:  # type: ignore[attr-defined]
        pm.trace.root.setwriter(logger.debug)
        pm.enable_tracing()
    for hook_name in REGISTRY_HOOKS:
        get_components(pm, hook_name)  # validate now: duplicates fail at load time
    return pm


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or repr(plugin)


def _distribution(pm: pluggy.PluginManager, name: str) -> tuple[str, str]:
    dists: dict[str, tuple[str, str]] = getattr(pm, "_mammokit_dists", {})
    return dists.get(name, ("(unknown)", ""))


def _components_by_plugin(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Component]]:
    if hook_name not in REGISTRY_HOOKS:
        raise ConfigError(f"Unknown hook {hook_name!r}; choose one of: {', '.join(REGISTRY_HOOKS)}")
    caller = getattr(pm.hook, hook_name)
    found: list[tuple[str, Component]] = []
    for impl in caller.get_hookimpls():
        plugin_name = impl.plugin_name
        try:
            result = impl.function(**{arg: None for arg in impl.argnames})
        except Exception as err:
            raise PluginError(
                f"Plugin {plugin_name!r} failed in hook {hook_name}: {type(err).__name__}: {err}"
            ) from err
        for component in result or ():
            if not isinstance(component, Component):
                raise PluginError(
                    f"Plugin {plugin_name!r} returned {component!r} from {hook_name}; "
                    "expected mammokit.Component records"
                )
            found.append((plugin_name, component))
        if getattr(pm, "_mammokit_trace", False):
            names = [component.name for component in result or ()]
            logger.debug("hook %s: plugin %r gave %s", hook_name, plugin_name, names)
    return found


def get_components(pm: pluggy.PluginManager, hook_name: str) -> dict[str, Component]:
    """All components registered under one registry hook, by name.

    Raises:
        PluginError: two plugins gave the same name ("Conflicting plugins for ...").
    """
    owners: dict[str, str] = {}
    components: dict[str, Component] = {}
    for plugin_name, component in _components_by_plugin(pm, hook_name):
        if component.name in components:
            noun = REGISTRY_HOOKS[hook_name]
            raise PluginError(
                f"Conflicting plugins for {noun} {component.name!r}: "
                f"{owners[component.name]!r} and {plugin_name!r}"
            )
        owners[component.name] = plugin_name
        components[component.name] = component
    return dict(sorted(components.items()))


def resolve_component(pm: pluggy.PluginManager, hook_name: str, name: str) -> Component:
    """The component called ``name`` under ``hook_name``.

    Raises:
        ConfigError: no such name; the message lists the available names.
    """
    components = get_components(pm, hook_name)
    try:
        return components[name]
    except KeyError:
        noun = REGISTRY_HOOKS[hook_name]
        available = ", ".join(components) or "(none registered)"
        raise ConfigError(f"Unknown {noun} {name!r}; choose one of: {available}") from None


def _options_error(
    hook_name: str, name: str, options: dict[str, Any], err: Exception
) -> ConfigError:
    noun = REGISTRY_HOOKS[hook_name]
    given = ", ".join(f"{key}={value!r}" for key, value in options.items()) or "no options"
    return ConfigError(
        f"invalid options for {noun} {name!r} ({given}): {type(err).__name__}: {err}"
    )


def build_component(
    pm: pluggy.PluginManager,
    hook_name: str,
    name: str,
    *args: Any,
    options: dict[str, Any] | None = None,
    **context: Any,
) -> Any:
    """Resolve ``name`` under ``hook_name`` and build it: ``factory(*args, **context,
    **options)``.

    ``args`` and ``context`` are what the hook's contract passes (an input shape, a path, a
    threshold's argument); ``options`` are the user's, from a config or the command line.
    This is the one place where a component is built, so every stage reports a bad option
    the same way.

    Raises:
        ConfigError: no such name (the message lists the choices), or the factory refused
            its options (TypeError or ValueError): the message names the component, the
            options and the factory's own words.
    """
    component = resolve_component(pm, hook_name, name)
    return build_resolved(component, hook_name, *args, options=options, **context)


def build_resolved(
    component: Component,
    hook_name: str,
    *args: Any,
    options: dict[str, Any] | None = None,
    **context: Any,
) -> Any:
    """Build a component already resolved under ``hook_name``, as :func:`build_component`
    does (the same errors)."""
    options = dict(options or {})
    try:
        return component.factory(*args, **context, **options)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise _options_error(hook_name, component.name, options, err) from err


def check_component_options(
    pm: pluggy.PluginManager,
    hook_name: str,
    name: str,
    *args: Any,
    options: dict[str, Any] | None = None,
    **context: Any,
) -> Component:
    """Resolve ``name`` and check that its factory accepts these arguments, without
    building it (for components whose building is costly, e.g. a backbone that needs
    TensorFlow). Options that a factory passes on through ``**kwargs`` are checked only
    when it is built.

    Raises:
        ConfigError: as :func:`build_component`.
    """
    component = resolve_component(pm, hook_name, name)
    options = dict(options or {})
    try:
        signature = inspect.signature(component.factory)
    except (TypeError, ValueError):  # a builtin or C factory: nothing to check here
        return component
    try:
        signature.bind(*args, **context, **options)
    except TypeError as err:
        raise _options_error(hook_name, name, options, err) from err
    return component


def list_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every registered plugin with its distribution, version and components per hook."""
    provides: dict[str, dict[str, list[str]]] = {}
    for hook_name in REGISTRY_HOOKS:
        for plugin_name, component in _components_by_plugin(pm, hook_name):
            provides.setdefault(plugin_name, {}).setdefault(hook_name, []).append(component.name)
    infos = []
    for plugin in pm.get_plugins():
        name = _plugin_name(pm, plugin)
        dist, version = _distribution(pm, name)
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist,
                version=version,
                provides={h: tuple(sorted(n)) for h, n in provides.get(name, {}).items()},
            )
        )
    return sorted(infos, key=lambda info: (info.distribution != "mammokit", info.name))


def _module_of(plugin: Any) -> ModuleType | None:  # pragma: no cover - helper for docs
    return plugin if isinstance(plugin, ModuleType) else None
