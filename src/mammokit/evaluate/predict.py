"""Prediction: DICOMs + a test table -> image scores -> breast scores -> ``submission.csv``.

One preprocessing path. The images are preprocessed by the batch runner
(:func:`mammokit.data.preprocess_dataset`, i.e. :meth:`Pipeline.preprocess` in worker
processes) with the :class:`PreprocessConfig` saved in each run, into a cache folder of
PNGs exactly like the training data, then read by the training input pipeline
(:func:`mammokit.train.data.eval_dataset`: PNG -> value / dtype max -> resize to the
model's size when it differs). Nothing in this module reimplements a preprocessing step.

Memory stays bounded: images are preprocessed one per worker and written to disk, then
streamed through one model at a time in batches.

Outputs (all written atomically):

- ``submission.csv``: ``prediction_id,<label>`` (``cancer`` unless the runs were trained on
  another ``label``), one row per prediction id of the table, sorted; 0/1, or a
  probability with the ``none`` policy.
- ``image_scores.csv``: the table's columns + ``score`` (ensemble mean) and, for an
  ensemble, ``score_0``, ``score_1``... per run.
- ``breast_scores.csv``: ``prediction_id, patient_id, laterality, n_images, score`` (after
  calibration and ensembling), ``prediction``; with an ensemble or a calibration also
  ``score_0``, ``score_1``... the uncalibrated breast score of each run.
- ``predict_failures.csv`` when some image could not be preprocessed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np
import pandas as pd
import pluggy

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.config import PredictConfig, PredictOptions, PreprocessConfig, config_to_dict
from mammokit.core.errors import ConfigError, MammokitError
from mammokit.evaluate.calibration import CALIBRATION_METHODS, Calibration
from mammokit.evaluate.runinfo import (
    RunInfo,
    oof_breasts,
    read_run,
    run_calibration,
    run_label,
)
from mammokit.evaluate.thresholds import apply_threshold, build_policy
from mammokit.scoring.aggregate import AGGREGATIONS, aggregate_scores

__all__ = [
    "TTA_MODES",
    "PredictResult",
    "predict",
    "preprocess_for_run",
    "score_images",
]

logger = logging.getLogger(__name__)

TTA_MODES = ("none", "hflip")


@attrs.frozen
class PredictResult:
    """What :func:`predict` wrote and decided.

    Attributes:
        submission: the ``submission.csv`` path.
        image_scores: the per-image score file.
        breast_scores: the per-breast score file.
        threshold: the threshold applied, or None (probabilities).
        preprocess_configs: the config each run's images were preprocessed with, in run
            order (always the run's saved ``[preprocess]``).
        n_images: images scored; ``failures``: (image_id, message) not scored.
        missing_breasts: prediction ids with no scored image (written as 0, or as the
            prior with probabilities).
    """

    submission: Path
    image_scores: Path
    breast_scores: Path
    threshold: float | None
    preprocess_configs: tuple[PreprocessConfig, ...]
    n_images: int
    failures: tuple[tuple[str, str], ...]
    missing_breasts: tuple[str, ...]


def _config_key(config: PreprocessConfig) -> str:
    text = json.dumps(config_to_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def preprocess_for_run(
    run: RunInfo,
    images_dir: str | Path,
    table: pd.DataFrame,
    cache_dir: str | Path,
    *,
    workers: int | None = None,
    extension: str | None = None,
    quiet: bool = False,
    manager: pluggy.PluginManager | None = None,
) -> tuple[Path, Any]:
    """Preprocess ``table``'s images with the run's saved config into
    ``<cache_dir>/<config digest>/`` (resumable; shared by runs with the same config).

    Returns:
        ``(folder, DatasetResult)``; the folder has ``index.csv`` and the PNGs.
    """
    from mammokit.data import preprocess_dataset
    from mammokit.preprocess.pipeline import ImagePipeline

    out = Path(cache_dir) / _config_key(run.preprocess)
    pipeline = ImagePipeline(run.preprocess, manager=manager)
    result = preprocess_dataset(
        pipeline,
        images_dir,
        table,
        out,
        workers=workers,
        format="png",
        quiet=quiet,
        extension=extension,
        mask_column="",  # predictions need no lesion masks, even if the table names them
    )
    return out, result


def score_images(
    run: RunInfo,
    paths: Sequence[str] = (),
    *,
    pixels: np.ndarray | None = None,
    batch_size: int = 16,
    tta: str = "none",
    progress: bool = True,
    model: Any | None = None,
) -> np.ndarray:
    """Model probabilities for preprocessed images: ``(N,) paths`` (PNGs) or ``pixels``
    ``(N, H, W) uint8/uint16`` (as :meth:`Pipeline.preprocess` returns them) -> ``(N,)
    float64``.

    Both are scaled and resized by the training input pipeline, so a file's pixels score
    exactly as its PNG does; ``tta="hflip"`` averages the prediction with that of the
    left-right mirrored image. ``model``: the run's Keras model if the caller has loaded it
    already (else it is loaded from ``run``).
    """
    if tta not in TTA_MODES:
        raise ConfigError(f"Unknown TTA {tta!r}; choose one of: {', '.join(TTA_MODES)}")
    from tqdm.auto import tqdm

    from mammokit.train import load_model
    from mammokit.train.data import eval_dataset, pixels_to_input

    count = len(paths) if pixels is None else len(pixels)
    if not count:
        return np.zeros(0, dtype=np.float64)
    if model is None:
        model = load_model(run.path)
    images = None
    if pixels is not None:  # the run's own preprocessing: its bit depth
        images = pixels_to_input(pixels, bit_depth=run.bit_depth, image_size=run.model_input_size)
    dataset = eval_dataset(
        count,
        batch_size=batch_size,
        paths=list(paths) if pixels is None else None,
        images=images,
        bit_depth=run.bit_depth,
        image_size=run.model_input_size,
    )
    scores: list[np.ndarray] = []
    with tqdm(total=count, desc=f"predict {run.path.name}", unit="img",
              disable=not progress) as bar:  # fmt: skip
        for batch in dataset:
            out = np.asarray(model(batch, training=False), dtype=np.float64).reshape(-1)
            if tta == "hflip":
                flipped = np.asarray(model(batch[:, :, ::-1, :], training=False), np.float64)
                out = (out + flipped.reshape(-1)) / 2.0
            scores.append(out)
            bar.update(out.size)
    return np.concatenate(scores)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    atomic_write_bytes(path, frame.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return path


def _read_test_table(table: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The validated table with ``prediction_id``; True when that column was made here
    from the sides (and is made again once unknown sides are found)."""
    from mammokit.data import read_table, validate_table

    if isinstance(table, pd.DataFrame):
        frame = validate_table(table.astype(str), kind="any", source="table")
    else:
        frame = read_table(table, kind="any")
    if "prediction_id" in frame.columns:
        return frame, False
    return frame.assign(prediction_id=_breast_ids(frame)), True


def _breast_ids(frame: pd.DataFrame) -> pd.Series:
    """``<patient_id>_<laterality>`` per row."""
    return frame["patient_id"] + "_" + frame["laterality"]


def _with_found_sides(
    frame: pd.DataFrame, found: Mapping[str, str], *, made_ids: bool
) -> pd.DataFrame:
    """``frame`` with each empty (unknown) ``laterality`` set to the side preprocessing found
    for its image (``found``: image_id -> "L"/"R"), and, when the ``prediction_id`` column
    was made from the sides (``made_ids``), those ids made again. An image that could not be
    preprocessed keeps its unknown side (its breast id ends in "_")."""
    unknown = frame["laterality"] == ""
    if not unknown.any():
        return frame
    frame = frame.copy()
    frame.loc[unknown, "laterality"] = [
        found.get(i, "") for i in frame.loc[unknown, "image_id"].astype(str)
    ]
    if made_ids:
        frame["prediction_id"] = _breast_ids(frame)
    return frame


def predict(
    runs: Sequence[str | Path],
    images_dir: str | Path,
    table: str | Path | pd.DataFrame,
    out: str | Path,
    *,
    config: PredictConfig | None = None,
    options: PredictOptions | None = None,
    manager: pluggy.PluginManager | None = None,
) -> PredictResult:
    """Predict every breast of ``table`` with one run or the average of several.

    Args:
        runs: run directories (an ensemble when more than one).
        images_dir: ``<patient_id>/<image_id>.dcm`` files.
        table: ``test.csv`` (``prediction_id`` is made from patient and laterality when
            absent).
        out: the ``submission.csv`` to write; the other files go beside it.
        config: the :class:`~mammokit.PredictConfig` applied to every run: ``tta``,
            ``aggregate`` (over a breast's images, per run), ``threshold`` (a policy
            ``NAME[:ARG]``; ``prior_quantile`` by default: the runs' mean training positive
            rate; ``none`` writes probabilities) and ``calibration`` (each run's breast
            scores mapped with a calibration fitted on its ``oof.csv``, saved in the run,
            before averaging); None: its defaults.
        options: score file, cache folder, workers, batch size, progress bars and file
            extension (:class:`~mammokit.PredictOptions`; None: its defaults).
        manager: plugin manager for preprocessing and the threshold policy.

    Returns:
        :class:`PredictResult`.

    Raises:
        ConfigError: bad arguments, runs or table; MammokitError subclasses from loading.
    """
    config = config or PredictConfig()
    options = options or PredictOptions()
    aggregate, calibration = config.aggregate, config.calibration
    _check_arguments(runs, config)
    infos = [read_run(r) for r in runs]
    for info in infos:
        if not info.model_path.is_file():
            raise ConfigError(f"{info.path}: no model.keras in the run directory")
    frame, made_ids = _read_test_table(table)
    out_path = Path(out)
    image_scores_path = (
        Path(options.scores_path) if options.scores_path else out_path.with_name("image_scores.csv")
    )
    calibrations: list[Calibration | None] = [
        None if calibration == "none" else run_calibration(info, calibration, aggregate)
        for info in infos
    ]
    rates = [i.positive_rate for i in infos if i.positive_rate is not None]
    oof = oof_breasts(infos, aggregate, calibrations)
    policy = build_policy(
        config.threshold,
        manager=manager,
        positive_rate=float(np.mean(rates)) if rates else None,
        oof_labels=None if oof is None else oof[0],
        oof_scores=None if oof is None else oof[1],
    )

    with tempfile.TemporaryDirectory(prefix="mammokit-predict-") as scratch:
        cache = Path(options.cache_dir) if options.cache_dir is not None else Path(scratch)
        per_run, failures, found = _score_runs(
            infos, images_dir, frame, cache, options=options, tta=config.tta, manager=manager
        )
    frame = _with_found_sides(frame, found, made_ids=made_ids)

    failures_path = out_path.with_name("predict_failures.csv")
    if failures:
        _csv(pd.DataFrame(failures, columns=["image_id", "message"]), failures_path)
    else:
        failures_path.unlink(missing_ok=True)  # a stale list from an earlier call
    scored_ids = sorted(set.intersection(*(set(s) for s in per_run)), key=str)
    if not scored_ids:
        raise MammokitError(
            f"no image of the table could be preprocessed (see {failures_path}); "
            "nothing was written"
        )
    images = frame.set_index("image_id").loc[scored_ids].reset_index()
    columns = [f"score_{k}" for k in range(len(infos))]
    for column, scores in zip(columns, per_run, strict=True):
        images[column] = [scores[i] for i in images["image_id"]]
    images["score"] = images[columns].mean(axis=1)
    breasts = _breast_scores(images, columns, calibrations, aggregate)
    value = policy(breasts["score"].to_numpy(dtype=np.float64))

    all_ids = sorted(frame["prediction_id"].unique().tolist())
    missing = sorted(set(all_ids) - set(breasts["prediction_id"]))
    fill = (float(np.mean(rates)) if rates else 0.0) if value is None else 0.0
    decided = dict(
        zip(breasts["prediction_id"], apply_threshold(breasts["score"], value), strict=True)
    )
    label = run_label(infos)
    submission = pd.DataFrame(
        {"prediction_id": all_ids, label: [decided.get(p, fill) for p in all_ids]}
    )
    if value is not None:
        submission[label] = submission[label].astype(int)
    breasts["prediction"] = [decided[p] for p in breasts["prediction_id"]]
    if len(infos) == 1:
        images = images.drop(columns=columns)
    _csv(images, image_scores_path)
    breast_path = _csv(breasts, image_scores_path.with_name("breast_scores.csv"))
    _csv(submission, out_path)
    return PredictResult(
        submission=out_path,
        image_scores=image_scores_path,
        breast_scores=breast_path,
        threshold=value,
        preprocess_configs=tuple(i.preprocess for i in infos),
        n_images=len(images),
        failures=tuple(failures),
        missing_breasts=tuple(missing),
    )


def _check_arguments(runs: Sequence[str | Path], config: PredictConfig) -> None:
    """Refuse an empty ensemble and an aggregation, calibration or TTA nothing provides."""
    aggregate, calibration = config.aggregate, config.calibration
    if not runs:
        raise ConfigError("predict needs at least one run directory")
    if aggregate not in AGGREGATIONS:
        raise ConfigError(
            f"Unknown aggregation {aggregate!r}; choose one of: {', '.join(AGGREGATIONS)}"
        )
    if calibration not in ("none", *CALIBRATION_METHODS):
        raise ConfigError(f"Unknown calibration {calibration!r}; choose none, platt, isotonic")
    if config.tta not in TTA_MODES:
        raise ConfigError(f"Unknown TTA {config.tta!r}; choose one of: {', '.join(TTA_MODES)}")


def _score_runs(
    infos: Sequence[RunInfo],
    images_dir: str | Path,
    frame: pd.DataFrame,
    cache: Path,
    *,
    options: PredictOptions,
    tta: str,
    manager: pluggy.PluginManager | None,
) -> tuple[list[dict[str, float]], list[tuple[str, str]], dict[str, str]]:
    """Per run: image_id -> score; the images no run could preprocess; and image_id -> the
    side preprocessing found (``index.csv``'s laterality, which fills an unknown one)."""
    per_run: list[dict[str, float]] = []
    failures: dict[str, str] = {}
    found: dict[str, str] = {}
    for info in infos:
        folder, result = preprocess_for_run(
            info, images_dir, frame, cache, workers=options.workers,
            quiet=not options.progress, manager=manager, extension=options.extension,
        )  # fmt: skip
        for failure in result.failures:
            failures.setdefault(failure.image_id, f"{failure.error_type}: {failure.message}")
        from mammokit.data import read_index

        index = read_index(folder) if result.succeeded else pd.DataFrame(columns=["image_id"])
        paths = [str(folder / p) for p in index.get("path", [])]
        scores = score_images(
            info, paths, batch_size=options.batch_size, tta=tta, progress=options.progress
        )
        per_run.append(dict(zip(index["image_id"].astype(str), scores.tolist(), strict=True)))
        for image_id, side in zip(index["image_id"], index.get("laterality", ()), strict=False):
            found.setdefault(str(image_id), str(side))
    return per_run, sorted(failures.items()), found


def _breast_scores(
    images: pd.DataFrame,
    columns: Sequence[str],
    calibrations: Sequence[Calibration | None],
    aggregate: str,
) -> pd.DataFrame:
    """Aggregate each run's scores per breast, calibrate per run, then average the runs.

    The per-run columns keep the uncalibrated breast scores; ``score`` is the final one.
    """
    breasts = aggregate_scores(images, aggregate, score_columns=tuple(columns))
    final = [
        breasts[column].to_numpy() if calibration is None else calibration.apply(breasts[column])
        for column, calibration in zip(columns, calibrations, strict=True)
    ]
    breasts["score"] = np.mean(final, axis=0)
    keep = ["prediction_id", "patient_id", "laterality", "n_images", "score"]
    if len(columns) > 1 or any(c is not None for c in calibrations):
        keep += list(columns)
    return cast("pd.DataFrame", breasts[[c for c in keep if c in breasts.columns]])
