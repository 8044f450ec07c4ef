"""The named component records that registry hooks return, one record type per hook.

Each record is a small frozen ``attrs`` class: a ``name`` (unique within its hook), a
one-line ``description`` and a ``factory`` that builds the component. Heavy imports belong
inside the factory, so listing plugins never imports TensorFlow or a native decoder.

Each hook has its own record type (``WindowingMethodComponent`` for
``mammokit_windowing_methods``, ...), whose ``factory`` is typed with a callable Protocol
(``WindowingMethodFactory``, ...) stating how mammokit calls it and what it must return, so
mypy checks a plugin's factory where the record is made. A plain :class:`Component` is
accepted by every hook too; the plugin manager turns it into the hook's record type.

The factory Protocols spell "any keyword options" as ``*args: Any, **options: Any``: that is
how typing says "these leading arguments, then anything", so mypy checks the leading
arguments and the return type, and the options are checked when the component is built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs

from mammokit.plugins.protocols import (
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

#: The type of what a component's factory builds (its hook's Protocol).
T = TypeVar("T", covariant=True)

__all__ = [
    "BackboneComponent",
    "BackboneFactory",
    "Component",
    "DecoderComponent",
    "DecoderFactory",
    "ExternalDatasetComponent",
    "ExternalDatasetFactory",
    "LossComponent",
    "LossFactory",
    "MetricComponent",
    "MetricFactory",
    "PadderComponent",
    "PadderFactory",
    "PretrainingMethodComponent",
    "PretrainingMethodFactory",
    "RoiExtractorComponent",
    "RoiExtractorFactory",
    "SamplingStrategyComponent",
    "SamplingStrategyFactory",
    "ThresholdPolicyComponent",
    "ThresholdPolicyFactory",
    "WindowingMethodComponent",
    "WindowingMethodFactory",
]

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


def _check_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(
            f"component name {value!r} must be lower case letters, digits, '_' or '-', "
            "starting with a letter"
        )


def _check_one_line(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip() or "\n" in value:
        raise ValueError(f"component description must be one non-empty line, got {value!r}")


def _tuple_of_str(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(str(value) for value in values)


def _no_custom_objects() -> Mapping[str, Any]:
    return {}


def _frozenset_of_str(values: Iterable[str]) -> frozenset[str]:
    # A typed converter, so mypy's attrs plugin accepts any iterable of UIDs in __init__.
    return frozenset(values)


class DecoderFactory(Protocol):
    """``mammokit_decoders``: ``factory(**decoder_options) -> Decoder``."""

    def __call__(self, *args: Any, **options: Any) -> Decoder: ...


class WindowingMethodFactory(Protocol):
    """``mammokit_windowing_methods``: ``factory(**window_options) -> WindowingMethod``."""

    def __call__(self, *args: Any, **options: Any) -> WindowingMethod: ...


class RoiExtractorFactory(Protocol):
    """``mammokit_roi_extractors``: ``factory(**roi_options) -> RoiExtractor`` (a fallback
    extractor is built with ``factory()``)."""

    def __call__(self, *args: Any, **options: Any) -> RoiExtractor: ...


class PadderFactory(Protocol):
    """``mammokit_padders``: ``factory(**padder_options) -> Padder``."""

    def __call__(self, *args: Any, **options: Any) -> Padder: ...


class SamplingStrategyFactory(Protocol):
    """``mammokit_sampling_strategies``: ``factory(**sampling_options) -> SamplingStrategy``."""

    def __call__(self, *args: Any, **options: Any) -> SamplingStrategy: ...


class ExternalDatasetFactory(Protocol):
    """``mammokit_external_datasets``: ``factory(path, **options) -> ExternalDataset`` (a
    pandas DataFrame); ``path`` is the text ``PATH`` of ``--external NAME:PATH``."""

    def __call__(self, path: str, /, *args: Any, **options: Any) -> ExternalDataset: ...


class BackboneFactory(Protocol):
    """``mammokit_backbones``: ``factory(input_shape, *, pretrained=None,
    **backbone_options) -> Backbone`` with ``input_shape = (H, W, 3)``; ``pretrained`` is a
    local weights file or None."""

    def __call__(
        self, input_shape: tuple[int, int, int], /, *args: Any, **options: Any
    ) -> Backbone: ...


class LossFactory(Protocol):
    """``mammokit_losses``: ``factory(**loss_options) -> Loss``."""

    def __call__(self, *args: Any, **options: Any) -> Loss: ...


class ThresholdPolicyFactory(Protocol):
    """``mammokit_threshold_policies``: ``factory(arg, *, positive_rate, oof_labels,
    oof_scores) -> ThresholdPolicy``; ``arg`` is the text after the colon of ``NAME:ARG``
    or None. A factory takes ``**context`` for the context it does not need."""

    def __call__(self, arg: str | None, /, *args: Any, **context: Any) -> ThresholdPolicy: ...


class MetricFactory(Protocol):
    """``mammokit_metrics``: ``factory(**metric_options) -> Metric``, or
    ``factory(threshold=T, **metric_options)`` for a metric that needs a threshold."""

    def __call__(self, *args: Any, **options: Any) -> Metric: ...


class PretrainingMethodFactory(Protocol):
    """``mammokit_pretraining_methods``: ``factory(**method_options) -> PretrainingMethod``."""

    def __call__(self, *args: Any, **options: Any) -> PretrainingMethod: ...


@attrs.frozen
class Component(Generic[T]):
    """A named, swappable component provided by a plugin.

    ``Component[RoiExtractor]`` is a component whose factory builds a
    :class:`~mammokit.plugins.protocols.RoiExtractor`; each hook's Protocol is in
    :mod:`mammokit.plugins.protocols`, and the built object is checked against it when it is first
    built.

    Attributes:
        name: the name a config uses to pick this component, e.g. ``"voi_lut"``.
        description: one line shown by ``mammokit plugins``.
        factory: called with the component's options (keyword arguments) to build it.
        plugin: the plugin that registered it; set by the plugin manager when it collects
            the hook's results (not part of equality).
    """

    name: str = attrs.field(validator=[attrs.validators.instance_of(str), _check_name])
    description: str = attrs.field(validator=[attrs.validators.instance_of(str), _check_one_line])
    factory: Callable[..., T] = attrs.field(validator=attrs.validators.is_callable())
    plugin: str = attrs.field(default="", kw_only=True, eq=False)


@attrs.frozen
class DecoderComponent(Component[Decoder]):
    """``mammokit_decoders``: a pixel decoder, with what it can decode.

    Attributes:
        factory: builds the decoder (:class:`DecoderFactory`).
        transfer_syntaxes: the transfer syntax UIDs it decodes; empty means any.
        is_available: returns True when the decoder's dependencies are importable.
        reduces_resolution: True if it can decode at a fraction of full resolution.
        speed_rank: lower is faster; the automatic choice prefers the lowest rank
            among available decoders that handle the file.
        named_only: transfer syntaxes (among those it decodes) the decoder is used for only
            when named; the automatic choice leaves them to other decoders, e.g. because
            hostile input can corrupt memory in its native code there.
    """

    factory: DecoderFactory = attrs.field(validator=attrs.validators.is_callable())
    transfer_syntaxes: frozenset[str] = attrs.field(
        default=frozenset(), converter=_frozenset_of_str
    )
    is_available: Callable[[], bool] = attrs.field(
        default=lambda: True, validator=attrs.validators.is_callable()
    )
    reduces_resolution: bool = False
    speed_rank: int = 100
    named_only: frozenset[str] = attrs.field(default=frozenset(), converter=_frozenset_of_str)


@attrs.frozen
class MetricComponent(Component[Metric]):
    """``mammokit_metrics``: an evaluation metric, with the name it is shown under and
    whether it needs a threshold.

    A plain :class:`Component` in ``mammokit_metrics`` is a metric shown under its name that
    needs no threshold.

    Attributes:
        factory: builds the metric (:class:`MetricFactory`).
        label: the key in ``metrics.json`` and the row of the report; empty means ``name``.
        needs_threshold: the factory is called as ``factory(threshold=T, **options)`` with
            the threshold policy's ``T`` (a breast is positive when its score is above it);
            the metric is left out when the policy writes probabilities (no threshold).
    """

    factory: MetricFactory = attrs.field(validator=attrs.validators.is_callable())
    label: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    needs_threshold: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


@attrs.frozen
class BackboneComponent(Component[Backbone]):
    """``mammokit_backbones``: a model backbone, with what loading a model saved with it
    needs.

    A ``model.keras`` file names its layers; a fresh process can rebuild a layer only if its
    class is known to Keras. :func:`mammokit.train.load_model` imports ``load_modules`` and
    passes ``custom_objects()`` for the run's backbone, so a model trained with any plugin's
    backbone loads in any process, with ``safe_mode=True``.

    Attributes:
        factory: builds the backbone (:class:`BackboneFactory`).
        load_modules: modules to import before loading; importing them registers the
            backbone's layers with Keras (``keras.saving.register_keras_serializable``),
            e.g. ``("keras_cv_attention_models.convnext",)``.
        custom_objects: returns ``{registered name: class}`` for layers that are not
            registered by an import (imports TensorFlow inside, only when called).
    """

    factory: BackboneFactory = attrs.field(validator=attrs.validators.is_callable())
    load_modules: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    custom_objects: Callable[[], Mapping[str, Any]] = attrs.field(
        default=_no_custom_objects, validator=attrs.validators.is_callable()
    )


@attrs.frozen
class WindowingMethodComponent(Component[WindowingMethod]):
    """``mammokit_windowing_methods``: a windowing method (stored values -> display values).

    Attributes:
        factory: builds the method (:class:`WindowingMethodFactory`).
    """

    factory: WindowingMethodFactory = attrs.field(validator=attrs.validators.is_callable())


@attrs.frozen
class RoiExtractorComponent(Component[RoiExtractor]):
    """``mammokit_roi_extractors``: a region-of-interest extractor.

    Attributes:
        factory: builds the extractor (:class:`RoiExtractorFactory`).
    """

    factory: RoiExtractorFactory = attrs.field(validator=attrs.validators.is_callable())


@attrs.frozen
class PadderComponent(Component[Padder]):
    """``mammokit_padders``: a padder to the target aspect ratio.

    Attributes:
        factory: builds the padder (:class:`PadderFactory`).
    """

    factory: PadderFactory = attrs.field(validator=attrs.validators.is_callable())


@attrs.frozen
class SamplingStrategyComponent(Component[SamplingStrategy]):
    """``mammokit_sampling_strategies``: a sampling strategy.

    Attributes:
        factory: builds the strategy (:class:`SamplingStrategyFactory`).
    """

    factory: SamplingStrategyFactory = attrs.field(validator=attrs.validators.is_callable())


@attrs.frozen
class ExternalDatasetComponent(Component[ExternalDataset]):
    """``mammokit_external_datasets``: an external, training-only dataset.

    Attributes:
        factory: reads the dataset's table (:class:`ExternalDatasetFactory`).
    """

    factory: ExternalDatasetFactory = attrs.field(validator=attrs.validators.is_callable())


@attrs.frozen
class LossComponent(Component[Loss]):
    """``mammokit_losses``: a training loss.

    Attributes:
        factory: builds the loss (:class:`LossFactory`).
    """

    factory: LossFactory = attrs.field(validator=attrs.validators.is_callable())


@attrs.frozen
class ThresholdPolicyComponent(Component[ThresholdPolicy]):
    """``mammokit_threshold_policies``: a threshold policy.

    Attributes:
        factory: builds the policy (:class:`ThresholdPolicyFactory`).
    """

    factory: ThresholdPolicyFactory = attrs.field(validator=attrs.validators.is_callable())


@attrs.frozen
class PretrainingMethodComponent(Component[PretrainingMethod]):
    """``mammokit_pretraining_methods``: a self-supervised pretraining method.

    Attributes:
        factory: builds the method (:class:`PretrainingMethodFactory`).
    """

    factory: PretrainingMethodFactory = attrs.field(validator=attrs.validators.is_callable())
