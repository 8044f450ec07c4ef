"""Built-in plugin: threshold policies and evaluation metrics."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mammokit.evaluate import thresholds
from mammokit.plugins.components import Component, MetricComponent
from mammokit.plugins.hookspecs import hookimpl
from mammokit.plugins.protocols import Metric, ThresholdPolicy
from mammokit.scoring import metrics


def _fixed_metric(fn: Metric) -> Callable[[], Metric]:
    def factory() -> Metric:
        return fn

    return factory


def _thresholded(fn: Callable[..., float]) -> Callable[..., Metric]:
    def factory(threshold: float = 0.5) -> Metric:
        return partial(fn, threshold=float(threshold))

    return factory


def _pf1(beta: float = 1.0) -> Metric:
    return partial(metrics.pfbeta, beta=float(beta))


@hookimpl
def mammokit_threshold_policies() -> list[Component[ThresholdPolicy]]:
    return [
        Component(
            "prior_quantile",
            "Threshold at the 1-prior quantile of breast scores (prior from the run or ARG)",
            thresholds.make_prior_quantile,
        ),
        Component("fixed", "A fixed threshold: fixed:T", thresholds.make_fixed),
        Component(
            "best_pf1",
            "The threshold maximising binarised pF1 on out-of-fold predictions",
            thresholds.make_best_pf1,
        ),
        Component("none", "No threshold: write probabilities", thresholds.make_none),
    ]


@hookimpl
def mammokit_metrics() -> list[Component[Metric]]:
    return [
        MetricComponent(
            "pf1", "Probabilistic F1 (Kaggle RSNA definition); option beta", _pf1,
            label="pF1 (probabilities)",
        ),
        MetricComponent(
            "auc", "ROC AUC (ties count one half)", _fixed_metric(metrics.roc_auc),
            label="ROC AUC",
        ),
        MetricComponent(
            "pr_auc", "PR AUC as average precision", _fixed_metric(metrics.average_precision),
            label="PR AUC (average precision)",
        ),
        MetricComponent(
            "f1", "Binarised F1 at score > threshold", _thresholded(metrics.f1_at_threshold),
            label="pF1 (binarised)", needs_threshold=True,
        ),
        MetricComponent(
            "sensitivity", "TP/(TP+FN) at score > threshold", _thresholded(metrics.sensitivity),
            label="Sensitivity", needs_threshold=True,
        ),
        MetricComponent(
            "specificity", "TN/(TN+FP) at score > threshold", _thresholded(metrics.specificity),
            label="Specificity", needs_threshold=True,
        ),
    ]  # fmt: skip
