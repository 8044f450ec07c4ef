"""Metrics during training: the chosen ``mammokit_metrics`` (default pF1 and ROC AUC), per
image and per breast.

:func:`validation_metrics` is numpy (the metrics are built through the plugin manager,
or given built);
:func:`keras_pf1` builds the streaming Keras metric (TensorFlow imported lazily), which
agrees with ``mammokit.scoring.metrics.pfbeta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mammokit.plugins.protocols import Metric
    from mammokit.scoring.metricset import MetricSet

__all__ = ["best_threshold_pf1", "keras_pf1", "validation_metrics"]


def validation_metrics(
    table: pd.DataFrame,
    scores: np.ndarray,
    metrics: MetricSet | Mapping[str, Metric] | None = None,
) -> dict[str, float]:
    """Image- and breast-level metrics of ``scores`` on the validation ``table``.

    ``table`` has ``cancer`` and ``prediction_id`` (or ``patient_id`` and ``laterality``);
    ``scores`` is ``(N,) float`` per row. Breast score = mean over the breast's images.
    ``metrics`` are ``mammokit_metrics`` chosen with
    :func:`~mammokit.scoring.metricset.select_metrics` (none needing a threshold), or
    those metrics already built (name -> metric, as ``MetricSet.build(None, key="name")``
    gives them: a training run builds them once); None means pf1 and auc from the default
    plugin manager.

    Returns:
        ``image_<name>`` then ``breast_<name>`` for each metric (NaN where undefined).
    """
    from mammokit.scoring.aggregate import aggregate_scores
    from mammokit.scoring.metricset import select_metrics

    if metrics is None:
        metrics = select_metrics(("pf1", "auc"))
    chosen = metrics if isinstance(metrics, Mapping) else metrics.build(None, key="name")
    images = table.assign(score=np.asarray(scores, dtype=np.float64).ravel())
    breasts = aggregate_scores(images, "mean")
    out: dict[str, float] = {}
    for level, frame in (("image", images), ("breast", breasts)):
        labels = frame["cancer"].astype(int).to_numpy()
        values = frame["score"].to_numpy(dtype=np.float64)
        for name, metric in chosen.items():
            out[f"{level}_{name}"] = metric(labels, values)
    return out


def best_threshold_pf1(table: pd.DataFrame, scores: np.ndarray) -> float:
    """Breast-level pF1 of the scores binarised at their best threshold (the 1st-place
    RSNA solution's checkpoint criterion): the maximum of the F1 curve of the breast means.
    NaN when the validation rows hold no positive breast.
    """
    from mammokit.scoring.aggregate import aggregate_scores
    from mammokit.scoring.metrics import f1_curve

    images = table.assign(score=np.asarray(scores, dtype=np.float64).ravel())
    breasts = aggregate_scores(images, "mean")
    labels = breasts["cancer"].astype(int).to_numpy()
    if not labels.any():
        return float("nan")
    _, f1 = f1_curve(labels, breasts["score"].to_numpy(dtype=np.float64))
    return float(f1.max())


_KERAS_CLASSES: dict[str, type] = {}


def _pf1_class() -> type:
    if "pf1" in _KERAS_CLASSES:
        return _KERAS_CLASSES["pf1"]
    from mammokit.core.tf import import_keras, import_tf

    tf = import_tf()
    keras = import_keras()

    class ProbabilisticF1(keras.metrics.Metric):  # type: ignore[misc,name-defined]
        """Streaming probabilistic F-beta over all batches seen (Kaggle's definition)."""

        def __init__(self, beta: float = 1.0, name: str = "pf1", **kwargs: Any) -> None:
            super().__init__(name=name, **kwargs)
            self.beta = float(beta)
            self.ctp = self.add_weight(name="ctp", initializer="zeros", dtype=tf.float64)
            self.cfp = self.add_weight(name="cfp", initializer="zeros", dtype=tf.float64)
            self.n_pos = self.add_weight(name="n_pos", initializer="zeros", dtype=tf.float64)

        def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
            y = tf.reshape(tf.cast(y_true, tf.float64), [-1])
            p = tf.clip_by_value(tf.reshape(tf.cast(y_pred, tf.float64), [-1]), 0.0, 1.0)
            positive = tf.cast(tf.equal(y, 1.0), tf.float64)
            self.ctp.assign_add(tf.reduce_sum(p * positive))
            self.cfp.assign_add(tf.reduce_sum(p * (1.0 - positive)))
            self.n_pos.assign_add(tf.reduce_sum(positive))

        def result(self) -> Any:
            precision = tf.math.divide_no_nan(self.ctp, self.ctp + self.cfp)
            recall = tf.math.divide_no_nan(self.ctp, self.n_pos)
            b2 = self.beta * self.beta
            value = tf.math.divide_no_nan((1.0 + b2) * precision * recall, b2 * precision + recall)
            return tf.cast(value, tf.float32)

        def reset_state(self) -> None:
            for variable in (self.ctp, self.cfp, self.n_pos):
                variable.assign(tf.zeros_like(variable))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "beta": self.beta}

    _KERAS_CLASSES["pf1"] = ProbabilisticF1
    return ProbabilisticF1


def keras_pf1(beta: float = 1.0, name: str = "pf1") -> Any:
    """A Keras streaming pF-beta metric (compile it in ``metrics=``, not
    ``weighted_metrics=``, so class weights do not bend it)."""
    return _pf1_class()(beta=beta, name=name)
