"""The end of each training epoch: validate, pick best, commit (imports TensorFlow lazily).

:func:`make_epoch_end` returns the Keras callback that validates the model (its EMA
weights when EMA is on), adds the validation values to the epoch's logs, decides
best/early stopping, then commits ``last``/``best`` weights, the TF checkpoint, the new
``history.csv`` row and ``state.json`` at once (:mod:`mammokit.train.checkpoint`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mammokit.errors import ConfigError
from mammokit.train import _testhook
from mammokit.train.checkpoint import commit, history_text, stage_dir

__all__ = ["ema_weights", "make_epoch_end", "predict_scores"]


@contextlib.contextmanager
def ema_weights(model: Any, optimizer: Any) -> Iterator[None]:
    """Temporarily put the optimizer's EMA weights into ``model`` (no-op without EMA)."""
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not getattr(optimizer, "use_ema", False) or not averages:
        yield
        return
    variables = model.trainable_variables
    backup = [v.numpy() for v in variables]
    for variable in variables:
        variable.assign(averages[optimizer._index_dict[optimizer._var_key(variable)]])
    try:
        yield
    finally:
        for variable, value in zip(variables, backup, strict=False):
            variable.assign(value)


def predict_scores(model: Any, dataset: Any, count: int, *, hook: str | None = None) -> np.ndarray:
    """``(count,) float64`` scores in row order from batches of ``(images, rows)``, run
    outside the distribution (identical on every worker). ``hook`` names a test kill
    point passed after each batch (see :mod:`mammokit.train._testhook`)."""
    from mammokit._tf import import_tf

    tf = import_tf()
    step = getattr(model, "_mammokit_predict", None)
    if step is None:
        step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        model._mammokit_predict = step
    outputs, rows = [], []
    for images, batch_rows in dataset:
        out = step(images)
        if isinstance(out, (list, tuple)):  # auxiliary heads: the main one is first
            out = out[0]
        outputs.append(out.numpy().reshape(-1))
        rows.append(batch_rows.numpy())
        if hook:
            _testhook.point(hook)
    if not outputs:
        return np.zeros(0)
    scores = np.full(count, np.nan)
    scores[np.concatenate(rows)] = np.concatenate(outputs)
    if np.isnan(scores).any():
        raise ConfigError(
            f"{int(np.isnan(scores).sum())} validation image(s) missing from the data"
        )
    return scores


def make_epoch_end(
    keras: Any,
    *,
    val_dataset: Any,
    val_table: pd.DataFrame,
    val_metrics: Any,
    val_loss: Any,
    root: str | Path,
    best: float | None,
    best_epoch: int | None,
    monitor_key: str,
    mode: str,
    patience: int,
    checkpoint: Any,
    history: Sequence[str],
    seed: int,
) -> Any:
    """The epoch-end callback.

    Args:
        keras: the tf-keras module.
        val_dataset: batches of ``(images, rows)`` of the validation rows.
        val_table: the validation rows (``cancer``, ``prediction_id`` ...).
        val_metrics: the :class:`~mammokit.scoring.metricset.MetricSet` to log.
        val_loss: the training loss (the configured one, label smoothing and all):
            ``(y_true (N, 1), y_pred (N, 1)) -> tensor``, its mean logged as ``val_loss``.
        root: the folder committed to (the run, or a worker's scratch copy).
        best, best_epoch: the best monitor value so far and its 1-based epoch (resume).
        monitor_key: the ``logs`` key monitored; ``mode``: "min" or "max".
        patience: early-stopping patience in epochs (0: off).
        checkpoint: the ``tf.train.Checkpoint`` of model and optimizer.
        history: the committed ``history.csv`` lines.
        seed: the run's seed (saved in the resume state).
    """

    class EpochEnd(keras.callbacks.Callback):  # type: ignore[misc]
        """Validate (the chosen metrics per image and breast, val loss), add them to
        ``logs``, then commit weights, checkpoint, history row and resume state."""

        def __init__(self) -> None:
            super().__init__()
            self.val_dataset = val_dataset
            self.val_table = val_table
            self.val_metrics = val_metrics
            self.val_loss = val_loss
            self.root: Path = Path(root)
            self.best: float | None = best
            self.best_epoch: int | None = best_epoch
            self.monitor_key = monitor_key
            self.mode = mode
            self.patience = patience
            self.checkpoint = checkpoint
            self.history: list[str] = list(history)
            self.seed = seed
            self.stopped_early: int | None = None

        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            _testhook.point("batch")

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            from mammokit.train.metrics import best_threshold_pf1, validation_metrics

            logs = logs if logs is not None else {}
            stage = stage_dir(self.root)
            weights = stage / "checkpoints"
            weights.mkdir(parents=True, exist_ok=True)
            with ema_weights(self.model, self.model.optimizer):
                scores = predict_scores(
                    self.model, self.val_dataset, len(self.val_table), hook="validation"
                )
                labels = self.val_table["cancer"].to_numpy().astype(np.float32)
                loss = self.val_loss(labels[:, None], scores.astype(np.float32)[:, None])
                logs["val_loss"] = float(np.mean(np.asarray(loss)))
                metrics = validation_metrics(self.val_table, scores, self.val_metrics)
                for key, value in metrics.items():
                    logs[f"val_{key}"] = float(value)
                logs["val_breast_pf1_best_threshold"] = best_threshold_pf1(self.val_table, scores)
                current = float(logs[self.monitor_key])
                self.model.save_weights(str(weights / "last.weights.h5"))
                if self.improved(current):
                    self.best = current
                    self.best_epoch = epoch + 1
                    self.model.save_weights(str(weights / "best.weights.h5"))
            logs["monitor"] = current
            logs["best_monitor"] = self.best
            logs["best_epoch"] = self.best_epoch
            last = epoch + 1 >= int(self.params.get("epochs", math.inf))
            if (
                self.patience
                and not last
                and epoch + 1 - int(self.best_epoch or 0) >= self.patience
            ):
                # (on the last epoch nothing is left to skip: the run did not stop early)
                self.stopped_early = epoch + 1
                self.model.stop_training = True
            self._commit(stage, epoch, logs)

        def _commit(self, stage: Path, epoch: int, logs: dict[str, Any]) -> None:
            import json

            self.checkpoint.write(str(stage / "checkpoints" / "state" / "ckpt"))
            text = history_text(self.history, epoch, logs)
            with open(stage / "history.csv", "w", newline="") as handle:
                handle.write(text)
            state = {
                "epoch": epoch + 1,
                "best": self.best,
                "best_epoch": self.best_epoch,
                "seed": self.seed,
                "step": int(self.model.optimizer.iterations.numpy()),
                "stopped_early": self.stopped_early,
            }
            (stage / "checkpoints" / "state.json").write_text(json.dumps(state, indent=1) + "\n")
            commit(self.root)
            self.history = text.splitlines()

        def improved(self, value: float) -> bool:
            if math.isnan(value):
                return self.best is None and self.best_epoch is None
            if self.best is None or math.isnan(self.best):
                return True
            return value < self.best if self.mode == "min" else value > self.best

    return EpochEnd()
