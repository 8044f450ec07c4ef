"""A held-out test split of a labelled table (pandas only): patient-grouped, stratified.

:func:`split_table` keeps every image of a patient on one side and stratifies patients on
the label (positive if any image is) and on optional columns such as ``site_id``,
``machine_id`` or ``density`` (a patient takes its first image's value). Within each
stratum, patients are shuffled with the seed and ``round(test_fraction * n)`` of them go to
the test side, so the split is reproducible from the seed and every stratum keeps its share.

:func:`write_split` writes the three tables of ``mammokit split``:

- ``train.csv``: the training rows, every column as given;
- ``test.csv``: only what a test table may hold: the input columns of the RSNA test schema
  (``site_id, patient_id, image_id, laterality, view, age, implant, machine_id``) and the
  columns the caller names in ``keep``, matched without regard to case, plus
  ``prediction_id``. Every other column (the label, ``BIRADS``, ``birads``,
  ``acr_density``, a pathology column of another dataset) is an outcome until the caller
  says otherwise, so none can leak into the table a model is run on;
- ``test_labels.csv``: the test rows' ids (``patient_id, image_id, laterality,
  prediction_id``) with every column ``test.csv`` left out, for ``mammokit evaluate
  --labels``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs
import numpy as np
import pandas as pd

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError
from mammokit.data.tables import TEST_COLUMNS, binary_column

__all__ = ["SplitFiles", "split_table", "public_columns", "write_split"]


def _labels(values: pd.Series, label: str) -> np.ndarray:
    return binary_column(values, f"label {label!r}").to_numpy(dtype=np.int64)


def split_table(
    table: pd.DataFrame,
    *,
    test_fraction: float,
    seed: int = 42,
    label: str = "cancer",
    stratify: Sequence[str] = (),
    group: str = "patient_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train_rows, test_rows)`` of ``table`` (see the module doc), each in table order.

    Raises:
        ConfigError: a missing column, a label that is not 0/1, a fraction outside (0, 1),
            or a split that leaves one side without patients.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test fraction must be in (0, 1), got {test_fraction}")
    for column in (group, label, *stratify):
        if column not in table.columns:
            raise ConfigError(f"the table has no {column!r} column, needed for the split")
    groups = table[group].astype(str).to_numpy()
    frame = pd.DataFrame({"g": groups, "y": _labels(table[label], label)})
    patients = frame.groupby("g", sort=True)["y"].max().to_frame("y")
    patients["stratum"] = patients["y"].astype(str)
    for column in stratify:
        first = table[column].astype(str).groupby(groups, sort=True).first()
        patients["stratum"] += "\x1f" + first.reindex(patients.index).to_numpy()
    rng = np.random.default_rng(int(seed))
    test: set[str] = set()
    for stratum in sorted(set(patients["stratum"])):
        members = patients.index[patients["stratum"] == stratum].to_numpy()
        members = members[rng.permutation(members.size)]
        test.update(members[: round(test_fraction * members.size)].tolist())
    if not test or len(test) == len(patients):
        raise ConfigError(
            f"a test fraction of {test_fraction} of {len(patients)} patient(s) leaves one side "
            "empty"
        )
    is_test = np.array([g in test for g in groups])
    return (
        table[~is_test].reset_index(drop=True),
        table[is_test].reset_index(drop=True),
    )


@attrs.frozen
class SplitFiles:
    """What :func:`write_split` wrote, and the patient counts."""

    train: Path
    test: Path
    test_labels: Path
    train_patients: int
    test_patients: int
    train_positive_breasts: int
    test_positive_breasts: int


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    atomic_write_bytes(path, frame.to_csv(index=False).encode("utf-8"))
    return path


def _positive_breasts(rows: pd.DataFrame, label: str) -> int:
    ids = rows["patient_id"].astype(str) + "_" + rows["laterality"].astype(str)
    return int(pd.Series(_labels(rows[label], label)).groupby(ids.to_numpy()).max().sum())


def public_columns(columns: Iterable[str], *, label: str, keep: Sequence[str] = ()) -> list[str]:
    """The columns of ``columns`` that a test table may hold, in their order: the RSNA test
    schema's inputs and ``keep``, compared in lower case; never ``label`` or
    ``prediction_id`` (made afresh).

    Raises:
        ConfigError: ``keep`` names the label, or a column the table does not have.
    """
    columns = [str(c) for c in columns]
    folded = {c.lower(): c for c in columns}
    wanted = {c.lower() for c in TEST_COLUMNS} | {k.lower() for k in keep}
    if label.lower() in {k.lower() for k in keep}:
        raise ConfigError(f"--keep names the label {label!r}: a test table never holds it")
    absent = sorted(k for k in keep if k.lower() not in folded)
    if absent:
        raise ConfigError(f"--keep names column(s) the table does not have: {', '.join(absent)}")
    return [
        str(c)
        for c in columns
        if str(c).lower() in wanted and str(c).lower() not in {label.lower(), "prediction_id"}
    ]


def write_split(
    csv: str | Path,
    out_dir: str | Path,
    *,
    test_fraction: float,
    seed: int = 42,
    label: str = "cancer",
    stratify: Sequence[str] = (),
    keep: Sequence[str] = (),
) -> SplitFiles:
    """Split the table ``csv`` into ``out_dir/{train,test,test_labels}.csv``; ``keep`` names
    more columns that ``test.csv`` may hold (see the module doc).

    Raises:
        ConfigError: see :func:`split_table` and :func:`public_columns`; also an unreadable
            table, or ``out_dir`` holding ``csv`` itself.
    """
    from mammokit.data.tables import read_table

    source = Path(csv)
    table = read_table(source, kind="any")
    train_rows, test_rows = split_table(
        table, test_fraction=test_fraction, seed=seed, label=label, stratify=stratify
    )
    out = Path(out_dir)
    targets = [out / name for name in ("train.csv", "test.csv", "test_labels.csv")]
    if any(t.resolve() == source.resolve() for t in targets):
        raise ConfigError(f"{source}: --out would overwrite the input table")
    out.mkdir(parents=True, exist_ok=True)
    prediction_id = test_rows["patient_id"].astype(str) + "_" + test_rows["laterality"].astype(str)
    shown = public_columns(test_rows.columns, label=label, keep=keep)
    hidden = [c for c in test_rows.columns if c not in shown and c != "prediction_id"]
    public = test_rows[shown].copy()
    public["prediction_id"] = prediction_id.to_numpy()
    ids = ["patient_id", "image_id", "laterality"]
    labels = test_rows[ids + hidden].copy()
    labels.insert(3, "prediction_id", prediction_id.to_numpy())
    return SplitFiles(
        train=_csv(train_rows, targets[0]),
        test=_csv(public, targets[1]),
        test_labels=_csv(labels, targets[2]),
        train_patients=int(train_rows["patient_id"].nunique()),
        test_patients=int(test_rows["patient_id"].nunique()),
        train_positive_breasts=_positive_breasts(train_rows, label),
        test_positive_breasts=_positive_breasts(test_rows, label),
    )
