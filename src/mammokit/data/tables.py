"""RSNA-style metadata tables: reading, validation, and safe image paths.

A table is read with every value as text, exactly as written (empty cells stay ``""``), so
that the columns copied into ``index.csv`` are byte-for-byte what the user gave.

Path policy:
    The image of a row is ``<images>/<patient_id>/<image_id>.<ext>``: with no configured
    extension, the one file among :data:`IMAGE_EXTENSIONS` that exists (two of them is an
    error naming both); a configured extension (e.g. ``"png"``) is used alone. Ids are single path
    components: empty, ``.``, ``..``, absolute paths, ``/``, ``\\``, ``:`` and control
    characters are rejected when the table is validated (a :class:`ConfigError` naming the row
    and column), so no id can make an input *or an output* path leave its folder.
    Symbolic links: the images folder itself may be a link; below it, a file (or patient
    folder) that is a link is followed only when its target stays inside the real images
    folder. A link pointing elsewhere is reported as a failure of that image
    (:class:`ImageReadError`), never read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import pandas as pd

from mammokit.core.errors import ConfigError, ImageReadError

__all__ = [
    "ID_COLUMNS",
    "TEST_COLUMNS",
    "TRAIN_COLUMNS",
    "VIEWS",
    "IMAGE_EXTENSIONS",
    "binary_column",
    "check_inside",
    "find_image",
    "image_path",
    "read_table",
    "resolve_image_path",
    "validate_table",
]

#: The file extensions searched for ``<image_id>``, in this order: DICOM, then the ordinary
#: image formats :mod:`mammokit.dicom.imagefile` reads.
IMAGE_EXTENSIONS: tuple[str, ...] = ("dcm", "png", "pgm", "jpg", "jpeg", "tif", "tiff")
#: Columns every table needs, whatever its kind.
ID_COLUMNS: tuple[str, ...] = ("patient_id", "image_id", "laterality", "view")
#: The RSNA ``train.csv`` columns.
TRAIN_COLUMNS: tuple[str, ...] = (
    "site_id",
    "patient_id",
    "image_id",
    "laterality",
    "view",
    "age",
    "cancer",
    "biopsy",
    "invasive",
    "BIRADS",
    "implant",
    "density",
    "machine_id",
    "difficult_negative_case",
)
#: The RSNA ``test.csv`` columns.
TEST_COLUMNS: tuple[str, ...] = (
    "site_id",
    "patient_id",
    "image_id",
    "laterality",
    "view",
    "age",
    "implant",
    "machine_id",
    "prediction_id",
)
#: Accepted ``view`` values: the RSNA set (CC, MLO, AT, LM, ML, LMO) plus the other DICOM
#: mammography view codes (CID 4014).
VIEWS: frozenset[str] = frozenset(
    {"CC", "MLO", "AT", "LM", "ML", "LMO", "XCCL", "XCCM", "FB", "SIO", "RL", "RM", "TAN", "ID"}
)
LATERALITIES: frozenset[str] = frozenset({"L", "R"})
_FLAGS = ("0", "1", "")
_BOOLS = ("0", "1", "True", "False", "")
#: Columns whose values are checked when present (RSNA writes difficult_negative_case as
#: True/False, the others as 0/1).
_FLAG_COLUMNS: dict[str, tuple[str, ...]] = {
    "cancer": _FLAGS,
    "biopsy": _FLAGS,
    "invasive": _FLAGS,
    "implant": _FLAGS,
    "difficult_negative_case": _BOOLS,
}
_UNSAFE_ID = re.compile(r"[/\\:\x00-\x1f\x7f]")
_KINDS = ("auto", "train", "test", "any", "external")
#: An external dataset's table: ids only; laterality and view may be blank (unknown).
EXTERNAL_COLUMNS: tuple[str, ...] = ("patient_id", "image_id")
#: How a message names each kind of table.
_KIND_NAMES = {
    "train": "a training table (train.csv)",
    "test": "a test table (test.csv)",
    "any": "an image table (the id columns of train.csv or test.csv)",
    "external": "an external dataset's table (patient_id, image_id)",
}


def read_table(path: str | Path, *, kind: str = "auto") -> pd.DataFrame:
    """Read and validate a ``train.csv``/``test.csv``.

    Args:
        path: the CSV file.
        kind: "train", "test", "any" (only the id columns are required) or "auto" (train
            when every RSNA ``train.csv`` column is there, test when every ``test.csv``
            column is, else "any": a table of one's own dataset needs only the id columns;
            0/1 columns such as ``cancer`` are checked whenever present).

    Returns:
        A DataFrame of str columns, values as written, in file order.

    Raises:
        ConfigError: the file is unreadable or invalid (see :func:`validate_table`).
    """
    path = Path(path)
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8"
        )
    except FileNotFoundError:
        raise ConfigError(f"{path}: table not found") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ConfigError(f"{path}: cannot read table: {err}") from err
    return validate_table(frame, kind=kind, source=str(path))


def validate_table(
    frame: pd.DataFrame, *, kind: str = "auto", source: str = "table"
) -> pd.DataFrame:
    """Check a metadata table and return it with every value as text.

    Row numbers in messages count data rows from 1; the file line is one more (the header).

    Raises:
        ConfigError: naming ``source``, the row and the column, for a missing required
            column, an unsafe or empty id, a laterality other than L, R or empty (unknown:
            a missing column is an empty one), an unknown view,
            a 0/1 (or True/False) column with another value, or a duplicate ``image_id``.
    """
    if kind not in _KINDS:
        raise ConfigError(f"unknown table kind {kind!r}; choose one of: {', '.join(_KINDS)}")
    if "laterality" not in [str(c) for c in frame.columns]:
        frame = frame.assign(laterality="")  # unknown: the header, then the pixels, decide
    columns = [str(c) for c in frame.columns]
    if kind == "auto":
        kind = _detected_kind(columns)
    _check_columns(columns, kind, source)
    text = frame.copy()
    text.columns = columns
    for column in columns:
        text[column] = ["" if _missing(v) else str(v) for v in text[column]]
    text = text.reset_index(drop=True)
    _check_values(text, kind, source)
    _check_unique_images(text["image_id"], source)
    return cast("pd.DataFrame", text)


def _detected_kind(columns: list[str]) -> str:
    """ "train" or "test" if the columns hold that kind's required ones, else "any"."""
    present = set(columns)
    if present >= set(TRAIN_COLUMNS):
        return "train"
    return "test" if present >= set(TEST_COLUMNS) else "any"


def _check_columns(columns: list[str], kind: str, source: str) -> None:
    """Raise ConfigError for a missing required column or a duplicate column name."""
    required = {"train": TRAIN_COLUMNS, "test": TEST_COLUMNS, "any": ID_COLUMNS,
                "external": EXTERNAL_COLUMNS}[kind]  # fmt: skip
    missing = [c for c in required if c not in columns]
    if missing:
        raise ConfigError(
            f"{source}: missing required column(s) {', '.join(missing)} for "
            f"{_KIND_NAMES[kind]}; "
            f"found: {', '.join(columns) or '(none)'}"
        )
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise ConfigError(f"{source}: duplicate column name(s) {', '.join(dup)}")


def _row_error(source: str, row: int, column: str, problem: str) -> ConfigError:
    """A ConfigError naming ``source``, the data row (from 1), its file line and ``column``."""
    return ConfigError(f"{source}: row {row + 1} (line {row + 2}), column {column!r}: {problem}")


def _check_values(text: pd.DataFrame, kind: str, source: str) -> None:
    """Raise ConfigError for the first bad id, laterality, view or 0/1 flag, in that order."""
    for column in ("patient_id", "image_id"):
        for row, value in enumerate(text[column]):
            problem = _id_problem(value)
            if problem:
                raise _row_error(source, row, column, problem)
    unknown_ok = {""} if kind == "external" else set()
    for row, value in enumerate(text.get("laterality", ())):
        if value not in LATERALITIES and value != "":
            raise _row_error(source, row, "laterality", f"{value!r} is not one of L, R or empty")
    for row, value in enumerate(text.get("view", ())):
        if value not in VIEWS and value not in unknown_ok:
            views = ", ".join(sorted(VIEWS))
            raise _row_error(source, row, "view", f"{value!r} is not one of {views}")
    for column, allowed in _FLAG_COLUMNS.items():
        for row, value in enumerate(text.get(column, ())):
            if value not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                raise _row_error(source, row, column, f"{value!r} is not one of {choices}")


def _check_unique_images(image_ids: Iterable[str], source: str) -> None:
    """Raise ConfigError for the first ``image_id`` that repeats an earlier row's."""
    first: dict[str, int] = {}
    for row, value in enumerate(image_ids):
        if value in first:
            raise _row_error(
                source,
                row,
                "image_id",
                f"duplicate image_id {value!r} (first in row {first[value] + 1}, "
                f"line {first[value] + 2})",
            )
        first[value] = row


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _id_problem(value: str) -> str:
    if value.strip() == "":
        return "empty id"
    if value in (".", "..") or value != value.strip():
        return f"{value!r} is not a valid id"
    if _UNSAFE_ID.search(value) or os.path.isabs(value):
        return (
            f"{value!r} would leave the images folder "
            "(ids may not contain / \\ : or control characters)"
        )
    return ""


def image_path(images_dir: Path, patient_id: str, image_id: str, suffix: str = ".dcm") -> Path:
    """``<images_dir>/<patient_id>/<image_id><suffix>``, after checking both ids.

    Raises:
        ConfigError: an id is empty or would leave ``images_dir``.
    """
    for column, value in (("patient_id", patient_id), ("image_id", image_id)):
        problem = _id_problem(value)
        if problem:
            raise ConfigError(f"{column}: {problem}")
    return Path(images_dir) / patient_id / f"{image_id}{suffix}"


def check_inside(path: Path, root: Path) -> Path:
    """The real path of ``path``, checked to lie inside the real ``root``.

    Raises:
        ImageReadError: ``path`` does not exist, or a symbolic link takes it outside ``root``.
    """
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if not os.path.lexists(path):
        raise ImageReadError(path, "file not found")
    if real != real_root and real_root not in real.parents:
        raise ImageReadError(path, f"a symbolic link points outside the images folder (to {real})")
    if not real.is_file():
        raise ImageReadError(path, "file not found" if not real.exists() else "not a regular file")
    return real


#: How a 0/1 column may be written (``1.0`` when a CSV reader made floats of it).
BINARY_TEXT: dict[str, int] = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}


def binary_column(values: pd.Series, where: str) -> pd.Series:
    """A 0/1 column (``"0"``, ``"1"``, ``1.0``, ``True``...) as int 0/1.

    Raises:
        ConfigError: a blank or any other value, naming ``where`` and an example.
    """
    mapped = values.astype(str).str.strip().str.lower().map(BINARY_TEXT)
    bad = mapped.isna()
    if bad.any():
        raise ConfigError(
            f"{where}: {int(bad.sum())} value(s) are not 0/1 (e.g. {values[bad].iloc[0]!r}); "
            "the label must be binary and set on every row"
        )
    return mapped.astype(int)


def _suffix(extension: str) -> str:
    text = extension.strip()
    if not text or "/" in text or "\\" in text:
        raise ConfigError(f"image extension must be a name such as png, got {extension!r}")
    return text if text.startswith(".") else f".{text}"


def find_image(
    images_dir: Path, patient_id: str, image_id: str, extension: str | None = None
) -> Path:
    """``<images_dir>/<patient_id>/<image_id>.<ext>``: with ``extension`` that one; without,
    the single existing file among :data:`IMAGE_EXTENSIONS` (upper case too); the ``.dcm``
    path when there is none (so a missing file reports the usual name).

    Raises:
        ConfigError: an unsafe id or extension.
        ImageReadError: two candidate files for one id (naming both).
    """
    if extension:
        return image_path(images_dir, patient_id, image_id, _suffix(extension))
    default = image_path(images_dir, patient_id, image_id, ".dcm")
    try:
        present = {p.name for p in default.parent.iterdir()}
    except OSError:
        return default
    found = [
        default.with_name(f"{image_id}.{ext}")
        for name_ext in IMAGE_EXTENSIONS
        for ext in dict.fromkeys((name_ext, name_ext.upper()))
        if f"{image_id}.{ext}" in present
    ]
    if len(found) > 1:
        raise ImageReadError(
            found[0],
            f"{len(found)} files for image_id {image_id!r}: "
            f"{', '.join(p.name for p in found)}; keep one or configure the extension",
        )
    return found[0] if found else default


def resolve_image_path(
    images_dir: str | Path,
    patient_id: str,
    image_id: str,
    suffix: str | None = None,
) -> Path:
    """The checked, real path of one row's image (see the module's path policy).

    Args:
        suffix: the file extension (``".dcm"``, ``"png"``...); None searches
            :data:`IMAGE_EXTENSIONS`.

    Raises:
        ConfigError: an unsafe id.
        ImageReadError: the file is missing, two candidates exist, or a link leads outside
            ``images_dir``.
    """
    images_dir = Path(images_dir)
    return check_inside(find_image(images_dir, patient_id, image_id, suffix), images_dir)
