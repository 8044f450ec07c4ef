"""The evaluation report: ``report.html``, its PNG figures and ``metrics.json``.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display),
rendered to memory and written atomically; ``report.html`` is rendered from the Jinja2
template ``templates/report.html.j2`` (package data) and written last, so a complete
``report.html`` always refers to complete images. The Grad-CAM gallery is embedded in the
page (PNG data URIs); the other figures are files next to it.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pluggy
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mammokit._atomic import atomic_write_bytes
from mammokit.errors import ConfigError
from mammokit.evaluate.calibration import reliability_curve
from mammokit.scoring import metrics as m
from mammokit.scoring.metricset import select_report_metrics

__all__ = ["BREAKDOWN_COLUMNS", "CropLoader", "GalleryCase", "ReportFiles", "write_report"]

#: Columns a breakdown table is made for, when present (``view`` at image level).
BREAKDOWN_COLUMNS = ("site_id", "machine_id", "view", "density", "lesion_type")

#: The gallery's sections, in order: key -> title.
GALLERY_SECTIONS = {
    "top_positives": "Highest-scored positives",
    "missed_positives": "Missed positives (lowest-scored positives at or below the threshold)",
    "false_positives": "False positives (highest-scored negatives above the threshold)",
}

#: ``(image row) -> (H, W) array or None``: the crop shown for an image in the worst-case grid.
CropLoader = Callable[[pd.Series], "np.ndarray | None"]

_FIGURES = {
    "roc": "ROC curve",
    "pr": "Precision-recall curve",
    "pf1_threshold": "Binarised pF1 against threshold",
    "histogram": "Score histograms by class",
    "calibration": "Calibration (reliability) plot",
    "worst_cases": "Worst false negatives and false positives",
}


@attrs.frozen
class GalleryCase:
    """One image of the Grad-CAM gallery.

    Attributes:
        caption: shown above the image (ids, label, score).
        image: ``(H, W)`` float in [0, 1], the model input.
        heatmap: ``(H, W)`` float in [0, 1], the Grad-CAM map at the same size.
    """

    caption: str
    image: np.ndarray = attrs.field(eq=False)
    heatmap: np.ndarray = attrs.field(eq=False)


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


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _save(fig: Figure, path: Path) -> Path:
    atomic_write_bytes(path, _png(fig))
    return path


def _legend_below(ax: Any) -> None:
    """The legend under the axes, where it cannot hide a curve."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)


def _operating_point(y: np.ndarray, s: np.ndarray, threshold: float | None) -> m.Counts | None:
    return None if threshold is None else m.confusion_counts(y, s, threshold)


def _plot_roc(y: np.ndarray, s: np.ndarray, threshold: float | None, auc: float) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    fpr, tpr, _ = m.roc_curve(y, s)
    ax.plot(fpr, tpr, drawstyle="default", label=f"ROC (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    c = _operating_point(y, s, threshold)
    if c is not None and c.tp + c.fn and c.fp + c.tn:
        ax.plot(c.fp / (c.fp + c.tn), c.tp / (c.tp + c.fn), "o", color="red",
                label=f"operating point (t={threshold:.4g})")  # fmt: skip
    ax.set(xlabel="False positive rate", ylabel="True positive rate (sensitivity)",
           xlim=(0, 1), ylim=(0, 1.01), title="ROC (breast level)")  # fmt: skip
    _legend_below(ax)
    return fig


def _plot_pr(y: np.ndarray, s: np.ndarray, threshold: float | None, ap: float) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    precision, recall, _ = m.pr_curve(y, s)
    if recall.size and not np.isnan(recall).any():
        ax.step(np.r_[0, recall], np.r_[precision[0], precision], where="pre",
                label=f"PR (AP {ap:.3f})")  # fmt: skip
    prevalence = float(y.mean()) if y.size else 0.0
    ax.axhline(prevalence, color="grey", linestyle=":", linewidth=1, label="prevalence")
    c = _operating_point(y, s, threshold)
    if c is not None and c.tp + c.fn and c.tp + c.fp:
        ax.plot(c.tp / (c.tp + c.fn), c.tp / (c.tp + c.fp), "o", color="red",
                label=f"operating point (t={threshold:.4g})")  # fmt: skip
    ax.set(xlabel="Recall (sensitivity)", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01),
           title="Precision-recall (breast level)")  # fmt: skip
    _legend_below(ax)
    return fig


def _plot_pf1(y: np.ndarray, s: np.ndarray, threshold: float | None) -> Figure:
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    thresholds, f1 = m.f1_curve(y, s)
    low = min(0.0, float(s.min())) if s.size else 0.0
    ax.step(np.where(np.isinf(thresholds), low, thresholds), f1, where="post",
            label="binarised pF1 (score > t)")  # fmt: skip
    ax.axhline(m.pfbeta(y, s), color="green", linestyle="--", linewidth=1,
               label="pF1 of probabilities")  # fmt: skip
    if threshold is not None:
        ax.axvline(threshold, color="red", linewidth=1, label=f"threshold {threshold:.4g}")
    ax.set(xlabel="Threshold t", ylabel="pF1", ylim=(0, 1.01), title="pF1 against threshold")
    _legend_below(ax)
    return fig


def _plot_histogram(y: np.ndarray, s: np.ndarray, threshold: float | None) -> Figure:
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    low, high = min(0.0, float(s.min(initial=0.0))), max(1.0, float(s.max(initial=1.0)))
    bins = np.linspace(low, high, 41).tolist()
    for label, colour, name in ((0, "tab:blue", "negative"), (1, "tab:red", "positive")):
        values = s[y == label]
        if values.size:
            ax.hist(values, bins=bins, density=True, alpha=0.55, color=colour,
                    label=f"{name} (n={values.size})")  # fmt: skip
    if threshold is not None:
        ax.axvline(threshold, color="black", linewidth=1, label=f"threshold {threshold:.4g}")
    ax.set(xlabel="Breast score", ylabel="Density (per class)", title="Scores by class")
    _legend_below(ax)
    return fig


def _plot_calibration(y: np.ndarray, s: np.ndarray) -> Figure:
    fig = Figure(figsize=(5, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    mean_score, rate, count = reliability_curve(y, s, bins=10)
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    top.plot(mean_score, rate, "o-", label="observed")
    top.set(ylabel="Observed positive rate", xlim=(0, 1), ylim=(0, 1.01),
            title="Calibration (breast level)")  # fmt: skip
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(mean_score, count, width=0.08, color="tab:grey")
    bottom.set(xlabel="Mean score in bin", ylabel="Breasts")
    bottom.set_yscale("log")
    return fig


def _worst(breasts: pd.DataFrame, threshold: float | None, n: int) -> dict[str, pd.DataFrame]:
    positives = breasts[breasts["cancer"] == 1]
    negatives = breasts[breasts["cancer"] == 0]
    if threshold is not None:
        positives = positives[positives["score"] <= threshold]
        negatives = negatives[negatives["score"] > threshold]
    return {
        "False negatives (lowest-scored positives)": positives.nsmallest(n, "score"),
        "False positives (highest-scored negatives)": negatives.nlargest(n, "score"),
    }


def _breast_panel(
    prediction_id: str, images: pd.DataFrame | None, loader: CropLoader | None
) -> np.ndarray | None:
    """The crops of one breast side by side, each scaled to the same height (float [0, 1])."""
    if images is None or loader is None:
        return None
    crops = []
    for _, row in images[images["prediction_id"] == prediction_id].head(4).iterrows():
        crop = loader(row)
        if crop is None:
            continue
        crop = np.asarray(crop, dtype=np.float32)
        top = float(crop.max()) or 1.0
        crops.append(crop / top)
    if not crops:
        return None
    height = max(c.shape[0] for c in crops)
    resized = []
    for crop in crops:
        rows = np.linspace(0, crop.shape[0] - 1, height).round().astype(int)
        width = max(1, round(crop.shape[1] * height / crop.shape[0]))
        cols = np.linspace(0, crop.shape[1] - 1, width).round().astype(int)
        resized.append(crop[np.ix_(rows, cols)])
        resized.append(np.ones((height, max(1, height // 40)), dtype=np.float32))
    return np.concatenate(resized[:-1], axis=1)


def _plot_worst(
    breasts: pd.DataFrame,
    threshold: float | None,
    images: pd.DataFrame | None,
    loader: CropLoader | None,
    n: int,
) -> Figure:
    groups = _worst(breasts, threshold, n)
    columns = max(1, n)
    fig = Figure(figsize=(min(11.0, 1.8 * columns), 6.4))  # at most 1100 px wide
    axes = fig.subplots(2, columns, squeeze=False)
    for row_index, (title, cases) in enumerate(groups.items()):
        for col in range(columns):
            ax = axes[row_index][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(cases):
                ax.axis("off")
                if col == 0:
                    ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
                continue
            case = cases.iloc[col]
            panel = _breast_panel(str(case["prediction_id"]), images, loader)
            if panel is None:
                ax.text(0.5, 0.5, "no image", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(panel, cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_title(f"{case['prediction_id']}\nscore {case['score']:.3f}", fontsize=8)
        axes[row_index][0].set_ylabel(title, fontsize=8)
        axes[row_index][0].axis("on")
    fig.suptitle("Worst false negatives (top) and false positives (bottom)")
    fig.tight_layout()
    return fig


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


def _plot_gallery(title: str, cases: Sequence[GalleryCase]) -> Figure:
    """A row of Grad-CAM overlays (at most 1100 px wide) with one colour bar."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    columns = max(1, len(cases))
    fig = Figure(figsize=(min(11.0, 2.2 * columns + 1.0), 4.6))
    axes = fig.subplots(1, columns, squeeze=False)[0]
    for ax, case in zip(axes, cases, strict=False):
        ax.imshow(np.clip(case.image, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0)
        ax.imshow(np.clip(case.heatmap, 0.0, 1.0), cmap="jet", vmin=0.0, vmax=1.0, alpha=0.4)
        ax.set_title(case.caption, fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if not cases:
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, "none", ha="center", va="center", transform=axes[0].transAxes)
    mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colormaps["jet"])
    fig.colorbar(mappable, ax=list(axes), fraction=0.04, pad=0.02, label="Grad-CAM (relative)")
    fig.suptitle(title, fontsize=10)
    return fig


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


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
    crop_loader: CropLoader | None = None,
    title: str = "mammokit evaluation",
    notes: Sequence[str] = (),
    n_boot: int = 1000,
    seed: int = 0,
    n_worst: int = 6,
    metrics: str | Sequence[str] | None = None,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    manager: pluggy.PluginManager | None = None,
    provenance: Mapping[str, str] | None = None,
    config_text: str = "",
    gallery: Mapping[str, Sequence[GalleryCase]] | None = None,
    gallery_note: str = "No Grad-CAM gallery: it needs a run (with its model) and --images.",
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
        crop_loader: ``(image row) -> (H, W) array | None`` giving the crop to show.
        title: the page title.
        notes: extra lines shown under the title (data source, run directories...).
        n_boot, seed: bootstrap resamples (by patient) and their seed; the breakdown
            tables use ``min(n_boot, 200)`` resamples per group.
        n_worst: cases per row of the worst-case grid.
        metrics: ``mammokit_metrics`` names for the summary and the breakdown tables, in
            order; None shows pf1, auc, pr_auc, f1, sensitivity and specificity (and the
            breakdowns auc, pf1, f1, sensitivity, specificity). Metrics that need a
            threshold are left out when ``threshold`` is None.
        metric_options: metric name -> options for its factory (e.g. ``{"pf1": {"beta":
            2}}``).
        manager: the plugin manager the metrics come from (a default one if None).
        provenance: label -> text, shown in the Provenance section and saved in
            ``metrics.json`` (mammokit version, backbone, epochs, data source, date...).
        config_text: the run's whole ``config.toml``, shown folded.
        gallery: section key (see ``GALLERY_SECTIONS``) -> Grad-CAM cases, embedded.
        gallery_note: shown instead of the gallery when there is none.

    Returns:
        :class:`ReportFiles`.

    Raises:
        ConfigError: required columns missing, labels/scores invalid, or an unknown metric.
    """
    summary_metrics, breakdown_metrics = select_report_metrics(
        metrics, metric_options, manager=manager
    )
    missing = [c for c in ("prediction_id", "cancer", "score") if c not in breasts.columns]
    if missing:
        raise ConfigError(f"report: breast table lacks column(s) {', '.join(missing)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y, s = m.check_labels_scores(breasts["cancer"].to_numpy(), breasts["score"].to_numpy())
    y = y.astype(np.uint8)
    groups = breasts["patient_id"].astype(str).to_numpy() if "patient_id" in breasts else None
    cis = m.bootstrap_cis(summary_metrics.build(threshold), y, s, groups, n_boot=n_boot, seed=seed)
    auc, ap = m.roc_auc(y, s), m.average_precision(y, s)  # the legends of the two curves

    figures = {
        "roc": _plot_roc(y, s, threshold, auc),
        "pr": _plot_pr(y, s, threshold, ap),
        "pf1_threshold": _plot_pf1(y, s, threshold),
        "histogram": _plot_histogram(y, s, threshold),
        "calibration": _plot_calibration(y, s),
        "worst_cases": _plot_worst(breasts, threshold, images, crop_loader, n_worst),
    }
    paths = {key: _save(fig, out / f"{key}.png") for key, fig in figures.items()}
    gallery_sections = [
        {
            "title": GALLERY_SECTIONS.get(key, key),
            "n": len(cases),
            "src": _data_uri(_png(_plot_gallery(GALLERY_SECTIONS.get(key, key), cases))),
        }
        for key, cases in (gallery or {}).items()
    ]

    counts = _operating_point(y, s, threshold)
    summary = {
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
    sub_boot = min(n_boot, 200)
    breakdown_build = breakdown_metrics.build(threshold)
    breakdowns = _breakdowns(breasts, images, breakdown_build, sub_boot, seed)
    summary["breakdowns"] = breakdowns
    metrics_json = out / "metrics.json"
    text = json.dumps(_finite(summary), indent=2, allow_nan=False)
    atomic_write_bytes(metrics_json, (text + "\n").encode("utf-8"))

    level = round(100 * next(iter(cis.values())).level) if cis else 95
    page = _render(
        {
            "title": title,
            "notes": list(notes),
            "summary": summary,
            "policy": policy,
            "threshold_text": "none (probabilities)" if threshold is None else f"{threshold:.6g}",
            "provenance": dict(provenance or {}),
            "config_text": config_text,
            "counts": counts,
            "level": level,
            "n_boot": n_boot,
            "seed": seed,
            "metric_rows": [
                {"name": name, "cells": [_fmt(ci.estimate), _fmt(ci.low), _fmt(ci.high)]}
                for name, ci in cis.items()
            ],
            "figures": [
                {"src": f"{key}.png", "caption": caption, "wide": key == "worst_cases"}
                for key, caption in _FIGURES.items()
            ],
            "gallery": gallery_sections,
            "gallery_note": gallery_note,
            "sub_boot": sub_boot,
            "breakdowns": [
                _breakdown_table(column, rows, list(breakdown_build))
                for column, rows in breakdowns.items()
            ],
        }
    )
    html_path = out / "report.html"
    atomic_write_bytes(html_path, page.encode("utf-8"))
    return ReportFiles(html=html_path, figures=paths, metrics_json=metrics_json)


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
