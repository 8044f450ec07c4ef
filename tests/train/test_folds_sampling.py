"""Folds, the leak check and sampling strategies (core: no TensorFlow)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from mammokit import get_plugin_manager, resolve_component
from mammokit.core.errors import ConfigError
from mammokit.train.folds import FoldLeakError, assign_folds, check_no_leak, split_fold
from mammokit.train.sampling import pad_to_batches, sample_weights


def _table(patients: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(patients):
        positive = p % 5 == 0
        for k in range(int(rng.integers(2, 6))):
            rows.append(
                {"patient_id": f"P{p}", "image_id": f"{p}-{k}", "cancer": int(positive and k == 0)}
            )
    return pd.DataFrame(rows)


def test_folds_group_patients_and_stratify() -> None:
    table = _table()
    folds = assign_folds(table, n_folds=4, seed=1)
    per_patient = pd.DataFrame({"p": table["patient_id"], "f": folds}).groupby("p")["f"].nunique()
    assert (per_patient == 1).all()
    positives = (
        table.assign(f=folds).groupby("patient_id").agg(y=("cancer", "max"), f=("f", "first"))
    )
    counts = positives[positives["y"] == 1].groupby("f").size()
    assert counts.max() - counts.min() <= 1 and len(counts) == 4
    assert np.array_equal(folds, assign_folds(table, n_folds=4, seed=1))
    assert not np.array_equal(folds, assign_folds(table, n_folds=4, seed=2))


def test_split_fold_has_no_leak_and_covers_everything() -> None:
    table = _table()
    seen = []
    for fold in range(5):
        train, val = split_fold(table, n_folds=5, fold=fold, seed=0)
        assert not set(train["patient_id"]) & set(val["patient_id"])
        assert len(train) + len(val) == len(table)
        seen.extend(val["image_id"])
    assert sorted(seen) == sorted(table["image_id"])


def test_leak_check_fails_loudly() -> None:
    table = _table()
    train, val = table.iloc[:30], table.iloc[25:]
    with pytest.raises(FoldLeakError, match="in both training and validation"):
        check_no_leak(train, val)
    with pytest.raises(ConfigError, match="patients cannot fill"):
        assign_folds(table.iloc[:3], n_folds=5, seed=0)


def _sampler(name: str, **options: object) -> object:
    component = resolve_component(
        get_plugin_manager(load_entry_points=False), "mammokit_sampling_strategies", name
    )
    return component.factory(**options)


LABELS = np.array([1] * 6 + [0] * 94)


def test_undersample_keeps_positives_and_a_fresh_fraction_of_negatives() -> None:
    sampler = _sampler("undersample", negative_fraction=0.25)
    plan0 = sampler.plan(LABELS, epoch=0, seed=3, batch_size=8)
    plan1 = sampler.plan(LABELS, epoch=1, seed=3, batch_size=8)
    assert sorted(plan0[LABELS[plan0] == 1]) == list(range(6))
    assert (LABELS[plan0] == 0).sum() == round(0.25 * 94)
    assert len(set(plan0)) == len(plan0)
    assert set(plan0) != set(plan1)
    assert np.array_equal(plan0, sampler.plan(LABELS, epoch=0, seed=3, batch_size=8))
    assert sampler.class_weight is None


def test_class_weight_uses_every_row_and_weighs_the_loss() -> None:
    sampler = _sampler("class_weight", weights={0: 1, 1: 5})
    plan = sampler.plan(LABELS, epoch=0, seed=0, batch_size=8)
    assert sorted(plan) == list(range(100))
    weights = sample_weights(LABELS, sampler.class_weight)
    assert weights[0] == 5.0 and weights[-1] == 1.0
    with pytest.raises(ConfigError):
        _sampler("class_weight", weights={2: 1})


def test_balanced_batches_has_a_positive_in_every_batch() -> None:
    sampler = _sampler("balanced_batches", positive_fraction=0.25)
    plan = sampler.plan(LABELS, epoch=0, seed=0, batch_size=8)
    assert len(plan) % 8 == 0
    batches = LABELS[plan].reshape(-1, 8)
    assert (batches.sum(axis=1) >= 1).all()
    assert sorted(set(plan[LABELS[plan] == 0])) == list(range(6, 100))
    assert abs(LABELS[plan].mean() - 0.25) < 0.05
    with pytest.raises(ConfigError, match="at least one positive"):
        sampler.plan(np.zeros(10, int), epoch=0, seed=0, batch_size=4)


def test_none_is_a_shuffled_permutation() -> None:
    sampler = _sampler("none")
    plan = sampler.plan(LABELS, epoch=0, seed=0, batch_size=8)
    assert sorted(plan) == list(range(100)) and not np.array_equal(plan, np.arange(100))


def test_pad_to_batches_fills_the_last_batch() -> None:
    padded = pad_to_batches(np.arange(10), 4, np.random.default_rng(0))
    assert len(padded) == 12 and set(padded) <= set(range(10))
    with pytest.raises(ConfigError, match="empty"):
        pad_to_batches(np.array([], int), 4, np.random.default_rng(0))


def test_listing_training_components_does_not_import_tensorflow() -> None:
    pm = get_plugin_manager(load_entry_points=False)
    from mammokit import get_components

    names = set(get_components(pm, "mammokit_backbones"))
    assert {"convnextv2_atto", "convnextv2_base", "simple_cnn"} <= names
    assert set(get_components(pm, "mammokit_losses")) >= {"bce", "bce_smooth", "focal"}
    if "tensorflow" not in sys.modules:
        import mammokit.train  # noqa: F401

        assert "tensorflow" not in sys.modules
