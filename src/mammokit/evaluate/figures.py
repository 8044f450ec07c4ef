"""The report's figures: matplotlib's object API on the Agg canvas (no pyplot, no display).

Each ``plot_*`` takes breast labels ``y (N,) uint8`` and scores ``s (N,) float`` (or the
breast/image tables) and returns a :class:`~matplotlib.figure.Figure`; :func:`save_figure`
writes one atomically as PNG, :func:`data_uri` embeds one in the page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mammokit.core.atomic import atomic_write_bytes
from mammokit.evaluate.calibration import reliability_curve
from mammokit.scoring import metrics as m

__all__ = [
    "CropLoader",
    "GalleryCase",
    "data_uri",
    "figure_png",
    "operating_point",
    "plot_calibration",
    "plot_gallery",
    "plot_histogram",
    "plot_pf1",
    "plot_pr",
    "plot_roc",
    "plot_worst",
    "save_figure",
]

#: ``(image row) -> (H, W) array or None``: the crop shown for an image in the worst-case grid.
CropLoader = Callable[[pd.Series], "np.ndarray | None"]


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


def operating_point(y: np.ndarray, s: np.ndarray, threshold: float | None) -> m.Counts | None:
    return None if threshold is None else m.confusion_counts(y, s, threshold)


def figure_png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def save_figure(fig: Figure, path: Path) -> Path:
    atomic_write_bytes(path, figure_png(fig))
    return path


def _legend_below(ax: Any) -> None:
    """The legend under the axes, where it cannot hide a curve."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)


def plot_roc(y: np.ndarray, s: np.ndarray, threshold: float | None, auc: float) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    fpr, tpr, _ = m.roc_curve(y, s)
    ax.plot(fpr, tpr, drawstyle="default", label=f"ROC (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    c = operating_point(y, s, threshold)
    if c is not None and c.tp + c.fn and c.fp + c.tn:
        ax.plot(c.fp / (c.fp + c.tn), c.tp / (c.tp + c.fn), "o", color="red",
                label=f"operating point (t={threshold:.4g})")  # fmt: skip
    ax.set(xlabel="False positive rate", ylabel="True positive rate (sensitivity)",
           xlim=(0, 1), ylim=(0, 1.01), title="ROC (breast level)")  # fmt: skip
    _legend_below(ax)
    return fig


def plot_pr(y: np.ndarray, s: np.ndarray, threshold: float | None, ap: float) -> Figure:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    precision, recall, _ = m.pr_curve(y, s)
    if recall.size and not np.isnan(recall).any():
        ax.step(np.r_[0, recall], np.r_[precision[0], precision], where="pre",
                label=f"PR (AP {ap:.3f})")  # fmt: skip
    prevalence = float(y.mean()) if y.size else 0.0
    ax.axhline(prevalence, color="grey", linestyle=":", linewidth=1, label="prevalence")
    c = operating_point(y, s, threshold)
    if c is not None and c.tp + c.fn and c.tp + c.fp:
        ax.plot(c.tp / (c.tp + c.fn), c.tp / (c.tp + c.fp), "o", color="red",
                label=f"operating point (t={threshold:.4g})")  # fmt: skip
    ax.set(xlabel="Recall (sensitivity)", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01),
           title="Precision-recall (breast level)")  # fmt: skip
    _legend_below(ax)
    return fig


def plot_pf1(y: np.ndarray, s: np.ndarray, threshold: float | None) -> Figure:
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


def plot_histogram(y: np.ndarray, s: np.ndarray, threshold: float | None) -> Figure:
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


def plot_calibration(y: np.ndarray, s: np.ndarray) -> Figure:
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


def plot_worst(
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


def plot_gallery(title: str, cases: Sequence[GalleryCase]) -> Figure:
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


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
