"""Patient-grouped, stratified K-fold splits, and the leak check (numpy/pandas, no TF).

All images of a patient land in the same fold, so a patient is never in both training and
validation. Patients are stratified by their label (positive if any image is positive).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mammokit.errors import ConfigError, MammokitError

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

    Within each stratum (patients with / without a positive image, times each patient's
    first value of every ``stratify`` column), patients are shuffled with ``seed`` and each
    goes to the fold that so far has the fewest patients of that stratum, ties broken by
    the fewest images.

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
        first = table[column].astype(str).groupby(groups, sort=True).first()
        per_patient["stratum"] += "\x1f" + first.reindex(per_patient.index).to_numpy()
    if len(per_patient) < n_folds:
        raise ConfigError(f"{len(per_patient)} patients cannot fill {n_folds} folds")
    rng = np.random.default_rng(int(seed))
    fold_of: dict[str, int] = {}
    images = np.zeros(n_folds, dtype=np.int64)
    strata = sorted(set(per_patient["stratum"]), key=lambda key: (not key.startswith("1"), key))
    for stratum in strata:
        members = per_patient.index[per_patient["stratum"] == stratum].to_numpy()
        members = members[rng.permutation(members.size)]
        counts = np.zeros(n_folds, dtype=np.int64)
        for patient in members:
            fold = int(np.lexsort((images, counts))[0])
            fold_of[patient] = fold
            counts[fold] += 1
            images[fold] += int(per_patient.at[patient, "size"])
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


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
