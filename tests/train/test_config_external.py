"""TrainConfig TOML round trip and the external dataset readers (core: no TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit.core.config import save_toml
from mammokit.core.errors import ConfigError
from mammokit.train.config import TrainConfig, load_train_config
from mammokit.train.external import ddsm, image_folder


def test_train_config_round_trips_through_toml(tmp_path: Path) -> None:
    config = TrainConfig(
        backbone="simple_cnn",
        image_size="64x32",
        sampling="class_weight",
        sampling_options={"weights": {"0": 1, "1": 5}},
        augment={"hflip": 0.0, "cutout": 0.5},
        external=("ddsm:/data/ddsm",),
    )
    save_toml({"train": config.to_dict()}, tmp_path / "c.toml")
    again = load_train_config(tmp_path / "c.toml")
    assert again == config
    assert again.image_size == (64, 32) and again.augment.cutout == 0.5
    assert load_train_config(tmp_path / "c.toml", epochs=3).epochs == 3


def test_weight_decay_is_converted_from_the_tfa_convention() -> None:
    config = TrainConfig(learning_rate=1e-3, weight_decay=1e-5)
    assert config.keras_weight_decay == pytest.approx(1e-2)
    assert TrainConfig().resolved_input_mode == "contrast"
    assert TrainConfig(pretrained="w.h5").resolved_input_mode == "imagenet"


@pytest.mark.parametrize(
    "bad",
    [{"fold": 5, "n_folds": 5}, {"batch_size": 0}, {"strategy": "gpu"}, {"nope": 1},
     {"augment": {"hflip": 2}}, {"external": ["ddsm"]}],
)  # fmt: skip
def test_invalid_train_config_names_the_problem(tmp_path: Path, bad: dict) -> None:
    save_toml({"train": bad}, tmp_path / "c.toml")
    with pytest.raises(ConfigError):
        load_train_config(tmp_path / "c.toml")


def _png(path: Path, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 20), value, np.uint8)).save(path)


def test_ddsm_reads_positive_cases_with_metadata(tmp_path: Path) -> None:
    _png(tmp_path / "case1" / "a.png")
    _png(tmp_path / "case1" / "b.png")
    _png(tmp_path / "case2" / "c.png")
    (tmp_path / "meta.csv").write_text("path,view\ncase1/a.png,CC\ncase2/c.png,MLO\n")
    table = ddsm(tmp_path, metadata="meta.csv")
    assert list(table["patient_id"]) == ["case1", "case1", "case2"]
    assert (table["cancer"] == 1).all() and (table["source"] == "ddsm").all()
    assert list(table["view"].fillna("")) == ["CC", "", "MLO"]
    with pytest.raises(ConfigError, match="not found"):
        ddsm(tmp_path / "missing")


def test_image_folder_reads_labels(tmp_path: Path) -> None:
    _png(tmp_path / "x" / "1.png")
    _png(tmp_path / "x" / "2.png")
    (tmp_path / "labels.csv").write_text("path,cancer\nx/1.png,1\nx/2.png,0\n")
    table = image_folder(tmp_path)
    assert list(table["cancer"]) == [1, 0] and list(table["patient_id"]) == ["1", "2"]
    assert Path(table["path"][0]).is_absolute()
    (tmp_path / "labels.csv").write_text("path,cancer\nx/3.png,1\n")
    with pytest.raises(ConfigError, match="not found"):
        image_folder(tmp_path)


def _breast_png(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:160, :100]
    breast = ((yy - 80) / 70.0) ** 2 + (xx / 80.0) ** 2 < 1
    pixels = np.where(breast, 150 + rng.integers(0, 40, breast.shape), 0).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def test_load_external_preprocesses_with_the_same_pipeline(tmp_path: Path) -> None:
    from mammokit.core.config import PreprocessConfig
    from mammokit.train.external import load_external

    source = tmp_path / "src"
    for i in range(3):
        _breast_png(source / f"img{i}.png", i)
    (source / "labels.csv").write_text("path,cancer\nimg0.png,1\nimg1.png,0\nimg2.png,1\n")
    rows = load_external(
        [f"image_folder:{source}"], PreprocessConfig(size=(64, 32)), tmp_path / "ext"
    )
    assert list(rows["cancer"]) == [1, 0, 1]
    assert set(rows["source"]) == {"image_folder"}
    assert rows["patient_id"].str.startswith("image_folder-").all()
    for path in rows["abs_path"]:
        with Image.open(path) as image:
            assert image.size == (32, 64)
    with pytest.raises(ConfigError, match="Unknown external dataset"):
        load_external(["cmmd:/x"], PreprocessConfig(size=(64, 32)), tmp_path / "ext")


def test_external_specs_take_options() -> None:
    from mammokit.train.external import parse_external

    assert parse_external("image_folder:/d/x?labels=my.csv&laterality=side") == (
        "image_folder", "/d/x", {"labels": "my.csv", "laterality": "side"},
    )  # fmt: skip
    assert parse_external("ddsm:/data/ddsm") == ("ddsm", "/data/ddsm", {})
    for bad in ("ddsm", ":/x", "ddsm:", "image_folder:/x?labels=a&labels=b", "ddsm:/x?oops"):
        with pytest.raises(ConfigError):
            parse_external(bad)


def test_image_folder_options_label_and_laterality(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    (tmp_path / "my.csv").write_text("path,abnormal,side,patient_id\na.png,1,L,p1\nb.png,0,r,p1\n")
    table = image_folder(tmp_path, labels="my.csv", label="abnormal", laterality="side")
    assert list(table["cancer"]) == [1, 0]
    assert list(table["laterality"]) == ["L", "R"]
    (tmp_path / "bad.csv").write_text("path,cancer,side\na.png,1,X\n")
    with pytest.raises(ConfigError, match="must hold L or R"):
        image_folder(tmp_path, labels="bad.csv", laterality="side")
    with pytest.raises(ConfigError, match="no laterality column 'nope'"):
        image_folder(tmp_path, labels="my.csv", label="abnormal", laterality="nope")


def test_external_options_are_checked_before_tensorflow(tmp_path: Path) -> None:
    from mammokit.plugins import get_plugin_manager
    from mammokit.train.resolve import check_train_components

    manager = get_plugin_manager()
    good = TrainConfig(backbone="simple_cnn", external=(f"image_folder:{tmp_path}?labels=x.csv",))
    check_train_components(good, manager)  # the options fit the reader; no TensorFlow needed
    bad = TrainConfig(backbone="simple_cnn", external=(f"image_folder:{tmp_path}?lables=x.csv",))
    with pytest.raises(ConfigError, match="image_folder.*lables"):
        check_train_components(bad, manager)


def test_external_laterality_makes_breast_ids(tmp_path: Path) -> None:
    from mammokit.core.config import PreprocessConfig
    from mammokit.train.external import load_external

    for name in ("a.png", "b.png", "c.png"):
        _png(tmp_path / "films" / name, 0)
        image = np.zeros((80, 40), np.uint8)
        image[10:70, :25] = 180
        Image.fromarray(image).save(tmp_path / "films" / name)
    (tmp_path / "films" / "l.csv").write_text(
        "path,cancer,side,patient_id\na.png,1,L,p1\nb.png,0,L,p1\nc.png,0,R,p1\n"
    )
    rows = load_external(
        [f"image_folder:{tmp_path / 'films'}?labels=l.csv&laterality=side"],
        PreprocessConfig(size=(32, 16)),
        tmp_path / "ext",
    )
    assert list(rows["laterality"]) == ["L", "L", "R"]
    assert list(rows["prediction_id"]) == ["image_folder-p1_L"] * 2 + ["image_folder-p1_R"]


def test_external_goes_through_the_batch_runner_resumably(tmp_path: Path) -> None:
    from mammokit.core.config import PreprocessConfig
    from mammokit.data import read_failures
    from mammokit.train.external import load_external

    source = tmp_path / "src"
    for i in range(2):
        _breast_png(source / f"img{i}.png", i)
    (source / "broken.png").write_bytes(b"not a png")
    (source / "labels.csv").write_text("path,cancer\nimg0.png,1\nbroken.png,0\nimg1.png,0\n")
    spec, config = f"image_folder:{source}", PreprocessConfig(size=(64, 32))
    rows = load_external([spec], config, tmp_path / "ext", workers=0)
    assert list(rows["image_id"]) == ["image_folder-000000", "image_folder-000002"]
    failures = read_failures(tmp_path / "ext" / "image_folder")
    assert list(failures["image_id"]) == ["image_folder-000001"]
    assert "broken" not in str(rows["abs_path"].tolist())
    first = {p: Path(p).stat().st_mtime_ns for p in rows["abs_path"]}
    again = load_external([spec], config, tmp_path / "ext", workers=0)  # resumes: nothing redone
    pd.testing.assert_frame_equal(again, rows)
    assert {p: Path(p).stat().st_mtime_ns for p in again["abs_path"]} == first
    assert (tmp_path / "ext" / "image_folder" / "preprocess.toml").is_file()
