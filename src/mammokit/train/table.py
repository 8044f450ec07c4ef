"""The table a training run reads: a preprocessed folder's ``index.csv`` with its label
(pandas only, no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mammokit.core.config import PreprocessConfig
from mammokit.core.errors import ConfigError

__all__ = ["MAIN_SOURCE", "read_dataset", "run_stats"]

#: Source tag of the rows of the preprocessed folder itself.
MAIN_SOURCE = "data"


def read_dataset(
    data_dir: str | Path, *, label: str = "cancer"
) -> tuple[pd.DataFrame, PreprocessConfig]:
    """The index table (with absolute ``abs_path``, ``prediction_id`` and ``source``) and
    the PreprocessConfig of a preprocessed folder.

    The training target is the ``label`` column (0/1); it is copied into the working
    column ``cancer`` of the returned table, which the folds, sampling and metrics read.

    Raises:
        ConfigError: not a preprocessed folder, no ``label`` column or a value other than
            0/1 in it, TFRecord-only output.
    """
    from mammokit.data import read_index
    from mammokit.data.folder import read_preprocess_config
    from mammokit.data.tables import binary_column
    from mammokit.scoring.aggregate import with_prediction_id

    root = Path(data_dir)
    preprocess = read_preprocess_config(root)
    table = read_index(root)
    if label not in table.columns:
        raise ConfigError(
            f"{root / 'index.csv'}: no {label!r} column to train on (the label); "
            f"choose one of: {', '.join(map(str, table.columns))}"
        )
    if table.empty:
        raise ConfigError(f"{root / 'index.csv'}: no images")
    table = with_prediction_id(table)
    table["abs_path"] = [str(root.resolve() / p) for p in table["path"]]
    table["cancer"] = binary_column(table[label], f"{root / 'index.csv'}: label {label!r}")
    table["source"] = MAIN_SOURCE
    return table, preprocess


def run_stats(train_rows: pd.DataFrame, seed: int) -> dict[str, Any]:
    """The ``[stats]`` of ``config.toml``: the positive breast rate of the folder's own
    training rows (external rows aside) and the seed."""
    own = train_rows[train_rows["source"] == MAIN_SOURCE]
    breasts = own.groupby("prediction_id")["cancer"].max()
    return {"positive_rate": float(breasts.mean()) if len(breasts) else 0.0, "seed": int(seed)}
