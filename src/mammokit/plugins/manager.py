"""The plugin manager: hook specs, built-in plugins, entry points, validation, and typed
access to every registry hook.

``"mammokit"`` is at once the PluginManager's project name, the hook marker's name and the
entry-point group (``[project.entry-points.mammokit]``).

Each registry hook implementation is wrapped when its plugin is registered, so that every
call returns its result together with the plugin's name, and an exception is reported as
that plugin's: the manager never relies on the order in which pluggy calls them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import pluggy

from mammokit.core.errors import ConfigError, PluginError
from mammokit.plugins import hookspecs
from mammokit.plugins.components import (
    BackboneComponent,
    Component,
    DecoderComponent,
    ExternalDatasetComponent,
    LossComponent,
    MetricComponent,
    PadderComponent,
    PretrainingMethodComponent,
    RoiExtractorComponent,
    SamplingStrategyComponent,
    ThresholdPolicyComponent,
    WindowingMethodComponent,
)
from mammokit.plugins.hookspecs import PROJECT_NAME, REGISTRY_HOOKS, hookimpl
from mammokit.plugins.protocols import (
    HOOK_PROTOCOLS,
    Backbone,
    Decoder,
    ExternalDataset,
    Loss,
    Metric,
    Padder,
    PretrainingMethod,
    RoiExtractor,
    SamplingStrategy,
    ThresholdPolicy,
    WindowingMethod,
    check_contract,
)
from mammokit.plugins.types import (
    BACKBONES,
    DECODERS,
    EXTERNAL_DATASETS,
    HOOK_TYPES,
    LOSSES,
    METRICS,
    PADDERS,
    PRETRAINING_METHODS,
    ROI_EXTRACTORS,
    SAMPLING_STRATEGIES,
    THRESHOLD_POLICIES,
    WINDOWING_METHODS,
    HookType,
)

if TYPE_CHECKING:
    import numpy as np

#: A hook's record type.
R = TypeVar("R", bound=Component[Any])
#: What a hook's factories build.
B = TypeVar("B")

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "STRICT_ENV",
    "TRACE_ENV",
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

logger = logging.getLogger(__name__)

#: Environment variable: comma-separated entry-point (or distribution) names not to load.
DISABLE_ENV = "MAMMOKIT_DISABLE_PLUGINS"
#: Environment variable: when set to 1, every hook call is written to the debug log.
TRACE_ENV = "MAMMOKIT_TRACE_PLUGINS"
#: Environment variable: when set to 1, a plugin that fails to load is fatal (for CI).
STRICT_ENV = "MAMMOKIT_STRICT_PLUGINS"

#: The built-in plugins, registered in this order by :func:`get_plugin_manager`.
#: Each is an ordinary plugin module living next to the feature it implements.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "mammokit.evaluate.plugin",
    "mammokit.preprocess.plugin",
    "mammokit.dicom.plugin",
    "mammokit.train.plugin",
)

_BUILTIN_DISTRIBUTION = "mammokit"


@attrs.frozen
class PluginInfo:
    """What ``mammokit plugins`` shows for one plugin.

    Attributes:
        name: the registration name (the entry-point name for external plugins).
        distribution: the installed distribution that provides it.
        version: that distribution's version.
        provides: hook name -> the component names this plugin registers there.
        status: ``"loaded"``, ``"disabled"`` (by ``MAMMOKIT_DISABLE_PLUGINS``) or
            ``"failed"`` (its entry point could not be loaded; see ``error``).
        error: why it failed, or ``""``.
    """

    name: str
    distribution: str
    version: str
    provides: dict[str, tuple[str, ...]]
    status: str = "loaded"
    error: str = ""


class MammokitPluginManager(pluggy.PluginManager):
    """pluggy's manager with what mammokit needs to know about its plugins, and typed access
    to the registry hooks: :meth:`window_methods` lists the windowing methods,
    :meth:`build_window` builds one, and so on for every hook.

    Each registry hook is called once: its components are kept until a plugin is registered
    or unregistered. Registering a plugin wraps its registry hook implementations, so each
    result (and each failure) is known to be that plugin's. The manager that
    :func:`get_plugin_manager` shares in a process is frozen: registering on it raises, so no
    caller changes what the others see.

    Attributes:
        distributions: registration name -> ``(distribution, version)``.
        disabled: plugins that ``MAMMOKIT_DISABLE_PLUGINS`` kept out, as :class:`PluginInfo`.
        failed: entry points that could not be loaded, as :class:`PluginInfo` with the error.
        frozen: True for the shared manager: :meth:`register` and :meth:`unregister` raise.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.distributions: dict[str, tuple[str, str]] = {}
        self.disabled: list[PluginInfo] = []
        self.failed: list[PluginInfo] = []
        self.frozen = False
        self.collected: dict[str, list[Component[Any]]] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """pluggy's ``register``; wraps the plugin's registry hook implementations so that
        each call returns its result with the plugin's name; forgets the collected components.

        Raises:
            PluginError: the manager is the shared, frozen one.
        """
        self._refuse_if_frozen("register")
        self.collected.clear()
        plugin_name = super().register(plugin, name)
        if plugin_name is not None:
            for caller in self.get_hookcallers(plugin) or ():
                if caller.name in REGISTRY_HOOKS:
                    _attribute(caller, plugin_name)
        return plugin_name

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        """pluggy's ``unregister``; forgets the collected components.

        Raises:
            PluginError: the manager is the shared, frozen one.
        """
        self._refuse_if_frozen("unregister")
        self.collected.clear()
        return super().unregister(plugin, name)

    def _refuse_if_frozen(self, action: str) -> None:
        if self.frozen:
            raise PluginError(
                f"cannot {action} a plugin on the shared plugin manager; build one of your "
                "own with mammokit.get_plugin_manager(plugins=[...])"
            )

    def register_as(self, plugin: object, name: str, distribution: str, version: str) -> None:
        """Register ``plugin`` under ``name`` and remember where it comes from."""
        self.register(plugin, name=name)
        self.distributions[name] = (distribution, version)

    def distribution_of(self, name: str) -> tuple[str, str]:
        """``(distribution, version)`` of a registered plugin."""
        return self.distributions.get(name, ("(unknown)", ""))

    # --- the components of each hook, by name -------------------------------------------

    def registered(self, hook: HookType[R, Any]) -> dict[str, R]:
        """The components of ``hook`` by name, as its record type (see :func:`get_components`)."""
        return cast("dict[str, R]", get_components(self, hook.name))

    def decoders(self) -> dict[str, DecoderComponent]:
        """The ``mammokit_decoders`` components."""
        return self.registered(DECODERS)

    def window_methods(self) -> dict[str, WindowingMethodComponent]:
        """The ``mammokit_windowing_methods`` components."""
        return self.registered(WINDOWING_METHODS)

    def roi_extractors(self) -> dict[str, RoiExtractorComponent]:
        """The ``mammokit_roi_extractors`` components."""
        return self.registered(ROI_EXTRACTORS)

    def padders(self) -> dict[str, PadderComponent]:
        """The ``mammokit_padders`` components."""
        return self.registered(PADDERS)

    def sampling_strategies(self) -> dict[str, SamplingStrategyComponent]:
        """The ``mammokit_sampling_strategies`` components."""
        return self.registered(SAMPLING_STRATEGIES)

    def external_datasets(self) -> dict[str, ExternalDatasetComponent]:
        """The ``mammokit_external_datasets`` components."""
        return self.registered(EXTERNAL_DATASETS)

    def backbones(self) -> dict[str, BackboneComponent]:
        """The ``mammokit_backbones`` components."""
        return self.registered(BACKBONES)

    def losses(self) -> dict[str, LossComponent]:
        """The ``mammokit_losses`` components."""
        return self.registered(LOSSES)

    def threshold_policies(self) -> dict[str, ThresholdPolicyComponent]:
        """The ``mammokit_threshold_policies`` components."""
        return self.registered(THRESHOLD_POLICIES)

    def metrics(self) -> dict[str, MetricComponent]:
        """The ``mammokit_metrics`` components."""
        return self.registered(METRICS)

    def pretraining_methods(self) -> dict[str, PretrainingMethodComponent]:
        """The ``mammokit_pretraining_methods`` components."""
        return self.registered(PRETRAINING_METHODS)

    # --- one component, by name ---------------------------------------------------------

    def resolve(self, hook: HookType[R, Any], name: str) -> R:
        """The component of ``hook`` called ``name`` (see :func:`resolve_component`)."""
        return cast("R", resolve_component(self, hook.name, name))

    def build(
        self,
        hook: HookType[Any, B],
        name: str,
        /,
        *args: Any,
        options: dict[str, Any] | None = None,
        **context: Any,
    ) -> B:
        """Resolve and build ``name`` under ``hook``: ``factory(*args, **context, **options)``
        (see :func:`build_component`; the built object is checked against the hook's
        Protocol)."""
        return cast("B", build_component(self, hook.name, name, *args, options=options, **context))

    def build_decoder(self, name: str, /, **options: Any) -> Decoder:
        """Build the decoder ``name`` with its options.

        Raises:
            ConfigError: no such decoder (the message lists them) or a refused option.
            PluginError: what the factory built is not a :class:`~mammokit.Decoder`
                (naming the plugin and what is missing).
        """
        return self.build(DECODERS, name, options=options)

    def build_window(self, name: str, /, **options: Any) -> WindowingMethod:
        """Build the windowing method ``name`` with its options (errors as
        :meth:`build_decoder`)."""
        return self.build(WINDOWING_METHODS, name, options=options)

    def build_roi(self, name: str, /, **options: Any) -> RoiExtractor:
        """Build the ROI extractor ``name`` with its options (errors as :meth:`build_decoder`)."""
        return self.build(ROI_EXTRACTORS, name, options=options)

    def build_padder(self, name: str, /, **options: Any) -> Padder:
        """Build the padder ``name`` with its options (errors as :meth:`build_decoder`)."""
        return self.build(PADDERS, name, options=options)

    def build_sampling(self, name: str, /, **options: Any) -> SamplingStrategy:
        """Build the sampling strategy ``name`` with its options (errors as
        :meth:`build_decoder`)."""
        return self.build(SAMPLING_STRATEGIES, name, options=options)

    def build_external_dataset(self, name: str, path: str, /, **options: Any) -> ExternalDataset:
        """Read the external dataset ``name`` at ``path``: its table (errors as
        :meth:`build_decoder`)."""
        return self.build(EXTERNAL_DATASETS, name, path, options=options)

    def check_external_dataset(
        self, name: str, path: str, /, **options: Any
    ) -> ExternalDatasetComponent:
        """Resolve the external dataset ``name`` and check that its factory accepts these
        arguments, without reading it (see :func:`check_component_options`)."""
        found = check_component_options(self, EXTERNAL_DATASETS.name, name, path, options=options)
        return cast("ExternalDatasetComponent", found)

    def build_backbone(
        self,
        name: str,
        input_shape: tuple[int, int, int],
        /,
        *,
        pretrained: str | None = None,
        **options: Any,
    ) -> Backbone:
        """Build the backbone ``name`` for ``input_shape`` ``(H, W, 3)``, with a local
        ``pretrained`` weights file or None (errors as :meth:`build_decoder`)."""
        return self.build(BACKBONES, name, input_shape, pretrained=pretrained, options=options)

    def check_backbone(
        self,
        name: str,
        input_shape: tuple[int, int, int],
        /,
        *,
        pretrained: str | None = None,
        **options: Any,
    ) -> BackboneComponent:
        """Resolve the backbone ``name`` and check that its factory accepts these arguments,
        without building it (no TensorFlow; see :func:`check_component_options`)."""
        found = check_component_options(
            self, BACKBONES.name, name, input_shape, pretrained=pretrained, options=options
        )
        return cast("BackboneComponent", found)

    def build_loss(self, name: str, /, **options: Any) -> Loss:
        """Build the loss ``name`` with its options (errors as :meth:`build_decoder`)."""
        return self.build(LOSSES, name, options=options)

    def build_threshold_policy(
        self,
        name: str,
        arg: str | None = None,
        /,
        *,
        positive_rate: float | None = None,
        oof_labels: np.ndarray | None = None,
        oof_scores: np.ndarray | None = None,
    ) -> ThresholdPolicy:
        """Build the threshold policy ``name`` with ``arg`` (the ``ARG`` of ``NAME:ARG``)
        and its context: the runs' positive rate and the out-of-fold breast labels and
        scores, ``(M,)`` each (errors as :meth:`build_decoder`)."""
        return self.build(
            THRESHOLD_POLICIES,
            name,
            arg,
            positive_rate=positive_rate,
            oof_labels=oof_labels,
            oof_scores=oof_scores,
        )

    def build_metric(
        self, name: str, /, *, threshold: float | None = None, **options: Any
    ) -> Metric:
        """Build the metric ``name`` with its options; a metric that needs a threshold is
        given ``threshold`` (passed only when not None; errors as :meth:`build_decoder`)."""
        context = {} if threshold is None else {"threshold": threshold}
        return self.build(METRICS, name, options=options, **context)

    def build_pretraining_method(self, name: str, /, **options: Any) -> PretrainingMethod:
        """Build the pretraining method ``name`` with its options (errors as
        :meth:`build_decoder`)."""
        return self.build(PRETRAINING_METHODS, name, options=options)


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


def _register_builtins(pm: MammokitPluginManager, modules: Iterable[str]) -> None:
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
            pm.register_as(module, module_name, _BUILTIN_DISTRIBUTION, _mammokit_version())
        except Exception as err:
            raise PluginError(
                f"Error loading built-in plugin {module_name!r} "
                f"(distribution {_BUILTIN_DISTRIBUTION!r}): {err}"
            ) from err


def _entry_point_failed(
    pm: MammokitPluginManager, name: str, dist_name: str, version: str, err: Exception
) -> None:
    """Report an entry point that cannot be loaded: fatal with ``MAMMOKIT_STRICT_PLUGINS=1``,
    else a warning, and the plugin is listed as failed."""
    cause = f"{type(err).__name__}: {err}"
    message = (
        f"Error loading plugin {name!r} from distribution {dist_name!r} {version}: {cause}; "
        f"set {DISABLE_ENV}={name} to skip it"
    )
    if os.environ.get(STRICT_ENV) == "1":
        raise PluginError(message) from err
    logger.warning("%s (mammokit goes on without it; %s=1 makes this fatal)", message, STRICT_ENV)
    pm.failed.append(PluginInfo(name, dist_name, version, {}, status="failed", error=cause))


def _load_entry_points(pm: MammokitPluginManager) -> None:
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
                pm.disabled.append(
                    PluginInfo(ep.name, dist_name, dist.version, {}, status="disabled")
                )
                continue
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            try:
                pm.register_as(ep.load(), ep.name, dist_name, dist.version)
            except Exception as err:
                _entry_point_failed(pm, ep.name, dist_name, dist.version, err)
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


#: The shared managers, by :func:`_shared_key`.
_SHARED: dict[tuple[object, ...], MammokitPluginManager] = {}


def _shared_key() -> tuple[object, ...]:
    """What the default manager depends on: the plugin switches and where entry points are
    looked for."""
    switches = tuple(os.environ.get(name) for name in (DISABLE_ENV, STRICT_ENV, TRACE_ENV))
    return (*switches, tuple(sys.path))


def reset_plugin_managers() -> None:
    """Forget the shared managers: the next :func:`get_plugin_manager` call builds anew
    (for tests that install or remove plugins within one process)."""
    _SHARED.clear()


def get_plugin_manager(
    *,
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    load_entry_points: bool = True,
    plugins: Sequence[object] = (),
) -> MammokitPluginManager:
    """The validated plugin manager.

    With the default arguments, it is built once per process and shared (frozen: nothing can
    be registered on it); it is built anew when ``MAMMOKIT_DISABLE_PLUGINS``,
    ``MAMMOKIT_STRICT_PLUGINS``, ``MAMMOKIT_TRACE_PLUGINS`` or ``sys.path`` changed, or after
    :func:`reset_plugin_managers`. Other arguments build a new manager each call.

    Building, in order: add the hook specs; register the built-ins; register ``plugins`` (objects or
    modules, e.g. from tests); load the ``mammokit`` entry points except those named in
    ``MAMMOKIT_DISABLE_PLUGINS``; check that every implementation matches a spec and that
    no two plugins give a component the same name. An entry point that fails to load is
    a warning and is listed as failed by :func:`list_plugins` (fatal with
    ``MAMMOKIT_STRICT_PLUGINS=1``). ``MAMMOKIT_TRACE_PLUGINS=1`` traces every hook call
    to the debug log (pluggy's tracing).

    Raises:
        PluginError: a built-in or inline plugin failed to register, a plugin implements an
            unknown hook, or plugins conflict (every conflict is listed).
    """
    shareable = tuple(builtins) == BUILTIN_PLUGINS and load_entry_points and not plugins
    if not shareable:
        return _build_plugin_manager(builtins, load_entry_points, plugins)
    key = _shared_key()
    shared = _SHARED.get(key)
    if shared is None:
        shared = _build_plugin_manager(builtins, load_entry_points, plugins)
        shared.frozen = True
        _SHARED[key] = shared
    return shared


def _build_plugin_manager(
    builtins: Sequence[str], load_entry_points: bool, plugins: Sequence[object]
) -> MammokitPluginManager:
    """A new manager, built and validated as :func:`get_plugin_manager` says."""
    pm = MammokitPluginManager()
    pm.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV) == "1":
        pm.trace.root.setwriter(logger.debug)
        pm.enable_tracing()
    _register_builtins(pm, builtins)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or f"inline-{id(plugin):x}"
        try:
            pm.register_as(plugin, name, "(inline)", "")
        except Exception as err:
            raise PluginError(f"Error registering plugin {name!r}: {err}") from err
    if load_entry_points:
        _load_entry_points(pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        raise PluginError(f"Plugin {err.plugin!r} is invalid: {err}") from err
    conflicts: list[str] = []
    for hook_name in REGISTRY_HOOKS:  # validate now: duplicates fail at load time
        conflicts += _conflicts(_collect(pm, hook_name), hook_name)
    if conflicts:
        raise PluginError("; ".join(conflicts))
    return pm


def manager_or_shared(manager: pluggy.PluginManager | None = None) -> MammokitPluginManager:
    """``manager``, or the shared one (:func:`get_plugin_manager`) when None.

    Functions that take a manager accept any ``pluggy.PluginManager`` in their signature;
    the plugin core needs the one :func:`get_plugin_manager` builds, and this is where a
    caller's manager is narrowed to it.

    Raises:
        PluginError: ``manager`` was not built by :func:`get_plugin_manager`.
    """
    if manager is None:
        return get_plugin_manager()
    if not isinstance(manager, MammokitPluginManager):
        raise PluginError(
            f"mammokit needs a plugin manager built by mammokit.get_plugin_manager(), got a "
            f"{type(manager).__name__}"
        )
    return manager


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or repr(plugin)


@attrs.frozen
class _Given:
    """What one plugin's registry hook implementation returned."""

    plugin: str
    result: Any


def _attribute(caller: pluggy.HookCaller, plugin_name: str) -> None:
    """Wrap ``plugin_name``'s implementations of the registry hook ``caller`` (wrappers
    aside), so that each call returns a :class:`_Given` and a failure is a PluginError
    naming the plugin."""
    for impl in caller.get_hookimpls():
        if impl.plugin_name == plugin_name and not (impl.hookwrapper or impl.wrapper):
            # pluggy types HookImpl.function as Final, but it is a plain attribute: it is
            # replaced here once, at registration, before the hook is ever called.
            impl.function = _attributed(impl.function, plugin_name, caller.name)  # type: ignore[misc]


def _attributed(
    function: Callable[..., Any], plugin_name: str, hook_name: str
) -> Callable[..., _Given]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> _Given:
        try:
            result = function(*args, **kwargs)
        except Exception as err:
            raise PluginError(
                f"Plugin {plugin_name!r} failed in hook {hook_name}: {type(err).__name__}: {err}"
            ) from err
        return _Given(plugin_name, result)

    return call


def _collect(pm: MammokitPluginManager, hook_name: str) -> list[Component[Any]]:
    """Call the hook through pluggy (once per manager until a plugin is registered or
    unregistered): every plugin's components, each as the hook's record type and tagged with
    its plugin's name.

    Raises:
        ConfigError: ``hook_name`` is no registry hook.
        PluginError: an implementation failed, returned None, or returned something that is
            not a :class:`~mammokit.Component` of this hook.
    """
    if hook_name not in REGISTRY_HOOKS:
        raise ConfigError(f"Unknown hook {hook_name!r}; choose one of: {', '.join(REGISTRY_HOOKS)}")
    if hook_name not in pm.collected:
        pm.collected[hook_name] = _call_registry_hook(pm, hook_name)
    return list(pm.collected[hook_name])


def _call_registry_hook(pm: MammokitPluginManager, hook_name: str) -> list[Component[Any]]:
    """One call of a registry hook through ``pm.hook`` (see :func:`_collect`); each result
    comes with its plugin's name from the wrapped implementation."""
    caller: pluggy.HookCaller = getattr(pm.hook, hook_name)
    found: list[Component[Any]] = []
    for given in caller():
        if given.result is None:
            raise PluginError(
                f"Plugin {given.plugin!r} returned None from hook {hook_name}; a registry "
                "hook returns a list of components, empty when it has none"
            )
        found += [_as_record(c, hook_name, given.plugin) for c in given.result]
    return found


def _as_record(component: object, hook_name: str, plugin: str) -> Component[Any]:
    """``component`` as ``hook_name``'s record type, tagged with ``plugin``.

    Raises:
        PluginError: it is no Component, or the record of another hook.
    """
    record = HOOK_TYPES[hook_name].record
    if isinstance(component, record):
        return attrs.evolve(component, plugin=plugin)
    others = tuple(h.record for h in HOOK_TYPES.values() if h.record is not record)
    if not isinstance(component, Component) or isinstance(component, others):
        raise PluginError(
            f"Plugin {plugin!r} returned {component!r} from {hook_name}; expected "
            f"mammokit.Component records (mammokit.{record.__name__} or a plain Component)"
        )
    return cast(
        "Component[Any]",
        record(component.name, component.description, component.factory, plugin=plugin),
    )


def _conflicts(found: Sequence[Component[Any]], hook_name: str) -> list[str]:
    """One message per component name that more than one plugin registers."""
    owners: dict[str, list[str]] = {}
    for component in found:
        owners.setdefault(component.name, []).append(component.plugin)
    noun = REGISTRY_HOOKS[hook_name]
    return [
        f"Conflicting plugins for {noun} {name!r}: {', '.join(map(repr, plugins))}"
        for name, plugins in sorted(owners.items())
        if len(plugins) > 1
    ]


def get_components(pm: pluggy.PluginManager, hook_name: str) -> dict[str, Component[Any]]:
    """All components registered under one registry hook, by name, each tagged with the
    plugin that registered it (``component.plugin``).

    Raises:
        PluginError: plugins conflict ("Conflicting plugins for ...", every name listed).
    """
    found = _collect(manager_or_shared(pm), hook_name)
    conflicts = _conflicts(found, hook_name)
    if conflicts:
        raise PluginError("; ".join(conflicts))
    return {component.name: component for component in sorted(found, key=lambda c: c.name)}


def resolve_component(pm: pluggy.PluginManager, hook_name: str, name: str) -> Component[Any]:
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
    component: Component[Any],
    hook_name: str,
    *args: Any,
    options: dict[str, Any] | None = None,
    **context: Any,
) -> Any:
    """Build a component already resolved under ``hook_name``, as :func:`build_component`
    does (the same errors)."""
    options = dict(options or {})
    try:
        built = component.factory(*args, **context, **options)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise _options_error(hook_name, component.name, options, err) from err
    _check_built(component, hook_name, built)
    return built


def build_record(
    hook: HookType[Any, B],
    component: Component[Any],
    *args: Any,
    options: dict[str, Any] | None = None,
    **context: Any,
) -> B:
    """Build a component already resolved under ``hook`` (e.g. a decoder chosen per file):
    :func:`build_resolved` with a typed result."""
    return cast("B", build_resolved(component, hook.name, *args, options=options, **context))


#: (hook, component name, plugin, built type) already checked against their Protocol.
_CHECKED: set[tuple[str, str, str, type]] = set()


def _check_built(component: Component[Any], hook_name: str, built: object) -> None:
    """Refuse a built component that does not satisfy its hook's Protocol (checked once
    per component and built type).

    Raises:
        PluginError: naming the plugin, the hook, the Protocol and what is missing.
    """
    key = (hook_name, component.name, component.plugin, type(built))
    if key in _CHECKED:
        return
    problems = check_contract(built, hook_name)
    if problems:
        protocol = HOOK_PROTOCOLS[hook_name].__name__
        raise PluginError(
            f"Plugin {component.plugin or '(unknown)'!r}: {REGISTRY_HOOKS[hook_name]} "
            f"{component.name!r} (hook {hook_name}) built {type(built).__name__}, which is "
            f"not a mammokit.plugins.protocols.{protocol}: {'; '.join(problems)}"
        )
    _CHECKED.add(key)


def check_component_options(
    pm: pluggy.PluginManager,
    hook_name: str,
    name: str,
    *args: Any,
    options: dict[str, Any] | None = None,
    **context: Any,
) -> Component[Any]:
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
    """Every plugin with its distribution, version, components per hook and status:
    the registered ones, then those disabled by ``MAMMOKIT_DISABLE_PLUGINS`` and those that
    failed to load.

    Raises:
        PluginError: ``pm`` was not built by :func:`get_plugin_manager`.
    """
    pm = manager_or_shared(pm)
    provides: dict[str, dict[str, list[str]]] = {}
    for hook_name in REGISTRY_HOOKS:
        for component in _collect(pm, hook_name):
            provides.setdefault(component.plugin, {}).setdefault(hook_name, []).append(
                component.name
            )
    infos = []
    for plugin in pm.get_plugins():
        name = _plugin_name(pm, plugin)
        dist, version = pm.distribution_of(name)
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist,
                version=version,
                provides={h: tuple(sorted(n)) for h, n in provides.get(name, {}).items()},
            )
        )
    infos.sort(key=lambda info: (info.distribution != "mammokit", info.name))
    infos += sorted([*pm.disabled, *pm.failed], key=lambda info: info.name)
    return infos
