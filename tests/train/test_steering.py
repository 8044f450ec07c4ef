"""Steering a training run: the monitor picks the epoch model.keras holds, any 0/1 column is
the label, and auxiliary heads train without touching predictions at weight 0 (simple_cnn
at 64x32 on CPU, 1-3 epochs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.train

BASE: dict[str, Any] = {
    "backbone": "simple_cnn", "image_size": (64, 32), "batch_size": 8, "strategy": "cpu",
    "sampling": "none", "augment": {"hflip": 0, "rotate_degrees": 0, "scale": 0,
    "translate": 0, "brightness": 0, "contrast": 0, "gamma": 0},
    "monitor_smoothing": 1,  # the raw monitor (the smoothed one: test_handlers, test_resume)
}  # fmt: skip


def _oof(run: Path) -> pd.Series:
    oof = pd.read_csv(run / "oof.csv", dtype={"image_id": str})
    return oof.set_index("image_id")["score"]


def test_the_monitor_chooses_the_epoch_model_keras_holds(
    preprocessed_dir: Path, tmp_path: Path
) -> None:
    from mammokit.train import TrainConfig, train

    results = {}
    for mode in ("min", "max"):  # the same training; only the choice of epoch differs
        config = TrainConfig(**BASE, epochs=3, monitor="val_loss", monitor_mode=mode)
        results[mode] = train(preprocessed_dir, tmp_path / mode, config, verbose=0)
    history = results["min"].history
    assert list(history["monitor"]) == pytest.approx(list(history["val_loss"]))
    assert "val_breast_pf1_best_threshold" in history.columns
    losses = history["val_loss"].to_numpy()
    assert results["min"].best_epoch == int(np.argmin(losses)) + 1
    assert results["max"].best_epoch == int(np.argmax(losses)) + 1
    assert results["min"].best_epoch != results["max"].best_epoch
    pd.testing.assert_frame_equal(history, results["max"].history.assign(
        monitor=history["monitor"], best_monitor=history["best_monitor"],
        best_epoch=history["best_epoch"]))  # fmt: skip
    # model.keras holds the chosen epoch: its validation scores (oof.csv) differ
    assert not np.allclose(_oof(tmp_path / "min"), _oof(tmp_path / "max"), atol=1e-6)
    summary = json.loads((tmp_path / "min" / "summary.json").read_text())
    assert summary["monitor"] == "val_loss" and summary["mode"] == "min"
    assert summary["model_epoch"] == results["min"].best_epoch
    assert f"epoch {results['min'].best_epoch} of 3" in summary["text"]
    assert "lowest val_loss" in results["min"].summary


def test_early_stopping_on_the_monitor(preprocessed_dir: Path, tmp_path: Path) -> None:
    from mammokit.train import TrainConfig, train

    # val_loss "max" with patience 1 stops once the loss falls below the first epoch's
    config = TrainConfig(**BASE, epochs=4, monitor="val_loss", monitor_mode="max",
                         early_stopping_patience=1, learning_rate=2e-3)  # fmt: skip
    result = train(preprocessed_dir, tmp_path / "run", config, verbose=0)
    epochs = len(result.history)
    best = int(result.history["best_epoch"].iloc[-1])
    assert epochs == best + 1 < 4 or (epochs == 4 and result.stopped_early is None)
    assert result.epochs_run == epochs  # the epochs trained, not the epochs configured
    if result.stopped_early:
        assert "stopped early after epoch" in result.summary


@pytest.fixture(scope="module")
def relabelled(preprocessed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The preprocessed folder with the label in ``abnormal``, ``cancer`` all 0 (so a run
    that read ``cancer`` would see no positive), and an auxiliary column ``grade``."""
    root = tmp_path_factory.mktemp("relabelled") / "pre"
    shutil.copytree(preprocessed_dir, root)
    index = pd.read_csv(root / "index.csv", dtype=str, keep_default_na=False)
    index["abnormal"] = index["cancer"]
    index["cancer"] = "0"
    index["grade"] = ["", "A", "B", "C"] * (len(index) // 4) + [""] * (len(index) % 4)
    index.to_csv(root / "index.csv", index=False)
    return root


def test_training_follows_the_label_column(relabelled: Path, tmp_path: Path) -> None:
    from mammokit.train import TrainConfig, train

    config = TrainConfig(**BASE, epochs=1, label="abnormal")
    result = train(relabelled, tmp_path / "run", config, verbose=0)
    oof = pd.read_csv(tmp_path / "run" / "oof.csv", dtype={"image_id": str})
    index = pd.read_csv(relabelled / "index.csv", dtype={"image_id": str}).set_index("image_id")
    assert "cancer" not in oof.columns  # oof.csv names the run's own label
    assert list(oof["abnormal"]) == list(index.loc[oof["image_id"], "abnormal"])
    assert oof["abnormal"].sum() > 0
    assert not np.isnan(result.history["val_breast_auc"].iloc[-1])  # positives were seen
    assert 'label = "abnormal"' in (tmp_path / "run" / "config.toml").read_text()
    from mammokit.train.rundir import read_oof

    read = read_oof(tmp_path / "run", label="abnormal")  # back under the one name
    assert read is not None and list(read["cancer"]) == list(oof["abnormal"])


def test_a_missing_label_fails_before_the_run_folder_exists(
    relabelled: Path, tmp_path: Path
) -> None:
    from mammokit.core.errors import ConfigError
    from mammokit.train import TrainConfig, train

    with pytest.raises(ConfigError, match="no 'malignant' column"):
        train(relabelled, tmp_path / "run", TrainConfig(**BASE, label="malignant"), verbose=0)
    with pytest.raises(ConfigError, match="aux target 'nope'"):
        train(relabelled, tmp_path / "run", TrainConfig(**BASE, aux={"nope": "binary"}))
    assert not (tmp_path / "run").exists()


def test_aux_heads_train_and_weight_zero_leaves_predictions_unchanged(
    relabelled: Path, tmp_path: Path
) -> None:
    from mammokit.core.tf import import_keras
    from mammokit.train import TrainConfig, train

    plain = TrainConfig(**BASE, epochs=2, label="abnormal")
    aux = {"grade": "categorical", "cancer": "binary"}
    silent = TrainConfig(**BASE, epochs=2, label="abnormal", aux=aux,
                         aux_weights={"grade": 0.0, "cancer": 0.0})  # fmt: skip
    loud = TrainConfig(**BASE, epochs=2, label="abnormal", aux=aux, aux_weights={"grade": 5.0})
    for name, config in (("plain", plain), ("silent", silent), ("loud", loud)):
        train(relabelled, tmp_path / name, config, verbose=0)
    history = pd.read_csv(tmp_path / "loud" / "history.csv")
    assert {"aux_grade_loss", "aux_cancer_loss"} <= set(history.columns)
    np.testing.assert_allclose(_oof(tmp_path / "silent"), _oof(tmp_path / "plain"), atol=1e-6)
    assert not np.allclose(_oof(tmp_path / "loud"), _oof(tmp_path / "plain"), atol=1e-6)
    model = import_keras().models.load_model(tmp_path / "loud" / "model.keras", compile=False)
    assert len(model.outputs) == 1 and tuple(model.outputs[0].shape) == (None, 1)
    assert "aux_classes" in (tmp_path / "loud" / "config.toml").read_text()


def test_val_loss_is_the_configured_loss(preprocessed_dir: Path, tmp_path: Path) -> None:
    """``val_loss`` is the training loss on the validation rows (here focal), not a binary
    cross-entropy computed by hand whatever the loss."""
    from mammokit.train import TrainConfig, train
    from mammokit.train.losses import bce, focal

    config = TrainConfig(**BASE, epochs=2, loss="focal", monitor="val_loss")
    result = train(preprocessed_dir, tmp_path / "focal", config, verbose=0)
    oof = pd.read_csv(tmp_path / "focal" / "oof.csv")  # the kept epoch's validation scores
    labels = oof["cancer"].to_numpy(np.float32)[:, None]
    scores = oof["score"].to_numpy(np.float32)[:, None]
    logged = float(result.history["val_loss"].iloc[result.best_epoch - 1])
    assert logged == pytest.approx(float(np.mean(focal()(labels, scores))), rel=1e-4)
    assert logged != pytest.approx(float(np.mean(bce()(labels, scores))), rel=1e-2)
