"""report.html in a real browser (headless Chromium): it loads without console errors, does
not scroll sideways at 1280 px, and every image (figures and the embedded Grad-CAM
gallery) loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mammokit.core.config import ReportOptions
from mammokit.evaluate.report import GalleryCase, ReportPage, write_report

pytestmark = pytest.mark.browser


def _report(out: Path) -> Path:
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(120), 2)
    cancer = (rng.random(patients.size) < 0.15).astype(int)
    breasts = pd.DataFrame(
        {
            "prediction_id": [f"{p}_{lat}" for p, lat in zip(patients, "LR" * 120, strict=True)],
            "patient_id": patients,
            "cancer": cancer,
            "score": np.clip(rng.normal(0.3 + 0.3 * cancer, 0.15), 0, 1),
            "machine_id": np.select([patients % 4 == 0, patients % 4 == 1], [110, 21], 197),
            "site_id": 1 + patients % 2,
        }
    )
    images = breasts.loc[breasts.index.repeat(2)].reset_index(drop=True)
    images["view"] = np.tile(["CC", "MLO"], len(breasts))
    images["image_id"] = np.arange(len(images))

    def crop(_: pd.Series) -> np.ndarray:
        return rng.random((128, 64))

    cases = [GalleryCase(f"{i}_L\nscore 0.9", rng.random((128, 64)), rng.random((128, 64)))
             for i in range(4)]  # fmt: skip
    files = write_report(
        out, breasts, threshold=0.5, policy="prior_quantile", images=images,
        options=ReportOptions(n_boot=100),
        page=ReportPage(
            crop_loader=crop,
            provenance={"mammokit version": "0.1.0", "data source": "synthetic"},
            config_text="[train]\nbackbone = 'simple_cnn'\n" + "x" * 400 + "\n",
            gallery={"top_positives": cases, "missed_positives": cases[:2],
                     "false_positives": []},
        ),
    )  # fmt: skip
    return files.html


def test_report_page_loads_fits_1280_px_and_every_image_loads(
    open_page: Callable[[Path], object], tmp_path: Path
) -> None:
    page = open_page(_report(tmp_path / "report"))
    assert page.errors == []  # type: ignore[attr-defined]
    assert page.overflow() <= 0  # type: ignore[attr-defined]
    assert page.broken_images() == []  # type: ignore[attr-defined]
    count = page.page.evaluate("document.images.length")  # type: ignore[attr-defined]
    assert count == 6 + 3  # the figures and the gallery's three sections
    # each figure is drawn no wider than the text column
    widths = page.page.evaluate(  # type: ignore[attr-defined]
        "Array.from(document.images).map(img => img.getBoundingClientRect().right)"
    )
    assert max(widths) <= 1280
    page.screenshot("report.png")  # type: ignore[attr-defined]


def test_overflow_check_can_fail(open_page: Callable[[Path], object], tmp_path: Path) -> None:
    """The check is real: a page with a 2000 px wide element does overflow."""
    wide = tmp_path / "wide.html"
    wide.write_text('<!DOCTYPE html><html><body><div style="width:2000px">x</div></body></html>')
    page = open_page(wide)
    assert page.overflow() > 0  # type: ignore[attr-defined]
