"""The end of each training epoch, as small steps with one job each (imports TensorFlow
lazily).

- :class:`Validation`: predicts the validation rows (with the EMA weights when EMA is on)
  and adds ``val_loss`` (the configured loss), ``val_<level>_<metric>`` and
  ``val_breast_pf1_best_threshold`` to the epoch's logs; its metrics are built once;
- :class:`BestEpoch`: the best monitored value (raw, or its mean over the last epochs) and
  its epoch, and early stopping;
- :class:`History`: the rows of ``history.csv``;
- :class:`EpochCommit`: writes ``last``/``best`` weights, the TF checkpoint, the new
  ``history.csv`` and ``state.json`` and commits them at once (:mod:`mammokit.train.checkpoint`);
- :class:`EpochEnd` runs them in that order and tells the run's
  :class:`~mammokit.train.handlers.Events`; :func:`keras_callback` hands it Keras's events.

Epochs are numbered from 1 here (Keras counts from 0).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import numpy as np
import pandas as pd

from mammokit.core.errors import ConfigError
from mammokit.train.checkpoint import commit, history_text, stage_dir
from mammokit.train.handlers import Events
from mammokit.train.rundir import RunDir

if TYPE_CHECKING:
    from mammokit.scoring.metricset import MetricSet

__all__ = [
    "BestEpoch",
    "EpochCommit",
    "EpochEnd",
    "EpochEndStep",
    "History",
    "Validation",
    "choose_epoch",
    "ema_weights",
    "fit_epochs",
    "keras_callback",
    "monitor_values",
    "predict_scores",
    "window_mean",
]


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


def predict_scores(
    model: Any, dataset: Any, count: int, *, on_batch: Callable[[int], None] | None = None
) -> np.ndarray:
    """``(count,) float64`` scores in row order from batches of ``(images, rows)``, run
    outside the distribution (identical on every worker). ``on_batch(i)`` is called after
    batch ``i`` (from 0) is predicted."""
    from mammokit.core.tf import import_tf

    tf = import_tf()
    step = getattr(model, "_mammokit_predict", None)
    if step is None:
        step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        model._mammokit_predict = step
    outputs, rows = [], []
    for batch, (images, batch_rows) in enumerate(dataset):
        out = step(images)
        if isinstance(out, (list, tuple)):  # auxiliary heads: the main one is first
            out = out[0]
        outputs.append(out.numpy().reshape(-1))
        rows.append(batch_rows.numpy())
        if on_batch is not None:
            on_batch(batch)
    if not outputs:
        return np.zeros(0)
    scores = np.full(count, np.nan)
    scores[np.concatenate(rows)] = np.concatenate(outputs)
    if np.isnan(scores).any():
        raise ConfigError(
            f"{int(np.isnan(scores).sum())} validation image(s) missing from the data"
        )
    return scores


class Validation:
    """Validation values of an epoch, added to its logs.

    Args:
        dataset: batches of ``(images, rows)`` of the validation rows.
        table: the validation rows (``cancer``, ``prediction_id`` ...).
        metrics: the :class:`~mammokit.scoring.metricset.MetricSet` to log (built here, once).
        loss: the training loss (the configured one, label smoothing and all):
            ``(y_true (N, 1), y_pred (N, 1)) -> tensor``, its mean logged as ``val_loss``.
    """

    def __init__(self, dataset: Any, table: pd.DataFrame, metrics: MetricSet, loss: Any) -> None:
        self.dataset = dataset
        self.table = table
        self.metrics = metrics.build(None, key="name")
        self.loss = loss
        self.labels = table["cancer"].to_numpy().astype(np.float32)

    def run(self, model: Any, logs: dict[str, Any], on_batch: Callable[[int], None]) -> None:
        """Predict with ``model`` and add ``val_loss``, ``val_<level>_<metric>`` and
        ``val_breast_pf1_best_threshold`` to ``logs``."""
        from mammokit.train.metrics import best_threshold_pf1, validation_metrics

        scores = predict_scores(model, self.dataset, len(self.table), on_batch=on_batch)
        loss = self.loss(self.labels[:, None], scores.astype(np.float32)[:, None])
        logs["val_loss"] = float(np.mean(np.asarray(loss)))
        for key, value in validation_metrics(self.table, scores, self.metrics).items():
            logs[f"val_{key}"] = float(value)
        logs["val_breast_pf1_best_threshold"] = best_threshold_pf1(self.table, scores)


def window_mean(values: Sequence[float], smoothing: int) -> float:
    """The mean of the last ``smoothing`` of ``values`` (all of them when fewer); NaN when
    one of them is NaN."""
    window = np.asarray(values[-smoothing:], dtype=np.float64)
    return float(window.mean()) if window.size else math.nan


def monitor_values(history: Sequence[str]) -> list[float]:
    """The raw ``monitor`` column of ``history.csv`` lines (header first, as
    :func:`~mammokit.train.checkpoint.history_rows` gives them); [] without rows."""
    if len(history) < 2:
        return []
    frame = pd.read_csv(io.StringIO("\n".join(history)), keep_default_na=False, dtype=str)
    if "monitor" not in frame.columns:
        raise ConfigError("history.csv has no monitor column: cannot resume its best epoch")
    return [float(v) for v in frame["monitor"]]


@attrs.define
class BestEpoch:
    """The best value of the monitored log and its epoch; early stopping.

    With ``smoothing`` K > 1 an epoch is judged on the mean of the monitor over its last K
    epochs (:func:`window_mean`) and the weights kept are the window's last epoch's. The
    first K-1 epochs, whose windows are shorter, count only until epoch K: a full window
    beats any shorter one, so one lucky early epoch is not kept. The raw values of the
    epochs done are ``values``; a resumed run reads them back from ``history.csv``
    (:func:`monitor_values`), so it chooses as the uninterrupted run.

    Attributes:
        key: the ``logs`` key monitored; ``mode``: "min" or "max".
        patience: early-stopping patience in epochs (0: off).
        smoothing: epochs averaged (1: the raw value).
        values: the raw monitored values of epochs 1, 2 ...
        best, best_epoch: the best (smoothed) value so far and its epoch (from a resumed
            state).
        stopped_early: the epoch after which training stopped early, or None.
    """

    key: str
    mode: str
    patience: int
    smoothing: int = 1
    values: list[float] = attrs.field(factory=list)
    best: float | None = None
    best_epoch: int | None = None
    stopped_early: int | None = None

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return self.best is None and self.best_epoch is None
        if self.best is None or math.isnan(self.best):
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def update(self, epoch: int, logs: dict[str, Any]) -> bool:
        """Read ``logs[key]`` of ``epoch``, add ``monitor`` (raw), ``best_monitor`` and
        ``best_epoch`` to ``logs`` (and ``monitor_smoothed`` when smoothing); whether
        ``epoch`` is the new best."""
        current = float(logs[self.key])
        self.values = [*self.values[: epoch - 1], current]
        judged = window_mean(self.values, self.smoothing)
        # the first full window beats every shorter one (the run's first K-1 epochs)
        first_full = epoch >= self.smoothing > int(self.best_epoch or 0) and not math.isnan(judged)
        better = first_full or self.improved(judged)
        if better:
            self.best, self.best_epoch = judged, epoch
        logs["monitor"] = current
        if self.smoothing > 1:
            logs["monitor_smoothed"] = judged
        logs["best_monitor"] = self.best
        logs["best_epoch"] = self.best_epoch
        return better

    def stop(self, epoch: int, *, last: bool) -> bool:
        """Whether training stops after ``epoch`` (``patience`` epochs without a better
        value); on the ``last`` epoch nothing is left to skip, so it never stops early."""
        if self.patience and not last and epoch - int(self.best_epoch or 0) >= self.patience:
            self.stopped_early = epoch
        return self.stopped_early is not None


def choose_epoch(values: Sequence[float], mode: str, smoothing: int = 1) -> int | None:
    """The epoch (from 1) that :class:`BestEpoch` keeps for the raw monitor ``values`` of
    epochs 1, 2 ... (no early stopping); None for no values."""
    best = BestEpoch(key="monitor", mode=mode, patience=0, smoothing=smoothing)
    for epoch, value in enumerate(values, start=1):
        best.update(epoch, {"monitor": value})
    return best.best_epoch


@attrs.define
class History:
    """The committed lines of ``history.csv`` (without line endings)."""

    lines: list[str] = attrs.field(factory=list)

    def add(self, epoch: int, logs: Mapping[str, Any]) -> str:
        """The file's text with a row for ``epoch`` added (kept as the new lines)."""
        text = history_text(self.lines, epoch, logs)
        self.lines = text.splitlines()
        return text


@attrs.define
class EpochCommit:
    """The crash-safe commit of an epoch into run folder ``root`` (the run, or a worker's
    scratch copy): ``checkpoint`` is the ``tf.train.Checkpoint`` of model and optimizer,
    ``seed`` the run's seed (saved in the resume state)."""

    root: Path = attrs.field(converter=Path)
    checkpoint: Any
    seed: int

    def stage(self) -> RunDir:
        """A fresh ``checkpoints/.next/``, laid out as the run."""
        stage = RunDir(stage_dir(self.root))
        stage.checkpoints.mkdir(parents=True, exist_ok=True)
        return stage

    @staticmethod
    def save_weights(model: Any, stage: RunDir, *, best: bool) -> None:
        """``last`` weights of ``model`` into ``stage``; ``best`` too when it is the best."""
        model.save_weights(str(stage.last_weights))
        if best:
            model.save_weights(str(stage.best_weights))

    def commit(
        self, stage: RunDir, *, epoch: int, history: str, best: BestEpoch, events: Events
    ) -> None:
        """Write the TF checkpoint, ``history`` (the text of ``history.csv``) and the resume
        state after ``epoch`` into ``stage``; commit it all, telling ``events``."""
        self.checkpoint.write(str(stage.state_prefix))
        with open(stage.history, "w", newline="") as handle:
            handle.write(history)
        stage.write_state(
            {
                "epoch": epoch,
                "best": best.best,
                "best_epoch": best.best_epoch,
                "seed": self.seed,
                "step": int(self.checkpoint.optimizer.iterations.numpy()),
                "stopped_early": best.stopped_early,
            }
        )
        commit(
            self.root,
            on_written=lambda path: events.on_checkpoint(epoch, path),
            on_file=lambda path: events.on_commit(epoch, path),
        )


@attrs.define
class EpochEnd:
    """One epoch's end: validate, choose best/early stop, commit, tell the handlers."""

    validation: Validation
    best: BestEpoch
    history: History
    commit: EpochCommit
    events: Events

    def run(self, model: Any, epoch: int, logs: dict[str, Any], *, last: bool) -> bool:
        """End ``epoch`` (from 1) of ``model`` with Keras's ``logs`` (completed in place);
        ``last``: the run's last epoch. Whether training stops early."""
        stage = self.commit.stage()
        with ema_weights(model, model.optimizer):
            self.validation.run(
                model, logs, lambda batch: self.events.on_validation_batch(epoch, batch)
            )
            better = self.best.update(epoch, logs)
            self.commit.save_weights(model, stage, best=better)
        stop = self.best.stop(epoch, last=last)
        self.events.on_validation(epoch, logs)
        text = self.history.add(epoch, logs)
        self.commit.commit(stage, epoch=epoch, history=text, best=self.best, events=self.events)
        self.events.on_epoch_end(epoch, logs)
        return stop


class EpochEndStep(Protocol):
    """What ends an epoch for :func:`keras_callback`: :class:`EpochEnd`, or a pretraining
    run's own end (:mod:`mammokit.train.pretrain.runner`)."""

    def run(self, model: Any, epoch: int, logs: dict[str, Any], *, last: bool) -> bool:
        """End ``epoch`` (from 1); whether training stops early."""
        ...


def keras_callback(keras: Any, end: EpochEndStep, events: Events) -> Any:
    """A Keras callback handing batches to ``events`` and epoch ends to ``end``."""

    class Bridge(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 1

        def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            self.epoch = epoch + 1

        def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
            events.on_batch_begin(self.epoch, batch)

        def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
            events.on_batch_end(self.epoch, batch, logs or {})

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs if logs is not None else {}
            last = epoch + 1 >= int(self.params.get("epochs", math.inf))
            if end.run(self.model, epoch + 1, logs, last=last):
                self.model.stop_training = True

    return Bridge()


def fit_epochs(
    model: Any,
    dataset: Any,
    *,
    end: EpochEndStep,
    events: Events,
    epochs: range,
    steps_per_epoch: int,
    log_dir: Path,
    verbose: int,
) -> int:
    """Keras ``fit`` of ``model`` over ``epochs`` (0-based, e.g. ``range(first, last)``),
    each epoch ended by ``end`` (:func:`keras_callback`) and logged to TensorBoard in
    ``log_dir``; the number of epochs trained."""
    from mammokit.core.tf import import_keras

    keras = import_keras()
    tensorboard = keras.callbacks.TensorBoard(
        log_dir=str(log_dir), write_graph=False, profile_batch=0
    )
    fitted = model.fit(
        dataset,
        epochs=epochs.stop,
        initial_epoch=epochs.start,
        steps_per_epoch=steps_per_epoch,
        callbacks=[keras_callback(keras, end, events), tensorboard],
        verbose=verbose,
    )
    return len(fitted.epoch)
