"""``mammokit inspect`` without a browser: the page, its rows and failures, cached thumbnails."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammokit.app.cli import main
from mammokit.core.errors import ConfigError
from mammokit.data.inspect import write_inspect_page


def _rows(html: Path) -> list[dict[str, object]]:
    found = re.search(r'<script type="application/json" id="rows">(.*?)</script>', html.read_text())
    assert found
    return list(json.loads(found.group(1)))


def test_inspect_writes_rows_failures_and_reuses_thumbnails(tmp_path: Path) -> None:
    assert (
        main(["synth", "--out", str(tmp_path / "ds"), "--patients", "3", "--size", "256x208"]) == 0
    )
    images = tmp_path / "ds" / "train_images"
    sorted(images.rglob("*.dcm"))[0].write_bytes(b"broken")
    main(["preprocess", "--images", str(images), "--csv", str(tmp_path / "ds" / "train.csv"),
          "--out", str(tmp_path / "prep"), "--size", "128x64", "--quiet"])  # fmt: skip
    first = write_inspect_page(tmp_path / "prep", images_dir=images)
    assert first.html == tmp_path / "prep" / "inspect" / "index.html"
    assert (first.images, first.failures) == (11, 1)
    assert first.thumbnails_made == 2 * 11
    rows = _rows(first.html)
    failed = [r for r in rows if r["failed"] == "yes"]
    assert len(failed) == 1 and "DicomDecodeError" in str(failed[0]["message"])
    assert "DicomDecodeError" in first.html.read_text()  # the failures table
    assert 'id="filter-disagreement"' not in first.html.read_text()  # no such column
    ok = [r for r in rows if r["failed"] == "no"]
    for row in ok:
        for key in ("src", "out"):
            with Image.open(first.html.parent / str(row[key])) as thumb:
                assert thumb.height == 160
                assert np.asarray(thumb).std() > 0
    # the crop box is drawn in red on the source thumbnail
    with Image.open(first.html.parent / str(ok[0]["src"])) as thumb:
        rgb = np.asarray(thumb.convert("RGB")).astype(int)
    assert ((rgb[..., 0] > 180) & (rgb[..., 1] < 100)).sum() > 50
    again = write_inspect_page(tmp_path / "prep", images_dir=images)
    assert again.thumbnails_made == 0  # cached
    with pytest.raises(ConfigError, match="index.csv"):
        write_inspect_page(tmp_path / "ds")
