"""``mammokit evaluate`` as a function: labelled scores -> thresholded metrics -> a report.

Two sources of scores:

- a run's out-of-fold validation predictions (``oof.csv``, image level, labelled);
- a predictions file with a labels table: an image score file written by ``predict``
  (``image_id``, ``prediction_id``, ``score``), a breast file (``prediction_id, score``), or
  a probability submission (``prediction_id, cancer``); labels per breast
  (``prediction_id, cancer``, e.g. ``test_labels.csv``) or per image (``train.csv``-like,
  with ``image_id``, ``patient_id``, ``laterality``, ``cancer``).
"""

from __future__ import annotations

import datetime
import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np
import pandas as pd
import pluggy

from mammokit.core.config import PredictConfig, ReportOptions
from mammokit.core.errors import ConfigError
from mammokit.evaluate.report import (
    GALLERY_SECTIONS,
    CropLoader,
    GalleryCase,
    ReportFiles,
    ReportPage,
    write_report,
)
from mammokit.evaluate.runinfo import (
    RunInfo,
    oof_breasts,
    read_oof,
    read_run,
    run_calibration,
    run_label,
)
from mammokit.evaluate.thresholds import build_policy
from mammokit.plugins import get_plugin_manager
from mammokit.scoring.aggregate import aggregate_scores, with_prediction_id
from mammokit.scoring.metricset import select_report_metrics
from mammokit.train.rundir import RunDir

__all__ = [
    "EvaluationData",
    "LabelledPredictions",
    "evaluate",
    "join_labels",
    "png_crop_loader",
    "read_labels",
    "read_predictions",
]

_TEXT_IDS = {"image_id": str, "patient_id": str, "prediction_id": str, "laterality": str}
#: Label-table columns copied onto the scores for the report's breakdowns.
_META = ("patient_id", "laterality", "site_id", "machine_id", "view", "density", "lesion_type")
#: Breasts per section of the Grad-CAM gallery.
GALLERY_PER_SECTION = 4


def _read_csv(path: str | Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=_TEXT_IDS, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise ConfigError(f"{path}: cannot read {what}: {err}") from err


def read_predictions(path: str | Path, *, label: str = "cancer") -> pd.DataFrame:
    """A predictions file as a table with a ``score`` column.

    Accepts image scores (``image_id`` + ``score``), breast scores (``prediction_id`` +
    ``score``) or a probability submission (``prediction_id, <label>``, renamed to score).

    Raises:
        ConfigError: no score column, or a submission of 0/1 decisions only.
    """
    frame = _read_csv(path, "predictions")
    if "score" not in frame.columns:
        if {"prediction_id", label} <= set(frame.columns):
            frame = frame.rename(columns={label: "score"})
        else:
            raise ConfigError(
                f"{path}: predictions need a score column (or prediction_id,{label}); "
                f"found {', '.join(map(str, frame.columns))}"
            )
    if "image_id" not in frame.columns and "prediction_id" not in frame.columns:
        raise ConfigError(f"{path}: predictions need image_id or prediction_id")
    return frame


def read_labels(path: str | Path, *, label: str = "cancer") -> pd.DataFrame:
    """A labels table: ``prediction_id, <label>`` per breast, or a ``train.csv``-like image
    table (``prediction_id`` is then made from ``patient_id`` and ``laterality``).

    The ``label`` column becomes the working column ``cancer`` (any other ``cancer``
    column is set aside), so the rest of the evaluation reads one name. In an image
    table the side may be unknown (an empty ``laterality`` cell, or no column): the
    evaluation then takes it from the image predictions (see :func:`join_labels`).
    """
    frame = _read_csv(path, "labels")
    if label not in frame.columns:
        raise ConfigError(
            f"{path}: labels need a {label!r} column; found {', '.join(map(str, frame.columns))}"
        )
    if label != "cancer":
        frame = frame.drop(columns=["cancer"], errors="ignore").rename(columns={label: "cancer"})
    if "image_id" in frame.columns and "prediction_id" not in frame.columns:
        return _image_labels(path, frame)
    return with_prediction_id(frame)


def _known_side(values: pd.Series) -> pd.Series:
    """Each laterality cell as "L" or "R", "" when unknown (blank, NaN, anything else)."""
    text = values.fillna("").astype(str).str.strip().str.upper()
    known: pd.Series = text.where(text.isin(["L", "R"]), "")
    return known


def _image_labels(path: str | Path, frame: pd.DataFrame) -> pd.DataFrame:
    """An image labels table whose side may be unknown (an empty cell, or no column):
    ``prediction_id`` is ``<patient>_<side>`` where the side is known, "" where not;
    :func:`join_labels` takes those sides from the predictions (the side preprocessing
    found)."""
    if "patient_id" not in frame.columns:
        raise ConfigError(f"{path}: image labels need a patient_id column (or prediction_id)")
    out = frame.copy()
    side = _known_side(out["laterality"]) if "laterality" in out else pd.Series("", out.index)
    out["laterality"] = side
    out["prediction_id"] = (out["patient_id"].astype(str) + "_" + side).where(side != "", "")
    return cast("pd.DataFrame", out)


def _sides_from_predictions(labels: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Labels whose side is unknown get the breast of the same image in ``predictions``
    (``image_id`` -> ``prediction_id``, as ``mammokit predict`` wrote it from the side it
    found). Raises ConfigError for labelled images whose side nothing names."""
    unknown = labels["prediction_id"] == ""
    if not unknown.any():
        return labels
    if "image_id" in predictions.columns:
        found = with_prediction_id(predictions).drop_duplicates("image_id")
        by_image = dict(zip(found["image_id"].astype(str), found["prediction_id"], strict=True))
        labels = labels.copy()
        named = labels.loc[unknown, "image_id"].astype(str).map(by_image)
        labels.loc[unknown, "prediction_id"] = named.fillna("")
        labels.loc[unknown, "laterality"] = named.fillna("").str.rsplit("_", n=1).str[-1]
        unknown = labels["prediction_id"] == ""
    if unknown.any():
        examples = ", ".join(labels.loc[unknown, "image_id"].astype(str).head(5))
        raise ConfigError(
            f"{int(unknown.sum())} labelled image(s) have no side (laterality) and no "
            f"image prediction names one, e.g. {examples}; give the side in the labels or "
            "evaluate image predictions (mammokit predict writes the side it found)"
        )
    return labels


def join_labels(
    predictions: pd.DataFrame, labels: pd.DataFrame, aggregate: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Attach labels to scores; returns ``(breasts, images or None)``.

    Image-level predictions are labelled by ``image_id`` when the labels have it, else by
    their breast; then aggregated. A labelled image whose side is unknown belongs to the
    breast its prediction names (the side preprocessing found). Metadata columns of the
    labels (site, machine, view, density...) are copied where the predictions lack them.

    Raises:
        ConfigError: no prediction has a label. Predictions without a label are dropped
            with a warning; labelled breasts without a prediction are an error.
    """
    labels = _sides_from_predictions(labels, predictions)
    breast_labels = aggregate_scores(
        labels.assign(score=0.0), "max", score_columns=("score",)
    ).drop(columns=["score", "n_images"])
    if "image_id" in predictions.columns:
        images = with_prediction_id(predictions).drop(columns=["cancer"], errors="ignore")
        if "image_id" in labels.columns:
            extra = [c for c in ("cancer", *_META) if c in labels and c not in images]
            images = images.merge(labels[["image_id", *extra]], on="image_id", how="left")
        else:
            extra = [c for c in ("cancer", *_META) if c in breast_labels and c not in images]
            images = images.merge(breast_labels[["prediction_id", *extra]], on="prediction_id",
                                  how="left")  # fmt: skip
        images = _drop_unlabelled(images, "image")
        breasts = aggregate_scores(images, aggregate)
    else:
        images = None
        scored = predictions.drop(columns=["cancer"], errors="ignore")
        extra = [c for c in breast_labels.columns if c not in scored or c == "prediction_id"]
        breasts = _drop_unlabelled(
            scored.merge(breast_labels[extra], on="prediction_id", how="left"), "breast"
        )
        breasts = breasts.sort_values("prediction_id").reset_index(drop=True)
    missing = sorted(set(breast_labels["prediction_id"]) - set(breasts["prediction_id"]))
    if missing:
        raise ConfigError(
            f"{len(missing)} labelled breast(s) have no prediction, e.g. {', '.join(missing[:5])}"
        )
    return breasts, images


def _drop_unlabelled(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    unlabelled = frame["cancer"].isna()
    if unlabelled.all():
        raise ConfigError("no prediction matches a label: check the ids of both files")
    if unlabelled.any():
        warnings.warn(
            f"{int(unlabelled.sum())} {level}(s) have no label and are left out",
            stacklevel=3,
        )
    out = frame[~unlabelled].copy()
    out["cancer"] = out["cancer"].astype(int)
    return cast("pd.DataFrame", out)


def png_crop_loader(preprocessed_dir: str | Path) -> CropLoader:
    """A crop loader reading the PNGs of a preprocessed folder (``index.csv`` + PNGs) by
    ``image_id``: ``(row) -> (H, W) uint8/uint16 or None``."""
    from PIL import Image

    from mammokit.data import read_index

    root = Path(preprocessed_dir)
    index = read_index(root)
    paths = dict(zip(index["image_id"].astype(str), index["path"].astype(str), strict=True))

    def load(row: pd.Series) -> np.ndarray | None:
        relative = paths.get(str(row.get("image_id", "")))
        if relative is None or not relative.endswith(".png"):
            return None
        with Image.open(root / relative) as image:
            return np.asarray(image)

    return load


@attrs.frozen
class EvaluationData:
    """Labelled breast scores ready for the report.

    Attributes:
        breasts: ``prediction_id``, ``cancer``, ``score`` (+ patient and metadata).
        images: image rows (for crops and the view breakdown), or None.
        source: a one-line description of where the scores came from.
    """

    breasts: pd.DataFrame
    images: pd.DataFrame | None
    source: str


def _oof_data(
    runs: Sequence[RunInfo], aggregate: str, metadata: pd.DataFrame | None
) -> EvaluationData:
    """The runs' pooled ``oof.csv`` rows, with the metadata columns (site, machine, view,
    density) of ``metadata`` (a preprocessed folder's index) joined by image_id."""
    frames = []
    for run in runs:
        oof = read_oof(run.path, label=run.train.label)
        if oof is None:
            raise ConfigError(f"{run.path}: no oof.csv; give --predictions and --labels")
        frames.append(oof)
    images = pd.concat(frames, ignore_index=True)
    images["cancer"] = images["cancer"].astype(int)
    if metadata is not None:
        extra = [c for c in _META if c in metadata.columns and c not in images.columns]
        meta = metadata[["image_id", *extra]].astype({"image_id": str})
        images = images.merge(meta, on="image_id", how="left")
    names = ", ".join(str(r.path) for r in runs)
    return EvaluationData(
        aggregate_scores(images, aggregate), images, f"out-of-fold predictions of {names}"
    )


@attrs.frozen
class LabelledPredictions:
    """A predictions file and the labels table it is evaluated against (instead of the
    runs' out-of-fold predictions).

    Attributes:
        predictions: the scores (see :func:`read_predictions`).
        labels: the labels table (see :func:`read_labels`).
        label: the labels table's label column; None = the one the runs were trained on
            (``[train] label``, normally "cancer").
    """

    predictions: str | Path
    labels: str | Path
    label: str | None = None


def evaluate(
    runs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    scores: LabelledPredictions | None = None,
    crops: str | Path | None = None,
    predict: PredictConfig | None = None,
    report: ReportOptions | None = None,
    manager: pluggy.PluginManager | None = None,
) -> ReportFiles:
    """Evaluate a run's out-of-fold predictions, or a predictions file against labels.

    Args:
        runs: run directories; they give the threshold policy its context (training
            positive rate, out-of-fold predictions) and, without ``scores``, the scores.
        out_dir: the report folder.
        scores: a predictions file and its labels (:class:`LabelledPredictions`); None
            evaluates the runs' ``oof.csv``.
        crops: a preprocessed folder (``index.csv`` + PNGs) to show crops from; for
            out-of-fold scores also the source of site/machine/view/density breakdowns.
        predict: the aggregation (image -> breast), the threshold policy ``NAME[:ARG]``
            and the calibration ("none", "platt" or "isotonic": fitted on the run's
            out-of-fold breasts, saved in the run and applied to the evaluated scores; one
            run only) of a :class:`~mammokit.PredictConfig` (its ``tta`` is not used: the
            scores are given); None: its defaults.
        report: bootstrap and metrics (:class:`~mammokit.ReportOptions`); metrics that
            need a threshold get the policy's.
        manager: plugin manager for the threshold policy and the metrics.

    Returns:
        :class:`~mammokit.evaluate.report.ReportFiles`.

    Raises:
        ConfigError: bad arguments or inputs; an unknown metric fails before anything is
            read.
    """
    predict = predict or PredictConfig()
    report = report or ReportOptions()
    aggregate, threshold, calibration = predict.aggregate, predict.threshold, predict.calibration
    if not runs and scores is None:
        raise ConfigError("evaluate needs a run directory, or --predictions with --labels")
    manager = manager or get_plugin_manager()
    select_report_metrics(report.metrics, report.metric_options, manager=manager)
    infos = [read_run(r) for r in runs]
    label = (scores.label if scores is not None else None) or run_label(infos)
    if scores is not None:
        breasts, images = join_labels(
            read_predictions(scores.predictions, label=label),
            read_labels(scores.labels, label=label),
            aggregate,
        )
        data = EvaluationData(breasts, images, f"{scores.predictions} against {scores.labels}")
    else:
        from mammokit.data import read_index

        data = _oof_data(infos, aggregate, read_index(crops) if crops is not None else None)
    notes = [f"Label: {label}. Scores: {data.source}; aggregation per breast: {aggregate}."]
    breasts = data.breasts
    calibrations: list[Any] | None = None
    if calibration != "none":
        if len(infos) != 1:
            raise ConfigError(
                "evaluate calibrates with one run only; for an ensemble, calibrate in "
                "`mammokit predict --calibration` and evaluate its breast_scores.csv"
            )
        fitted = run_calibration(infos[0], calibration, aggregate)
        calibrations = [fitted]
        breasts = breasts.assign(score=fitted.apply(breasts["score"].to_numpy()))
        notes.append(f"Scores calibrated ({calibration}, fitted on {infos[0].path}/oof.csv).")
    rates = [r.positive_rate for r in infos if r.positive_rate is not None]
    oof = oof_breasts(infos, aggregate, calibrations)
    policy = build_policy(
        threshold,
        manager=manager,
        positive_rate=float(np.mean(rates)) if rates else None,
        oof_labels=None if oof is None else oof[0],
        oof_scores=None if oof is None else oof[1],
    )
    value = policy(breasts["score"].to_numpy(dtype=np.float64))
    if scores is None and threshold.startswith("best_pf1"):
        notes.append("best_pf1 was chosen on these same out-of-fold predictions (optimistic).")
    gallery, gallery_note = _gallery(infos, breasts, data.images, crops, value)
    page = ReportPage(
        title="mammokit evaluation",
        notes=tuple(notes),
        provenance=_provenance(
            infos, threshold, policy_prior(threshold, rates),
            scores.labels if scores is not None else None,
        ),
        config_text=RunDir(infos[0].path).config.read_text(encoding="utf-8")
        if len(infos) == 1
        else "",
        crop_loader=png_crop_loader(crops) if crops is not None else None,
        gallery=gallery,
        gallery_note=gallery_note,
    )  # fmt: skip
    return write_report(
        out_dir, breasts, threshold=value, policy=threshold, images=data.images, page=page,
        options=report, manager=manager,
    )  # fmt: skip


def policy_prior(threshold: str, rates: Sequence[float]) -> str:
    """The prior of a ``prior_quantile`` policy, as shown in the report: its argument, or
    the runs' training positive rate; "" for other policies."""
    name, _, arg = threshold.partition(":")
    if name != "prior_quantile":
        return ""
    if arg:
        return f"{float(arg):.4g} (given)"
    if rates:
        return f"{float(np.mean(rates)):.4g} (the runs' training positive rate)"
    return "not known (no run)"


def _data_source(labels: str | Path | None) -> str:
    """ "synthetic ..." when a ``synth.toml`` (written by ``mammokit synth``) sits next to the
    labels table, else what is known."""
    if labels is None:
        return "not recorded (out-of-fold predictions of the runs)"
    marker = Path(labels).parent / "synth.toml"
    if marker.is_file():
        return f"synthetic (made by mammokit synth: {marker})"
    return f"real or external data (no synth.toml next to {labels})"


def _provenance(
    infos: Sequence[RunInfo], threshold: str, prior: str, labels: str | Path | None
) -> dict[str, str]:
    from mammokit._version import VERSION

    out = {
        "mammokit version": VERSION,
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "runs": ", ".join(str(i.path) for i in infos) or "none (predictions file only)",
    }
    if infos:
        out["backbone"] = ", ".join(sorted({i.train.backbone for i in infos}))
        out["epochs"] = ", ".join(sorted({str(i.train.epochs) for i in infos}))
        out["model input (H, W)"] = ", ".join(sorted({str(i.model_input_size) for i in infos}))
        out["run seed"] = ", ".join(sorted({str(i.seed) for i in infos}))
    out["data source"] = _data_source(labels)
    out["threshold policy"] = threshold
    if prior:
        out["policy prior"] = prior
    return out


def _gallery(
    infos: Sequence[RunInfo],
    breasts: pd.DataFrame,
    images: pd.DataFrame | None,
    crops: str | Path | None,
    threshold: float | None,
) -> tuple[dict[str, list[GalleryCase]] | None, str]:
    """The Grad-CAM gallery (one run, a preprocessed folder, the ``train`` extra), or why not."""
    if len(infos) != 1 or crops is None or images is None or "image_id" not in images:
        return None, "No Grad-CAM gallery: it needs one run (with its model) and --images."
    if importlib.util.find_spec("tensorflow") is None:
        return None, "No Grad-CAM gallery: it needs the `train` extra (TensorFlow)."
    if not infos[0].model_path.is_file():
        return None, f"No Grad-CAM gallery: {infos[0].model_path} does not exist."
    from mammokit.data import read_index
    from mammokit.evaluate.gradcam import explain_pngs

    index = read_index(crops)
    paths = dict(zip(index["image_id"].astype(str), index["path"].astype(str), strict=True))
    positives = breasts[breasts["cancer"] == 1]
    negatives = breasts[breasts["cancer"] == 0]
    cut = 0.5 if threshold is None else threshold
    n = GALLERY_PER_SECTION
    chosen = {
        "top_positives": positives.nlargest(n, "score"),
        "missed_positives": positives[positives["score"] <= cut].nsmallest(n, "score"),
        "false_positives": negatives[negatives["score"] > cut].nlargest(n, "score"),
    }
    scored = images.assign(image_id=images["image_id"].astype(str))
    gallery: dict[str, list[GalleryCase]] = {}
    for key, rows in chosen.items():
        picks = []
        for _, breast in rows.iterrows():
            own = scored[scored["prediction_id"] == breast["prediction_id"]]
            own = own[own["image_id"].isin(paths)]
            if len(own):
                best = own.nlargest(1, "score").iloc[0] if "score" in own else own.iloc[0]
                picks.append((breast, str(best["image_id"])))
        explained = explain_pngs(infos[0].path, [Path(crops) / paths[i] for _, i in picks])
        gallery[key] = [
            GalleryCase(
                f"{breast['prediction_id']} (image {image_id})\n"
                f"cancer {int(breast['cancer'])}, breast score {breast['score']:.3f}",
                e.image,
                e.heatmap,
            )
            for (breast, image_id), e in zip(picks, explained, strict=True)
        ]
    assert set(gallery) == set(GALLERY_SECTIONS)
    return gallery, ""
