"""Threshold policies through the plugin registry, and breast aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammokit.core.errors import ConfigError
from mammokit.evaluate.thresholds import (
    apply_threshold,
    best_pf1_threshold,
    build_policy,
    parse_policy,
    prior_quantile_threshold,
)
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.scoring import metrics as m
from mammokit.scoring.aggregate import aggregate_scores, with_prediction_id


@pytest.fixture(scope="module")
def pm() -> pluggy.PluginManager:
    return get_plugin_manager(load_entry_points=False)


def test_builtin_policies_and_metrics_are_registered(pm: pluggy.PluginManager) -> None:
    policies = get_components(pm, "mammokit_threshold_policies")
    assert {"prior_quantile", "fixed", "best_pf1", "none"} <= set(policies)
    metrics = get_components(pm, "mammokit_metrics")
    assert {"pf1", "auc", "pr_auc", "f1", "sensitivity", "specificity"} <= set(metrics)


def test_metric_components_compute_the_metrics(pm: pluggy.PluginManager) -> None:
    metrics = get_components(pm, "mammokit_metrics")
    labels = [1, 0, 1, 0, 0]
    scores = [0.8, 0.6, 0.3, 0.2, 0.1]
    assert metrics["pf1"].factory()(labels, scores) == m.pfbeta(labels, scores)
    assert metrics["pf1"].factory(beta=2)(labels, scores) == m.pfbeta(labels, scores, 2.0)
    assert metrics["auc"].factory()(labels, scores) == pytest.approx(5 / 6)
    assert metrics["pr_auc"].factory()(labels, scores) == m.average_precision(labels, scores)
    assert metrics["f1"].factory(threshold=0.5)(labels, scores) == pytest.approx(0.5)
    assert metrics["sensitivity"].factory(threshold=0.25)(labels, scores) == 1.0
    assert metrics["specificity"].factory(threshold=0.25)(labels, scores) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("prior_quantile", ("prior_quantile", None)),
        ("prior_quantile:0.02", ("prior_quantile", "0.02")),
        (" fixed:0.5 ", ("fixed", "0.5")),
        ("none", ("none", None)),
    ],
)
def test_parse_policy(spec: str, expected: tuple[str, str | None]) -> None:
    assert parse_policy(spec) == expected


def test_unknown_policy_lists_the_choices(pm: pluggy.PluginManager) -> None:
    with pytest.raises(ConfigError, match="choose one of: best_pf1, fixed, none, prior_quantile"):
        build_policy("median", manager=pm)


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1, allow_subnormal=False), min_size=1, max_size=400, unique=True),
    prior=st.floats(0.001, 0.6),
)
def test_prior_quantile_positive_fraction_matches_the_prior(
    scores: list[float], prior: float
) -> None:
    values = np.array(scores)
    threshold = prior_quantile_threshold(values, prior)
    positives = int(m.binarize(values, threshold).sum())
    assert abs(positives - prior * values.size) <= 1.0


def test_prior_quantile_from_run_rate_and_from_argument(pm: pluggy.PluginManager) -> None:
    scores = np.random.default_rng(0).random(1000)
    from_run = build_policy("prior_quantile", manager=pm, positive_rate=0.02)(scores)
    assert from_run is not None
    assert int((scores > from_run).sum()) == 20
    given_prior = build_policy("prior_quantile:0.1", manager=pm, positive_rate=0.02)(scores)
    assert given_prior is not None
    assert int((scores > given_prior).sum()) == 100
    with pytest.raises(ConfigError, match="needs a prior"):
        build_policy("prior_quantile", manager=pm)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        build_policy("prior_quantile:1.5", manager=pm)


def test_fixed_and_none(pm: pluggy.PluginManager) -> None:
    scores = np.array([0.1, 0.5, 0.7])
    fixed = build_policy("fixed:0.5", manager=pm)(scores)
    assert fixed == 0.5
    assert apply_threshold(scores, fixed).tolist() == [0, 0, 1]
    assert build_policy("none", manager=pm)(scores) is None
    assert apply_threshold(scores, None).tolist() == [0.1, 0.5, 0.7]
    for bad, match in (("fixed", "needs a value"), ("fixed:abc", "not a number"),
                       ("none:3", "takes no argument")):  # fmt: skip
        with pytest.raises(ConfigError, match=match):
            build_policy(bad, manager=pm)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 120))
def test_best_pf1_threshold_maximises_binarised_pf1(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(int)
    labels[0] = 1
    scores = np.round(rng.random(n), 2)  # ties on purpose
    threshold = best_pf1_threshold(labels, scores)
    best = max(m.f1_at_threshold(labels, scores, t) for t in np.r_[-1.0, scores])
    assert m.f1_at_threshold(labels, scores, threshold) == pytest.approx(best)
    assert threshold not in set(scores.tolist())  # between samples, not on one


def test_best_pf1_needs_out_of_fold_positives(pm: pluggy.PluginManager) -> None:
    with pytest.raises(ConfigError, match="oof"):
        build_policy("best_pf1", manager=pm)
    with pytest.raises(ConfigError, match="no positive"):
        build_policy("best_pf1", manager=pm, oof_labels=[0, 0], oof_scores=[0.1, 0.2])
    policy = build_policy(
        "best_pf1", manager=pm, oof_labels=[0, 0, 1, 1], oof_scores=[0.1, 0.2, 0.6, 0.8]
    )
    assert policy(np.array([0.3])) == pytest.approx(0.4)


def _images() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": [7, 7, 7, 3, 3],
            "laterality": ["R", "R", "L", "L", "L"],
            "image_id": [1, 2, 3, 4, 5],
            "cancer": [1, 1, 0, 0, 0],
            "score": [0.2, 0.6, 0.1, 0.3, 0.5],
            "site_id": [2, 2, 2, 1, 1],
        }
    )


@pytest.mark.parametrize(
    ("method", "expected"), [("mean", [0.4, 0.1, 0.4]), ("max", [0.5, 0.1, 0.6])]
)
def test_aggregate_per_prediction_id(method: str, expected: list[float]) -> None:
    breasts = aggregate_scores(_images(), method)
    assert breasts["prediction_id"].tolist() == ["3_L", "7_L", "7_R"]
    assert breasts["score"].tolist() == pytest.approx(expected)
    assert breasts["cancer"].tolist() == [0, 0, 1]
    assert breasts["n_images"].tolist() == [2, 1, 2]
    assert breasts["site_id"].tolist() == [1, 2, 2]
    assert breasts["patient_id"].tolist() == [3, 7, 7]


def test_aggregate_errors() -> None:
    with pytest.raises(ConfigError, match="choose one of: mean, max"):
        aggregate_scores(_images(), "median")
    bad = _images()
    bad.loc[2, "score"] = np.nan
    with pytest.raises(ConfigError, match="7_L"):
        aggregate_scores(bad)
    with pytest.raises(ConfigError, match="laterality"):
        with_prediction_id(pd.DataFrame({"patient_id": [1]}))
