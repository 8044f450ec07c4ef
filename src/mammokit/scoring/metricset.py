"""The metrics a report or a training run computes, chosen by name from ``mammokit_metrics``.

A metric is built through the plugin manager (``manager.build_metric(name, **options)``) as
``factory(**options)``, or ``factory(threshold=T, **options)`` for a
:class:`~mammokit.MetricComponent` with ``needs_threshold``. What it builds is a callable
``(y_true: (N,) int {0, 1}, scores: (N,) float) -> float``; an undefined value (no positive,
one class...) is NaN, which ``metrics.json`` writes as null and the report as "n/a".

Everything here is computed at breast level by the callers (scores aggregated per
``prediction_id``); training also computes each metric per image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs
import numpy as np
import pluggy

from mammokit.core.config import as_names
from mammokit.core.errors import ConfigError, MammokitError, PluginError
from mammokit.plugins import MammokitPluginManager, manager_or_shared
from mammokit.plugins.protocols import Metric
from mammokit.plugins.types import METRICS

__all__ = [
    "DEFAULT_BREAKDOWN_METRICS",
    "DEFAULT_METRICS",
    "ChosenMetric",
    "MetricSet",
    "select_metrics",
    "select_report_metrics",
]

#: The report's summary metrics when none are chosen.
DEFAULT_METRICS: tuple[str, ...] = ("pf1", "auc", "pr_auc", "f1", "sensitivity", "specificity")
#: The report's breakdown tables' metrics when none are chosen (no PR AUC; AUC first).
DEFAULT_BREAKDOWN_METRICS: tuple[str, ...] = ("auc", "pf1", "f1", "sensitivity", "specificity")


@attrs.frozen
class ChosenMetric:
    """One metric of a :class:`MetricSet`.

    Attributes:
        name: the ``mammokit_metrics`` name (the history column is ``val_<level>_<name>``).
        label: the key in ``metrics.json`` and the report; the component's label (or its
            name) followed by ``[key=value, ...]`` when options are given.
        needs_threshold: built with the policy's threshold, left out without one.
        options: the user's options for its factory.
    """

    name: str
    label: str
    needs_threshold: bool
    options: dict[str, Any]


def _checked(fn: Callable[[Any, Any], Any], name: str) -> Metric:
    """``fn`` whose failures and non-float results name the metric."""

    def metric(y_true: np.ndarray, scores: np.ndarray) -> float:
        try:
            value = fn(y_true, scores)
        except MammokitError:
            raise
        except Exception as err:
            raise PluginError(f"metric {name!r} failed: {type(err).__name__}: {err}") from err
        try:
            return float(value)
        except (TypeError, ValueError):
            raise PluginError(f"metric {name!r} returned {value!r}; expected a float") from None

    return metric


@attrs.frozen
class MetricSet:
    """Metrics chosen by name, in order; built for a given threshold by :meth:`build`.

    Attributes:
        metrics: the chosen metrics.
        manager: the plugin manager they come from.
    """

    metrics: tuple[ChosenMetric, ...]
    manager: MammokitPluginManager = attrs.field(eq=False, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The metric names, in order."""
        return tuple(metric.name for metric in self.metrics)

    def build(
        self, threshold: float | None, *, key: Literal["label", "name"] = "label"
    ) -> dict[str, Metric]:
        """``key`` ("label" or "name") -> metric, built through the plugin manager.

        Metrics that need a threshold get ``threshold``, and are left out when it is None.

        Raises:
            ConfigError: a factory refused its options.
        """
        built: dict[str, Metric] = {}
        for metric in self.metrics:
            if not metric.needs_threshold:
                fn = self.manager.build_metric(metric.name, **metric.options)
            elif threshold is None:
                continue
            else:
                fn = self.manager.build_metric(
                    metric.name, threshold=float(threshold), **metric.options
                )
            if not callable(fn):
                raise PluginError(f"metric {metric.name!r}: its factory returned {fn!r}")
            built[getattr(metric, key)] = _checked(fn, metric.name)
        return built


def select_metrics(
    names: str | Iterable[str],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    manager: pluggy.PluginManager | None = None,
    allow_threshold: bool = True,
    where: str = "metrics",
) -> MetricSet:
    """Resolve metric names (``"pf1,auc"`` or a sequence) and check that each one builds.

    Args:
        names: ``mammokit_metrics`` names, in the order they are shown.
        options: name -> options for that metric's factory.
        manager: the plugin manager (a default one if None).
        allow_threshold: False refuses metrics that need a threshold (training has no
            threshold policy).
        where: what the names came from, for messages.

    Raises:
        ConfigError: no name, a name twice, an unknown name (the message lists the
            choices), options for a metric not chosen, options its factory refuses, a
            thresholded metric where none is allowed, or two metrics with one label.
    """
    plugins = manager_or_shared(manager)
    chosen = as_names(names)
    given = {str(k): dict(v) for k, v in (options or {}).items()}
    if not chosen:
        raise ConfigError(f"{where}: choose at least one metric")
    twice = sorted({name for name in chosen if chosen.count(name) > 1})
    if twice:
        raise ConfigError(f"{where}: metric(s) listed twice: {', '.join(twice)}")
    stray = sorted(set(given) - set(chosen))
    if stray:
        raise ConfigError(f"{where}: options given for metric(s) not chosen: {', '.join(stray)}")
    metrics = []
    for name in chosen:
        record = plugins.resolve(METRICS, name)
        needs_threshold = record.needs_threshold
        if needs_threshold and not allow_threshold:
            raise ConfigError(
                f"{where}: metric {name!r} needs a threshold, and training validates without "
                "a threshold policy; compute it with `mammokit evaluate --metrics` instead"
            )
        label = record.label or name
        if given.get(name):
            label += " [" + ", ".join(f"{k}={v}" for k, v in given[name].items()) + "]"
        metrics.append(ChosenMetric(name, label, needs_threshold, given.get(name, {})))
    labels = [metric.label for metric in metrics]
    clash = sorted({label for label in labels if labels.count(label) > 1})
    if clash:
        raise ConfigError(f"{where}: two metrics are shown as {', '.join(map(repr, clash))}")
    selected = MetricSet(tuple(metrics), plugins)
    selected.build(0.5)  # every factory with its options, now rather than after the work
    return selected


def select_report_metrics(
    names: str | Iterable[str] | None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    manager: pluggy.PluginManager | None = None,
) -> tuple[MetricSet, MetricSet]:
    """The report's ``(summary, breakdown)`` metric sets: the chosen ``names`` for both, or
    :data:`DEFAULT_METRICS` and :data:`DEFAULT_BREAKDOWN_METRICS` when ``names`` is None."""
    manager = manager_or_shared(manager)
    if names is not None:
        summary = select_metrics(names, options, manager=manager)
        return summary, summary
    options = dict(options or {})
    breakdown_options = {k: v for k, v in options.items() if k in DEFAULT_BREAKDOWN_METRICS}
    return (
        select_metrics(DEFAULT_METRICS, options, manager=manager),
        select_metrics(DEFAULT_BREAKDOWN_METRICS, breakdown_options, manager=manager),
    )
