"""The types of the plugin core, one set per registry hook.

For each hook, :class:`HookType` ties together its name, the record type its plugins return
(``WindowingMethodComponent``, ...), and what the record's factory builds (the hook's
Protocol in :mod:`mammokit.plugins.protocols`). The manager's typed methods
(:meth:`~mammokit.plugins.manager.MammokitPluginManager.build_window`, ...) are written
with these, so a caller names no hook string and gets a typed result.

The records and their factory Protocols live in :mod:`mammokit.plugins.components`, below the
manager in the layers, so that a plugin module imports them without the manager.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs

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
from mammokit.plugins.hookspecs import REGISTRY_HOOKS
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
)

__all__ = [
    "BACKBONES",
    "DECODERS",
    "EXTERNAL_DATASETS",
    "HOOK_TYPES",
    "LOSSES",
    "METRICS",
    "PADDERS",
    "PRETRAINING_METHODS",
    "ROI_EXTRACTORS",
    "SAMPLING_STRATEGIES",
    "THRESHOLD_POLICIES",
    "WINDOWING_METHODS",
    "HookType",
]

#: The hook's record type.
R = TypeVar("R", bound=Component[Any])
#: What the hook's factories build (its Protocol).
B = TypeVar("B")


@attrs.frozen
class HookType(Generic[R, B]):
    """One registry hook: its name and its record type; ``B`` is what its factories build.

    Attributes:
        name: the hook's name, e.g. ``"mammokit_windowing_methods"``.
        record: the record type the manager gives its components as; a plain
            :class:`~mammokit.Component` from a plugin is turned into it.
    """

    name: str = attrs.field(validator=attrs.validators.in_(REGISTRY_HOOKS))
    record: type[R]

    @property
    def noun(self) -> str:
        """The singular noun used in messages, e.g. ``"windowing method"``."""
        return REGISTRY_HOOKS[self.name]

    @property
    def protocol(self) -> type:
        """The Protocol a built component must satisfy."""
        return HOOK_PROTOCOLS[self.name]


DECODERS: HookType[DecoderComponent, Decoder] = HookType("mammokit_decoders", DecoderComponent)
WINDOWING_METHODS: HookType[WindowingMethodComponent, WindowingMethod] = HookType(
    "mammokit_windowing_methods", WindowingMethodComponent
)
ROI_EXTRACTORS: HookType[RoiExtractorComponent, RoiExtractor] = HookType(
    "mammokit_roi_extractors", RoiExtractorComponent
)
PADDERS: HookType[PadderComponent, Padder] = HookType("mammokit_padders", PadderComponent)
SAMPLING_STRATEGIES: HookType[SamplingStrategyComponent, SamplingStrategy] = HookType(
    "mammokit_sampling_strategies", SamplingStrategyComponent
)
EXTERNAL_DATASETS: HookType[ExternalDatasetComponent, ExternalDataset] = HookType(
    "mammokit_external_datasets", ExternalDatasetComponent
)
BACKBONES: HookType[BackboneComponent, Backbone] = HookType("mammokit_backbones", BackboneComponent)
LOSSES: HookType[LossComponent, Loss] = HookType("mammokit_losses", LossComponent)
THRESHOLD_POLICIES: HookType[ThresholdPolicyComponent, ThresholdPolicy] = HookType(
    "mammokit_threshold_policies", ThresholdPolicyComponent
)
METRICS: HookType[MetricComponent, Metric] = HookType("mammokit_metrics", MetricComponent)
PRETRAINING_METHODS: HookType[PretrainingMethodComponent, PretrainingMethod] = HookType(
    "mammokit_pretraining_methods", PretrainingMethodComponent
)

#: Every registry hook's :class:`HookType`, by hook name.
HOOK_TYPES: dict[str, HookType[Any, Any]] = {
    hook.name: hook
    for hook in (
        DECODERS,
        WINDOWING_METHODS,
        ROI_EXTRACTORS,
        PADDERS,
        SAMPLING_STRATEGIES,
        EXTERNAL_DATASETS,
        BACKBONES,
        LOSSES,
        THRESHOLD_POLICIES,
        METRICS,
        PRETRAINING_METHODS,
    )
}
