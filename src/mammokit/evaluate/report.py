"""The evaluation report: ``report.html``, its PNG figures and ``metrics.json``.

Three steps, each its own function: :func:`summarize` computes the numbers (metrics with
bootstrap intervals, counts, breakdowns); the figures are drawn by
:mod:`mammokit.evaluate.figures` and written atomically; :func:`render_page` turns the
numbers into the page. :func:`write_report` runs the three. ``report.html`` is rendered
from the Jinja2 template ``templates/report.html.j2`` (package data) and written last, so a complete
``report.html`` always refers to complete images. The Grad-CAM gallery is embedded in the
page (PNG data URIs); the other figures are files next to it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pluggy

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.config import ReportOptions
from mammokit.core.errors import ConfigError
from mammokit.evaluate.figures import (
    CropLoader,
    GalleryCase,
    data_uri,
    figure_png,
    operating_point,
    plot_calibration,
    plot_gallery,
    plot_histogram,
    plot_pf1,
    plot_pr,
    plot_roc,
    plot_worst,
    save_figure,
)
from mammokit.scoring import metrics as m
from mammokit.scoring.metricset import select_report_metrics

__all__ = [
    "BREAKDOWN_COLUMNS",
    "CropLoader",
    "GalleryCase",
    "ReportFiles",
    "ReportNumbers",
    "ReportPage",
    "render_page",
    "summarize",
    "write_report",
]

#: Columns a breakdown table is made for, when present (``view`` at image level).
BREAKDOWN_COLUMNS = ("site_id", "machine_id", "view", "density", "lesion_type")

#: The gallery's sections, in order: key -> title.
GALLERY_SECTIONS = {
    "top_positives": "Highest-scored positives",
    "missed_positives": "Missed positives (lowest-scored positives at or below the threshold)",
    "false_positives": "False positives (highest-scored negatives above the threshold)",
}


_FIGURES = {
    "roc": "ROC curve",
    "pr": "Precision-recall curve",
    "pf1_threshold": "Binarised pF1 against threshold",
    "histogram": "Score histograms by class",
    "calibration": "Calibration (reliability) plot",
    "worst_cases": "Worst false negatives and false positives",
}


@attrs.frozen
class ReportFiles:
    """What :func:`write_report` wrote.

    Attributes:
        html: ``report.html``.
        figures: figure key -> PNG path.
        metrics_json: ``metrics.json`` (the metrics table, machine-readable).
    """

    html: Path
    figures: dict[str, Path]
    metrics_json: Path


def _lines(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(line) for line in value)


def _labels(value: Mapping[str, str] | None) -> dict[str, str]:
    return {str(key): str(text) for key, text in (value or {}).items()}


@attrs.frozen
class ReportPage:
    """What the page shows besides the numbers and the figures.

    Attributes:
        title: the page title.
        notes: extra lines shown under the title (data source, run directories...).
        provenance: label -> text, shown in the Provenance section and saved in
            ``metrics.json`` (mammokit version, backbone, epochs, data source, date...).
        config_text: the run's whole ``config.toml``, shown folded.
        crop_loader: ``(image row) -> (H, W) array | None`` giving a worst case's crop.
        gallery: section key (see ``GALLERY_SECTIONS``) -> Grad-CAM cases, embedded.
        gallery_note: shown instead of the gallery when there is none.
    """

    title: str = "mammokit evaluation"
    notes: tuple[str, ...] = attrs.field(default=(), converter=_lines)
    provenance: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    config_text: str = ""
    crop_loader: CropLoader | None = None
    gallery: Mapping[str, Sequence[GalleryCase]] | None = None
    gallery_note: str = "No Grad-CAM gallery: it needs a run (with its model) and --images."


def _fmt(value: float | None, digits: int = 3) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )


def _numeric_key(text: str) -> tuple[int, float, str]:
    """Sort key: numbers by value (21 before 110), then text, "(missing)" last."""
    if text == "(missing)":
        return (2, 0.0, text)
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


#: Metrics defined without positive labels (every other one is n/a in a group without any).
_DEFINED_WITHOUT_POSITIVES = ("Specificity",)


def _group_rows(
    frame: pd.DataFrame, column: str, metrics: Mapping[str, m.Metric], n_boot: int, seed: int
) -> list[dict[str, Any]]:
    """One row per group: ``n``, ``positives``, per metric its estimate, and under ``ci``
    per metric its bootstrap interval ``[low, high]``.

    A metric is NaN (shown "n/a") in a group without positive labels, except specificity:
    pF1 is defined as 0 there, which would read as a failure rather than as no data.
    """
    rows = []
    keys = frame[column].astype(object).where(frame[column].notna(), "(missing)").astype(str)
    for key in sorted(keys.unique(), key=_numeric_key):
        group = frame[keys == key]
        y = group["cancer"].to_numpy()
        s = group["score"].to_numpy(dtype=np.float64)
        patients = group["patient_id"].astype(str).to_numpy() if "patient_id" in group else None
        cis = m.bootstrap_cis(metrics, y, s, patients, n_boot=n_boot, seed=seed)
        row: dict[str, Any] = {column: key, "n": len(group), "positives": int(y.sum())}
        intervals: dict[str, list[float]] = {}
        for label, ci in cis.items():
            undefined = not y.any() and label not in _DEFINED_WITHOUT_POSITIVES
            row[label] = math.nan if undefined else ci.estimate
            intervals[label] = [math.nan, math.nan] if undefined else [ci.low, ci.high]
        row["ci"] = intervals
        rows.append(row)
    return rows


def _breakdowns(
    breasts: pd.DataFrame,
    images: pd.DataFrame | None,
    metrics: Mapping[str, m.Metric],
    n_boot: int,
    seed: int,
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for column in BREAKDOWN_COLUMNS:
        if column in breasts.columns and breasts[column].notna().any():
            out[column] = _group_rows(breasts, column, metrics, n_boot, seed)
        elif (
            images is not None
            and column in images.columns
            and {"cancer", "score"} <= set(images.columns)
            and images[column].notna().any()
        ):
            out[column] = _group_rows(images, column, metrics, n_boot, seed)
    return out


def _breakdown_table(column: str, rows: list[dict[str, Any]], labels: Sequence[str]) -> Any:
    """The template's view of one breakdown: headers and cells (text, interval, n/a)."""
    cells = []
    for row in rows:
        line = [
            {"text": str(row[key]), "ci": "", "na": False} for key in (column, "n", "positives")
        ]
        for label in labels:
            value, (low, high) = row[label], row["ci"][label]
            ci = "" if math.isnan(low) or math.isnan(high) else f"[{low:.2f}, {high:.2f}]"
            line.append({"text": _fmt(value), "ci": ci, "na": math.isnan(value)})
        cells.append(line)
    return {
        "column": column,
        "level": "image" if column == "view" else "breast",
        "headers": [column, "n", "positives", *labels],
        "rows": cells,
    }


def _render(context: Mapping[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mammokit.evaluate", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return environment.get_template("report.html.j2").render(**context)


def write_report(
    out_dir: str | Path,
    breasts: pd.DataFrame,
    *,
    threshold: float | None,
    policy: str = "",
    images: pd.DataFrame | None = None,
    page: ReportPage | None = None,
    options: ReportOptions | None = None,
    manager: pluggy.PluginManager | None = None,
) -> ReportFiles:
    """Write the evaluation report for labelled breast scores.

    Args:
        out_dir: folder to write into (created).
        breasts: one row per breast with ``prediction_id``, ``cancer`` (0/1), ``score``
            (float), and optionally ``patient_id`` (bootstrap groups; else the breast),
            ``site_id``, ``machine_id``, ``density``, ``lesion_type``.
        threshold: the operating threshold (``score > threshold`` positive), or None when
            the policy writes probabilities.
        policy: the threshold policy text, shown in the report.
        images: optional image rows (``prediction_id``, and for the view breakdown
            ``view``, ``cancer``, ``score``) used for the crops and image-level breakdowns.
        page: the title, notes, provenance, config, crops and gallery shown
            (:class:`ReportPage`; None: its defaults).
        options: bootstrap, metrics and worst-case grid (:class:`ReportOptions`; None: its
            defaults).
        manager: the plugin manager the metrics come from (a default one if None).

    Returns:
        :class:`ReportFiles`.

    Raises:
        ConfigError: required columns missing, labels/scores invalid, or an unknown metric.
    """
    page = page or ReportPage()
    options = options or ReportOptions()
    numbers = summarize(
        breasts, threshold=threshold, policy=policy, images=images, options=options,
        manager=manager, provenance=page.provenance,
    )  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y, s = m.check_labels_scores(breasts["cancer"].to_numpy(), breasts["score"].to_numpy())
    y = y.astype(np.uint8)
    auc, ap = numbers.auc, numbers.average_precision  # the legends of the two curves
    figures = {
        "roc": plot_roc(y, s, threshold, auc),
        "pr": plot_pr(y, s, threshold, ap),
        "pf1_threshold": plot_pf1(y, s, threshold),
        "histogram": plot_histogram(y, s, threshold),
        "calibration": plot_calibration(y, s),
        "worst_cases": plot_worst(breasts, threshold, images, page.crop_loader, options.n_worst),
    }
    paths = {key: save_figure(fig, out / f"{key}.png") for key, fig in figures.items()}
    gallery_sections = [
        {
            "title": GALLERY_SECTIONS.get(key, key),
            "n": len(cases),
            "src": data_uri(figure_png(plot_gallery(GALLERY_SECTIONS.get(key, key), cases))),
        }
        for key, cases in (page.gallery or {}).items()
    ]
    metrics_json = out / "metrics.json"
    text = json.dumps(_finite(numbers.summary), indent=2, allow_nan=False)
    atomic_write_bytes(metrics_json, (text + "\n").encode("utf-8"))
    html = render_page(
        numbers, title=page.title, notes=page.notes, config_text=page.config_text,
        n_boot=options.n_boot, seed=options.seed, gallery=gallery_sections,
        gallery_note=page.gallery_note,
    )  # fmt: skip
    html_path = out / "report.html"
    atomic_write_bytes(html_path, html.encode("utf-8"))  # last: it refers to the figures
    return ReportFiles(html=html_path, figures=paths, metrics_json=metrics_json)


@attrs.frozen
class ReportNumbers:
    """Everything the report says in numbers, before anything is drawn or written.

    Attributes:
        summary: the content of ``metrics.json`` (breasts, positives, threshold, policy,
            provenance, counts at the threshold, metrics with intervals, breakdowns).
        breakdown_metrics: the breakdown tables' metric names, in column order.
        threshold: the operating threshold, or None (probabilities).
        counts: the confusion counts at the threshold, or None.
        auc, average_precision: the areas shown in the curves' legends.
    """

    summary: dict[str, Any]
    breakdown_metrics: tuple[str, ...]
    threshold: float | None
    counts: m.Counts | None
    auc: float
    average_precision: float


def summarize(
    breasts: pd.DataFrame,
    *,
    threshold: float | None,
    policy: str = "",
    images: pd.DataFrame | None = None,
    options: ReportOptions | None = None,
    manager: pluggy.PluginManager | None = None,
    provenance: Mapping[str, str] | None = None,
) -> ReportNumbers:
    """The report's numbers for labelled breast scores (arguments as :func:`write_report`;
    ``provenance`` as :attr:`ReportPage.provenance`); nothing is drawn or written.

    Raises:
        ConfigError: required columns missing, labels/scores invalid, or an unknown metric.
    """
    options = options or ReportOptions()
    n_boot, seed = options.n_boot, options.seed
    summary_metrics, breakdown_metrics = select_report_metrics(
        options.metrics, options.metric_options, manager=manager
    )
    missing = [c for c in ("prediction_id", "cancer", "score") if c not in breasts.columns]
    if missing:
        raise ConfigError(f"report: breast table lacks column(s) {', '.join(missing)}")
    y, s = m.check_labels_scores(breasts["cancer"].to_numpy(), breasts["score"].to_numpy())
    y = y.astype(np.uint8)
    groups = breasts["patient_id"].astype(str).to_numpy() if "patient_id" in breasts else None
    cis = m.bootstrap_cis(summary_metrics.build(threshold), y, s, groups, n_boot=n_boot, seed=seed)
    counts = operating_point(y, s, threshold)
    summary: dict[str, Any] = {
        "breasts": int(y.size),
        "positive_breasts": int(y.sum()),
        "patients": len(set(groups)) if groups is not None else int(y.size),
        "threshold": threshold,
        "policy": policy,
        "provenance": dict(provenance or {}),
        "counts": attrs.asdict(counts) if counts is not None else None,
        "metrics": {
            name: {
                "estimate": ci.estimate,
                "low": ci.low,
                "high": ci.high,
                "level": ci.level,
                "n_boot": ci.n_boot,
                "n_valid": ci.n_valid,
            }
            for name, ci in cis.items()
        },
    }
    breakdown_build = breakdown_metrics.build(threshold)
    summary["breakdowns"] = _breakdowns(breasts, images, breakdown_build, min(n_boot, 200), seed)
    return ReportNumbers(
        summary=summary,
        breakdown_metrics=tuple(breakdown_build),
        threshold=threshold,
        counts=counts,
        auc=m.roc_auc(y, s),
        average_precision=m.average_precision(y, s),
    )


def render_page(
    numbers: ReportNumbers,
    *,
    title: str = "mammokit evaluation",
    notes: Sequence[str] = (),
    config_text: str = "",
    n_boot: int = 1000,
    seed: int = 0,
    gallery: Sequence[Mapping[str, Any]] = (),
    gallery_note: str = "",
) -> str:
    """``report.html``'s text from the numbers (the figures are ``<key>.png`` beside it;
    ``gallery`` sections carry their image as a data URI)."""
    summary, threshold = numbers.summary, numbers.threshold
    cis = summary["metrics"]
    level = round(100 * next(iter(cis.values()))["level"]) if cis else 95
    return _render(
        {
            "title": title,
            "notes": list(notes),
            "summary": summary,
            "policy": summary["policy"],
            "threshold_text": "none (probabilities)" if threshold is None else f"{threshold:.6g}",
            "provenance": summary["provenance"],
            "config_text": config_text,
            "counts": numbers.counts,
            "level": level,
            "n_boot": n_boot,
            "seed": seed,
            "metric_rows": [
                {"name": name, "cells": [_fmt(ci["estimate"]), _fmt(ci["low"]), _fmt(ci["high"])]}
                for name, ci in cis.items()
            ],
            "figures": [
                {"src": f"{key}.png", "caption": caption, "wide": key == "worst_cases"}
                for key, caption in _FIGURES.items()
            ],
            "gallery": list(gallery),
            "gallery_note": gallery_note,
            "sub_boot": min(n_boot, 200),
            "breakdowns": [
                _breakdown_table(column, rows, list(numbers.breakdown_metrics))
                for column, rows in summary["breakdowns"].items()
            ],
        }
    )


def _finite(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value
