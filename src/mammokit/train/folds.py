"""Patient-grouped, stratified K-fold splits, and the leak check (no TF).

The folds are scikit-learn's ``StratifiedGroupKFold``: all images of a patient land in the
same fold, so a patient is never in both training and validation, and the folds are
stratified by the patient's label (positive if any image is positive). The leak check is
mammokit's own and runs on every split.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd

from mammokit.core.errors import ConfigError, MammokitError

__all__ = ["FoldLeakError", "assign_folds", "check_no_leak", "split_fold"]


class FoldLeakError(MammokitError):
    """A patient appears in both the training and the validation rows."""


def assign_folds(
    table: pd.DataFrame,
    *,
    n_folds: int,
    seed: int,
    group: str = "patient_id",
    label: str = "cancer",
    stratify: Sequence[str] = (),
) -> np.ndarray:
    """``(N,) int64`` fold number per row, grouped by ``group`` and stratified by ``label``
    and the ``stratify`` columns.

    ``StratifiedGroupKFold(n_folds)`` over the patients in an order shuffled with ``seed``,
    each labelled with its stratum (whether any of its images is positive, times its first
    value of every ``stratify`` column) and grouped by itself; every row then takes its
    patient's fold.

    Raises:
        ConfigError: missing columns, or fewer patients than folds.
    """
    for column in (group, label, *stratify):
        if column not in table.columns:
            raise ConfigError(f"the table has no {column!r} column, needed for folds")
    if n_folds < 2:
        raise ConfigError(f"n_folds must be >= 2, got {n_folds}")
    groups = table[group].astype(str).to_numpy()
    frame = pd.DataFrame({"g": groups, "y": table[label].astype(int).to_numpy()})
    per_patient = frame.groupby("g", sort=True)["y"].agg(["max", "size"])
    per_patient["stratum"] = per_patient["max"].astype(str)
    for column in stratify:
        values = table[column].astype(str).groupby(groups, sort=True).first()
        per_patient["stratum"] += "\x1f" + values.reindex(per_patient.index).to_numpy()
    if len(per_patient) < n_folds:
        raise ConfigError(f"{len(per_patient)} patients cannot fill {n_folds} folds")
    from sklearn.model_selection import StratifiedGroupKFold

    # One sample per patient, labelled positive if any of its images is: the folds then hold
    # equal numbers of positive patients (within one), as the patient is what is split. The
    # patients are shuffled here with ``seed`` and the splitter keeps their order
    # (shuffle=False): its own shuffling balances classes worse before scikit-learn 1.7.
    order = np.random.default_rng(int(seed)).permutation(len(per_patient))
    shuffled = per_patient.iloc[order]
    patients = shuffled.index.to_numpy()
    fold_of_patient = pd.Series(-1, index=patients, dtype=np.int64)
    labels = pd.factorize(shuffled["stratum"], sort=True)[0].astype(np.int64)
    if (np.bincount(labels) < n_folds).all():
        # Every stratum has fewer patients than folds: scikit-learn refuses to stratify. Then
        # one label for all, positives first: the splitter keeps this order and gives each
        # patient to the emptiest fold, so positives still spread one per fold.
        first = np.argsort(-shuffled["max"].to_numpy(), kind="stable")
        shuffled, labels = shuffled.iloc[first], np.zeros(len(labels), dtype=np.int64)
        patients = shuffled.index.to_numpy()
    with warnings.catch_warnings():
        # Fewer positive patients than folds is allowed (small or synthetic tables): some
        # folds then have no positive, as with any split; scikit-learn warns about it.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(
            StratifiedGroupKFold(n_splits=n_folds).split(
                patients, labels, groups=np.arange(len(patients))
            )
        )
    for fold, (_, members) in enumerate(splits):
        fold_of_patient.iloc[members] = fold
    folds = fold_of_patient.reindex(groups).to_numpy(dtype=np.int64)
    return cast("np.ndarray", folds)


def check_no_leak(
    train: pd.DataFrame, validation: pd.DataFrame, *, group: str = "patient_id"
) -> None:
    """Fail loudly if any ``group`` value is in both tables.

    Raises:
        FoldLeakError: naming the leaking patients (up to 10) and their count.
    """
    shared = sorted(set(train[group].astype(str)) & set(validation[group].astype(str)))
    if shared:
        shown = ", ".join(shared[:10]) + (" ..." if len(shared) > 10 else "")
        raise FoldLeakError(f"{len(shared)} patient(s) in both training and validation: {shown}")


def split_fold(
    table: pd.DataFrame,
    *,
    n_folds: int,
    fold: int,
    seed: int,
    group: str = "patient_id",
    label: str = "cancer",
    stratify: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (training, validation) rows of ``fold``, checked for leaks."""
    if not 0 <= fold < n_folds:
        raise ConfigError(f"fold must be in [0, {n_folds - 1}], got {fold}")
    folds = assign_folds(
        table, n_folds=n_folds, seed=seed, group=group, label=label, stratify=stratify
    )
    train = table[folds != fold].reset_index(drop=True)
    validation = table[folds == fold].reset_index(drop=True)
    check_no_leak(train, validation, group=group)
    return train, validation
