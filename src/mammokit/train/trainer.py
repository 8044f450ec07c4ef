"""The training run as an object with explicit steps (imports TensorFlow lazily).

``Trainer(data_dir, run_dir, config).run()`` is :func:`mammokit.train.train`:

1. :meth:`Trainer.prepare`: checks the config's components and the data (before
   TensorFlow), builds the distribution strategy (first, as multi-worker collectives
   require), reads the committed state of a resumed run, splits the patient-grouped fold,
   appends external training-only datasets, draws every epoch's sampling plan
   (deterministic in seed and epoch), builds the input pipelines and the compiled model,
   writes ``config.toml`` and restores the last checkpoint;
2. :meth:`Trainer.fit`: trains the remaining epochs; each epoch ends with the steps of
   :mod:`mammokit.train.epochs` (validation and metrics, best epoch and early stopping,
   history, the crash-safe commit), then the run's extra handlers
   (:mod:`mammokit.train.handlers`);
3. :meth:`Trainer.finish`: writes ``model.keras`` (best or last weights, main head only),
   ``oof.csv`` and ``summary.json``, and returns the :class:`~mammokit.train.fit.TrainResult`.

All randomness is drawn from ``(seed, epoch)`` or ``(seed, step)``, so ``resume=True``
after a kill at any moment ends as the uninterrupted run (on CPU, bit for bit;
docs/reliability.md).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pluggy

from mammokit.core.config import PredictConfig, PreprocessConfig
from mammokit.core.errors import ConfigError
from mammokit.plugins import get_plugin_manager
from mammokit.train.aux_heads import AuxTarget, aux_targets, masked_loss
from mammokit.train.checkpoint import history_rows, start_state
from mammokit.train.config import TrainConfig
from mammokit.train.epochs import (
    BestEpoch,
    EpochCommit,
    EpochEnd,
    History,
    Validation,
    monitor_values,
)
from mammokit.train.folds import split_fold
from mammokit.train.handlers import Events
from mammokit.train.lesion_head import mask_files, mask_loss, mask_model, mask_stats
from mammokit.train.outputs import (
    TrainResult,
    final_model,
    summary,
    write_model,
    write_oof,
    write_summary,
)
from mammokit.train.rundir import RunDir, check_resume_config, write_run_config
from mammokit.train.sampling import epoch_mix, epoch_plans, sample_weights
from mammokit.train.table import read_dataset, run_stats

__all__ = ["Trainer"]

logger = logging.getLogger(__name__)


@attrs.frozen
class _Data:
    """The run's tables: the folder's ``table`` and its ``preprocess``, the fold's
    ``train_rows`` (with the external datasets' rows when ``external``) and ``val_rows``,
    the auxiliary targets."""

    table: pd.DataFrame = attrs.field(eq=False)
    preprocess: PreprocessConfig
    train_rows: pd.DataFrame = attrs.field(eq=False)
    val_rows: pd.DataFrame = attrs.field(eq=False)
    aux: tuple[AuxTarget, ...]
    external: bool = False


@attrs.frozen
class _Inputs:
    """The input pipelines: training batches from ``first_epoch`` on, validation batches."""

    train: Any
    val: Any
    steps_per_epoch: int
    first_epoch: int
    image_size: tuple[int, int]


def _start_state(run: RunDir, config: TrainConfig, resume: bool) -> dict[str, Any]:
    """The committed state to start from (see :func:`~mammokit.train.checkpoint.start_state`).

    Raises:
        ConfigError: resume without a run or with another config, or a run without
            ``--resume``.
    """
    return start_state(
        run, resume=resume, check=lambda: check_resume_config(run.root, "train", config)
    )


def _read_data(data_dir: Path, config: TrainConfig) -> _Data:
    """The preprocessed folder's table split into the fold (pandas only: before TF)."""
    table, preprocess = read_dataset(data_dir, label=config.label)
    train_rows, val_rows = split_fold(
        table, n_folds=config.n_folds, fold=config.fold, seed=config.seed,
        stratify=config.stratify,
    )  # fmt: skip
    aux, _ = aux_targets(config.aux, config.aux_weights, table, train_rows)  # checks columns
    return _Data(table, preprocess, train_rows, val_rows, tuple(aux))


def _inputs(
    data_dir: Path, config: TrainConfig, data: _Data, sampler: Any, first_epoch: int
) -> _Inputs:
    """The training and validation input pipelines of ``data``."""
    from mammokit.train.data import (
        ImageSource,
        Targets,
        TFRecordSource,
        eval_dataset,
        load_images,
        train_dataset,
    )

    image_size = config.image_size or data.preprocess.size
    bit_depth = 16 if data.preprocess.output_dtype == "uint16" else 8
    rows_table = data.train_rows
    labels = rows_table["cancer"].to_numpy().astype(np.int64)
    _, aux_values = aux_targets(config.aux, config.aux_weights, data.table, rows_table)
    rows, steps_per_epoch = epoch_plans(
        sampler, labels, epochs=config.epochs, seed=config.seed,
        batch_size=config.batch_size, first_epoch=first_epoch,
    )  # fmt: skip
    use_records = bool(data.table["path"].str.endswith(".tfrecord").all())
    if use_records and data.external:
        raise ConfigError("external datasets need a PNG preprocessed folder, not TFRecords")
    paths = list(rows_table["abs_path"])
    if use_records:
        source = ImageSource(
            tfrecords=TFRecordSource(str(data_dir), rows_table["image_id"]),
            bit_depth=bit_depth, image_size=image_size,
        )  # fmt: skip
    elif config.cache:
        images = load_images(paths, bit_depth=bit_depth, image_size=image_size)
        source = ImageSource(images=images, bit_depth=bit_depth, image_size=image_size)
    else:
        source = ImageSource(paths=paths, bit_depth=bit_depth, image_size=image_size)
    masks = mask_files(rows_table, data_dir) if config.mask_weight else None
    if masks is not None and use_records:
        raise ConfigError("lesion masks need a PNG preprocessed folder, not TFRecords")
    train_ds = train_dataset(
        rows,
        source,
        Targets(labels, sample_weights(labels, sampler.class_weight), aux_values, masks),
        batch_size=config.batch_size,
        augment=config.augment,
        seed=config.seed,
        first_step=first_epoch * steps_per_epoch,
        epoch_size=steps_per_epoch * config.batch_size,
    )
    val_ds = eval_dataset(
        len(data.val_rows),
        batch_size=config.batch_size,
        paths=None if use_records else list(data.val_rows["abs_path"]),
        tfrecords=(
            TFRecordSource(str(data_dir), data.val_rows["image_id"]) if use_records else None
        ),
        with_rows=True,
        bit_depth=bit_depth,
        image_size=image_size,
    )
    return _Inputs(train_ds, val_ds, steps_per_epoch, first_epoch, image_size)


def _compiled_model(
    config: TrainConfig, inputs: _Inputs, aux: tuple[AuxTarget, ...], components: Any,
    strategy: Any, manager: pluggy.PluginManager,
) -> tuple[Any, Any]:  # fmt: skip
    """The model and optimizer, built (seeded by ``config.seed``) and compiled."""
    from mammokit.core.tf import import_keras
    from mammokit.train.metrics import keras_pf1
    from mammokit.train.model import build_model
    from mammokit.train.optim import build_optimizer

    keras = import_keras()
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = build_model(config, inputs.image_size, manager=manager, aux=aux)
        optimizer = build_optimizer(config, steps_per_epoch=inputs.steps_per_epoch, model=model)
        main_metrics = [keras.metrics.AUC(name="auc"), keras_pf1(name="pf1")]
        losses = [masked_loss(t.kind) for t in aux]
        weights = [t.weight for t in aux]
        if config.mask_weight:
            losses.append(mask_loss(config.mask_loss))
            weights.append(config.mask_weight)
        model.compile(
            optimizer=optimizer,
            loss=[components.loss, *losses] if losses else components.loss,
            loss_weights=[1.0, *weights] if losses else None,
            metrics=[main_metrics, *([] for _ in losses)] if losses else main_metrics,
            steps_per_execution=config.steps_per_execution,
            jit_compile=False,
        )
        optimizer.build(model.trainable_variables)
    return model, optimizer


@attrs.frozen
class _Prepared:
    """What :meth:`Trainer.prepare` built."""

    data: _Data
    inputs: _Inputs
    model: Any = attrs.field(eq=False)
    is_chief: bool
    commit_root: RunDir
    end: EpochEnd = attrs.field(eq=False)


class Trainer:
    """One training run: :meth:`prepare`, :meth:`fit`, :meth:`finish` (or :meth:`run`).

    Args:
        data_dir: a preprocessed folder (``mammokit preprocess`` output).
        run_dir: the run directory written.
        config: the training config.
        resume: continue ``run_dir`` from its last committed epoch (same config, ``epochs``
            aside); without it, a run directory that holds a run is an error.
        manager: the plugin manager the components come from (the shared one when None).
        verbose: Keras progress (2 = one line per epoch, 0 = silent).
        predict: saved as the run's ``[predict]`` table; the defaults when None.
        handlers: extra handlers told of the run's events, after the built-in steps
            (:mod:`mammokit.train.handlers`).

    Raises:
        ConfigError: a handler with no or unknown events.
    """

    def __init__(
        self,
        data_dir: str | Path,
        run_dir: str | Path,
        config: TrainConfig,
        *,
        resume: bool = False,
        manager: pluggy.PluginManager | None = None,
        verbose: int = 2,
        predict: PredictConfig | None = None,
        handlers: Iterable[object] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.run_dir = RunDir(run_dir)
        self.config = config
        self.resume = resume
        self.manager = manager or get_plugin_manager()
        self.verbose = verbose
        self.predict = predict or PredictConfig()
        self.events = Events(handlers)
        self.epochs_run = 0
        self._prepared: _Prepared | None = None

    def __repr__(self) -> str:
        return f"Trainer({str(self.data_dir)!r}, {str(self.run_dir.root)!r})"

    @property
    def model(self) -> Any:
        """The compiled Keras model :meth:`prepare` built (and restored, when resumed)."""
        return self._ready.model

    @property
    def _ready(self) -> _Prepared:
        if self._prepared is None:
            raise RuntimeError(f"{self!r}: call prepare() first")  # a caller's mistake
        return self._prepared

    def prepare(self) -> None:
        """Check, read and build everything; write ``config.toml`` (a new run).

        Raises:
            ConfigError: invalid data, config or run directory.
        """
        from mammokit.train.optim import set_mixed_precision
        from mammokit.train.resolve import resolve_train_components
        from mammokit.train.strategy import determinism, make_strategy

        config, run = self.config, self.run_dir
        components = resolve_train_components(config, self.manager)  # fails before TF
        data = _read_data(self.data_dir, config)  # the table and its label, before TF too
        info = make_strategy(config.strategy)  # before any other TensorFlow op
        repeat = determinism(info)
        (logger.info if repeat["bit_identical"] else logger.warning)(
            "determinism: %s", repeat["note"]
        )
        if info.is_chief:
            state = _start_state(run, config, self.resume)
        else:  # the chief checks the run and finishes an interrupted commit
            state = dict(run.read_state() or {}) if self.resume else {}
        stats = run_stats(data.train_rows, config.seed)
        if data.aux:
            stats["aux_classes"] = {t.column: list(t.classes) for t in data.aux}
        data = self._with_external(data)
        stats["sampling"] = epoch_mix(
            components.sampler, data.train_rows["cancer"].to_numpy().astype(np.int64),
            seed=config.seed, batch_size=config.batch_size,
        )  # fmt: skip
        logger.info(
            "sampling %s: epochs of %d rows, %.1f%% positive (the training rows: %.1f%%)",
            config.sampling, stats["sampling"]["rows_per_epoch"],
            100 * stats["sampling"]["positive_fraction"],
            100 * stats["sampling"]["data_positive_fraction"],
        )  # fmt: skip
        inputs = _inputs(
            self.data_dir, config, data, components.sampler, int(state.get("epoch", 0))
        )
        set_mixed_precision(config.mixed_precision, device=info.device)
        model, optimizer = _compiled_model(
            config, inputs, data.aux, components, info.strategy, self.manager
        )
        if config.mask_weight:
            stats["masks"] = mask_stats(model, data.train_rows)
        # config.toml only once every component is built: a bad config leaves no run behind
        if info.is_chief:
            run.root.mkdir(parents=True, exist_ok=True)
            if not self.resume:
                write_run_config(
                    run.root, preprocess=data.preprocess, train=config, predict=self.predict,
                    stats=stats, determinism=repeat,
                )  # fmt: skip
        commit_root = (
            run if info.is_chief else RunDir(tempfile.mkdtemp(prefix="mammokit-worker-"))
        )  # a worker commits its epochs into a scratch copy
        checkpoint = self._checkpoint(model, optimizer, inputs.first_epoch)
        done = history_rows(run.history, inputs.first_epoch)
        end = EpochEnd(
            validation=Validation(inputs.val, data.val_rows, components.metrics, components.loss),
            best=self._best_epoch(state, done),
            history=History(done),
            commit=EpochCommit(commit_root.root, checkpoint, config.seed),
            events=self.events,
        )
        self._prepared = _Prepared(data, inputs, model, info.is_chief, commit_root, end)

    def _with_external(self, data: _Data) -> _Data:
        """``data`` with the training rows of the config's external datasets appended."""
        from mammokit.train.external import load_external

        extras = load_external(
            self.config.external, data.preprocess, self.run_dir.external, manager=self.manager
        )
        if extras.empty:
            return data
        rows = pd.concat([data.train_rows, extras], ignore_index=True)
        return attrs.evolve(data, train_rows=rows, external=True)

    def _checkpoint(self, model: Any, optimizer: Any, first_epoch: int) -> Any:
        """The ``tf.train.Checkpoint`` of ``model`` and ``optimizer`` (restored from the run
        when epochs are done), after seeding the random layers by ``(seed, step)``."""
        from mammokit.core.tf import import_tf
        from mammokit.train.rng import seed_random_layers

        seeded = seed_random_layers(model, optimizer.iterations, self.config.seed)
        logger.info("%d random layer(s) seeded by (seed, step)", seeded)
        checkpoint = import_tf().train.Checkpoint(model=model, optimizer=optimizer)
        if first_epoch > 0:
            checkpoint.read(str(self.run_dir.state_prefix)).assert_existing_objects_matched()
        return checkpoint

    def _best_epoch(self, state: dict[str, Any], history: list[str]) -> BestEpoch:
        """Best epoch and early stopping, from the committed ``state`` and ``history.csv``
        lines (the raw monitor values the smoothing window needs)."""
        config = self.config
        return BestEpoch(
            key=config.monitor if config.monitor == "val_loss" else f"val_{config.monitor}",
            mode=config.resolved_monitor_mode,
            patience=config.early_stopping_patience,
            smoothing=config.monitor_smoothing,
            values=monitor_values(history),
            best=state.get("best"),
            best_epoch=state.get("best_epoch"),
            stopped_early=state.get("stopped_early"),
        )

    def fit(self) -> int:
        """Train the epochs left (none after an early stop); the number trained (fewer
        than left when early stopping ends the run)."""
        prepared, config = self._ready, self.config
        from mammokit.train.epochs import fit_epochs

        first = prepared.inputs.first_epoch
        if prepared.end.best.stopped_early or first >= config.epochs:
            return 0
        self.epochs_run = fit_epochs(
            prepared.model, prepared.inputs.train, end=prepared.end, events=self.events,
            epochs=range(first, config.epochs), steps_per_epoch=prepared.inputs.steps_per_epoch,
            log_dir=prepared.commit_root.tensorboard, verbose=self.verbose,
        )  # fmt: skip
        return self.epochs_run

    def finish(self) -> TrainResult:
        """Write ``model.keras`` and ``oof.csv`` (from the best or last weights, as
        configured) and ``summary.json`` (the chief); the result."""
        from mammokit.train.epochs import predict_scores

        prepared, config, run = self._ready, self.config, self.run_dir
        root, validation = prepared.commit_root, prepared.end.validation
        weights = root.best_weights if config.final_weights == "best" else root.last_weights
        model = final_model(
            config, prepared.inputs.image_size, prepared.data.aux, weights, self.manager
        )
        scores = predict_scores(model, validation.dataset, len(validation.table))
        if prepared.is_chief:
            write_model(run, model)
            write_oof(run, config.label, validation.table, scores)
            if config.save_mask_model:
                full = final_model(
                    config, prepared.inputs.image_size, prepared.data.aux, weights, self.manager,
                    heads=True,
                )  # fmt: skip
                write_model(run, mask_model(full), run.mask_model)
        else:
            shutil.rmtree(root.root, ignore_errors=True)
        history = pd.read_csv(run.history) if run.history.exists() else pd.DataFrame()
        best = prepared.end.best
        content = summary(config, history, best.best_epoch, best.stopped_early)
        if prepared.is_chief:
            write_summary(run, content)
        return TrainResult(
            run.root, history, float("nan") if best.best is None else float(best.best),
            self.epochs_run, model, monitor=config.monitor, best_epoch=best.best_epoch,
            stopped_early=best.stopped_early, summary=str(content["text"]),
        )  # fmt: skip

    def run(self) -> TrainResult:
        """:meth:`prepare`, :meth:`fit`, :meth:`finish`."""
        self.prepare()
        self.fit()
        return self.finish()
