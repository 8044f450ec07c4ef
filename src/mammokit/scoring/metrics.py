"""Evaluation metrics: curves and areas from scikit-learn, pF1 and the rest in numpy.

ROC and precision-recall curves, ROC AUC and average precision are scikit-learn's
(``sklearn.metrics``), the numbers reviewers compare against; mammokit only wraps them so
that undefined cases give NaN and the shapes and orders stay those documented here.
:func:`pfbeta` is mammokit's own, equal to the RSNA competition's function.

Every metric takes ``labels: (N,) {0, 1}`` and ``scores: (N,) float`` (any array-like) and
returns a Python float. Metrics that are undefined for the input (ROC AUC with one class,
sensitivity without positives...) return ``nan`` rather than raising or dividing by zero;
:func:`pfbeta` is defined everywhere (see its docstring).

Binarisation convention, used everywhere in mammokit: a score is predicted positive when it
is *strictly greater* than the threshold (``score > threshold``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from mammokit.core.errors import ConfigError
from mammokit.plugins.protocols import Metric as _MetricProtocol

__all__ = [
    "ConfidenceInterval",
    "Counts",
    "average_precision",
    "binarize",
    "bootstrap_cis",
    "check_labels_scores",
    "confusion_counts",
    "f1_at_threshold",
    "f1_curve",
    "pfbeta",
    "pr_auc",
    "pr_curve",
    "roc_auc",
    "roc_curve",
    "sensitivity",
    "specificity",
]

#: The contract of a ``mammokit_metrics`` component (kept here for older imports).
Metric = _MetricProtocol


def _sklearn_metrics() -> Any:
    """``sklearn.metrics``, imported on first use: it takes about a second to import, and
    ``import mammokit`` (hence every CLI command) should not pay for it."""
    from sklearn import metrics

    return metrics


def check_labels_scores(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert: ``(N,) {0,1}``, ``(N,) float`` -> ``(N,) bool``, ``(N,) float64``.

    Raises:
        ConfigError: lengths differ, a label is not 0/1, or a score is NaN.
    """
    y = np.asarray(labels).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ConfigError(f"labels and scores differ in length: {y.size} != {s.size}")
    if y.dtype != bool:
        try:
            y_float = y.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"labels must be 0 or 1, got dtype {y.dtype}") from err
        bad = ~np.isin(y_float, (0.0, 1.0))
        if bad.any():
            raise ConfigError(f"labels must be 0 or 1, got {y[bad][:5].tolist()}")
        y = y_float == 1.0
    if np.isnan(s).any():
        raise ConfigError(f"scores contain NaN at index {int(np.flatnonzero(np.isnan(s))[0])}")
    return y, s


def pfbeta(labels: Any, predictions: Any, beta: float = 1.0) -> float:
    """Probabilistic F-beta, equal to the RSNA Kaggle competition function.

    Predictions are clipped to [0, 1]; positives add their prediction to ``ctp`` and
    negatives to ``cfp``; precision = ctp / (ctp + cfp), recall = ctp / #positives; the
    result is ``(1 + b²)·P·R / (b²·P + R)`` when both are positive, else 0.

    Where Kaggle's reference divides zero by zero - no positive labels (all-negative or
    empty input), or every prediction 0 - it raises ``ZeroDivisionError`` (or returns 0
    through a NaN with numpy scalars). Here the result is defined as **0.0**: with no
    positive label, or no predicted mass on a positive, there is no true positive, so the
    score is 0. Nothing is ever divided by zero.

    Args:
        labels: (N,) 0/1 (or bool).
        predictions: (N,) float; values outside [0, 1] are clipped (±inf included).
        beta: recall weight; must be finite.

    Returns:
        float in [0, 1].

    Raises:
        ConfigError: mismatched lengths, labels not 0/1, NaN predictions or non-finite beta.
            (Kaggle's reference silently returns 0 for NaN; mammokit refuses NaN because
            it always means an upstream bug.)
    """
    if not math.isfinite(beta):
        raise ConfigError(f"beta must be finite, got {beta}")
    y, p = check_labels_scores(labels, predictions)
    p = np.clip(p, 0.0, 1.0)
    y_true_count = int(y.sum())
    ctp = float(p[y].sum())
    cfp = float(p[~y].sum())
    if ctp <= 0.0:  # also covers y_true_count == 0 and ctp + cfp == 0
        return 0.0
    beta_squared = beta * beta
    c_precision = ctp / (ctp + cfp)
    c_recall = ctp / y_true_count
    if c_precision > 0 and c_recall > 0:
        return float(
            (1 + beta_squared) * (c_precision * c_recall) / (beta_squared * c_precision + c_recall)
        )
    return 0.0


def binarize(scores: Any, threshold: float) -> np.ndarray:
    """``(N,) float -> (N,) uint8``: 1 where ``score > threshold``."""
    return (np.asarray(scores, dtype=np.float64) > threshold).astype(np.uint8)


@attrs.frozen
class Counts:
    """Confusion counts at one threshold."""

    tp: int
    fp: int
    tn: int
    fn: int


def confusion_counts(labels: Any, scores: Any, threshold: float) -> Counts:
    """TP, FP, TN, FN with ``score > threshold`` predicted positive."""
    y, s = check_labels_scores(labels, scores)
    pred = s > threshold
    return Counts(
        tp=int((pred & y).sum()),
        fp=int((pred & ~y).sum()),
        tn=int((~pred & ~y).sum()),
        fn=int((~pred & y).sum()),
    )


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def f1_at_threshold(labels: Any, scores: Any, threshold: float = 0.5) -> float:
    """Binarised F1: pF1 of the 0/1 predictions ``score > threshold``.

    Equals ``pfbeta(labels, binarize(scores, threshold))``, and so is 0.0 (not NaN) when
    nothing is predicted positive or there is no positive label.
    """
    c = confusion_counts(labels, scores, threshold)
    den = 2 * c.tp + c.fp + c.fn
    return 2 * c.tp / den if c.tp else 0.0


def sensitivity(labels: Any, scores: Any, threshold: float = 0.5) -> float:
    """TP / (TP + FN) at ``score > threshold``; NaN without positive labels."""
    c = confusion_counts(labels, scores, threshold)
    return _ratio(c.tp, c.tp + c.fn)


def specificity(labels: Any, scores: Any, threshold: float = 0.5) -> float:
    """TN / (TN + FP) at ``score > threshold``; NaN without negative labels."""
    c = confusion_counts(labels, scores, threshold)
    return _ratio(c.tn, c.tn + c.fp)


def _cumulative(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative TP and FP counts at each distinct score, from the highest score down.

    Returns ``(tps, fps, thresholds)``: at index i, the counts of rows with
    ``score >= thresholds[i]`` (thresholds strictly decreasing). Tied scores form one step.
    """
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    return tps.astype(np.int64), fps.astype(np.int64), s_sorted[last_of_run]


def roc_curve(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve points, ties as single steps (``sklearn.metrics.roc_curve``, every point kept).

    Returns:
        ``(fpr, tpr, thresholds)``, each (K + 1,) float64, starting at (0, 0) with threshold
        +inf; point i counts ``score >= thresholds[i]`` as positive. With only one class
        present the missing rate is NaN.
    """
    y, s = check_labels_scores(labels, scores)
    if s.size == 0:
        return np.array([0.0]), np.array([0.0]), np.array([np.inf])
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos and n_neg:
        fpr, tpr, thresholds = _sklearn_metrics().roc_curve(y, s, drop_intermediate=False)
        # scikit-learn < 1.3 starts at max(score) + 1 rather than +inf.
        thresholds = np.r_[np.inf, thresholds[1:]]
        return fpr.astype(np.float64), tpr.astype(np.float64), thresholds.astype(np.float64)
    # One class: scikit-learn warns and divides by zero; the missing rate is NaN here.
    tps, fps, distinct = _cumulative(y, s)
    tpr = np.r_[0, tps] / n_pos if n_pos else np.full(tps.size + 1, np.nan)
    fpr = np.r_[0, fps] / n_neg if n_neg else np.full(fps.size + 1, np.nan)
    return fpr.astype(np.float64), tpr.astype(np.float64), np.r_[np.inf, distinct]


def roc_auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``; tied scores count one half).

    Returns NaN when either class is absent.
    """
    y, s = check_labels_scores(labels, scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    return float(_sklearn_metrics().roc_auc_score(y, s))


def pr_curve(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall points for each distinct score threshold, highest first.

    scikit-learn's ``precision_recall_curve`` without its final (precision 1, recall 0)
    point, in the opposite order (thresholds decreasing).

    Returns:
        ``(precision, recall, thresholds)``, each (K,) float64; point i counts
        ``score >= thresholds[i]`` as positive. Recall is NaN without positive labels.
    """
    y, s = check_labels_scores(labels, scores)
    if s.size == 0:
        return np.array([]), np.array([]), np.array([])
    if not y.any():  # scikit-learn warns and sets recall to 1; it is undefined
        _, fps, thresholds = _cumulative(y, s)
        return np.zeros(fps.size), np.full(fps.size, np.nan), thresholds
    precision, recall, thresholds = _sklearn_metrics().precision_recall_curve(y, s)
    return (
        precision[:-1][::-1].astype(np.float64),
        recall[:-1][::-1].astype(np.float64),
        thresholds[::-1].astype(np.float64),
    )


def average_precision(labels: Any, scores: Any) -> float:
    """Average precision, ``sklearn.metrics.average_precision_score``.

    ``sum_i (R_i - R_{i-1}) · P_i`` over distinct thresholds: the step-wise
    (non-interpolated) area under the precision-recall curve. NaN without positives.
    """
    y, s = check_labels_scores(labels, scores)
    if s.size == 0 or not y.any():
        return math.nan
    return float(_sklearn_metrics().average_precision_score(y, s))


#: ``pr_auc`` is :func:`average_precision` (the usual estimator of the PR AUC).
pr_auc = average_precision


def f1_curve(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Binarised F1 for every threshold that changes the prediction.

    Returns:
        ``(thresholds, f1)``, each (K + 1,) float64, thresholds increasing; with the
        convention ``score > threshold``, thresholds are ``-inf`` followed by each distinct
        score (the highest one predicts nothing positive, F1 0).
    """
    y, s = check_labels_scores(labels, scores)
    n_pos = int(y.sum())
    if s.size == 0:
        return np.array([-np.inf]), np.array([0.0])
    tps, fps, distinct = _cumulative(y, s)
    # Predicting ``score > distinct[i]`` keeps the rows strictly above it: counts at i - 1.
    tp_above = np.r_[0, tps[:-1]]
    fp_above = np.r_[0, fps[:-1]]
    thresholds = np.r_[distinct, -np.inf][::-1]
    tp = np.r_[tp_above, tps[-1]][::-1]
    fp = np.r_[fp_above, fps[-1]][::-1]
    den = 2 * tp + fp + (n_pos - tp)
    f1 = np.divide(2.0 * tp, den, out=np.zeros(tp.shape, dtype=np.float64), where=tp > 0)
    return thresholds.astype(np.float64), f1


@attrs.frozen
class ConfidenceInterval:
    """A point estimate with a bootstrap percentile interval.

    Attributes:
        estimate: the metric on the full data.
        low, high: the interval bounds (NaN when too few resamples were defined).
        level: the nominal coverage, e.g. 0.95.
        n_boot: resamples drawn; ``n_valid`` of them gave a defined (non-NaN) value.
    """

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    n_valid: int


def bootstrap_cis(
    metrics: Mapping[str, Metric],
    labels: Any,
    scores: Any,
    groups: Any | None = None,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """Percentile bootstrap intervals, resampling whole groups (patients).

    Every metric is computed on the same resamples.

    Args:
        metrics: name -> ``(labels, scores) -> float``.
        labels: (N,) as for the metrics.
        scores: (N,) as for the metrics.
        groups: (N,) group key per row (e.g. patient_id); every resample draws as many
            groups as there are, with replacement, and keeps all their rows. None resamples
            rows.
        n_boot: number of resamples.
        level: coverage of the interval, in (0, 1).
        seed: seeds :func:`numpy.random.default_rng`; the same seed gives the same interval.

    Returns:
        name -> :class:`ConfidenceInterval`. Resamples where a metric is NaN (e.g. no
        positive drawn) are left out for that metric, and its bounds are NaN if fewer than
        10 resamples are defined.
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ConfigError(f"n_boot must be at least 1, got {n_boot}")
    y, s = check_labels_scores(labels, scores)
    y_int = y.astype(np.uint8)
    keys = np.arange(y.size) if groups is None else np.asarray(groups).ravel()
    if keys.size != y.size:
        raise ConfigError(f"groups has {keys.size} rows, labels {y.size}")
    names = list(metrics)
    values = np.full((len(names), n_boot), np.nan)
    if y.size:
        _, group_of_row = np.unique(keys, return_inverse=True)
        n_groups = int(group_of_row.max()) + 1
        row_order = np.argsort(group_of_row, kind="stable")
        group_sizes = np.bincount(group_of_row, minlength=n_groups)
        rng = np.random.default_rng(seed)
        for b in range(n_boot):
            picks = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
            rows = np.repeat(row_order, np.repeat(picks, group_sizes))
            for i, name in enumerate(names):
                values[i, b] = metrics[name](y_int[rows], s[rows])
    tail = (1 - level) / 2 * 100
    out: dict[str, ConfidenceInterval] = {}
    for i, name in enumerate(names):
        valid = values[i][~np.isnan(values[i])]
        low = high = math.nan
        if valid.size >= 10:
            low, high = (float(v) for v in np.percentile(valid, [tail, 100 - tail]))
        estimate = float(metrics[name](y_int, s))
        out[name] = ConfidenceInterval(estimate, low, high, level, n_boot, int(valid.size))
    return out
