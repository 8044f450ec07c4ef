"""Metrics: pfbeta against a port of Kaggle's reference, ROC/PR AUC against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammokit.core.errors import ConfigError
from mammokit.scoring import metrics as m


def kaggle_pfbeta(labels: list[int], predictions: list[float], beta: float) -> float:
    """The RSNA competition's pfbeta, same logic line by line (Python scalars only)."""
    y_true_count = 0
    ctp = 0
    cfp = 0

    for idx in range(len(labels)):
        prediction = min(max(predictions[idx], 0), 1)
        if labels[idx]:
            y_true_count += 1
            ctp += prediction
        else:
            cfp += prediction

    beta_squared = beta * beta
    c_precision = ctp / (ctp + cfp)
    c_recall = ctp / y_true_count
    if c_precision > 0 and c_recall > 0:
        result = (
            (1 + beta_squared) * (c_precision * c_recall) / (beta_squared * c_precision + c_recall)
        )
        return result
    else:
        return 0


def reference_or_zero(labels: list[int], predictions: list[float], beta: float) -> float:
    """Kaggle's value; where it divides 0 by 0 (ZeroDivisionError), mammokit defines 0."""
    try:
        return float(kaggle_pfbeta(labels, predictions, beta))
    except ZeroDivisionError:
        return 0.0


_prediction = st.one_of(
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=-5.0, max_value=5.0),
    st.sampled_from([0.0, 1.0, -0.0, 1e-300, 5e-324, 1 - 1e-16, math.inf, -math.inf]),
)
_beta = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.floats(min_value=0.0, max_value=20.0))


@settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 1), _prediction), min_size=0, max_size=60),
    beta=_beta,
)
def test_pfbeta_equals_kaggle_reference(rows: list[tuple[int, float]], beta: float) -> None:
    labels = [label for label, _ in rows]
    predictions = [float(p) for _, p in rows]
    expected = reference_or_zero(labels, predictions, beta)
    got = m.pfbeta(np.array(labels, dtype=np.int64), np.array(predictions), beta)
    assert isinstance(got, float)
    assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), (got, expected)


@settings(max_examples=100, deadline=None)
@given(
    n_pos=st.integers(1, 30),
    n_neg=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_pfbeta_equals_reference_on_imbalanced_probabilities(
    n_pos: int, n_neg: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)])
    predictions = rng.random(labels.size) ** 3
    expected = kaggle_pfbeta(labels.tolist(), predictions.tolist(), 1.0)
    assert m.pfbeta(labels, predictions) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("labels", "predictions", "expected", "reference_raises"),
    [
        ([0, 0, 0], [0.2, 0.9, 0.0], 0.0, True),  # all negative: Kaggle divides 0/0
        ([], [], 0.0, True),  # empty
        ([1, 0, 1], [0.0, 0.0, 0.0], 0.0, True),  # no predicted mass at all
        ([1, 0, 1], [0.0, 0.7, 0.0], 0.0, False),  # mass only on a negative
        ([1, 1], [1.0, 1.0], 1.0, False),  # perfect
        ([1, 0], [7.0, -3.0], 1.0, False),  # clipped to [0, 1]
        ([1, 0, 0, 0], [0.5, 0.5, 0.0, 0.0], 0.5, False),  # P=0.5, R=0.5
    ],
)
def test_pfbeta_edge_cases(
    labels: list[int], predictions: list[float], expected: float, reference_raises: bool
) -> None:
    assert m.pfbeta(labels, predictions) == pytest.approx(expected)
    if reference_raises:
        with pytest.raises(ZeroDivisionError):
            kaggle_pfbeta(labels, predictions, 1.0)
    else:
        assert kaggle_pfbeta(labels, predictions, 1.0) == pytest.approx(expected)


def test_pfbeta_accepts_bool_labels_and_beta() -> None:
    labels = np.array([True, False, True, False])
    predictions = np.array([0.9, 0.4, 0.3, 0.1])
    for beta in (0.5, 1.0, 2.0):
        expected = kaggle_pfbeta([1, 0, 1, 0], predictions.tolist(), beta)
        assert m.pfbeta(labels, predictions, beta) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("labels", "predictions", "match"),
    [
        ([0, 1], [0.5, math.nan], "NaN"),
        ([0, 2], [0.5, 0.5], "0 or 1"),
        ([0, 1, 1], [0.5, 0.5], "length"),
        (["a", "b"], [0.5, 0.5], "0 or 1"),
    ],
)
def test_pfbeta_rejects_bad_input(
    labels: list[object], predictions: list[float], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        m.pfbeta(labels, predictions)


def test_pfbeta_rejects_infinite_beta() -> None:
    with pytest.raises(ConfigError, match="beta"):
        m.pfbeta([1], [1.0], beta=math.inf)


def brute_force_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (pos.size * neg.size)


def brute_force_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    total = 0.0
    previous_recall = 0.0
    for t in sorted(set(scores.tolist()), reverse=True):
        chosen = scores >= t
        recall = labels[chosen].sum() / labels.sum()
        precision = labels[chosen].mean()
        total += (recall - previous_recall) * precision
        previous_recall = recall
    return float(total)


def test_auc_and_ap_hand_computed() -> None:
    # The textbook example: 3 of 4 positive-negative pairs ordered, one inversion.
    labels, scores = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    assert m.roc_auc(labels, scores) == pytest.approx(0.75)
    assert m.average_precision(labels, scores) == pytest.approx((1.0 + 2 / 3) / 2)
    assert m.pr_auc is m.average_precision
    # All tied: AUC one half; AP the prevalence.
    assert m.roc_auc([0, 1, 0, 1], [0.3] * 4) == pytest.approx(0.5)
    assert m.average_precision([0, 1, 0, 0], [0.3] * 4) == pytest.approx(0.25)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])),
        min_size=2,
        max_size=40,
    )
)
def test_auc_ap_and_roc_curve_match_brute_force_with_ties(rows: list[tuple[int, float]]) -> None:
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    if labels.min() == labels.max():
        assert math.isnan(m.roc_auc(labels, scores))
        return
    auc = m.roc_auc(labels, scores)
    assert auc == pytest.approx(brute_force_auc(labels, scores))
    assert m.average_precision(labels, scores) == pytest.approx(brute_force_ap(labels, scores))
    fpr, tpr, thresholds = m.roc_curve(labels, scores)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(thresholds) < 0)
    trapezoid = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert trapezoid == pytest.approx(auc)


def test_undefined_metrics_are_nan_not_errors() -> None:
    assert math.isnan(m.roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(m.average_precision([0, 0], [0.1, 0.2]))
    assert math.isnan(m.sensitivity([0, 0], [0.1, 0.9], 0.5))
    assert math.isnan(m.specificity([1, 1], [0.1, 0.9], 0.5))
    assert m.f1_at_threshold([0, 0], [0.1, 0.9], 0.5) == 0.0


def test_threshold_metrics_hand_computed() -> None:
    labels = [1, 1, 1, 0, 0, 0, 0, 0]
    scores = [0.9, 0.6, 0.2, 0.7, 0.5, 0.3, 0.1, 0.5]
    # score > 0.5: TP 0.9, 0.6; FP 0.7 (0.5 itself is not above the threshold).
    counts = m.confusion_counts(labels, scores, 0.5)
    assert counts == m.Counts(tp=2, fp=1, tn=4, fn=1)
    assert m.sensitivity(labels, scores, 0.5) == pytest.approx(2 / 3)
    assert m.specificity(labels, scores, 0.5) == pytest.approx(4 / 5)
    assert m.f1_at_threshold(labels, scores, 0.5) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m.binarize(scores, 0.5).tolist() == [1, 1, 0, 1, 0, 0, 0, 0]


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1, allow_subnormal=False)),
        min_size=1,
        max_size=30,
    )
)
def test_f1_curve_is_binarised_pfbeta_at_each_threshold(rows: list[tuple[int, float]]) -> None:
    labels = np.array([r[0] for r in rows])
    scores = np.array([r[1] for r in rows])
    thresholds, f1 = m.f1_curve(labels, scores)
    assert np.all(np.diff(thresholds) > 0)
    for t, value in zip(thresholds, f1, strict=True):
        binary = m.binarize(scores, t)
        assert value == pytest.approx(m.pfbeta(labels, binary))
        assert value == pytest.approx(m.f1_at_threshold(labels, scores, t))


def test_bootstrap_resamples_whole_patients() -> None:
    # Patient k has 3 rows, all scored k / 100: a resample keeps whole patients only when
    # every drawn score appears a multiple of 3 times.
    patients = np.repeat(np.arange(20), 3)
    scores = patients / 100.0
    labels = (patients % 4 == 0).astype(int)
    seen: list[bool] = []

    def whole_patients(y: np.ndarray, s: np.ndarray) -> float:
        counts = np.bincount(np.rint(s * 100).astype(int))
        seen.append(bool(np.all(counts % 3 == 0)))
        return float(s.mean())

    ci = m.bootstrap_cis({"mean": whole_patients}, labels, scores, patients, n_boot=50, seed=1)[
        "mean"
    ]
    assert len(seen) == 51 and all(seen)
    assert ci.low <= ci.estimate <= ci.high
    assert ci.n_valid == 50


def test_bootstrap_is_seeded_and_covers_the_estimate() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.2).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.3 * labels, 0.2), 0, 1)
    groups = np.arange(300) // 3
    first = m.bootstrap_cis({"auc": m.roc_auc, "pf1": m.pfbeta}, labels, scores, groups, seed=7)
    again = m.bootstrap_cis({"auc": m.roc_auc, "pf1": m.pfbeta}, labels, scores, groups, seed=7)
    other = m.bootstrap_cis({"auc": m.roc_auc, "pf1": m.pfbeta}, labels, scores, groups, seed=8)
    assert first == again
    assert first["auc"] != other["auc"]
    for name, ci in first.items():
        assert ci.low < ci.estimate < ci.high, name
        assert ci.high - ci.low < 0.3
    assert first["auc"].estimate == pytest.approx(m.roc_auc(labels, scores))


def test_bootstrap_leaves_out_undefined_resamples() -> None:
    labels = np.r_[1, np.zeros(29, int)]
    scores = np.linspace(0, 1, 30)
    ci = m.bootstrap_cis({"auc": m.roc_auc}, labels, scores, n_boot=200, seed=0)["auc"]
    # The single positive is missed by roughly (29/30)^30 = 36% of resamples.
    assert 80 < ci.n_valid < 200
    few = m.bootstrap_cis({"auc": m.roc_auc}, [1, 0], [0.9, 0.1], n_boot=5, seed=0)["auc"]
    assert math.isnan(few.low) and math.isnan(few.high) and few.estimate == 1.0
