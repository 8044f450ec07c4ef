"""``mammokit inspect`` in a real browser: a synthetic folder with a failure and a
laterality-disagreement column; the filters change which cards are shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mammokit.app.cli import main

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def prep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inspect")
    assert main(["synth", "--out", str(root / "ds"), "--patients", "6", "--size", "256x208"]) == 0
    broken = sorted((root / "ds" / "train_images").rglob("*.dcm"))[0]
    broken.write_bytes(b"not a DICOM file")
    status = main(["preprocess", "--images", str(root / "ds" / "train_images"), "--csv",
                   str(root / "ds" / "train.csv"), "--out", str(root / "prep"), "--size",
                   "128x64", "--quiet"])  # fmt: skip
    assert status == 1  # one failure
    return root / "prep", root / "ds" / "train_images"


def _visible(page: Any) -> list[str]:
    return list(
        page.page.evaluate("Array.from(document.querySelectorAll('.card')).map(c => c.dataset.id)")
    )


def _choose(page: Any, name: str, value: str) -> None:
    page.page.select_option(f"#filter-{name}", value)


def test_inspect_page_filters_and_loads(
    open_page: Callable[[Path], Any], prep: tuple[Path, Path], tmp_path: Path
) -> None:
    prep_dir, images = prep
    index = pd.read_csv(prep_dir / "index.csv", dtype=str)
    index["laterality_disagrees"] = ["1" if i % 5 == 0 else "0" for i in range(len(index))]
    index.to_csv(prep_dir / "index.csv", index=False)
    out = tmp_path / "page"
    assert main(["inspect", str(prep_dir), "--images", str(images), "--out", str(out)]) == 0
    page = open_page(out / "index.html")
    assert page.errors == []
    assert page.overflow() <= 0
    assert page.broken_images() == []
    everything = _visible(page)
    assert len(everything) == len(index) + 1  # every image and the failure
    assert page.page.evaluate("document.images.length") == 2 * len(index)  # source + output

    _choose(page, "failed", "yes")
    assert len(_visible(page)) == 1
    assert "Error" in page.page.inner_text("#grid")  # the error type and its message
    _choose(page, "failed", "")
    _choose(page, "disagreement", "yes")
    assert len(_visible(page)) == (index["laterality_disagrees"] == "1").sum()
    _choose(page, "disagreement", "")
    _choose(page, "flipped", "yes")
    flipped = (index["flipped"].astype(int) == 1).sum()
    assert len(_visible(page)) == flipped
    _choose(page, "flipped", "")
    for method in index["roi_method"].unique():
        _choose(page, "roi_method", method)
        assert len(_visible(page)) == (index["roi_method"] == method).sum()
    _choose(page, "roi_method", "")
    assert _visible(page) == everything
    page.screenshot("inspect.png")


def test_inspect_page_without_a_disagreement_column(
    open_page: Callable[[Path], Any], prep: tuple[Path, Path], tmp_path: Path
) -> None:
    prep_dir, _ = prep
    index = pd.read_csv(prep_dir / "index.csv", dtype=str)
    index.drop(columns=["laterality_disagrees"], errors="ignore").to_csv(
        prep_dir / "index.csv", index=False
    )
    out = tmp_path / "page"
    assert main(["inspect", str(prep_dir), "--out", str(out)]) == 0
    page = open_page(out / "index.html")
    assert page.errors == [] and page.broken_images() == []
    assert page.page.query_selector("#filter-disagreement") is None
    assert page.page.query_selector("#filter-roi_method") is not None
    assert page.page.evaluate("document.images.length") == len(index)  # outputs only
