"""The report renders from synthetic scores: every file exists, PNGs are real images."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit.core.config import ReportOptions
from mammokit.core.errors import ConfigError
from mammokit.evaluate.report import GalleryCase, ReportPage, write_report
from mammokit.scoring import metrics as m

FIGURES = {"roc", "pr", "pf1_threshold", "histogram", "calibration", "worst_cases"}


def _tables(n_patients: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(n_patients), 2)
    laterality = np.tile(["L", "R"], n_patients)
    cancer = (rng.random(patients.size) < 0.15).astype(int)
    breasts = pd.DataFrame(
        {
            "prediction_id": [f"{p}_{lat}" for p, lat in zip(patients, laterality, strict=True)],
            "patient_id": patients,
            "cancer": cancer,
            "score": np.clip(rng.normal(0.3 + 0.35 * cancer, 0.15), 0, 1),
            "site_id": 1 + patients % 2,
            "machine_id": np.where(patients % 3 == 0, 49, 21),
        }
    )
    images = breasts.loc[breasts.index.repeat(2)].reset_index(drop=True)
    images["view"] = np.tile(["CC", "MLO"], len(breasts))
    images["image_id"] = np.arange(len(images))
    return breasts, images


def _check_png(path: Path) -> tuple[int, int]:
    assert path.is_file() and path.stat().st_size > 1000, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("L"))
    assert width > 100 and height > 100
    assert pixels.std() > 0, f"{path.name} is blank"
    return width, height


def test_report_files_exist_and_are_images(tmp_path: Path) -> None:
    breasts, images = _tables()
    crops_seen: list[int] = []

    def loader(row: pd.Series) -> np.ndarray:
        crops_seen.append(int(row["image_id"]))
        return np.tile(np.linspace(0, 255, 32, dtype=np.float32), (64, 1))

    files = write_report(
        tmp_path / "report", breasts, threshold=0.5, policy="fixed:0.5", images=images,
        page=ReportPage(crop_loader=loader), options=ReportOptions(n_boot=200, seed=3),
    )  # fmt: skip
    assert set(files.figures) == FIGURES
    for path in files.figures.values():
        _check_png(path)
    assert crops_seen, "the worst-case grid loaded no crop"

    html = files.html.read_text()
    for key in FIGURES:
        assert f'src="{key}.png"' in html
    for heading in ("By site_id", "By machine_id", "By view (image level)"):
        assert heading in html
    assert "density" not in html  # no such column: no breakdown

    summary = json.loads(files.metrics_json.read_text())
    y, s = breasts["cancer"].to_numpy(), breasts["score"].to_numpy()
    metrics = summary["metrics"]
    assert metrics["ROC AUC"]["estimate"] == pytest.approx(m.roc_auc(y, s))
    assert metrics["pF1 (probabilities)"]["estimate"] == pytest.approx(m.pfbeta(y, s))
    assert metrics["pF1 (binarised)"]["estimate"] == pytest.approx(m.f1_at_threshold(y, s, 0.5))
    assert metrics["Sensitivity"]["low"] <= metrics["Sensitivity"]["estimate"]
    counts = summary["counts"]
    assert sum(counts.values()) == len(breasts)
    assert {row["view"] for row in summary["breakdowns"]["view"]} == {"CC", "MLO"}
    assert not list(tmp_path.rglob("*.tmp")), "temporary files left behind"


def test_report_without_threshold_or_images(tmp_path: Path) -> None:
    breasts, _ = _tables(20, seed=1)
    files = write_report(tmp_path, breasts[["prediction_id", "cancer", "score"]],
                         threshold=None, policy="none",
                         options=ReportOptions(n_boot=50))  # fmt: skip
    for path in files.figures.values():
        _check_png(path)
    summary = json.loads(files.metrics_json.read_text())
    assert summary["threshold"] is None and summary["counts"] is None
    assert "Sensitivity" not in summary["metrics"]
    assert "none (probabilities)" in files.html.read_text()


def test_report_with_one_class_shows_na(tmp_path: Path) -> None:
    breasts, _ = _tables(10)
    breasts["cancer"] = 0
    files = write_report(tmp_path, breasts, threshold=0.5, options=ReportOptions(n_boot=20))
    summary = json.loads(files.metrics_json.read_text())  # strict JSON: NaN became null
    assert summary["metrics"]["ROC AUC"]["estimate"] is None
    assert summary["metrics"]["pF1 (probabilities)"]["estimate"] == 0.0
    assert re.search(r"ROC AUC</td><td>n/a", files.html.read_text())
    _check_png(files.figures["roc"])
    assert not math.isnan(summary["metrics"]["Specificity"]["estimate"])


def test_report_rejects_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="score"):
        write_report(tmp_path, pd.DataFrame({"prediction_id": ["1_L"], "cancer": [1]}),
                     threshold=None)  # fmt: skip


def test_breakdown_groups_missing_values(tmp_path: Path) -> None:
    breasts, _ = _tables(20, seed=2)
    breasts["density"] = np.where(breasts["patient_id"] % 3 == 0, None, "C")
    files = write_report(tmp_path, breasts, threshold=0.5, options=ReportOptions(n_boot=20))
    rows = json.loads(files.metrics_json.read_text())["breakdowns"]["density"]
    assert {row["density"]: row["n"] for row in rows} == {
        "(missing)": int((breasts["patient_id"] % 3 == 0).sum()),
        "C": int((breasts["patient_id"] % 3 != 0).sum()),
    }


def test_report_shows_provenance_gallery_intervals_na_and_numeric_order(tmp_path: Path) -> None:
    breasts, _ = _tables(80, seed=4)
    breasts["machine_id"] = np.select(
        [breasts["patient_id"] % 3 == 0, breasts["patient_id"] % 3 == 1], [110, 21], 197
    )
    breasts.loc[breasts["machine_id"] == 197, "cancer"] = 0  # a group without positives
    rng = np.random.default_rng(0)
    cases = [GalleryCase(f"case {i}", rng.random((64, 32)), rng.random((64, 32))) for i in range(3)]
    gallery = {"top_positives": cases, "missed_positives": cases[:1], "false_positives": []}
    files = write_report(
        tmp_path, breasts, threshold=0.5, policy="prior_quantile",
        options=ReportOptions(n_boot=100),
        page=ReportPage(
            provenance={"mammokit version": "9.9.9", "backbone": "simple_cnn",
                        "policy prior": "0.199 (the runs' training positive rate)"},
            config_text='[train]\nbackbone = "simple_cnn"\n', gallery=gallery,
        ),
    )  # fmt: skip
    page = files.html.read_text()
    for text in ("9.9.9", "simple_cnn", "0.199", "[train]", "Grad-CAM gallery"):
        assert text in page
    # the gallery is embedded: three sections, each a PNG data URI, the empty one says so
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 3
    assert "False positives (highest-scored negatives above the threshold): none" in page
    rows = json.loads(files.metrics_json.read_text())["breakdowns"]["machine_id"]
    assert [row["machine_id"] for row in rows] == ["21", "110", "197"]  # numbers, not text
    no_positives = rows[2]
    assert no_positives["positives"] == 0
    assert no_positives["pF1 (probabilities)"] is None  # n/a, not 0.000
    assert no_positives["Specificity"] is not None
    with_positives = rows[0]
    low, high = with_positives["ci"]["ROC AUC"]
    assert low <= with_positives["ROC AUC"] <= high
    table = page[page.index('data-column="machine_id"') :]
    table = table[: table.index("</table>")]
    assert "<td>n/a</td>" in table
    assert re.search(r"\d\.\d{3} <span class=\"ci\">\[\d\.\d{2}, \d\.\d{2}\]</span>", table)
    assert table.index(">21<") < table.index(">110<") < table.index(">197<")
    for path in files.figures.values():  # figures fit a 1200 px page
        assert _check_png(path)[0] <= 1200, path.name
