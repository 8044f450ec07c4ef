"""``mammokit split`` (patient-grouped, stratified, reproducible held-out tables) and the
table path finding ``<image_id>.<ext>`` in every format the decoders read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit import ConfigError, ImageReadError, Pipeline, preprocess_dataset, split_table
from mammokit.app.cli import main
from mammokit.data import read_index, read_table
from mammokit.data.split import write_split
from mammokit.data.tables import IMAGE_EXTENSIONS, find_image
from mammokit.train.folds import assign_folds


def _table(patients: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(patients):
        site = "1" if p % 2 else "2"
        positive = p % 5 == 0
        for side in "LR":
            for view in ("CC", "MLO"):
                rows.append({
                    "site_id": site, "patient_id": f"{100 + p}", "image_id": f"{1000 + len(rows)}",
                    "laterality": side, "view": view, "cancer": "0",
                    "abnormal": "1" if positive and side == "L" else "0",
                    "density": "ABCD"[int(rng.integers(4))],
                })  # fmt: skip
    return pd.DataFrame(rows)


def test_split_is_grouped_stratified_and_reproducible() -> None:
    table = _table()
    train, test = split_table(table, test_fraction=0.2, seed=3, label="abnormal",
                              stratify=("site_id",))  # fmt: skip
    assert not set(train["patient_id"]) & set(test["patient_id"])
    assert len(train) + len(test) == len(table)
    per_patient = test.groupby("patient_id").agg(y=("abnormal", "max"), site=("site_id", "first"))
    # 40 patients: 8 positive (4 per site), 32 negative (16 per site) -> 20% of each stratum
    assert per_patient.groupby(["y", "site"]).size().to_dict() == {
        ("0", "1"): 3, ("0", "2"): 3, ("1", "1"): 1, ("1", "2"): 1,
    }  # fmt: skip
    again, _ = split_table(table, test_fraction=0.2, seed=3, label="abnormal",
                           stratify=("site_id",))  # fmt: skip
    pd.testing.assert_frame_equal(train, again)
    other, _ = split_table(table, test_fraction=0.2, seed=4, label="abnormal")
    assert set(other["patient_id"]) != set(train["patient_id"])


def test_split_refuses_bad_input() -> None:
    table = _table(10)
    with pytest.raises(ConfigError, match="no 'machine_id' column"):
        split_table(table, test_fraction=0.2, stratify=("machine_id",))
    with pytest.raises(ConfigError, match=r"in \(0, 1\)"):
        split_table(table, test_fraction=1.0)
    with pytest.raises(ConfigError, match="not 0/1"):
        split_table(table, test_fraction=0.2, label="density")


def test_split_cli_writes_three_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _table().to_csv(tmp_path / "all.csv", index=False)
    out = str(tmp_path / "s")
    args = ["split", "--csv", str(tmp_path / "all.csv"), "--test-fraction", "0.25",
            "--label", "abnormal", "--stratify", "site_id,density", "--out", out]  # fmt: skip
    assert main(args) == 0
    assert "train.csv" in capsys.readouterr().out
    train = read_table(tmp_path / "s" / "train.csv", kind="any")
    test = read_table(tmp_path / "s" / "test.csv", kind="any")
    labels = pd.read_csv(tmp_path / "s" / "test_labels.csv", dtype=str)
    assert "abnormal" in train.columns
    assert not {"abnormal", "cancer", "density"} & set(test.columns)
    assert (test["prediction_id"] == test["patient_id"] + "_" + test["laterality"]).all()
    assert list(labels["image_id"]) == list(test["image_id"])
    assert {"prediction_id", "abnormal", "cancer", "density"} <= set(labels.columns)
    assert not set(train["patient_id"]) & set(test["patient_id"])
    first = (tmp_path / "s" / "train.csv").read_bytes()
    assert main(args) == 0  # the same seed gives the same files
    assert (tmp_path / "s" / "train.csv").read_bytes() == first


def test_folds_stratify_on_extra_columns() -> None:
    table = _table(40)
    folds = assign_folds(table, n_folds=4, seed=0, label="abnormal", stratify=("site_id",))
    frame = table.assign(fold=folds).groupby("patient_id").first()
    counts = frame.groupby(["fold", "site_id", "abnormal"]).size().unstack(fill_value=0)
    assert (counts["1"] == 1).all()  # 8 positives: one per site per fold
    plain = assign_folds(table, n_folds=4, seed=0, label="abnormal")
    assert (plain != folds).any()  # the extra column changed the assignment


def _write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def test_find_image_searches_the_extensions(tmp_path: Path) -> None:
    assert IMAGE_EXTENSIONS[:3] == ("dcm", "png", "pgm")
    pixels = np.zeros((8, 8), np.uint8)
    png = _write(tmp_path / "p1" / "11.png", pixels)
    pgm = _write(tmp_path / "p1" / "12.pgm", pixels)
    tif = _write(tmp_path / "p1" / "13.TIF", pixels)
    assert find_image(tmp_path, "p1", "11") == png
    assert find_image(tmp_path, "p1", "12") == pgm
    assert find_image(tmp_path, "p1", "13") == tif
    assert find_image(tmp_path, "p1", "99") == tmp_path / "p1" / "99.dcm"  # the usual message
    _write(tmp_path / "p1" / "11.jpg", pixels)
    with pytest.raises(ImageReadError, match=r"2 files for image_id '11': 11\.png, 11\.jpg"):
        find_image(tmp_path, "p1", "11")
    assert find_image(tmp_path, "p1", "11", "jpg") == tmp_path / "p1" / "11.jpg"
    assert find_image(tmp_path, "p1", "11", ".png") == png
    with pytest.raises(ConfigError, match="extension"):
        find_image(tmp_path, "p1", "11", "../x")


def _mammo(seed: int, bits: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 255 if bits == 8 else 4095
    image = np.zeros((96, 80), np.uint16 if bits == 16 else np.uint8)
    yy, xx = np.mgrid[:96, :80]
    breast = (xx / 50.0) ** 2 + ((yy - 48) / 40.0) ** 2 < 1
    image[breast] = (rng.uniform(0.4, 0.8, breast.sum()) * top).astype(image.dtype)
    return image


def test_preprocess_reads_png_and_pgm_named_by_image_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _table(2).iloc[:6].copy()
    for i, row in enumerate(table.itertuples()):
        ext = "png" if i % 2 else "pgm"
        target = tmp_path / "img" / row.patient_id / f"{row.image_id}.{ext}"
        _write(target, _mammo(i, 8 * (1 + i % 2)))
    table.to_csv(tmp_path / "t.csv", index=False)
    result = preprocess_dataset(Pipeline(size=(64, 32)), tmp_path / "img", tmp_path / "t.csv",
                                tmp_path / "out", workers=0, quiet=True)  # fmt: skip
    assert result.ok, result.failures
    index = read_index(tmp_path / "out")
    assert len(index) == 6 and set(index["abnormal"].astype(int)) == {0, 1}
    assert set(index["decoder"]) == {"pillow"}
    # a configured extension: only .png, so the .pgm rows fail, each named
    assert main(["preprocess", "--images", str(tmp_path / "img"), "--csv", str(tmp_path / "t.csv"),
                 "--out", str(tmp_path / "only-png"), "--size", "64x32", "--workers", "0",
                 "--extension", "png", "--quiet"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "3 of 6 images preprocessed" in err and ".pgm" not in err and "3 image(s) failed" in err


def test_split_keeps_only_test_inputs_whatever_the_outcome_columns_are_called(
    tmp_path: Path,
) -> None:
    """``birads``, ``acr_density`` and a custom label go to the labels file, not test.csv;
    ``--keep`` lets a named input column through (any case)."""
    table = _table().rename(columns={"density": "acr_density"})
    table = table.assign(birads="2", pathology="BENIGN", Scanner_Model="X", Age="61")
    table = table.drop(columns=["age"], errors="ignore")
    table.to_csv(tmp_path / "all.csv", index=False)
    out = tmp_path / "s"
    args = ["split", "--csv", str(tmp_path / "all.csv"), "--test-fraction", "0.25",
            "--label", "abnormal", "--keep", "scanner_model", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    test = pd.read_csv(out / "test.csv", dtype=str)
    labels = pd.read_csv(out / "test_labels.csv", dtype=str)
    allowed = {"site_id", "patient_id", "image_id", "laterality", "view", "Age", "implant",
               "machine_id", "prediction_id", "Scanner_Model"}  # fmt: skip
    assert set(test.columns) <= allowed
    assert {"Scanner_Model", "Age", "prediction_id"} <= set(test.columns)
    assert {"abnormal", "cancer", "birads", "acr_density", "pathology"} <= set(labels.columns)
    with pytest.raises(ConfigError, match="label"):
        write_split(tmp_path / "all.csv", out, test_fraction=0.25, label="abnormal",
                    keep=["ABNORMAL"])  # fmt: skip
    with pytest.raises(ConfigError, match="does not have"):
        write_split(tmp_path / "all.csv", out, test_fraction=0.25, label="abnormal",
                    keep=["nope"])  # fmt: skip
