"""Image scores to breast scores: one row per ``prediction_id`` (``<patient_id>_<laterality>``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd

from mammokit.core.errors import ConfigError

__all__ = ["AGGREGATIONS", "aggregate_scores", "with_prediction_id"]

#: Aggregation name -> pandas groupby reduction.
AGGREGATIONS: dict[str, str] = {"mean": "mean", "max": "max"}

#: Columns kept per breast (their first value) when present in the image table.
_CARRIED = (
    "patient_id", "laterality", "site_id", "machine_id", "density", "age", "implant", "lesion_type"
)  # fmt: skip


def with_prediction_id(images: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``prediction_id`` column, made from ``patient_id`` and ``laterality``
    when absent (``"10006_L"``).

    Raises:
        ConfigError: neither ``prediction_id`` nor both ``patient_id`` and ``laterality``.
    """
    if "prediction_id" in images.columns:
        out = images.copy()
        out["prediction_id"] = out["prediction_id"].astype(str)
        return cast("pd.DataFrame", out)
    missing = [c for c in ("patient_id", "laterality") if c not in images.columns]
    if missing:
        raise ConfigError(
            f"table needs a prediction_id column or patient_id and laterality; "
            f"missing {', '.join(missing)}"
        )
    out = images.copy()
    out["prediction_id"] = out["patient_id"].astype(str) + "_" + out["laterality"].astype(str)
    return cast("pd.DataFrame", out)


def aggregate_scores(
    images: pd.DataFrame,
    method: str = "mean",
    *,
    score_columns: Sequence[str] = ("score",),
    label_column: str = "cancer",
) -> pd.DataFrame:
    """Reduce image rows to one row per breast.

    Args:
        images: one row per image with ``prediction_id`` (or ``patient_id`` and
            ``laterality``) and the score columns (float in [0, 1]).
        method: "mean" or "max" over the images of each breast.
        score_columns: the columns to aggregate.
        label_column: when present, the breast label is the max of its image labels.

    Returns:
        DataFrame sorted by ``prediction_id``: ``prediction_id``, the aggregated score
        columns, the label if present, ``n_images``, and the first value per breast of
        ``patient_id, laterality, site_id, machine_id, density, age, implant, lesion_type``
        where present.

    Raises:
        ConfigError: unknown method, missing columns, or NaN scores.
    """
    if method not in AGGREGATIONS:
        raise ConfigError(
            f"Unknown aggregation {method!r}; choose one of: {', '.join(AGGREGATIONS)}"
        )
    frame = with_prediction_id(images)
    missing = [c for c in score_columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"image table lacks score column(s) {', '.join(missing)}")
    for column in score_columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(values).any():
            bad = frame.loc[np.isnan(values), "prediction_id"].iloc[0]
            raise ConfigError(f"score column {column!r} is missing or not a number ({bad})")
        frame[column] = values
    grouped = frame.groupby("prediction_id", sort=True)
    out = grouped[list(score_columns)].agg(AGGREGATIONS[method])
    if label_column in frame.columns:
        out[label_column] = grouped[label_column].max().astype(int)
    out["n_images"] = grouped.size()
    carried = [c for c in _CARRIED if c in frame.columns]
    if carried:
        out = out.join(grouped[carried].first())
    return cast("pd.DataFrame", out.reset_index())
