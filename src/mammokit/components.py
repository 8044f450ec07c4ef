"""The named component records that registry hooks return.

Each record is a small frozen ``attrs`` class: a ``name`` (unique within its hook), a
one-line ``description`` and a ``factory`` that builds the component. Heavy imports belong
inside the factory, so listing plugins never imports TensorFlow or a native decoder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from mammokit.protocols import Backbone, Decoder, Metric

#: The type of what a component's factory builds (its hook's Protocol).
T = TypeVar("T", covariant=True)

__all__ = ["BackboneComponent", "Component", "DecoderComponent", "MetricComponent"]

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


@attrs.frozen
class Component(Generic[T]):
    """A named, swappable component provided by a plugin.

    ``Component[RoiExtractor]`` is a component whose factory builds a
    :class:`~mammokit.protocols.RoiExtractor`; each hook's Protocol is in
    :mod:`mammokit.protocols`, and the built object is checked against it when it is first
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
    """A pixel decoder, with what it can decode.

    Attributes:
        transfer_syntaxes: the transfer syntax UIDs it decodes; empty means any.
        is_available: returns True when the decoder's dependencies are importable.
        reduces_resolution: True if it can decode at a fraction of full resolution.
        speed_rank: lower is faster; the automatic choice prefers the lowest rank
            among available decoders that handle the file.
        named_only: transfer syntaxes (among those it decodes) the decoder is used for only
            when named; the automatic choice leaves them to other decoders, e.g. because
            hostile input can corrupt memory in its native code there.
    """

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
    """An evaluation metric, with the name it is shown under and whether it needs a threshold.

    A plain :class:`Component` in ``mammokit_metrics`` is a metric shown under its name that
    needs no threshold.

    Attributes:
        label: the key in ``metrics.json`` and the row of the report; empty means ``name``.
        needs_threshold: the factory is called as ``factory(threshold=T, **options)`` with
            the threshold policy's ``T`` (a breast is positive when its score is above it);
            the metric is left out when the policy writes probabilities (no threshold).
    """

    label: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    needs_threshold: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))


@attrs.frozen
class BackboneComponent(Component[Backbone]):
    """A model backbone, with what loading a model saved with it needs.

    A ``model.keras`` file names its layers; a fresh process can rebuild a layer only if its
    class is known to Keras. :func:`mammokit.train.load_model` imports ``load_modules`` and
    passes ``custom_objects()`` for the run's backbone, so a model trained with any plugin's
    backbone loads in any process, with ``safe_mode=True``.

    Attributes:
        load_modules: modules to import before loading; importing them registers the
            backbone's layers with Keras (``keras.saving.register_keras_serializable``),
            e.g. ``("keras_cv_attention_models.convnext",)``.
        custom_objects: returns ``{registered name: class}`` for layers that are not
            registered by an import (imports TensorFlow inside, only when called).
    """

    load_modules: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    custom_objects: Callable[[], Mapping[str, Any]] = attrs.field(
        default=_no_custom_objects, validator=attrs.validators.is_callable()
    )
