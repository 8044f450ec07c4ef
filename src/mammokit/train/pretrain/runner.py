"""The pretraining run as an object with explicit steps (imports TensorFlow lazily), as
:class:`~mammokit.train.trainer.Trainer` is the training run, with its pieces:

1. :meth:`Pretrainer.prepare`: checks the method and backbone (before TensorFlow), pools
   the images of the preprocessed folders, builds the strategy, reads the committed state
   of a resumed run, draws every epoch's plan (every image once, shuffled by ``(seed,
   epoch)``), builds the augmented input pipeline, the encoder (the configured backbone
   from random weights), the method's model around it and the optimiser, writes
   ``config.toml`` and restores the last checkpoint;
2. :meth:`Pretrainer.fit`: trains the remaining epochs; each ends with the crash-safe
   commit of ``encoder.h5``, the TF checkpoint, ``history.csv`` and the state
   (:mod:`mammokit.train.checkpoint`), then the run's handlers;
3. :meth:`Pretrainer.finish`: the :class:`PretrainResult`.

Randomness comes from ``(seed, epoch)`` (the plans) and ``(seed, step)`` (augmentation,
masks, random layers), so a killed run resumed with ``resume=True`` ends, on CPU, with
the uninterrupted run's weights bit for bit. The run folder's ``config.toml`` holds
``[pretrain]``, the first folder's ``[preprocess]``, ``[stats]`` and ``[determinism]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pluggy

from mammokit.core.config import config_to_dict, save_toml
from mammokit.plugins import manager_or_shared
from mammokit.train.checkpoint import history_rows, start_state
from mammokit.train.epochs import BestEpoch, EpochCommit, History
from mammokit.train.handlers import Events
from mammokit.train.pretrain.config import PRETRAIN_TABLE, PretrainConfig
from mammokit.train.pretrain.images import read_image_folders
from mammokit.train.rundir import RunDir, check_resume_config
from mammokit.train.sampling import NoSampling, epoch_plans

__all__ = ["PretrainEpochEnd", "PretrainResult", "Pretrainer", "pretrain"]

logger = logging.getLogger(__name__)


@attrs.frozen
class PretrainResult:
    """What a pretraining run gives.

    Attributes:
        run_dir: the run folder.
        encoder: ``encoder.h5``, which ``train --pretrained RUN_DIR`` (or this file)
            loads into the same backbone.
        history: ``history.csv`` (``epoch`` from 1, ``loss``).
        epochs_run: epochs trained by this call.
    """

    run_dir: Path
    encoder: Path
    history: pd.DataFrame = attrs.field(eq=False)
    epochs_run: int


@attrs.define
class PretrainEpochEnd:
    """One pretraining epoch's end: the encoder's weights, ``history.csv`` and the TF
    checkpoint committed at once, then the handlers told."""

    encoder: Any
    history: History
    commit: EpochCommit
    events: Events
    best: BestEpoch = attrs.field(factory=lambda: BestEpoch(key="loss", mode="min", patience=0))

    def run(self, model: Any, epoch: int, logs: dict[str, Any], *, last: bool) -> bool:
        """End ``epoch`` (from 1) with Keras's ``logs``; never stops early."""
        stage = self.commit.stage()
        self.encoder.save_weights(str(stage.encoder), save_format="h5")
        text = self.history.add(epoch, logs)
        self.commit.commit(stage, epoch=epoch, history=text, best=self.best, events=self.events)
        self.events.on_epoch_end(epoch, logs)
        return False


@attrs.frozen
class _Prepared:
    model: Any = attrs.field(eq=False)
    dataset: Any = attrs.field(eq=False)
    steps_per_epoch: int
    first_epoch: int
    end: PretrainEpochEnd = attrs.field(eq=False)


def _dataset(
    table: pd.DataFrame, config: PretrainConfig, preprocess: Any, first_epoch: int
) -> tuple[Any, int, tuple[int, int]]:
    """Augmented image batches ``(B, H, W, 1) float32`` of epochs ``first_epoch`` on, the
    steps per epoch and ``(H, W)`` (training's input pipeline, with no label to learn)."""
    from mammokit.train.data import ImageSource, Targets, load_images, train_dataset

    image_size = config.image_size or preprocess.size
    bit_depth = 16 if preprocess.output_dtype == "uint16" else 8
    zeros = np.zeros(len(table), np.int64)
    rows, steps = epoch_plans(
        NoSampling(), zeros, epochs=config.epochs, seed=config.seed,
        batch_size=config.batch_size, first_epoch=first_epoch,
    )  # fmt: skip
    paths = list(table["abs_path"])
    if config.cache:
        images = load_images(paths, bit_depth=bit_depth, image_size=image_size)
        source = ImageSource(images=images, bit_depth=bit_depth, image_size=image_size)
    else:
        source = ImageSource(paths=paths, bit_depth=bit_depth, image_size=image_size)
    batches = train_dataset(
        rows, source, Targets(zeros, np.ones(len(table), np.float32)),
        batch_size=config.batch_size, augment=config.augment, seed=config.seed,
        first_step=first_epoch * steps, epoch_size=steps * config.batch_size,
    )  # fmt: skip
    height, width = image_size
    return batches.map(lambda images, labels, weights: images), steps, (height, width)


class Pretrainer:
    """One pretraining run: :meth:`prepare`, :meth:`fit`, :meth:`finish` (or :meth:`run`).

    Args:
        data_dirs: preprocessed folders (``mammokit preprocess`` output, PNG), pooled.
        run_dir: the run folder written.
        config: the pretraining config.
        resume: continue ``run_dir`` from its last committed epoch (same config, ``epochs``
            aside); without it, a run folder that holds a run is an error.
        manager: the plugin manager (the shared one when None).
        verbose: Keras progress (2 = one line per epoch, 0 = silent).
        handlers: told of the run's events (:mod:`mammokit.train.handlers`; there is no
            validation, so ``on_validation*`` are never called).
    """

    def __init__(
        self,
        data_dirs: Sequence[str | Path],
        run_dir: str | Path,
        config: PretrainConfig,
        *,
        resume: bool = False,
        manager: pluggy.PluginManager | None = None,
        verbose: int = 2,
        handlers: Iterable[object] = (),
    ) -> None:
        self.data_dirs = [Path(d) for d in data_dirs]
        self.run_dir = RunDir(run_dir)
        self.config = config
        self.resume = resume
        self.manager = manager_or_shared(manager)
        self.verbose = verbose
        self.events = Events(handlers)
        self.epochs_run = 0
        self._prepared: _Prepared | None = None

    def __repr__(self) -> str:
        return f"Pretrainer({[str(d) for d in self.data_dirs]!r}, {str(self.run_dir.root)!r})"

    @property
    def _ready(self) -> _Prepared:
        if self._prepared is None:
            raise RuntimeError(f"{self!r}: call prepare() first")  # a caller's mistake
        return self._prepared

    @property
    def model(self) -> Any:
        """The method's compiled Keras model (its ``encoder`` is the backbone)."""
        return self._ready.model

    def prepare(self) -> None:
        """Check, read and build everything; write ``config.toml`` (a new run).

        Raises:
            ConfigError: invalid data, config or run folder.
        """
        from mammokit.train.optim import set_mixed_precision
        from mammokit.train.strategy import determinism, make_strategy

        config, run = self.config, self.run_dir
        method = self.manager.build_pretraining_method(config.method, **config.method_options)
        self.manager.check_backbone(config.backbone, (32, 32, 3), **config.backbone_options)
        table, preprocess = read_image_folders(self.data_dirs)  # before TensorFlow
        info = make_strategy(config.strategy)  # before any other TensorFlow op
        repeat = determinism(info)
        state = start_state(
            run, resume=self.resume,
            check=lambda: check_resume_config(run.root, PRETRAIN_TABLE, config),
        )  # fmt: skip
        first_epoch = int(state.get("epoch", 0))
        dataset, steps, image_size = _dataset(table, config, preprocess, first_epoch)
        set_mixed_precision("off", device=info.device)
        with info.strategy.scope():
            model, checkpoint = self._model(method, image_size, steps, first_epoch)
        if not self.resume:
            run.root.mkdir(parents=True, exist_ok=True)
            stats = {"images": len(table), "data": [str(d) for d in self.data_dirs]}
            save_toml(
                {PRETRAIN_TABLE: config_to_dict(config), "preprocess": config_to_dict(preprocess),
                 "stats": stats, "determinism": repeat},
                run.config,
            )  # fmt: skip
        end = PretrainEpochEnd(
            encoder=model.encoder,
            history=History(history_rows(run.history, first_epoch)),
            commit=EpochCommit(run.root, checkpoint, config.seed),
            events=self.events,
        )
        self._prepared = _Prepared(model, dataset, steps, first_epoch, end)

    def _model(self, method: Any, image_size: tuple[int, int], steps: int, first: int) -> Any:
        """The method's model (seeded by ``config.seed``) compiled, and the TF checkpoint of
        it and its optimiser (restored when epochs are done)."""
        from mammokit.core.tf import import_keras, import_tf
        from mammokit.train.layers import InputStem
        from mammokit.train.optim import build_optimizer
        from mammokit.train.rng import seed_random_layers

        config, keras = self.config, import_keras()
        keras.utils.set_random_seed(config.seed)
        encoder = self.manager.build_backbone(
            config.backbone, (*image_size, 3), pretrained=None, **config.backbone_options
        )
        stem = InputStem(mode=config.input_mode, name="input_stem")
        model = method.build(encoder, stem, seed=config.seed)
        optimizer = build_optimizer(config, steps_per_epoch=steps, model=model)
        model.compile(optimizer=optimizer, jit_compile=False)
        optimizer.build(model.trainable_variables)
        seed_random_layers(model, optimizer.iterations, config.seed)
        checkpoint = import_tf().train.Checkpoint(model=model, optimizer=optimizer)
        if first > 0:
            checkpoint.read(str(self.run_dir.state_prefix)).assert_existing_objects_matched()
        return model, checkpoint

    def fit(self) -> int:
        """Train the epochs left; the number trained."""
        from mammokit.train.epochs import fit_epochs

        prepared = self._ready
        if prepared.first_epoch >= self.config.epochs:
            return 0
        self.epochs_run = fit_epochs(
            prepared.model, prepared.dataset, end=prepared.end, events=self.events,
            epochs=range(prepared.first_epoch, self.config.epochs),
            steps_per_epoch=prepared.steps_per_epoch, log_dir=self.run_dir.tensorboard,
            verbose=self.verbose,
        )  # fmt: skip
        return self.epochs_run

    def finish(self) -> PretrainResult:
        """The result (every file is committed by the epochs already)."""
        run = self.run_dir
        history = pd.read_csv(run.history) if run.history.exists() else pd.DataFrame()
        return PretrainResult(run.root, run.encoder, history, self.epochs_run)

    def run(self) -> PretrainResult:
        """:meth:`prepare`, :meth:`fit`, :meth:`finish`."""
        self.prepare()
        self.fit()
        return self.finish()


def pretrain(
    data_dirs: Sequence[str | Path], run_dir: str | Path, config: PretrainConfig, **options: Any
) -> PretrainResult:
    """Pretrain ``config``'s encoder on the images of ``data_dirs``, writing ``run_dir``;
    ``options`` are :class:`Pretrainer`'s (``resume``, ``manager``, ``verbose``,
    ``handlers``).

    Raises:
        ConfigError: invalid data, config, handler or run folder.
    """
    return Pretrainer(data_dirs, run_dir, config, **options).run()
