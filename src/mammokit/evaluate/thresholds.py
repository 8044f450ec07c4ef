"""Threshold policies: breast scores -> a threshold (or None for probabilities).

A policy is named on the command line as ``NAME[:ARG]`` (``prior_quantile``,
``prior_quantile:0.02``, ``fixed:0.3``, ``best_pf1``, ``none``) and registered through the
``mammokit_threshold_policies`` hook. Its factory is called as
``factory(arg, **context)`` with these context keys (a factory ignores those it does not
need):

- ``positive_rate``: float or None - the breast-level positive rate of the training rows
  (``[stats] positive_rate`` in the run's ``config.toml``);
- ``oof_labels``, ``oof_scores``: (M,) arrays or None - breast-level out-of-fold validation
  labels and scores saved by training (``oof.csv``), aggregated like the test scores.

The factory returns ``(scores: (N,) float) -> float | None``. A breast is predicted positive
when ``score > threshold`` (see :func:`mammokit.scoring.metrics.binarize`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pluggy

from mammokit.core.errors import ConfigError
from mammokit.plugins.protocols import ThresholdPolicy
from mammokit.scoring.metrics import binarize, check_labels_scores, f1_curve

__all__ = [
    "apply_threshold",
    "best_pf1_threshold",
    "build_policy",
    "make_best_pf1",
    "make_fixed",
    "make_none",
    "make_prior_quantile",
    "parse_policy",
    "prior_quantile_threshold",
]


def parse_policy(spec: str) -> tuple[str, str | None]:
    """``"NAME[:ARG]"`` -> ``(name, arg or None)``; ``"fixed:0.3"`` -> ``("fixed", "0.3")``."""
    name, sep, arg = spec.strip().partition(":")
    if not name:
        raise ConfigError(f"threshold policy {spec!r}: expected NAME or NAME:ARG")
    return name, (arg if sep else None)


def _fraction(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{what}: {value} must be strictly between 0 and 1")
    return value


def _no_arg(name: str, arg: str | None) -> None:
    if arg is not None:
        raise ConfigError(f"threshold policy {name!r} takes no argument, got {arg!r}")


def prior_quantile_threshold(scores: Any, prior: float) -> float:
    """The ``1 - prior`` quantile (linear interpolation) of ``scores``: ``(N,) -> float``.

    With distinct scores, the number of breasts with ``score > threshold`` is within one of
    ``prior * N`` (it is ``ceil(prior * (N - 1))``); ties at the threshold lower it.
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    if values.size == 0:
        raise ConfigError("prior_quantile: no scores to take a quantile of")
    if np.isnan(values).any():
        raise ConfigError("prior_quantile: scores contain NaN")
    if not 0.0 < prior < 1.0:
        raise ConfigError(f"prior_quantile: prior {prior} must be strictly between 0 and 1")
    return float(np.quantile(values, 1.0 - prior))


def best_pf1_threshold(labels: Any, scores: Any) -> float:
    """The threshold maximising binarised pF1 (= F1) on labelled scores.

    Among thresholds giving the same predictions, returns the midpoint of the interval
    between two neighbouring distinct scores, so that it does not sit on a sample. Ties in
    F1 go to the highest threshold (fewest positives).

    Raises:
        ConfigError: no positive label (every threshold gives F1 0).
    """
    y, s = check_labels_scores(labels, scores)
    if not y.any():
        raise ConfigError("best_pf1: the out-of-fold predictions contain no positive")
    thresholds, f1 = f1_curve(y, s)
    best = int(np.flatnonzero(f1 == f1.max())[-1])
    low = thresholds[best]
    high = thresholds[best + 1] if best + 1 < thresholds.size else math.inf
    if math.isinf(high):  # best is "nothing positive": impossible when F1 > 0
        return float(low)
    if math.isinf(low):  # everything positive
        return float(np.nextafter(high, -np.inf))
    return float((low + high) / 2.0)


def make_prior_quantile(
    arg: str | None = None, *, positive_rate: float | None = None, **context: Any
) -> ThresholdPolicy:
    """Policy ``prior_quantile[:PRIOR]``: threshold at the ``1 - prior`` score quantile.

    The prior is ``ARG`` if given, else the run's training ``positive_rate``.
    """
    if arg is not None:
        prior = _fraction(arg, "prior_quantile")
    elif positive_rate is not None:
        prior = _fraction(str(positive_rate), "prior_quantile (run positive_rate)")
    else:
        raise ConfigError(
            "prior_quantile needs a prior: give prior_quantile:P or a run whose config.toml "
            "has [stats] positive_rate"
        )

    def threshold(scores: np.ndarray) -> float:
        return prior_quantile_threshold(scores, prior)

    return threshold


def make_fixed(arg: str | None = None, **context: Any) -> ThresholdPolicy:
    """Policy ``fixed:T``: the constant threshold T."""
    if arg is None:
        raise ConfigError("threshold policy 'fixed' needs a value: fixed:T, e.g. fixed:0.5")
    try:
        value = float(arg)
    except ValueError:
        raise ConfigError(f"fixed: {arg!r} is not a number") from None
    if math.isnan(value):
        raise ConfigError("fixed: threshold is NaN")

    def threshold(scores: np.ndarray) -> float:
        return value

    return threshold


def make_best_pf1(
    arg: str | None = None,
    *,
    oof_labels: Any | None = None,
    oof_scores: Any | None = None,
    **context: Any,
) -> ThresholdPolicy:
    """Policy ``best_pf1``: the threshold maximising binarised pF1 on out-of-fold breasts."""
    _no_arg("best_pf1", arg)
    if oof_labels is None or oof_scores is None:
        raise ConfigError(
            "best_pf1 needs out-of-fold predictions: the run has no oof.csv (or no labels)"
        )
    value = best_pf1_threshold(oof_labels, oof_scores)

    def threshold(scores: np.ndarray) -> float:
        return value

    return threshold


def make_none(arg: str | None = None, **context: Any) -> ThresholdPolicy:
    """Policy ``none``: no threshold, write probabilities."""
    _no_arg("none", arg)

    def threshold(scores: np.ndarray) -> None:
        return None

    return threshold


def build_policy(
    spec: str, *, manager: pluggy.PluginManager | None = None, **context: Any
) -> ThresholdPolicy:
    """Resolve ``"NAME[:ARG]"`` through the plugin registry and build it with ``context``.

    Raises:
        ConfigError: unknown policy (listing the registered ones) or a bad argument.
    """
    from mammokit.plugins import manager_or_shared

    name, arg = parse_policy(spec)
    return manager_or_shared(manager).build_threshold_policy(name, arg, **context)


def apply_threshold(scores: Any, threshold: float | None) -> np.ndarray:
    """``(N,) float -> (N,) uint8`` 0/1 predictions, or the float64 scores when ``None``."""
    if threshold is None:
        return np.asarray(scores, dtype=np.float64).ravel()
    return binarize(scores, threshold)
