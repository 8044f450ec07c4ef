"""The facade: one :class:`Pipeline` from a DICOM folder to a trained :class:`Run`, and the
run from there to a submission, an evaluation or one file's score.

::

    pipe = mammokit.Pipeline(size=(1024, 512), backbone="convnextv2_atto", loss="bce")
    run = pipe.fit("train_images", "train.csv", "runs/r1")      # preprocess (cached) + train
    sub = run.predict("test_images", "test.csv")                # prediction_id, cancer
    res = run.evaluate("val_images", "val.csv", "runs/r1/val")  # metrics with CIs + report
    run = mammokit.Run.open("runs/r1")                          # run.pipeline is the saved one
    run.predict_file("scan.dcm")                                # one image, same preprocessing
    both = mammokit.Ensemble.open(["runs/r1", "runs/r2"])       # scores averaged

This is the top library layer (ARCHITECTURE.md, "Layers"): it calls ``data``, ``train`` and
``evaluate`` and nothing below calls it. Each step is composed here once: the CLI's
``train``, ``predict`` and ``evaluate`` commands and the demo call these methods (an
import-linter contract keeps them from calling the lower layers' functions directly).
Those are imported inside the methods, so ``import mammokit`` imports no TensorFlow
(``fit`` and the predictions import it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from mammokit.core.config import (
    PredictConfig,
    PredictOptions,
    PreprocessConfig,
    ReportOptions,
    config_from_dict,
    config_to_dict,
    config_with,
    load_toml,
    name_hints,
    save_toml,
)
from mammokit.core.errors import ConfigError
from mammokit.preprocess.pipeline import ImagePipeline
from mammokit.train.config import TrainConfig

if TYPE_CHECKING:
    import pandas as pd

    from mammokit.data import DatasetOptions, DatasetResult
    from mammokit.evaluate.predict import PredictResult
    from mammokit.evaluate.report import ReportFiles
    from mammokit.train.fit import TrainResult
    from mammokit.train.pretrain import PretrainConfig, PretrainResult

__all__ = ["Ensemble", "Pipeline", "Run", "RunEvaluation"]

#: The config tables of a pipeline (and of a run's ``config.toml``), one per stage group.
STAGE_TABLES: dict[str, type] = {
    "preprocess": PreprocessConfig,
    "train": TrainConfig,
    "predict": PredictConfig,
}


def _field_names(cls: type) -> set[str]:
    return {field.name for field in attrs.fields(cls)}


def _split_overrides(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Keyword overrides -> ``{table: {field: value}}``; the three tables share no field."""
    tables: dict[str, dict[str, Any]] = {name: {} for name in STAGE_TABLES}
    unknown = []
    for key, value in overrides.items():
        table = next((t for t, cls in STAGE_TABLES.items() if key in _field_names(cls)), None)
        if table is None:
            unknown.append(key)
        else:
            tables[table][key] = value
    if unknown:
        known = sorted(set().union(*(_field_names(cls) for cls in STAGE_TABLES.values())))
        raise ConfigError(
            f"Pipeline: unknown option(s) {', '.join(name_hints(unknown, known))}; "
            f"choose from: {', '.join(known)}"
        )
    return tables


class Pipeline(ImagePipeline):
    """The whole path on one object: the image stages, training and prediction.

    Keywords may be any field of :class:`PreprocessConfig` (``size``, ``window``, ``roi``
    ...), of :class:`TrainConfig` (``backbone``, ``sampling``, ``loss``, ``epochs`` ...) or
    of :class:`PredictConfig` (``threshold``, ``aggregate``, ``calibration``, ``tta``).
    Every component name (decoder, window, ROI, padder, backbone, sampling, loss, metrics,
    external datasets, threshold policy) is resolved at construction, without TensorFlow:
    a typo fails at once with a :class:`ConfigError` listing the choices.

    Attributes:
        config: the :class:`PreprocessConfig` (the image stages).
        train_config: the :class:`TrainConfig`.
        predict_config: the :class:`PredictConfig`.
        manager: the plugin manager every component comes from.
    """

    def __init__(
        self,
        config: PreprocessConfig | None = None,
        *,
        train: TrainConfig | None = None,
        predict: PredictConfig | None = None,
        manager: pluggy.PluginManager | None = None,
        **overrides: Any,
    ) -> None:
        tables = _split_overrides(overrides)
        super().__init__(config, manager=manager, **tables["preprocess"])
        self.train_config = config_with(TrainConfig, train, tables["train"], where="train")
        self.predict_config = config_with(
            PredictConfig, predict, tables["predict"], where="predict"
        )
        self._check_names()

    def _check_names(self) -> None:
        from mammokit.evaluate.thresholds import parse_policy
        from mammokit.plugins import check_component_options
        from mammokit.plugins.types import LOSSES, THRESHOLD_POLICIES
        from mammokit.train.resolve import check_train_components

        check_train_components(self.train_config, self.manager)
        check_component_options(
            self.manager,
            LOSSES.name,
            self.train_config.loss,
            options=self.train_config.loss_options,
        )
        name, _ = parse_policy(self.predict_config.threshold)
        self.manager.resolve(THRESHOLD_POLICIES, name)

    def __repr__(self) -> str:
        return (
            f"Pipeline({self.config!r}, train={self.train_config!r}, "
            f"predict={self.predict_config!r})"
        )

    @classmethod
    def from_toml(cls, path: str | Path, **kwargs: Any) -> Pipeline:
        """A pipeline from a TOML with ``[preprocess]``, ``[train]`` and ``[predict]``
        tables (each optional; a run's ``config.toml`` is one), or a bare preprocessing
        table as ``preprocess.toml`` holds. ``kwargs`` as for the constructor."""
        data = load_toml(path)
        if not set(data) & set(STAGE_TABLES):
            data = {"preprocess": data}
        configs: dict[str, Any] = {
            table: config_from_dict(cls_, data.get(table, {}), where=f"{path}[{table}]")
            for table, cls_ in STAGE_TABLES.items()
        }
        return cls(configs["preprocess"], train=configs["train"], predict=configs["predict"],
                   **kwargs)  # fmt: skip

    def config_tables(self) -> dict[str, dict[str, Any]]:
        """``{"preprocess": {...}, "train": {...}, "predict": {...}}`` as TOML values."""
        return {
            "preprocess": config_to_dict(self.config),
            "train": config_to_dict(self.train_config),
            "predict": config_to_dict(self.predict_config),
        }

    def to_toml(self, path: str | Path) -> Path:
        """Write :meth:`config_tables` atomically; :meth:`from_toml` reads it back."""
        save_toml(self.config_tables(), path)
        return Path(path)

    def preprocess_dataset(
        self,
        images_dir: str | Path,
        table: Any,
        out_dir: str | Path,
        *,
        options: DatasetOptions | None = None,
        **changes: Any,
    ) -> DatasetResult:
        """Preprocess every row of an RSNA table into ``out_dir``, resumably: ``mammokit
        preprocess``.

        A thin call of :func:`mammokit.data.preprocess_dataset`. ``table`` is a CSV path or
        a DataFrame; ``options`` a :class:`mammokit.data.DatasetOptions` (workers, format,
        executor, scheduler, overwrite, quiet, shard_bytes, image_timeout, extension,
        table_kind), whose fields ``changes`` set (``workers=0, quiet=True``).

        Returns:
            :class:`mammokit.data.DatasetResult`.
        """
        from mammokit.data.runner import preprocess_dataset

        return preprocess_dataset(self, images_dir, table, out_dir, options=options, **changes)

    def train(
        self,
        data_dir: str | Path,
        run_dir: str | Path,
        *,
        resume: bool = False,
        quiet: bool = False,
    ) -> TrainResult:
        """Train on a preprocessed folder with this pipeline's :class:`TrainConfig`:
        ``mammokit train``. The run's ``config.toml`` gets the folder's own
        ``[preprocess]`` table and this pipeline's ``[train]`` and ``[predict]``.

        Args:
            data_dir: a preprocessed folder (``mammokit preprocess`` or
                :meth:`preprocess_dataset` output).
            run_dir: the run directory to write.
            resume: continue an interrupted run (its saved ``[train]`` must equal this
                one, ``epochs`` aside).
            quiet: no per-epoch lines.

        Returns:
            :class:`mammokit.train.TrainResult` (needs the ``train`` extra).

        Raises:
            MammokitError: invalid input, config or run directory.
        """
        from mammokit.train.fit import train

        return train(
            data_dir,
            run_dir,
            self.train_config,
            resume=resume,
            manager=self.manager,
            verbose=0 if quiet else 2,
            predict=self.predict_config,
        )

    def pretrain(
        self,
        data_dirs: str | Path | Sequence[str | Path],
        run_dir: str | Path,
        config: PretrainConfig | None = None,
        *,
        resume: bool = False,
        quiet: bool = False,
        handlers: Sequence[object] = (),
        **options: Any,
    ) -> PretrainResult:
        """Pretrain the backbone self-supervised on unlabelled preprocessed images:
        ``mammokit pretrain``. The run writes ``encoder.h5``; ``train`` with
        ``pretrained=run_dir`` fine-tunes from it.

        Args:
            data_dirs: one or more preprocessed folders (PNG), pooled; no labels needed.
            run_dir: the run folder to write.
            config: the :class:`~mammokit.PretrainConfig`; None: one with this pipeline's
                ``backbone``, ``backbone_options``, ``image_size`` and ``seed``.
            resume: continue an interrupted run (its saved ``[pretrain]`` must equal this
                one, ``epochs`` aside).
            quiet: no per-epoch lines.
            handlers: told of the run's events (:class:`mammokit.train.Handler`).
            options: :class:`~mammokit.PretrainConfig` fields to change (``epochs=50``).

        Returns:
            :class:`mammokit.train.pretrain.PretrainResult` (needs the ``train`` extra).

        Raises:
            MammokitError: invalid input, config or run folder.
        """
        from mammokit.train.pretrain import PretrainConfig
        from mammokit.train.pretrain.runner import pretrain

        if config is None:
            own = self.train_config
            config = PretrainConfig(
                backbone=own.backbone,
                backbone_options=own.backbone_options,
                image_size=own.image_size,
                seed=own.seed,
            )
        config = config_with(PretrainConfig, config, options, where="pretrain")
        folders = [data_dirs] if isinstance(data_dirs, (str, Path)) else list(data_dirs)
        return pretrain(
            folders, run_dir, config, resume=resume, manager=self.manager,
            verbose=0 if quiet else 2, handlers=handlers,
        )  # fmt: skip

    def fit(
        self,
        images_dir: str | Path,
        table: Any,
        run_dir: str | Path,
        *,
        preprocessed: str | Path | None = None,
        workers: int | None = None,
        resume: bool = False,
        quiet: bool = False,
    ) -> Run:
        """:meth:`preprocess_dataset` (cached) then :meth:`train`: the same as ``mammokit
        preprocess`` then ``mammokit train`` with this pipeline's config.

        Args:
            images_dir: ``<patient_id>/<image_id>.dcm`` files (or other image formats).
            table: ``train.csv`` path or DataFrame (RSNA columns).
            run_dir: the run directory to write.
            preprocessed: where the preprocessed images go (default
                ``<run_dir>/preprocessed``); an existing folder made with the same config
                is reused, only the missing images are done.
            workers: preprocessing processes (None: one per core; 0: this process).
            resume: continue an interrupted run (its saved config must equal this one).
            quiet: no progress bars and no per-epoch lines.

        Returns:
            :class:`Run` for ``run_dir``.

        Raises:
            MammokitError: invalid input, config or run directory.
        """
        prep = Path(preprocessed) if preprocessed is not None else Path(run_dir) / "preprocessed"
        self.preprocess_dataset(images_dir, table, prep, workers=workers, quiet=quiet)
        self.train(prep, run_dir, resume=resume, quiet=quiet)
        return Run.open(run_dir, manager=self.manager)


@attrs.frozen
class RunEvaluation:
    """What :meth:`Run.evaluate` computed and wrote.

    Attributes:
        metrics: ``metrics.json`` as a dict (each metric with its bootstrap interval).
        report: the report files (``report.html``, figures, ``metrics.json``).
        predictions: the prediction files the metrics were computed from.
    """

    metrics: dict[str, Any]
    report: ReportFiles
    predictions: PredictResult


class Run:
    """A trained run directory, with the :class:`Pipeline` it was made with.

    ``Run.open(dir)`` rebuilds that pipeline from the run's ``config.toml`` (one table per
    stage), so prediction applies the run's own preprocessing, threshold policy,
    aggregation, calibration and TTA. The model is loaded once, when first needed.

    Attributes:
        root: the run directory.
        pipeline: the saved :class:`Pipeline`.
    """

    def __init__(self, root: str | Path, pipeline: Pipeline) -> None:
        self.root = Path(root)
        self.pipeline = pipeline
        self._model: Any = None

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r})"

    @classmethod
    def open(cls, root: str | Path, *, manager: pluggy.PluginManager | None = None) -> Run:
        """The run in ``root``.

        Raises:
            ConfigError: not a run directory, or its config names a component that is not
                registered.
        """
        from mammokit.train.rundir import RunDir

        config = RunDir(root).config
        if not config.exists():
            raise ConfigError(f"{config}: not found; is {root} a mammokit run directory?")
        return cls(root, Pipeline.from_toml(config, manager=manager))

    @property
    def model(self) -> Any:
        """The run's Keras model (``model.keras``), loaded on first use and kept: every
        :meth:`predict_file` call scores with this one object (needs the ``train`` extra)."""
        if self._model is None:
            from mammokit.train import load_model

            self._model = load_model(self.root, manager=self.pipeline.manager)
        return self._model

    @property
    def model_path(self) -> Path:
        from mammokit.train.rundir import RunDir

        return RunDir(self.root).model

    def history(self) -> pd.DataFrame:
        """``history.csv``: one row per epoch, numbered from 1 (as in ``summary.json``)."""
        import pandas as pd

        from mammokit.train.rundir import RunDir

        return pd.read_csv(RunDir(self.root).history)

    def predict(
        self,
        images_dir: str | Path,
        table: Any,
        *,
        out: str | Path | None = None,
        cache_dir: str | Path | None = None,
        workers: int | None = None,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Breast predictions for ``table``: the same as ``mammokit predict --run ROOT``.

        Args:
            images_dir: ``<patient_id>/<image_id>.<ext>`` files.
            table: ``test.csv`` path or DataFrame.
            out: the ``submission.csv`` to write (its score files go beside it); None:
                only the returned table.
            cache_dir: keep the preprocessed images there (reused by a rerun).
            workers: preprocessing processes (None: one per core; 0: this process).
            progress: show progress bars.

        Returns:
            ``submission.csv`` as a DataFrame: ``prediction_id`` and the run's label
            (0/1 decisions, or probabilities with ``threshold="none"``).
        """
        import pandas as pd

        with tempfile.TemporaryDirectory(prefix="mammokit-predict-") as tmp:
            target = Path(out) if out is not None else Path(tmp) / "submission.csv"
            result = self.write_predictions(
                images_dir, table, target, cache_dir=cache_dir, workers=workers, progress=progress
            )
            return pd.read_csv(result.submission)

    def write_predictions(
        self,
        images_dir: str | Path,
        table: Any,
        out: str | Path,
        *,
        cache_dir: str | Path | None = None,
        workers: int | None = None,
        progress: bool = False,
    ) -> PredictResult:
        """Write ``out`` (``submission.csv``) and its image and breast score files beside it,
        with the run's ``[predict]`` table; arguments as :meth:`predict`.

        Returns:
            :class:`~mammokit.evaluate.predict.PredictResult`: the files, the threshold
            applied, the images scored and those that failed.
        """
        options = PredictOptions(cache_dir=cache_dir, workers=workers, progress=progress)
        return Ensemble((self,)).write_predictions(images_dir, table, out, options)

    def evaluate(
        self,
        images_dir: str | Path,
        table: str | Path,
        out_dir: str | Path,
        *,
        n_boot: int = 1000,
        seed: int = 0,
        cache_dir: str | Path | None = None,
        workers: int | None = None,
        progress: bool = False,
    ) -> RunEvaluation:
        """Predict ``table``'s images and score them against its labels: the same as
        ``mammokit predict`` then ``mammokit evaluate --predictions ... --labels TABLE``.

        Args:
            table: a labelled table (``train.csv``-like, with the run's label column).
            out_dir: the report folder; the predictions go in ``out_dir/predictions/``.
            n_boot: bootstrap resamples of the confidence intervals.
            seed: the bootstrap's seed.

        Returns:
            :class:`RunEvaluation`.
        """
        import json

        out = Path(out_dir)
        target = out / "predictions" / "submission.csv"
        predictions = self.write_predictions(
            images_dir, table, target, cache_dir=cache_dir, workers=workers, progress=progress
        )
        report = Ensemble((self,)).report(
            out,
            predictions=predictions.image_scores,
            labels=table,
            label=self.pipeline.train_config.label,
            options=ReportOptions(n_boot=n_boot, seed=seed),
        )
        metrics = json.loads(report.metrics_json.read_text())
        return RunEvaluation(metrics=metrics, report=report, predictions=predictions)

    def predict_file(self, path: str | Path, *, laterality: str = "") -> float:
        """One image's probability, preprocessed exactly as the run's training images were
        and scored as ``mammokit predict`` scores it (with the run's TTA).

        Args:
            path: a DICOM (or PNG/PGM/JPEG/TIFF) file.
            laterality: "L", "R" or "" (the header wins; see :meth:`Pipeline.preprocess`).

        Returns:
            The image probability in [0, 1] (before breast aggregation and thresholding).

        Raises:
            MammokitError: naming the file and the cause.
        """
        import numpy as np

        from mammokit.evaluate.predict import score_images
        from mammokit.evaluate.runinfo import read_run

        pixels = self.pipeline.preprocess(path, laterality=laterality).pixels
        scores = score_images(read_run(self.root), pixels=np.asarray(pixels)[None],
                              tta=self.pipeline.predict_config.tta, progress=False,
                              model=self.model)  # fmt: skip
        return float(scores[0])


class Ensemble:
    """Runs scored together: each image's score is the mean of the runs' scores, then one
    ``[predict]`` table turns the breast scores into decisions (``mammokit predict --run A
    --run B``). One run is an ensemble of one; :meth:`Run.write_predictions` and
    :meth:`Run.evaluate` go through one.

    Attributes:
        runs: the runs, in order (none: only :meth:`report` of a predictions file).
        predict_config: the :class:`PredictConfig` applied: the one given, else the first
            run's ``[predict]`` table, else the defaults.
        manager: the plugin manager (the first run's unless given).
    """

    def __init__(
        self,
        runs: Sequence[Run] = (),
        *,
        predict: PredictConfig | None = None,
        manager: pluggy.PluginManager | None = None,
    ) -> None:
        from mammokit.plugins import get_plugin_manager

        self.runs = tuple(runs)
        first = self.runs[0].pipeline if self.runs else None
        self.predict_config = predict or (first.predict_config if first else PredictConfig())
        self.manager = manager or (first.manager if first else get_plugin_manager())

    def __repr__(self) -> str:
        roots = ", ".join(repr(str(run.root)) for run in self.runs)
        return f"Ensemble([{roots}], predict={self.predict_config!r})"

    @classmethod
    def open(
        cls,
        roots: Sequence[str | Path],
        *,
        predict: PredictConfig | None = None,
        manager: pluggy.PluginManager | None = None,
    ) -> Ensemble:
        """The runs in ``roots`` (see :meth:`Run.open`), under ``predict`` when given (it
        overrides every run's own ``[predict]`` table).

        Raises:
            ConfigError: a root is not a run directory, or names a component that is not
                registered.
        """
        return cls([Run.open(root, manager=manager) for root in roots], predict=predict,
                   manager=manager)  # fmt: skip

    def write_predictions(
        self,
        images_dir: str | Path,
        table: Any,
        out: str | Path,
        options: PredictOptions | None = None,
    ) -> PredictResult:
        """Write ``out`` (``submission.csv``) and its image and breast score files beside it:
        ``mammokit predict``.

        Args:
            images_dir: ``<patient_id>/<image_id>.<ext>`` files.
            table: ``test.csv`` path or DataFrame.
            out: the ``submission.csv`` to write.
            options: score file, cache folder, workers, batch size, progress bars and file
                extension (:class:`PredictOptions`; None: its defaults).

        Returns:
            :class:`~mammokit.evaluate.predict.PredictResult`: the files, the threshold
            applied, the images scored and those that failed.
        """
        from mammokit.evaluate.predict import predict

        return predict(
            [run.root for run in self.runs],
            images_dir,
            table,
            Path(out),
            config=self.predict_config,
            options=options,
            manager=self.manager,
        )

    def report(
        self,
        out_dir: str | Path,
        *,
        predictions: str | Path | None = None,
        labels: str | Path | None = None,
        label: str | None = None,
        crops: str | Path | None = None,
        options: ReportOptions | None = None,
    ) -> ReportFiles:
        """Metrics with confidence intervals and ``report.html`` in ``out_dir``: ``mammokit
        evaluate``. Scores the runs' out-of-fold predictions (``oof.csv``), or a
        predictions file against a labels table; the aggregation, threshold policy and
        calibration are :attr:`predict_config`'s.

        Args:
            out_dir: the report folder.
            predictions: ``image_scores.csv``, ``breast_scores.csv`` or a probability
                submission; give ``labels`` with it, or neither.
            labels: a labels table (``prediction_id,<label>`` or ``train.csv``-like).
            label: the labels table's label column (None: the one the runs were trained on).
            crops: a preprocessed folder to show the worst cases' crops from (and, with one
                run, the Grad-CAM gallery).
            options: bootstrap and metrics (:class:`ReportOptions`; None: its defaults).

        Returns:
            :class:`~mammokit.evaluate.report.ReportFiles`.

        Raises:
            ConfigError: bad arguments or inputs.
        """
        from mammokit.evaluate.evaluation import LabelledPredictions, evaluate

        if (predictions is None) != (labels is None):
            raise ConfigError("give --predictions and --labels together")
        scores = None
        if predictions is not None and labels is not None:
            scores = LabelledPredictions(predictions, labels, label)
        return evaluate(
            [run.root for run in self.runs],
            out_dir,
            scores=scores,
            crops=crops,
            predict=self.predict_config,
            report=options,
            manager=self.manager,
        )
