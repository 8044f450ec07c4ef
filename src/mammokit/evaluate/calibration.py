"""Score calibration fitted on out-of-fold breast scores: Platt scaling and isotonic regression.

Plain numpy. A fitted :class:`Calibration` is saved as JSON in the run directory (never a
pickle) and applied to breast scores before the threshold policy. Both maps are
non-decreasing, so rankings (ROC AUC, ``prior_quantile`` picks) are unchanged; what changes
is the scale of the probabilities (``none`` policy, ``fixed:T``, pF1 of probabilities).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from mammokit._atomic import atomic_write_bytes
from mammokit.errors import ConfigError
from mammokit.evaluate.metrics import check_labels_scores

__all__ = [
    "CALIBRATION_METHODS",
    "Calibration",
    "calibration_path",
    "fit_calibration",
    "fit_isotonic",
    "fit_platt",
    "load_calibration",
    "reliability_curve",
    "save_calibration",
]

CALIBRATION_METHODS = ("platt", "isotonic")
_EPS = 1e-7
FORMAT_VERSION = 1


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(scores, _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


@attrs.frozen
class Calibration:
    """A fitted, monotone map from scores to calibrated probabilities.

    Attributes:
        method: "platt" or "isotonic".
        params: ``{"a", "b"}`` for Platt (``p = sigmoid(a·logit(s) + b)``), or
            ``{"x", "y"}`` (increasing knots, linear interpolation, clamped outside) for
            isotonic.
        n, n_positive: size of the data it was fitted on.
        aggregate: the breast aggregation of the fitting scores ("mean", "max" or "").
    """

    method: str = attrs.field(validator=attrs.validators.in_(CALIBRATION_METHODS))
    params: dict[str, Any]
    n: int = 0
    n_positive: int = 0
    aggregate: str = ""

    def apply(self, scores: Any) -> np.ndarray:
        """``(N,) float -> (N,) float64`` calibrated probabilities in [0, 1]."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        if self.method == "platt":
            return _sigmoid(self.params["a"] * _logit(s) + self.params["b"])
        return np.interp(s, self.params["x"], self.params["y"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"format_version": FORMAT_VERSION, **attrs.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "") -> Calibration:
        """Inverse of :meth:`to_dict`. Raises ConfigError on a malformed record."""
        prefix = f"{where}: " if where else ""
        try:
            method = data["method"]
            params = dict(data["params"])
            if method == "platt":
                params = {"a": float(params["a"]), "b": float(params["b"])}
            elif method == "isotonic":
                x = [float(v) for v in params["x"]]
                y = [float(v) for v in params["y"]]
                if len(x) != len(y) or not x or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                    raise ValueError("isotonic knots must be non-empty and non-decreasing")
                params = {"x": x, "y": y}
            return cls(
                method=method,
                params=params,
                n=int(data.get("n", 0)),
                n_positive=int(data.get("n_positive", 0)),
                aggregate=str(data.get("aggregate", "")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{prefix}invalid calibration record: {err}") from err


def fit_platt(labels: Any, scores: Any, *, max_iter: int = 100) -> Calibration:
    """Platt scaling on the score logits, with Platt's smoothed targets.

    Fits ``p = sigmoid(a·logit(s) + b)`` by Newton's method with backtracking (Lin, Lin and
    Weng, 2007), targets ``(P + 1) / (P + 2)`` for positives and ``1 / (N + 2)`` for
    negatives, which keeps the fit finite on separable data.

    Args:
        labels: (N,) 0/1; scores: (N,) float in [0, 1].
    """
    y, s = check_labels_scores(labels, scores)
    if y.size == 0:
        raise ConfigError("platt: nothing to fit on")
    f = _logit(s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    target = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: float, b: float) -> float:
        z = a * f + b
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    current = loss(a, b)
    for _ in range(max_iter):
        p = _sigmoid(a * f + b)
        g = np.array([np.sum((p - target) * f), np.sum(p - target)])
        if np.max(np.abs(g)) < 1e-9:
            break
        w = p * (1.0 - p)
        hess = np.array([[np.sum(w * f * f), np.sum(w * f)], [np.sum(w * f), np.sum(w)]])
        hess += 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, g)
        t = 1.0
        while t > 1e-10:
            new_a, new_b = a - t * step[0], b - t * step[1]
            new = loss(new_a, new_b)
            if new < current + 1e-4 * t * float(g @ -step):
                break
            t /= 2.0
        else:
            break
        a, b, current = new_a, new_b, new
    return Calibration("platt", {"a": float(a), "b": float(b)}, n=y.size, n_positive=n_pos)


def _pav(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators: the weighted non-decreasing fit of ``values`` (K,) -> (K,)."""
    means: list[float] = []
    sizes: list[float] = []
    counts: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        means.append(value)
        sizes.append(weight)
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = sizes[-2] + sizes[-1]
            means[-2] = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / total
            sizes[-2] = total
            counts[-2] += counts[-1]
            del means[-1], sizes[-1], counts[-1]
    return np.repeat(np.array(means), counts)


def fit_isotonic(labels: Any, scores: Any) -> Calibration:
    """Isotonic regression of labels on scores (non-decreasing), ties pooled.

    Knots are the distinct scores (interior points of flat runs dropped); prediction
    interpolates linearly between knots and is constant outside them.
    """
    y, s = check_labels_scores(labels, scores)
    if y.size == 0:
        raise ConfigError("isotonic: nothing to fit on")
    x, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y.astype(np.float64)) / counts
    fitted = _pav(means, counts.astype(np.float64))
    keep = np.ones(x.size, dtype=bool)
    if x.size > 2:
        same_prev = np.r_[False, fitted[1:] == fitted[:-1]]
        same_next = np.r_[fitted[:-1] == fitted[1:], False]
        keep = ~(same_prev & same_next)
    return Calibration(
        "isotonic",
        {"x": x[keep].tolist(), "y": fitted[keep].tolist()},
        n=y.size,
        n_positive=int(y.sum()),
    )


def fit_calibration(method: str, labels: Any, scores: Any, *, aggregate: str = "") -> Calibration:
    """Fit ``method`` ("platt" or "isotonic") on labelled breast scores."""
    fitters = {"platt": fit_platt, "isotonic": fit_isotonic}
    if method not in fitters:
        raise ConfigError(
            f"Unknown calibration {method!r}; choose one of: {', '.join(CALIBRATION_METHODS)}"
        )
    return attrs.evolve(fitters[method](labels, scores), aggregate=aggregate)


def calibration_path(run_dir: str | Path, method: str, aggregate: str) -> Path:
    """Where a run keeps a calibration: ``<run>/calibration/<method>-<aggregate>.json``."""
    return Path(run_dir) / "calibration" / f"{method}-{aggregate}.json"


def save_calibration(calibration: Calibration, path: str | Path) -> Path:
    """Write the calibration as JSON, atomically."""
    text = json.dumps(calibration.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(Path(path), text.encode("utf-8"))
    return Path(path)


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration JSON written by :func:`save_calibration`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read calibration: {err.strerror or err}") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: invalid JSON: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: invalid calibration record")
    return Calibration.from_dict(data, where=str(path))


def reliability_curve(
    labels: Any, scores: Any, *, bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed positive rate per score bin (equal-width bins on [0, 1]).

    Returns:
        ``(mean_score, positive_rate, count)``, each (K,) for the K non-empty bins.
    """
    y, s = check_labels_scores(labels, scores)
    s = np.clip(s, 0.0, 1.0)
    index = np.minimum((s * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=s, minlength=bins)
    pos = np.bincount(index, weights=y.astype(np.float64), minlength=bins)
    nonempty = count > 0
    return (
        sums[nonempty] / count[nonempty],
        pos[nonempty] / count[nonempty],
        count[nonempty],
    )
