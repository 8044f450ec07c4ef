"""Score calibration fitted on out-of-fold breast scores: Platt scaling and isotonic regression.

The fits are scikit-learn's: ``LogisticRegression`` on the score logits (Platt) and
``IsotonicRegression``; mammokit keeps only the fitted numbers. A fitted
:class:`Calibration` is saved as JSON in the run directory (never a pickle) and applied to
breast scores before the threshold policy. Both maps are non-decreasing, so rankings (ROC
AUC, ``prior_quantile`` picks) are unchanged; what changes is the scale of the probabilities
(``none`` policy, ``fixed:T``, pF1 of probabilities).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError
from mammokit.scoring.metrics import check_labels_scores

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
    return cast("np.ndarray", np.log(p) - np.log1p(-p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return cast("np.ndarray", np.exp(-np.logaddexp(0.0, -z)))


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
        return cast("np.ndarray", np.interp(s, self.params["x"], self.params["y"]))

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


def fit_platt(labels: Any, scores: Any, *, max_iter: int = 1000) -> Calibration:
    """Platt scaling on the score logits, with Platt's smoothed targets.

    Fits ``p = sigmoid(a·logit(s) + b)`` with scikit-learn's unpenalised ``LogisticRegression``
    (Newton-Cholesky). Platt's targets, ``(P + 1) / (P + 2)`` for positives and ``1 / (N + 2)``
    for negatives, keep the fit finite on separable data; a soft target ``t`` is given to the
    regression as the same row twice, labelled 1 with weight ``t`` and 0 with weight ``1 - t``,
    which is the same log-loss.

    Args:
        labels: (N,) 0/1; scores: (N,) float in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression

    y, s = check_labels_scores(labels, scores)
    if y.size == 0:
        raise ConfigError("platt: nothing to fit on")
    f = _logit(s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    target = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    features = np.r_[f, f].reshape(-1, 1)
    classes = np.r_[np.ones(y.size), np.zeros(y.size)]
    weights = np.r_[target, 1.0 - target]
    # C=inf: no penalty (``penalty=None`` is deprecated from scikit-learn 1.8).
    model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=max_iter)
    model.fit(features, classes, sample_weight=weights)
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    return Calibration("platt", {"a": a, "b": b}, n=y.size, n_positive=n_pos)


def fit_isotonic(labels: Any, scores: Any) -> Calibration:
    """Isotonic regression of labels on scores (``sklearn.isotonic.IsotonicRegression``).

    Non-decreasing, ties pooled. Knots are scikit-learn's ``X_thresholds_`` and
    ``y_thresholds_`` (the distinct scores, interior points of flat runs dropped);
    prediction interpolates linearly between knots and is constant outside them, as
    scikit-learn's ``out_of_bounds="clip"``.
    """
    from sklearn.isotonic import IsotonicRegression

    y, s = check_labels_scores(labels, scores)
    if y.size == 0:
        raise ConfigError("isotonic: nothing to fit on")
    model = IsotonicRegression(increasing=True, out_of_bounds="clip")
    model.fit(s, y.astype(np.float64))
    return Calibration(
        "isotonic",
        {
            "x": [float(v) for v in model.X_thresholds_],
            "y": [float(v) for v in model.y_thresholds_],
        },
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
    """Where a run keeps a calibration (:meth:`RunDir.calibration`)."""
    from mammokit.train.rundir import RunDir

    return RunDir(run_dir).calibration(method, aggregate)


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
