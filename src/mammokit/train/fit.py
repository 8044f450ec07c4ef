"""The training loop: preprocessed folder -> run directory (imports TensorFlow lazily).

``train(data_dir, run_dir, config)``:
1. builds the distribution strategy (first, as multi-worker collectives require);
2. reads ``index.csv`` + ``preprocess.toml``, splits the patient-grouped fold and checks it
   for leaks, appends external training-only datasets;
3. writes ``config.toml`` ([preprocess], [train], [stats]);
4. draws every epoch's sampling plan (deterministic in seed and epoch) and streams it
   through :func:`mammokit.train.data.train_dataset`;
5. fits, validating each epoch per image and per breast, committing ``last`` and the
   ``best`` (by ``config.monitor``) weights, the model/optimizer state, the history row
   and the resume state at once (:mod:`mammokit.train.checkpoint`), and stopping early
   after ``early_stopping_patience`` epochs without a better value. All randomness is
   drawn from ``(seed, epoch)`` or ``(seed, step)``, so ``--resume`` after a kill at any
   moment ends as the uninterrupted run (on CPU, bit for bit; docs/reliability.md);
6. writes ``model.keras`` (best or last weights, main head only), ``oof.csv`` and
   ``summary.json`` (which epoch ``model.keras`` holds and why).
Nothing is pickled: weights are HDF5, optimizer state a TF checkpoint, the rest CSV/TOML/JSON.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pluggy

from mammokit._atomic import atomic_write_bytes
from mammokit.config import (
    PredictConfig,
    PreprocessConfig,
    config_to_dict,
)
from mammokit.errors import ConfigError
from mammokit.plugins import get_plugin_manager
from mammokit.train.aux_heads import AuxTarget, aux_targets, masked_loss
from mammokit.train.checkpoint import history_rows, recover
from mammokit.train.config import TrainConfig
from mammokit.train.folds import split_fold
from mammokit.train.rundir import OOF_COLUMNS, RunDir, write_run_config
from mammokit.train.sampling import epoch_rng, pad_to_batches, sample_weights

__all__ = ["TrainResult", "read_dataset", "train"]

logger = logging.getLogger(__name__)

#: Source tag of the rows of the preprocessed folder itself.
MAIN_SOURCE = "data"


@attrs.frozen
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        run_dir: the run directory.
        history: one row per epoch (the content of ``history.csv``).
        best: the best value of ``monitor``.
        epochs_run: epochs trained by this call (0 if already finished).
        model: the final Keras model (the weights ``model.keras`` holds).
        monitor: the validation value that chose the best epoch (``TrainConfig.monitor``).
        best_epoch: the (1-based) epoch of ``best``.
        stopped_early: the last epoch when early stopping ended training, else None.
        summary: one line saying which epoch ``model.keras`` holds and why (also in
            ``summary.json`` of the run, with the monitored value per epoch).
    """

    run_dir: Path
    history: pd.DataFrame = attrs.field(eq=False)
    best: float
    epochs_run: int
    model: Any = attrs.field(default=None, eq=False, repr=False)
    monitor: str = "breast_pf1"
    best_epoch: int | None = None
    stopped_early: int | None = None
    summary: str = ""


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


def _stats(train_rows: pd.DataFrame, seed: int) -> dict[str, Any]:
    own = train_rows[train_rows["source"] == MAIN_SOURCE]
    breasts = own.groupby("prediction_id")["cancer"].max()
    return {"positive_rate": float(breasts.mean()) if len(breasts) else 0.0, "seed": int(seed)}


def _plans(
    strategy_obj: Any, labels: np.ndarray, config: TrainConfig, first_epoch: int
) -> tuple[np.ndarray, int]:
    """Concatenated row plans of epochs ``first_epoch .. epochs-1`` and steps per epoch."""
    plans = []
    steps = None
    for epoch in range(config.epochs):
        plan = strategy_obj.plan(
            labels, epoch=epoch, seed=config.seed, batch_size=config.batch_size
        )
        plan = pad_to_batches(plan, config.batch_size, epoch_rng(config.seed, epoch, salt=1))
        if steps is None:
            steps = len(plan) // config.batch_size
        # every epoch gets the first epoch's length, so steps_per_epoch is constant
        plan = np.resize(plan, steps * config.batch_size)
        if epoch >= first_epoch:
            plans.append(plan)
    rows = np.concatenate(plans) if plans else np.zeros(0, np.int64)
    return rows, int(steps or 1)


def _check_resume(run: RunDir, config: TrainConfig) -> None:
    if not run.config.exists():
        raise ConfigError(f"{run.root}: nothing to resume (no config.toml)")
    from mammokit.train.rundir import read_run_config

    _, saved, _ = read_run_config(run.root)
    mine = {k: v for k, v in config_to_dict(config).items() if k != "epochs"}
    theirs = {k: v for k, v in config_to_dict(saved).items() if k != "epochs"}
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if diff:
        raise ConfigError(
            f"{run.config}: --resume with a different training config ({', '.join(diff)}); "
            "resume with the saved config or start a new run directory"
        )


def _commit_root(run: RunDir, is_chief: bool) -> RunDir:
    """Where this worker commits its epochs: the run itself, or a scratch copy."""
    if is_chief:
        return run
    return RunDir(tempfile.mkdtemp(prefix="mammokit-worker-"))


def _start_epoch(run: RunDir, config: TrainConfig, resume: bool) -> dict[str, Any]:
    """The committed state to start from (``{}`` = epoch 0), after finishing or dropping
    an interrupted commit. A run killed before its first commit resumes from epoch 0.

    Raises:
        ConfigError: resume without a run, or a run without ``--resume``.
    """
    if run.checkpoints.exists():
        recover(run.root)
    state = run.read_state()
    if resume:
        _check_resume(run, config)
        return state or {}
    if state is not None or run.model.exists():
        raise ConfigError(
            f"{run.root} already holds a run; use --resume to continue it or choose a new --out"
        )
    return {}


def train(
    data_dir: str | Path,
    run_dir: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    manager: pluggy.PluginManager | None = None,
    verbose: int = 2,
    predict: PredictConfig | None = None,
) -> TrainResult:
    """Train ``config`` on the preprocessed folder ``data_dir``, writing ``run_dir``.

    Args:
        resume: continue from ``run_dir``'s last checkpoint (same config, seed and next
            epoch); without it, an existing run directory with checkpoints is an error.
        verbose: Keras progress (2 = one line per epoch, 0 = silent).
        predict: saved as the run's ``[predict]`` table (how :class:`mammokit.Run`
            predicts); the defaults when None.

    Raises:
        ConfigError: invalid data, config or run directory.
    """
    from mammokit.train.resolve import resolve_train_components
    from mammokit.train.strategy import determinism, make_strategy

    manager = manager or get_plugin_manager()
    components = resolve_train_components(config, manager)  # fails before TF and writes
    # the table and its label are checked before TensorFlow too (pandas only)
    table, preprocess = read_dataset(data_dir, label=config.label)
    train_rows, val_rows = split_fold(
        table, n_folds=config.n_folds, fold=config.fold, seed=config.seed,
        stratify=config.stratify,
    )  # fmt: skip
    aux, _ = aux_targets(config.aux, config.aux_weights, table, train_rows)  # checks columns
    info = make_strategy(config.strategy)  # before any other TensorFlow op
    repeat = determinism(info)
    (logger.info if repeat["bit_identical"] else logger.warning)("determinism: %s", repeat["note"])
    from mammokit._tf import import_keras, import_tf
    from mammokit.train.data import TFRecordSource, eval_dataset, load_images, train_dataset
    from mammokit.train.epochs import make_epoch_end
    from mammokit.train.external import load_external
    from mammokit.train.metrics import keras_pf1
    from mammokit.train.model import build_model
    from mammokit.train.optim import build_optimizer, set_mixed_precision
    from mammokit.train.rng import seed_random_layers

    tf = import_tf()
    keras = import_keras()
    run = RunDir(run_dir)
    if info.is_chief:
        state = _start_epoch(run, config, resume)
    else:  # the chief checks the run and finishes an interrupted commit
        state = dict(run.read_state() or {}) if resume else {}
    stats = _stats(train_rows, config.seed)
    if aux:
        stats["aux_classes"] = {t.column: list(t.classes) for t in aux}
    extras = load_external(config.external, preprocess, run.external, manager=manager)
    if not extras.empty:
        train_rows = pd.concat([train_rows, extras], ignore_index=True)
    image_size = config.image_size or preprocess.size
    bit_depth = 16 if preprocess.output_dtype == "uint16" else 8
    sampler_obj = components.sampler
    labels = train_rows["cancer"].to_numpy().astype(np.int64)
    weights = sample_weights(labels, sampler_obj.class_weight)
    _, aux_values = aux_targets(config.aux, config.aux_weights, table, train_rows)
    first_epoch = int(state.get("epoch", 0))
    rows, steps_per_epoch = _plans(sampler_obj, labels, config, first_epoch)

    use_records = bool(table["path"].str.endswith(".tfrecord").all())
    if use_records and not extras.empty:
        raise ConfigError("external datasets need a PNG preprocessed folder, not TFRecords")
    train_images = (
        load_images(list(train_rows["abs_path"]), bit_depth=bit_depth, image_size=image_size)
        if config.cache and not use_records
        else None
    )
    train_records = TFRecordSource(str(data_dir), train_rows["image_id"]) if use_records else None
    val_records = TFRecordSource(str(data_dir), val_rows["image_id"]) if use_records else None
    train_ds = train_dataset(
        rows,
        labels=labels,
        weights=weights,
        batch_size=config.batch_size,
        augment=config.augment,
        seed=config.seed,
        first_step=first_epoch * steps_per_epoch,
        paths=None if (train_images is not None or use_records) else list(train_rows["abs_path"]),
        images=train_images,
        tfrecords=train_records,
        epoch_size=steps_per_epoch * config.batch_size,
        bit_depth=bit_depth,
        image_size=image_size,
        aux_labels=aux_values,
    )
    val_ds = eval_dataset(
        len(val_rows),
        batch_size=config.batch_size,
        paths=None if use_records else list(val_rows["abs_path"]),
        tfrecords=val_records,
        with_rows=True,
        bit_depth=bit_depth,
        image_size=image_size,
    )

    set_mixed_precision(config.mixed_precision, device=info.device)
    keras.utils.set_random_seed(config.seed)
    with info.strategy.scope():
        model = build_model(config, image_size, manager=manager, aux=aux)
        optimizer = build_optimizer(config, steps_per_epoch=steps_per_epoch, model=model)
        main_metrics = [keras.metrics.AUC(name="auc"), keras_pf1(name="pf1")]
        model.compile(
            optimizer=optimizer,
            loss=[components.loss, *(masked_loss(t.kind) for t in aux)] if aux else components.loss,
            loss_weights=[1.0, *(t.weight for t in aux)] if aux else None,
            metrics=[main_metrics, *([] for _ in aux)] if aux else main_metrics,
            steps_per_execution=config.steps_per_execution,
            jit_compile=False,
        )
        optimizer.build(model.trainable_variables)
    # config.toml only once every component is built: a bad config leaves no run behind
    if info.is_chief:
        run.root.mkdir(parents=True, exist_ok=True)
        if not resume:
            write_run_config(
                run.root,
                preprocess=preprocess,
                train=config,
                predict=predict or PredictConfig(),
                stats=stats,
                determinism=repeat,
            )
    seeded = seed_random_layers(model, optimizer.iterations, config.seed)
    logger.info("%d random layer(s) seeded by (seed, step)", seeded)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    if first_epoch > 0:
        checkpoint.read(str(run.state_prefix)).assert_existing_objects_matched()
    root = _commit_root(run, info.is_chief)
    epoch_end = make_epoch_end(
        keras,
        val_dataset=val_ds,
        val_table=val_rows,
        val_metrics=components.metrics,
        val_loss=components.loss,
        root=root.root,
        best=state.get("best"),
        best_epoch=state.get("best_epoch"),
        monitor_key=config.monitor if config.monitor == "val_loss" else f"val_{config.monitor}",
        mode=config.resolved_monitor_mode,
        patience=config.early_stopping_patience,
        checkpoint=checkpoint,
        history=history_rows(run.history, first_epoch),
        seed=config.seed,
    )
    epoch_end.stopped_early = state.get("stopped_early")
    callbacks = [
        epoch_end,
        keras.callbacks.TensorBoard(
            log_dir=str(root.tensorboard), write_graph=False, profile_batch=0
        ),
    ]
    epochs_run = 0 if epoch_end.stopped_early else max(config.epochs - first_epoch, 0)
    if epochs_run:
        model.fit(
            train_ds,
            epochs=config.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
    final = root.checkpoints / f"{config.final_weights}.weights.h5"
    final_model = _write_outputs(
        run, config, image_size, final, val_rows, val_ds, manager, info.is_chief, aux
    )
    if not info.is_chief:
        shutil.rmtree(root.root, ignore_errors=True)
    history = pd.read_csv(run.history) if run.history.exists() else pd.DataFrame()
    best = epoch_end.best if epoch_end.best is not None else math.nan
    summary = _summary(config, history, epoch_end.best_epoch, epoch_end.stopped_early)
    if info.is_chief:
        atomic_write_bytes(run.summary, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    return TrainResult(
        run.root, history, float(best), epochs_run, final_model,
        monitor=config.monitor, best_epoch=epoch_end.best_epoch,
        stopped_early=epoch_end.stopped_early, summary=str(summary["text"]),
    )  # fmt: skip


def _summary(
    config: TrainConfig, history: pd.DataFrame, best_epoch: int | None, stopped: int | None
) -> dict[str, Any]:
    """What ``summary.json`` holds: the monitor, its value per epoch, the chosen epoch and a
    one-line reason."""
    values = [float(v) for v in history["monitor"]] if "monitor" in history else []
    best = values[best_epoch - 1] if best_epoch and best_epoch <= len(values) else math.nan
    mode = config.resolved_monitor_mode
    held = "best" if config.final_weights == "best" else "last"
    chosen = best_epoch if held == "best" else len(values) or None
    text = (
        f"model.keras holds epoch {chosen} of {len(values)} ({held} weights): "
        f"{'highest' if mode == 'max' else 'lowest'} {config.monitor} = {best:.4f} "
        f"at epoch {best_epoch}"
    )
    if stopped:
        text += (
            f"; stopped early after epoch {stopped} "
            f"({config.early_stopping_patience} epoch(s) without a better {config.monitor})"
        )

    def finite(value: float) -> float | None:  # strict JSON has no NaN
        return None if math.isnan(value) else value

    return {
        "monitor": config.monitor,
        "mode": mode,
        "values": [finite(v) for v in values],
        "best_epoch": best_epoch,
        "best": finite(best),
        "model_epoch": chosen,
        "final_weights": config.final_weights,
        "stopped_early_after": stopped,
        "label": config.label,
        "text": text,
    }


def _write_outputs(
    run: RunDir,
    config: TrainConfig,
    image_size: tuple[int, int],
    weights: Path,
    val_rows: pd.DataFrame,
    val_ds: Any,
    manager: pluggy.PluginManager,
    is_chief: bool,
    aux: Sequence[AuxTarget] = (),
) -> Any:
    """Write ``model.keras`` (a clean, uncompiled float32 model with ``weights``, its main
    head only) and ``oof.csv`` (chief only); return that model."""
    from mammokit._tf import import_keras
    from mammokit.train.epochs import predict_scores
    from mammokit.train.model import build_model

    keras = import_keras()
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        model = build_model(config, image_size, manager=manager, aux=aux)
        model.load_weights(str(weights))
        if aux:  # predictions come from the main head alone
            model = keras.Model(model.inputs, model.outputs[0], name=model.name)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    scores = predict_scores(model, val_ds, len(val_rows))
    if not is_chief:
        return model
    tmp = run.root / ".model.keras.tmp.keras"
    model.save(str(tmp), save_format="keras")
    tmp.replace(run.model)
    oof = val_rows.assign(score=scores)
    oof = oof[[c for c in OOF_COLUMNS if c in oof.columns]].rename(columns={"cancer": config.label})
    atomic_write_bytes(run.oof, oof.to_csv(index=False).encode("utf-8"))
    return model
