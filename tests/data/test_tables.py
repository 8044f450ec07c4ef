"""RSNA table validation and safe image paths."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from mammokit.core.errors import ConfigError, ImageReadError
from mammokit.data import read_table, resolve_image_path, validate_table
from mammokit.data.tables import TEST_COLUMNS, TRAIN_COLUMNS

TRAIN_ROW = {
    "site_id": "2",
    "patient_id": "10006",
    "image_id": "462822612",
    "laterality": "L",
    "view": "CC",
    "age": "61.0",
    "cancer": "0",
    "biopsy": "0",
    "invasive": "0",
    "BIRADS": "",
    "implant": "0",
    "density": "",
    "machine_id": "29",
    "difficult_negative_case": "False",
}


def _write(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    frame = pd.DataFrame(rows, columns=columns or list(rows[0]))
    frame.to_csv(path, index=False)
    return path


def _rows(n: int = 3) -> list[dict[str, str]]:
    return [{**TRAIN_ROW, "image_id": str(1000 + i), "laterality": "LR"[i % 2]} for i in range(n)]


def test_train_table_keeps_values_as_written(tmp_path: Path) -> None:
    rows = _rows()
    rows[1]["patient_id"] = "00042"
    table = read_table(_write(tmp_path / "train.csv", rows))
    assert list(table.columns) == list(TRAIN_COLUMNS)
    assert table.loc[1, "patient_id"] == "00042"
    assert table.loc[0, "BIRADS"] == "" and table.loc[0, "age"] == "61.0"
    assert table.loc[0, "difficult_negative_case"] == "False"


def test_test_table_is_detected(tmp_path: Path) -> None:
    row = {c: TRAIN_ROW.get(c, "") for c in TEST_COLUMNS}
    row["prediction_id"] = "10006_L"
    table = read_table(_write(tmp_path / "test.csv", [row]))
    assert list(table.columns) == list(TEST_COLUMNS)


@pytest.mark.parametrize("column", ["image_id", "view", "cancer", "machine_id"])
def test_missing_required_column(tmp_path: Path, column: str) -> None:
    rows = [{k: v for k, v in r.items() if k != column} for r in _rows()]
    path = _write(tmp_path / "train.csv", rows)
    kind = "train" if column in ("machine_id", "cancer") else "auto"
    with pytest.raises(ConfigError, match=f"missing required column.*{column}") as info:
        read_table(path, kind=kind)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("laterality", "B", "'B' is not one of L, R"),
        ("laterality", "l", "'l' is not one of L, R"),
        ("view", "XX", "'XX' is not one of"),
        ("view", "", "'' is not one of"),
        ("cancer", "2", "'2' is not one of '0', '1', ''"),
        ("difficult_negative_case", "yes", "'yes' is not one of"),
        ("image_id", "", "empty id"),
        ("patient_id", " 7", "not a valid id"),
    ],
)
def test_bad_value_names_row_and_column(
    tmp_path: Path, column: str, value: str, problem: str
) -> None:
    rows = _rows(4)
    rows[2][column] = value
    with pytest.raises(ConfigError) as info:
        read_table(_write(tmp_path / "train.csv", rows))
    message = str(info.value)
    assert f"row 3 (line 4), column {column!r}" in message
    assert problem in message


@pytest.mark.parametrize("view", ["CC", "MLO", "AT", "LM", "ML", "LMO"])
def test_every_rsna_view_is_accepted(view: str) -> None:
    frame = pd.DataFrame([{**TRAIN_ROW, "view": view}])
    assert validate_table(frame).loc[0, "view"] == view


def test_duplicate_image_id_names_both_rows(tmp_path: Path) -> None:
    rows = _rows(5)
    rows[4]["image_id"] = rows[1]["image_id"]
    with pytest.raises(
        ConfigError, match=r"row 5 \(line 6\), column 'image_id': duplicate"
    ) as info:
        read_table(_write(tmp_path / "train.csv", rows))
    assert "first in row 2" in str(info.value)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("image_id", ".."),
        ("image_id", "../../etc/passwd"),
        ("image_id", "/etc/passwd"),
        ("patient_id", "a/b"),
        ("patient_id", "a\\b"),
        ("patient_id", "."),
        ("image_id", "C:evil"),
        ("image_id", "x\x00y"),
    ],
)
def test_ids_that_escape_the_root_are_rejected(column: str, value: str) -> None:
    rows = _rows(2)
    rows[1][column] = value
    with pytest.raises(ConfigError, match=f"row 2 \\(line 3\\), column '{column}'"):
        validate_table(pd.DataFrame(rows), source="train.csv")


def test_unreadable_or_absent_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="table not found"):
        read_table(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ConfigError, match="cannot read table"):
        read_table(empty)


def test_dataframe_values_become_text() -> None:
    frame = pd.DataFrame([{**TRAIN_ROW, "image_id": 5, "patient_id": 7, "age": None}])
    table = validate_table(frame)
    assert table.loc[0, "image_id"] == "5" and table.loc[0, "age"] == ""


def _images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "7").mkdir(parents=True)
    (root / "7" / "1.dcm").write_bytes(b"x")
    return root


def test_resolve_image_path(tmp_path: Path) -> None:
    root = _images(tmp_path)
    assert resolve_image_path(root, "7", "1") == (root / "7" / "1.dcm").resolve()
    with pytest.raises(ImageReadError, match="file not found"):
        resolve_image_path(root, "7", "2")
    with pytest.raises(ConfigError, match="would leave"):
        resolve_image_path(root, "7", "../../x")


def test_symlinks_inside_the_root_are_followed(tmp_path: Path) -> None:
    root = _images(tmp_path)
    (root / "8").mkdir()
    os.symlink(root / "7" / "1.dcm", root / "8" / "3.dcm")
    assert resolve_image_path(root, "8", "3") == (root / "7" / "1.dcm").resolve()
    linked_root = tmp_path / "link-to-images"
    os.symlink(root, linked_root)
    assert resolve_image_path(linked_root, "7", "1").read_bytes() == b"x"


def test_symlinks_leaving_the_root_are_refused(tmp_path: Path) -> None:
    root = _images(tmp_path)
    secret = tmp_path / "secret.dcm"
    secret.write_bytes(b"secret")
    os.symlink(secret, root / "7" / "9.dcm")
    with pytest.raises(ImageReadError, match="points outside the images folder"):
        resolve_image_path(root, "7", "9")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "4.dcm").write_bytes(b"y")
    os.symlink(outside, root / "66")
    with pytest.raises(ImageReadError, match="points outside"):
        resolve_image_path(root, "66", "4")
    os.symlink(tmp_path / "missing.dcm", root / "7" / "10.dcm")
    with pytest.raises(ImageReadError):
        resolve_image_path(root, "7", "10")


def test_an_unknown_side_is_an_empty_cell_or_no_column() -> None:
    rows = {"patient_id": ["1", "1"], "image_id": ["10", "11"], "view": ["CC", "MLO"]}
    frame = validate_table(pd.DataFrame(rows), kind="any")
    assert list(frame["laterality"]) == ["", ""]
    frame = validate_table(pd.DataFrame({**rows, "laterality": ["L", None]}), kind="any")
    assert list(frame["laterality"]) == ["L", ""]
