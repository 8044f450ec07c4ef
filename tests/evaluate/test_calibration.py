"""Platt and isotonic calibration: fits, monotonicity, JSON round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammokit.core.errors import ConfigError
from mammokit.evaluate.calibration import (
    calibration_path,
    fit_calibration,
    fit_isotonic,
    fit_platt,
    load_calibration,
    reliability_curve,
    save_calibration,
)
from mammokit.scoring import metrics as m


def _logistic_data(n: int, a: float, b: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, n)
    scores = 1 / (1 + np.exp(-logits))
    labels = (rng.random(n) < 1 / (1 + np.exp(-(a * logits + b)))).astype(int)
    return labels, scores


def test_platt_recovers_the_generating_parameters() -> None:
    labels, scores = _logistic_data(20000, a=0.5, b=-2.0)
    cal = fit_platt(labels, scores)
    assert cal.params["a"] == pytest.approx(0.5, abs=0.05)
    assert cal.params["b"] == pytest.approx(-2.0, abs=0.1)
    calibrated = cal.apply(scores)
    # Calibrated probabilities sum to about the number of positives; raw ones do not.
    assert calibrated.sum() == pytest.approx(labels.sum(), rel=0.05)
    assert abs(scores.sum() - labels.sum()) > 0.2 * labels.sum()
    assert m.roc_auc(labels, calibrated) == pytest.approx(m.roc_auc(labels, scores))


def test_platt_is_finite_on_separable_data() -> None:
    cal = fit_platt([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert np.isfinite([cal.params["a"], cal.params["b"]]).all()
    out = cal.apply([0.1, 0.9])
    assert 0 < out[0] < 0.5 < out[1] < 1


def test_isotonic_hand_computed_and_ties_pooled() -> None:
    cal = fit_isotonic([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    assert cal.apply([0.1, 0.2, 0.3, 0.4]).tolist() == pytest.approx([0, 0.5, 0.5, 1])
    assert cal.apply([0.0, 1.0]).tolist() == pytest.approx([0, 1])  # clamped outside
    assert fit_isotonic([0, 1], [0.5, 0.5]).apply([0.5]).tolist() == pytest.approx([0.5])


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.05, 0.2, 0.3, 0.5, 0.6, 0.9])),
        min_size=1,
        max_size=50,
    )
)
def test_isotonic_is_monotone_and_preserves_the_mean(rows: list[tuple[int, float]]) -> None:
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    cal = fit_isotonic(labels, scores)
    fitted = cal.apply(scores)
    assert fitted.sum() == pytest.approx(labels.sum())
    grid = cal.apply(np.linspace(0, 1, 101))
    assert np.all(np.diff(grid) >= -1e-12)
    assert grid.min() >= 0 and grid.max() <= 1


def test_save_and_load_as_json(tmp_path: Path) -> None:
    labels, scores = _logistic_data(500, a=1.0, b=-1.0)
    for method in ("platt", "isotonic"):
        cal = fit_calibration(method, labels, scores, aggregate="mean")
        path = save_calibration(cal, calibration_path(tmp_path, method, "mean"))
        assert path == tmp_path / "calibration" / f"{method}-mean.json"
        record = json.loads(path.read_text())  # plain JSON, not a pickle
        assert record["method"] == method and record["aggregate"] == "mean"
        loaded = load_calibration(path)
        assert loaded == cal
        np.testing.assert_allclose(loaded.apply(scores), cal.apply(scores))


def test_bad_calibration_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose one of: platt, isotonic"):
        fit_calibration("beta", [0, 1], [0.1, 0.9])
    broken = tmp_path / "broken.json"
    broken.write_text('{"method": "isotonic", "params": {"x": [0.2, 0.1], "y": [0, 1]}}')
    with pytest.raises(ConfigError, match="broken.json"):
        load_calibration(broken)
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_calibration(broken)


def test_reliability_curve_bins() -> None:
    mean_score, rate, count = reliability_curve([0, 1, 1, 0], [0.05, 0.08, 0.95, 1.0], bins=10)
    assert count.tolist() == [2, 2]
    assert mean_score.tolist() == pytest.approx([0.065, 0.975])
    assert rate.tolist() == pytest.approx([0.5, 0.5])
