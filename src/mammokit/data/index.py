"""The tables of a preprocessed folder: ``index.csv`` and ``failures.csv``.

Both are rebuilt from the per-image records in one deterministic pass (rows sorted by
image_id: numerically when every id is an integer, else as text), so they come out the same
however often a run was interrupted and resumed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError
from mammokit.data.folder import FAILURES_CSV, INDEX_CSV

__all__ = [
    "FAILURE_COLUMNS",
    "INDEX_COLUMNS",
    "MASK_COLUMN",
    "id_sort_key",
    "read_failures",
    "read_index",
    "write_tables",
]

#: Columns ``index.csv`` adds after the input table's columns. ``laterality_source`` says
#: what decided the side ("header", "table" or "pixels"; "pixels (low confidence)" when the
#: pixel rule was unsure); ``side_confidence`` is the pixel rule's confidence in [0, 1]
#: whichever source decided (empty when the ROI extractor works on display values and the
#: published edge-sum rule gave the side); ``laterality_conflict`` names the sources that
#: disagree with the side used (e.g. "pixels R"), empty when they agree.
#: ``presentation_intent`` and ``presentation_lut_shape`` are the header's
#: PresentationIntentType and Presentation LUT Shape (empty when absent).
INDEX_COLUMNS: tuple[str, ...] = (
    "path",
    "crop_y0",
    "crop_x0",
    "crop_y1",
    "crop_x1",
    "flipped",
    "source_rows",
    "source_cols",
    "roi_method",
    "decoder",
    "laterality_source",
    "side_confidence",
    "laterality_conflict",
    "presentation_intent",
    "presentation_lut_shape",
)
#: The column ``index.csv`` adds last when the table named lesion masks: each image's
#: preprocessed mask (``masks/<patient_id>/<image_id>.png``, 0/255, aligned with the image).
MASK_COLUMN = "mask_path"
#: Columns of ``failures.csv``.
FAILURE_COLUMNS: tuple[str, ...] = ("image_id", "path", "error_type", "message")
_TEXT_COLUMNS = (
    "patient_id",
    "image_id",
    "prediction_id",
    "laterality",
    "view",
    "path",
    "roi_method",
    "decoder",
    "laterality_source",
    "laterality_conflict",
    "presentation_intent",
    "presentation_lut_shape",
    MASK_COLUMN,
)


def id_sort_key(image_id: str) -> tuple[int, int, str]:
    """Integers first in numeric order, then other ids as text."""
    try:
        if str(int(image_id)) == image_id:
            return (0, int(image_id), "")
    except ValueError:
        pass
    return (1, 0, image_id)


def _csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_tables(
    out_dir: Path,
    table: pd.DataFrame,
    records: Mapping[str, Mapping[str, Any]],
    shard_of: Mapping[str, str] | None = None,
) -> tuple[int, int]:
    """Write ``index.csv`` and ``failures.csv`` atomically from the records.

    Args:
        out_dir: the output folder.
        table: the validated input table (str columns); an empty ``laterality`` (unknown)
            is written as the side the preprocessing found (``laterality_source`` says how).
        records: image_id -> its record, for every row of ``table``.
        shard_of: for TFRecord output, image_id -> the shard path relative to ``out_dir``.

    Returns:
        (number of index rows, number of failures).
    """
    columns = [str(c) for c in table.columns]
    added = list(INDEX_COLUMNS)
    if any(MASK_COLUMN in record for record in records.values()):
        added.append(MASK_COLUMN)
    index_rows: list[tuple[tuple[int, int, str], list[Any]]] = []
    failure_rows: list[tuple[tuple[int, int, str], list[Any]]] = []
    for values in table.itertuples(index=False, name=None):
        row = dict(zip(columns, values, strict=True))
        image_id = row["image_id"]
        record = records[image_id]
        key = id_sort_key(image_id)
        if record["status"] == "ok":
            extra = dict(record)
            if shard_of is not None:
                extra["path"] = shard_of[image_id]
            if row.get("laterality") == "" and extra.get("laterality_found"):
                row["laterality"] = extra["laterality_found"]  # unknown in the table: as found
            values = tuple(row[c] for c in columns)
            index_rows.append((key, [*values, *(extra.get(c, "") for c in added)]))
        else:
            failure_rows.append((key, [record[c] for c in FAILURE_COLUMNS]))
    index_rows.sort(key=lambda item: item[0])
    failure_rows.sort(key=lambda item: item[0])
    atomic_write_bytes(
        out_dir / INDEX_CSV, _csv_bytes([*columns, *added], (r for _, r in index_rows))
    )
    atomic_write_bytes(
        out_dir / FAILURES_CSV, _csv_bytes(FAILURE_COLUMNS, (r for _, r in failure_rows))
    )
    return len(index_rows), len(failure_rows)


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise ConfigError(f"{path}: not found; is {path.parent} a preprocessed folder?")
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {c: str for c in header if c in _TEXT_COLUMNS}
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])


def read_index(out_dir: str | Path) -> pd.DataFrame:
    """The ``index.csv`` of a preprocessed folder.

    Ids, laterality, view, path and ``mask_path`` (when the table named lesion masks)
    are str; numeric table columns are parsed (empty cells
    become NaN); ``crop_*``, ``flipped``, ``source_rows`` and ``source_cols`` are int.

    Raises:
        ConfigError: the folder has no ``index.csv`` or it lacks mammokit's columns.
    """
    path = Path(out_dir) / INDEX_CSV
    frame = _read_csv(path)
    missing = [c for c in ("image_id", *INDEX_COLUMNS) if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in INDEX_COLUMNS[INDEX_COLUMNS.index("roi_method") :]:
        frame[column] = frame[column].fillna("").astype(str)
    if MASK_COLUMN in frame.columns:
        frame[MASK_COLUMN] = frame[MASK_COLUMN].fillna("").astype(str)
    return frame


def read_failures(out_dir: str | Path) -> pd.DataFrame:
    """The ``failures.csv`` of a preprocessed folder (all columns str)."""
    path = Path(out_dir) / FAILURES_CSV
    if not path.exists():
        raise ConfigError(f"{path}: not found; is {path.parent} a preprocessed folder?")
    return pd.read_csv(path, dtype=str, keep_default_na=False)
