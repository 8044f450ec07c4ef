"""RSNA-shaped synthetic datasets: write_dataset, SynthConfig and ``mammokit synth``."""

from __future__ import annotations

import csv
from pathlib import Path

import pydicom
import pytest

from mammokit import Pipeline
from mammokit.app.cli import main
from mammokit.core.config import load_toml
from mammokit.data.tables import TEST_COLUMNS, TRAIN_COLUMNS, read_table, validate_table
from mammokit.synthetic import HARD_CASES, SynthConfig, write_dataset


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(
        patients=6, test_patients=3, image_size=(64, 48), seed=3, positive_fraction=0.25
    )
    return write_dataset(root, cfg)


def test_layout_and_exact_columns(dataset: Path) -> None:
    assert _header(dataset / "train.csv") == list(TRAIN_COLUMNS)
    assert _header(dataset / "test.csv") == list(TEST_COLUMNS)
    assert _header(dataset / "test_labels.csv") == ["prediction_id", "cancer", "lesion_type"]
    train, test = _rows(dataset / "train.csv"), _rows(dataset / "test.csv")
    assert len(train) == 24 and len(test) == 12
    for folder, rows in (("train_images", train), ("test_images", test)):
        for row in rows:
            assert (dataset / folder / row["patient_id"] / f"{row['image_id']}.dcm").is_file()
    assert validate_table(read_table(dataset / "train.csv"), kind="train") is not None
    assert validate_table(read_table(dataset / "test.csv"), kind="test") is not None
    assert load_toml(dataset / "synth.toml")["synth"]["patients"] == 6


def test_four_views_per_patient_and_disjoint_ids(dataset: Path) -> None:
    train, test = _rows(dataset / "train.csv"), _rows(dataset / "test.csv")
    for rows in (train, test):
        by_patient: dict[str, set[tuple[str, str]]] = {}
        for row in rows:
            by_patient.setdefault(row["patient_id"], set()).add((row["laterality"], row["view"]))
        assert all(
            views == {("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")}
            for views in by_patient.values()
        )
    assert not {r["patient_id"] for r in train} & {r["patient_id"] for r in test}
    image_ids = [r["image_id"] for r in train + test]
    assert len(set(image_ids)) == len(image_ids)


def test_positive_fraction_is_per_breast_and_seeded(dataset: Path) -> None:
    train = _rows(dataset / "train.csv")
    breasts: dict[tuple[str, str], set[str]] = {}
    for row in train:
        breasts.setdefault((row["patient_id"], row["laterality"]), set()).add(row["cancer"])
    assert all(len(labels) == 1 for labels in breasts.values())  # both views agree
    assert sum(labels == {"1"} for labels in breasts.values()) == 3  # round(0.25 * 12)
    for row in train:
        if row["cancer"] == "1":
            assert row["biopsy"] == "1" and row["BIRADS"] == "0.0"


def test_test_labels_match_the_prediction_ids(dataset: Path) -> None:
    test = _rows(dataset / "test.csv")
    labels = {r["prediction_id"]: r["cancer"] for r in _rows(dataset / "test_labels.csv")}
    assert set(labels) == {f"{r['patient_id']}_{r['laterality']}" for r in test}
    assert {r["prediction_id"] for r in test} == set(labels)
    assert sorted(labels.values()).count("1") == 2  # round(0.25 * 6) = 2 (banker's: 1.5 -> 2)
    kinds = {r["prediction_id"]: r["lesion_type"] for r in _rows(dataset / "test_labels.csv")}
    for prediction_id, cancer in labels.items():  # a lesion's kind on positives only
        assert (kinds[prediction_id] in ("mass", "calcification")) == (cancer == "1")


def test_headers_match_the_tables(dataset: Path) -> None:
    syntaxes, photometrics, functions, bits = set(), set(), set(), set()
    for row in _rows(dataset / "train.csv"):
        path = dataset / "train_images" / row["patient_id"] / f"{row['image_id']}.dcm"
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.PatientID == row["patient_id"]
        assert ds.ImageLaterality == row["laterality"] and ds.ViewPosition == row["view"]
        assert (ds.Rows, ds.Columns) == (64, 48)
        syntaxes.add(ds.file_meta.TransferSyntaxUID)
        photometrics.add(ds.PhotometricInterpretation)
        functions.add(ds.VOILUTFunction)
        bits.add(ds.BitsStored)
    assert len(syntaxes) == 3 and len(photometrics) == 2 and len(functions) == 2
    assert len(bits) >= 2


def test_same_config_gives_the_same_files(tmp_path: Path) -> None:
    cfg = SynthConfig(patients=2, image_size=(48, 40), seed=11, test_patients=1)
    a, b = write_dataset(tmp_path / "a", cfg), write_dataset(tmp_path / "b", cfg)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    other = write_dataset(tmp_path / "c", SynthConfig(patients=2, image_size=(48, 40), seed=12))
    assert (other / "train.csv").read_bytes() != (a / "train.csv").read_bytes()


def test_restricted_choices_and_hard_cases(tmp_path: Path) -> None:
    cfg = SynthConfig(
        patients=3,
        image_size=(64, 48),
        transfer_syntaxes="jpeg2000",
        photometrics=["MONOCHROME1"],
        bits_stored=[12],
        hard_case_fraction=1.0,
        seed=2,
    )
    root = write_dataset(tmp_path, cfg)
    windows = 0
    for path in sorted((root / "train_images").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
        assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.BitsStored == 12
        windows += "WindowCenter" in ds
    assert windows < 12  # some images drew the no_window hard case
    assert set(HARD_CASES) == {"no_window", "paddle", "text", "partial", "film_border"}


def test_every_generated_image_preprocesses(tmp_path: Path) -> None:
    cfg = SynthConfig(patients=2, image_size=(96, 80), seed=4, hard_case_fraction=0.5)
    root = write_dataset(tmp_path, cfg)
    pipe = Pipeline(size=(64, 32))
    for path in sorted((root / "train_images").rglob("*.dcm")):
        out = pipe.preprocess(path)
        assert out.pixels.shape == (64, 32)
        assert out.pixels.max() > 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patients": 0}, "at least one patient"),
        ({"patients": 1, "image_size": (10, 10)}, "at least 32x24"),
        ({"patients": 1, "positive_fraction": 1.5}, "positive_fraction"),
        ({"patients": 1, "lesion_kinds": ["cyst"]}, "lesion_kinds"),
        ({"patients": 1, "transfer_syntaxes": ["jpegls"]}, "transfer_syntaxes"),
        ({"patients": 1, "lesion_size": 0.9}, "radius"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SynthConfig(**kwargs)  # type: ignore[arg-type]


def test_tiny_dataset_fixture(mammokit_tiny_dataset: Path) -> None:
    rows = _rows(mammokit_tiny_dataset / "train.csv")
    assert len(rows) == 16
    first = rows[0]
    path = mammokit_tiny_dataset / "train_images" / first["patient_id"] / f"{first['image_id']}.dcm"
    assert pydicom.dcmread(path).pixel_array.shape == (128, 96)


def test_synth_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    status = main(
        [
            "synth",
            "--out",
            str(out),
            "--patients",
            "2",
            "--test-patients",
            "1",
            "--size",
            "64x48",
            "--seed",
            "5",
            "--positive-fraction",
            "0.5",
        ]
    )
    assert status == 0
    assert "wrote 12 images of 64x48" in capsys.readouterr().out
    assert len(_rows(out / "train.csv")) == 8 and len(_rows(out / "test.csv")) == 4
    assert sum(r["cancer"] == "1" for r in _rows(out / "train.csv")) == 4  # 2 of 4 breasts


def test_synth_command_rejects_bad_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["synth", "--out", str(tmp_path), "--patients", "1", "--size", "8x8"])
    assert status == 2
    assert "at least 32x24" in capsys.readouterr().err
