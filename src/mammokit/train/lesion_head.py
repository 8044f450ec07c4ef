"""The lesion-mask head: lesion masks as a training signal (TensorFlow imported lazily).

With ``TrainConfig.mask_weight > 0`` the model gets one more output, last: a 1x1
convolution with a sigmoid on the backbone's final feature map (``lesion_mask``, (B, h, w,
1) float32; stride 32 for ConvNeXtV2, 16 for ``simple_cnn``). It learns the preprocessed
lesion masks of ``index.csv``'s ``mask_path`` (``mammokit preprocess`` with a mask column):
each mask, augmented with its image, is brought to the feature map's grid in the loss
(:func:`mask_loss`: a cell is lesion when any pixel of it is), then scored by soft Dice or
binary cross-entropy per image. Images without a mask file (``mask_path`` empty: rows of a
table without a mask column, external datasets) are left out of that loss, weight 0; an
image whose mask is all background is a negative and counts. ``model.keras`` keeps the
main head only; ``save_mask_model`` also writes the head as ``mask_model.keras``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mammokit.core.errors import ConfigError
from mammokit.data.index import MASK_COLUMN

__all__ = [
    "MASK_HEAD",
    "MASK_LOSSES",
    "mask_files",
    "mask_head",
    "mask_loss",
    "mask_model",
    "mask_stats",
]

#: The Keras name of the head's layer (its loss is ``lesion_mask_loss`` in ``history.csv``).
MASK_HEAD = "lesion_mask"
#: The losses ``TrainConfig.mask_loss`` may name.
MASK_LOSSES = ("dice", "bce")
#: Dice's smoothing, in cells: an empty prediction of an empty mask scores 0.
_SMOOTH = 1.0


def mask_files(rows: pd.DataFrame, data_dir: str | Path) -> np.ndarray:
    """``(N,)`` str: each row's preprocessed mask file (absolute), "" where it has none
    (no ``mask_path`` value: an external dataset's row, or a table without masks).

    Raises:
        ConfigError: no row of the preprocessed folder has a mask.
    """
    root = Path(data_dir).resolve()
    column = rows[MASK_COLUMN] if MASK_COLUMN in rows.columns else pd.Series("", rows.index)
    names = [value if isinstance(value, str) else "" for value in column]
    if not any(names):
        raise ConfigError(
            f"{root / 'index.csv'}: no lesion masks (no {MASK_COLUMN!r} values) for the mask "
            "loss; preprocess with a lesion mask column (mammokit preprocess --mask-column) "
            "or set mask_weight = 0"
        )
    return np.asarray([str(root / name) if name else "" for name in names])


def mask_head(features: Any) -> Any:
    """The head on a ``(B, h, w, C)`` feature map: ``(B, h, w, 1)`` float32 lesion
    probabilities (a 1x1 convolution with a sigmoid)."""
    from mammokit.core.tf import import_keras

    keras = import_keras()
    return keras.layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name=MASK_HEAD)(
        features
    )


def _on_grid(tf: Any, y_true: Any, grid: Any) -> Any:
    """``(B, H, W, 1)`` masks in [0, 1] -> ``(B, h, w, 1)`` 0/1 on the ``grid`` (h, w):
    a cell is lesion when any of its pixels is (area average > 0)."""
    binary = tf.cast(y_true > 0.5, tf.float32)
    area = tf.image.resize(binary, grid, method="area")
    return tf.cast(area > 0.0, tf.float32)


def mask_loss(kind: str) -> Any:
    """A Keras loss ``(y_true (B, H, W, 1) masks, y_pred (B, h, w, 1)) -> (B,)``: soft
    Dice (``"dice"``: ``1 - (2 |p y| + 1) / (|p| + |y| + 1)`` per image) or the mean
    binary cross-entropy of the cells (``"bce"``), after :func:`_on_grid`.

    Raises:
        ConfigError: another ``kind``.
    """
    if kind not in MASK_LOSSES:
        raise ConfigError(f"mask_loss must be one of {', '.join(MASK_LOSSES)}, got {kind!r}")
    from mammokit.core.tf import import_keras, import_tf

    tf = import_tf()
    keras = import_keras()

    def loss(y_true: Any, y_pred: Any) -> Any:
        pred = tf.cast(y_pred, tf.float32)
        target = _on_grid(tf, tf.cast(y_true, tf.float32), tf.shape(pred)[1:3])
        if kind == "bce":
            cells = keras.backend.binary_crossentropy(target, pred)
            return tf.reduce_mean(cells, axis=[1, 2, 3])
        overlap = tf.reduce_sum(pred * target, axis=[1, 2, 3])
        total = tf.reduce_sum(pred, axis=[1, 2, 3]) + tf.reduce_sum(target, axis=[1, 2, 3])
        return 1.0 - (2.0 * overlap + _SMOOTH) / (total + _SMOOTH)

    loss.__name__ = f"mask_{kind}"
    return loss


def mask_model(model: Any) -> Any:
    """The lesion map of a trained ``model`` alone: ``(B, H, W, 1) -> (B, h, w, 1)``."""
    from mammokit.core.tf import import_keras

    keras = import_keras()
    return keras.Model(model.inputs, model.get_layer(MASK_HEAD).output, name=MASK_HEAD)


def mask_stats(model: Any, train_rows: pd.DataFrame) -> dict[str, Any]:
    """What ``config.toml``'s ``[stats.masks]`` records of the head: its ``grid`` (h, w),
    the ``stride`` (input size / grid, per axis) and how many training rows have a mask
    file (``with_mask``) of how many (``rows``)."""
    height, width = (int(v) for v in model.inputs[0].shape[1:3])
    grid = [int(v) for v in model.get_layer(MASK_HEAD).output.shape[1:3]]
    column = train_rows[MASK_COLUMN] if MASK_COLUMN in train_rows.columns else pd.Series([])
    with_mask = sum(isinstance(v, str) and v != "" for v in column)
    return {
        "grid": grid,
        "stride": [height / grid[0], width / grid[1]],
        "with_mask": int(with_mask),
        "rows": len(train_rows),
    }
