"""The statistics from scikit-learn give today's numbers: pinned against mammokit's previous
hand-written code, frozen here as references.

Equal up to float rounding: ROC curve, ROC AUC, precision-recall curve, average precision,
isotonic regression (the same pool-adjacent-violators fit, the same knots; one difference:
scikit-learn pools scores closer than 1e-15 as ties, so the pins use scores on a 1e-6
grid, where the old and new knots are identical), Platt scaling
(the same smoothed-target log-loss minimised by scikit-learn's Newton-Cholesky: parameters agree to
1e-5). Folds: ``StratifiedGroupKFold`` does not assign the same patients to the same folds
as the old greedy assignment, so fold numbers are not compared; what both guarantee is
(see ``test_folds_keep_the_old_guarantees``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammokit.evaluate.calibration import fit_isotonic, fit_platt
from mammokit.scoring import metrics as m
from mammokit.train.folds import assign_folds, split_fold

# --- the hand-written code mammokit used before scikit-learn (frozen references) ---------


def _old_cumulative(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    return tps, (last_of_run + 1) - tps, s_sorted[last_of_run]


def old_roc_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tps, fps, thresholds = _old_cumulative(y, s)
    return np.r_[0, fps] / (~y).sum(), np.r_[0, tps] / y.sum(), np.r_[np.inf, thresholds]


def old_roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = float(average_rank[inverse][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def old_pr_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tps, fps, thresholds = _old_cumulative(y, s)
    return tps / (tps + fps), tps / y.sum(), thresholds


def old_average_precision(y: np.ndarray, s: np.ndarray) -> float:
    precision, recall, _ = old_pr_curve(y, s)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _old_pav(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
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


def old_isotonic(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    fitted = _old_pav(np.bincount(inverse, weights=y.astype(float)) / counts, counts.astype(float))
    keep = np.ones(x.size, dtype=bool)
    if x.size > 2:
        same_prev = np.r_[False, fitted[1:] == fitted[:-1]]
        same_next = np.r_[fitted[:-1] == fitted[1:], False]
        keep = ~(same_prev & same_next)
    return x[keep], fitted[keep]


def old_platt(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    p_clip = np.clip(s, 1e-7, 1 - 1e-7)
    f = np.log(p_clip) - np.log1p(-p_clip)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    target = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return np.exp(-np.logaddexp(0.0, -z))

    def loss(a: float, b: float) -> float:
        z = a * f + b
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    a, b = 0.0, math.log((n_pos + 1.0) / (n_neg + 1.0))
    current = loss(a, b)
    for _ in range(100):
        p = sigmoid(a * f + b)
        g = np.array([np.sum((p - target) * f), np.sum(p - target)])
        if np.max(np.abs(g)) < 1e-9:
            break
        w = p * (1.0 - p)
        hess = np.array([[np.sum(w * f * f), np.sum(w * f)], [np.sum(w * f), np.sum(w)]])
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), g)
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
    return a, b


# --- the pins -----------------------------------------------------------------------------

_rows = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.one_of(
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]),
            st.integers(0, 10**6).map(lambda k: k / 10**6),
        ),
    ),
    min_size=2,
    max_size=80,
)


def _split(rows: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([r[0] for r in rows], dtype=bool), np.array([r[1] for r in rows])


@settings(max_examples=200, deadline=None)
@given(rows=_rows)
def test_curves_and_areas_equal_the_hand_written_ones(rows: list[tuple[int, float]]) -> None:
    y, s = _split(rows)
    if y.all() or not y.any():
        assert math.isnan(m.roc_auc(y, s))
        return
    for new, old in zip(m.roc_curve(y, s), old_roc_curve(y, s), strict=True):
        np.testing.assert_allclose(new, old, rtol=1e-12)
    assert m.roc_auc(y, s) == pytest.approx(old_roc_auc(y, s), abs=1e-12)
    for new, old in zip(m.pr_curve(y, s), old_pr_curve(y, s), strict=True):
        np.testing.assert_allclose(new, old, rtol=1e-12)
    assert m.average_precision(y, s) == pytest.approx(old_average_precision(y, s), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(rows=_rows)
def test_isotonic_equals_the_hand_written_pav(rows: list[tuple[int, float]]) -> None:
    y, s = _split(rows)
    x_old, y_old = old_isotonic(y, s)
    cal = fit_isotonic(y, s)
    np.testing.assert_allclose(cal.params["x"], x_old, rtol=1e-12)
    np.testing.assert_allclose(cal.params["y"], y_old, rtol=1e-9, atol=1e-12)
    grid = np.linspace(-0.1, 1.1, 121)
    np.testing.assert_allclose(cal.apply(grid), np.interp(grid, x_old, y_old), atol=1e-12)


@pytest.mark.parametrize(
    ("n", "a", "b", "seed"), [(50, 1.0, 0.0, 0), (400, 0.5, -2.0, 1), (3000, 2.0, 1.0, 2)]
)
def test_platt_equals_the_hand_written_newton(n: int, a: float, b: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, n)
    s = 1 / (1 + np.exp(-logits))
    y = rng.random(n) < 1 / (1 + np.exp(-(a * logits + b)))
    a_old, b_old = old_platt(y, s)
    cal = fit_platt(y, s)
    assert cal.params["a"] == pytest.approx(a_old, abs=1e-5)
    assert cal.params["b"] == pytest.approx(b_old, abs=1e-5)


def test_platt_equals_the_hand_written_newton_on_separable_data() -> None:
    y = np.array([0] * 20 + [1] * 5, dtype=bool)
    s = np.r_[np.linspace(0.01, 0.4, 20), np.linspace(0.6, 0.99, 5)]
    a_old, b_old = old_platt(y, s)
    cal = fit_platt(y, s)
    assert np.isfinite([cal.params["a"], cal.params["b"]]).all()
    assert cal.params["a"] == pytest.approx(a_old, rel=1e-4)
    assert cal.params["b"] == pytest.approx(b_old, rel=1e-4, abs=1e-5)


def _patients(n_patients: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        positive = rng.random() < 0.2
        for k in range(int(rng.integers(1, 7))):
            rows.append({"patient_id": f"P{p}", "cancer": int(positive and k % 2 == 0)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("n_patients", "n_folds", "seed"), [(60, 4, 0), (200, 5, 3), (31, 3, 7)])
def test_folds_keep_the_old_guarantees(n_patients: int, n_folds: int, seed: int) -> None:
    """What the old greedy assignment guaranteed, StratifiedGroupKFold keeps: every patient in
    one fold, every fold used, positive patients spread within one of each other (the old
    code: exactly within one) and folds of similar size (images within 35% of the mean)."""
    table = _patients(n_patients, seed)
    folds = assign_folds(table, n_folds=n_folds, seed=seed)
    per_patient = (
        table.assign(f=folds)
        .groupby("patient_id")
        .agg(y=("cancer", "max"), f=("f", "nunique"), fold=("f", "first"))
    )
    assert (per_patient["f"] == 1).all()
    assert sorted(set(folds.tolist())) == list(range(n_folds))
    positives = per_patient[per_patient["y"] == 1].groupby("fold").size()
    assert np.ptp(positives.reindex(range(n_folds), fill_value=0).to_numpy()) <= 1
    sizes = np.bincount(folds, minlength=n_folds)
    assert np.abs(sizes - sizes.mean()).max() <= 0.35 * sizes.mean()
    for fold in range(n_folds):
        train, validation = split_fold(table, n_folds=n_folds, fold=fold, seed=seed)
        assert len(train) + len(validation) == len(table)


@pytest.mark.parametrize("n_patients", [12, 7])
def test_folds_with_fewer_positive_patients_than_folds(n_patients: int) -> None:
    """3 positive patients in 5 folds, with 9 or 4 negative ones (then every class has fewer
    patients than folds and scikit-learn would refuse to stratify): allowed, silently
    (pytest turns warnings into errors); grouped, every fold used, positives spread."""
    table = pd.DataFrame(
        {"patient_id": [f"P{p}" for p in range(n_patients) for _ in range(2)],
         "cancer": [int(p < 3 and k == 0) for p in range(n_patients) for k in range(2)]}
    )  # fmt: skip
    folds = assign_folds(table, n_folds=5, seed=1)
    assert (table.assign(f=folds).groupby("patient_id")["f"].nunique() == 1).all()
    assert sorted(set(folds.tolist())) == list(range(5))
    assert len(set(folds[table["cancer"].to_numpy() == 1].tolist())) == 3
