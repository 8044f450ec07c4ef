"""Auxiliary targets (numpy; the Keras heads and losses import TensorFlow lazily).

``TrainConfig.aux`` maps a table column to "binary" or "categorical". :func:`aux_targets`
turns each column into a ``(N,) float32`` target per row: 0/1 for binary, the class index
(its values sorted) for categorical, and -1 where the value is missing, which
:func:`masked_loss` leaves out of the loss. The heads sit on the pooled backbone features
beside the main head; ``model.keras`` keeps the main head only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import pandas as pd

from mammokit.core.errors import ConfigError
from mammokit.data.tables import BINARY_TEXT

__all__ = ["AuxTarget", "aux_targets", "head_name", "masked_loss"]

_MISSING = {"", "nan", "none", "na", "n/a"}


@attrs.frozen
class AuxTarget:
    """One auxiliary target.

    Attributes:
        column: the table column.
        kind: "binary" or "categorical".
        classes: the categorical values in class-index order (``("0", "1")`` for binary).
        weight: its loss weight.
    """

    column: str
    kind: str
    classes: tuple[str, ...]
    weight: float

    @property
    def units(self) -> int:
        return 1 if self.kind == "binary" else len(self.classes)


def head_name(column: str) -> str:
    """The Keras layer name of ``column``'s head (``aux_<column>``, letters/digits/_)."""
    return "aux_" + "".join(c if c.isalnum() else "_" for c in column)


def _text(values: pd.Series) -> pd.Series:
    """Each value as stripped text, "" where missing (blank, NaN, "none"...)."""
    out = []
    for value in values:
        text = "" if value is None else str(value).strip()
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))  # a 0/1 column read as floats because of blanks
        out.append("" if text.lower() in _MISSING else text)
    return pd.Series(out, index=values.index, dtype=object)


def aux_targets(
    config_aux: Mapping[str, str],
    weights: Mapping[str, float],
    table: pd.DataFrame,
    rows: pd.DataFrame,
) -> tuple[list[AuxTarget], list[np.ndarray]]:
    """The targets of ``config_aux`` (classes from the whole ``table``) and their
    ``(len(rows),) float32`` values for ``rows`` (-1 = missing; rows without the column,
    such as external datasets, are all missing).

    Raises:
        ConfigError: a column the table lacks, a binary column with values other than 0/1,
            or a categorical column with fewer than 2 values.
    """
    targets, values = [], []
    for column, kind in config_aux.items():
        if column not in table.columns:
            raise ConfigError(
                f"aux target {column!r}: no such column in the table; "
                f"choose one of: {', '.join(map(str, table.columns))}"
            )
        seen = sorted(v for v in set(_text(table[column])) if v)
        if kind == "binary":
            mapping = BINARY_TEXT
            bad = [v for v in seen if v.lower() not in mapping]
            if bad:
                raise ConfigError(f"aux target {column!r} is binary but holds {bad[0]!r}")
            classes: tuple[str, ...] = ("0", "1")
            index = {v: mapping[v.lower()] for v in seen}
        else:
            if len(seen) < 2:
                raise ConfigError(f"aux target {column!r} needs at least 2 values, got {seen}")
            classes = tuple(seen)
            index = {v: i for i, v in enumerate(classes)}
        if column in rows.columns:
            mapped = _text(rows[column]).map(index).fillna(-1)
            target = mapped.to_numpy(dtype=np.float32)
        else:
            target = np.full(len(rows), -1.0, np.float32)
        targets.append(AuxTarget(column, kind, classes, float(weights.get(column, 1.0))))
        values.append(target)
    return targets, values


def masked_loss(kind: str) -> Any:
    """A Keras loss ``(y_true (B, 1) with -1 = missing, y_pred) -> (B,)`` that is 0 where
    the target is missing: binary cross-entropy (sigmoid) or sparse categorical
    cross-entropy (softmax)."""
    from mammokit.core.tf import import_keras, import_tf

    tf = import_tf()
    keras = import_keras()

    def loss(y_true: Any, y_pred: Any) -> Any:
        y = tf.reshape(tf.cast(y_true, tf.float32), [-1])
        mask = tf.cast(y >= 0.0, tf.float32)
        safe = tf.maximum(y, 0.0)
        if kind == "binary":
            each = keras.losses.binary_crossentropy(safe[:, None], y_pred)
        else:
            each = keras.losses.sparse_categorical_crossentropy(safe, y_pred)
        return tf.reshape(each, [-1]) * mask

    loss.__name__ = f"masked_{kind}"
    return loss
