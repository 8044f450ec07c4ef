"""A researcher's own dataset, end to end from the CLI, each step in its own process:
PNG and PGM files named ``<image_id>``, the label in ``abnormal`` (no ``cancer`` column), an
auxiliary target, a held-out split. ``split`` -> ``preprocess`` -> ``train --monitor`` ->
``predict`` -> ``evaluate``, with no file renamed and no table rewritten in between."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_processes import mammokit

pytestmark = pytest.mark.train


def _own_dataset(root: Path) -> tuple[Path, Path]:
    """The synthetic DICOMs re-saved as a film archive would hold them: display values in
    16-bit PNG (even rows) or 8-bit PGM (odd rows), ``<patient>/<image_id>.<ext>``; the
    table names the label ``abnormal``."""
    from mammokit import Pipeline

    mammokit("synth", "--out", "synth", "--patients", "12", "--size", "256x208",
             "--lesion-contrast", "0.4", cwd=root)  # fmt: skip
    table = pd.read_csv(root / "synth" / "train.csv", dtype=str, keep_default_na=False)
    pipeline = Pipeline()
    images = root / "films"
    for i, row in enumerate(table.itertuples()):
        source = root / "synth" / "train_images" / row.patient_id / f"{row.image_id}.dcm"
        windowed = pipeline.window(pipeline.decode(source))
        scaled = windowed.pixels.astype(np.float64) / windowed.max_value
        target = images / row.patient_id / f"{row.image_id}.{'pgm' if i % 2 else 'png'}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if i % 2:
            Image.fromarray((scaled * 255).round().astype(np.uint8)).save(target)
        else:
            Image.fromarray((scaled * 65535).round().astype(np.uint16)).save(target)
    own = table.rename(columns={"cancer": "abnormal"})
    own.to_csv(root / "films.csv", index=False)
    return images, root / "films.csv"


def test_split_preprocess_train_predict_evaluate(tmp_path: Path) -> None:
    """A user's own film archive through five CLI processes (about 40 s): the only run of
    the whole chain with another label name, PNG/PGM input, auxiliary heads and folds."""
    images, csv = _own_dataset(tmp_path)
    assert {p.suffix for p in images.rglob("*.*")} == {".png", ".pgm"}
    done = mammokit("split", "--csv", csv, "--label", "abnormal", "--test-fraction", "0.25",
                    "--stratify", "site_id", "--seed", "1", "--out", "split",
                    cwd=tmp_path)  # fmt: skip
    assert "test.csv" in done.stdout
    done = mammokit("preprocess", "--images", images, "--csv", "split/train.csv", "--out", "prep",
                    "--size", "128x64", "--workers", "1", "--quiet", cwd=tmp_path)  # fmt: skip
    assert "0 failed" in done.stderr  # --quiet still says how it went
    done = mammokit("train", "-v", "--data", "prep", "--out", "run", "--backbone", "simple_cnn",
                    "--epochs", "2", "--batch-size", "8", "--strategy", "cpu", "--n-folds", "3",
                    "--image-size", "64x32", "--label", "abnormal",
                    "--aux", "density=categorical", "--aux-weights", "density=0.5",
                    "--monitor", "breast_pf1_best_threshold", "--sampling", "none",
                    "--quiet", cwd=tmp_path)  # fmt: skip
    assert "label 'abnormal'" in done.stdout
    assert "highest breast_pf1_best_threshold" in done.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["label"] == "abnormal" and summary["model_epoch"] in (1, 2)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert "aux_density_loss" in history.columns
    assert list(history["monitor"]) == list(history["val_breast_pf1_best_threshold"])

    mammokit("predict", "--run", "run", "--images", images, "--csv", "split/test.csv",
             "--out", "submission.csv", "--scores", "image_scores.csv", "--workers", "1",
             "--quiet", cwd=tmp_path)  # fmt: skip
    submission = pd.read_csv(tmp_path / "submission.csv")
    labels = pd.read_csv(tmp_path / "split" / "test_labels.csv", dtype={"prediction_id": str})
    assert list(submission.columns) == ["prediction_id", "abnormal"]
    assert sorted(submission["prediction_id"]) == sorted(labels["prediction_id"].unique())

    mammokit("evaluate", "--run", "run", "--predictions", "image_scores.csv",
             "--labels", "split/test_labels.csv", "--out", "report", "--n-boot", "20",
             cwd=tmp_path)  # fmt: skip
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    breasts = labels.groupby("prediction_id")["abnormal"].max()
    assert metrics["breasts"] == len(breasts)
    assert metrics["positive_breasts"] == int(breasts.sum())
    assert "Label: abnormal" in (tmp_path / "report" / "report.html").read_text()
