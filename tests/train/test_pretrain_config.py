"""Pretraining's config, its pooled folders and fine-tuning's checks of a pretraining run,
all before TensorFlow (issue 25)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mammokit import ConfigError, PretrainConfig, TrainConfig
from mammokit.core.config import config_to_dict, save_toml
from mammokit.train.pretrain.encoder import check_fine_tuning, pretrained_file
from mammokit.train.pretrain.images import read_image_folders


def test_pretrain_config_refuses_what_a_run_cannot_do() -> None:
    assert PretrainConfig().method == "fcmae" and PretrainConfig().input_mode == "imagenet"
    for bad in ({"strategy": "multi_worker"}, {"input_mode": "auto"}, {"batch_size": 0},
                {"min_lr_ratio": 2}, {"clipnorm": 0}):  # fmt: skip
        with pytest.raises((ValueError, TypeError)):
            PretrainConfig(**bad)  # type: ignore[arg-type]


def test_folders_are_pooled_and_must_match(
    preprocessed_dir: Path, tfrecord_dir: Path, tmp_path: Path
) -> None:
    table, preprocess = read_image_folders([preprocessed_dir, preprocessed_dir])
    assert len(table) == 96 and preprocess.size == (128, 64)
    assert all(Path(p).is_file() for p in table["abs_path"])
    assert "cancer" not in table.columns  # labels are not read
    other = tmp_path / "other"
    shutil.copytree(preprocessed_dir, other)
    from mammokit.core.config import load_toml

    toml = other / "preprocess.toml"
    data = load_toml(toml)
    data.get("preprocess", data)["size"] = [256, 128]
    save_toml(data, toml)
    with pytest.raises(ConfigError, match="pool folders preprocessed to the same size"):
        read_image_folders([preprocessed_dir, other])
    with pytest.raises(ConfigError, match="TFRecord"):
        read_image_folders([tfrecord_dir])
    with pytest.raises(ConfigError, match="at least one preprocessed folder"):
        read_image_folders([])


def _fake_run(root: Path, config: PretrainConfig, *, encoder: bool = True) -> Path:
    """A pretraining run folder as ``mammokit pretrain`` lays it out (its weights empty)."""
    root.mkdir()
    save_toml({"pretrain": config_to_dict(config)}, root / "config.toml")
    if encoder:
        (root / "encoder.h5").write_bytes(b"")
    return root


def test_fine_tuning_checks_the_pretraining_run(tmp_path: Path) -> None:
    run = _fake_run(tmp_path / "pre", PretrainConfig(backbone="convnextv2_femto"))
    assert pretrained_file(run) == run / "encoder.h5"
    assert pretrained_file(run / "encoder.h5") == run / "encoder.h5"
    assert pretrained_file(tmp_path / "w.h5") == tmp_path / "w.h5"  # a plain file
    check_fine_tuning(TrainConfig(backbone="convnextv2_femto", pretrained=str(run)))
    check_fine_tuning(TrainConfig(
        backbone="convnextv2_femto", pretrained=str(run),
        backbone_options={"drop_path_rate": 0.1},
    ))  # fmt: skip
    with pytest.raises(ConfigError, match="backbone: 'convnextv2_femto' there"):
        check_fine_tuning(TrainConfig(pretrained=str(run)))
    with pytest.raises(ConfigError, match="input_mode: 'imagenet' there, 'contrast' here"):
        check_fine_tuning(TrainConfig(backbone="convnextv2_femto", pretrained=str(run),
                                      input_mode="contrast"))  # fmt: skip
    empty = _fake_run(tmp_path / "early", PretrainConfig(), encoder=False)
    with pytest.raises(ConfigError, match="no encoder.h5 yet"):
        pretrained_file(empty)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="not a pretraining run"):
        pretrained_file(tmp_path / "plain")


def test_cli_pretrain_refuses_an_unknown_method_before_tensorflow(
    preprocessed_dir: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mammokit", "pretrain", "--data", str(preprocessed_dir),
         "--out", str(tmp_path / "run"), "--method", "simclr"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Unknown pretraining method 'simclr'; choose one of: fcmae" in done.stderr
    assert not (tmp_path / "run").exists()
