"""``mammokit demo``: a reduced end-to-end run (TensorFlow), plus its budget planner and its
output-folder rules (no TensorFlow)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit.app.cli import build_parser, main
from mammokit.app.demo import _prepare_out, plan_epochs, run_demo
from mammokit.core.config import load_toml
from mammokit.core.errors import ConfigError


def test_plan_epochs_fits_the_budget() -> None:
    assert plan_epochs(seconds_left=100, epoch_seconds=10, fixed_seconds=30, max_epochs=12) == 7
    assert plan_epochs(seconds_left=1000, epoch_seconds=10, fixed_seconds=30, max_epochs=12) == 12
    # over budget already: one epoch all the same
    assert plan_epochs(seconds_left=-5, epoch_seconds=10, fixed_seconds=30, max_epochs=12) == 1


def test_a_folder_not_made_by_the_demo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not made by `mammokit demo`"):
        run_demo(tmp_path, patients=12, minutes=1)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 2


def test_a_previous_demo_folder_loses_only_the_demo_outputs(tmp_path: Path) -> None:
    (tmp_path / "demo.toml").write_text("[demo]\npatients = 12\n")
    for name in ("synth", "prep", "run", "predict", "report", "gradcam"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")
    _prepare_out(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--patients must be at least"):
        run_demo(tmp_path / "a", patients=5, minutes=1)
    with pytest.raises(ConfigError, match="--test-patients must be at least 2"):
        run_demo(tmp_path / "d", patients=12, test_patients=1, minutes=1)
    with pytest.raises(ConfigError, match="--minutes must be positive"):
        run_demo(tmp_path / "b", patients=12, minutes=0)
    with pytest.raises(ConfigError, match="choose one of"):
        run_demo(tmp_path / "c", patients=12, minutes=1, backbone="resnet_nope")
    # the CLI passes --test-patients through (a usage error, before anything is written)
    out = tmp_path / "e"
    assert main(["demo", "--out", str(out), "--test-patients", "1", "--quiet"]) == 2
    assert not any(tmp_path.iterdir())


def _printed(text: str, label: str) -> float:
    found = re.search(rf"^\s+{label}\s+([-\d.naif]+)", text, re.MULTILINE)
    assert found, f"no {label!r} line in the summary:\n{text}"
    return float(found.group(1))


@pytest.mark.train
def test_a_reduced_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mammokit demo`` with 12 patients at 64x32 (about 25 s): the one run of every demo
    phase, the README's main command."""
    out = tmp_path / "demo"
    result = run_demo(
        out, patients=12, test_patients=2, minutes=1.5, seed=1, source_size=(128, 96),
        image_size=(64, 32), workers=1,
    )  # fmt: skip
    printed = capsys.readouterr().out

    # the printed summary: finite scores, the same ones as the result
    assert "[6/6]" in printed and "mammokit demo: results" in printed
    assert "simple_cnn" in printed and "pretrained" in printed  # which backbone, and why
    assert "2%" in printed  # the prevalence note
    # the printed "same as" commands of the phases that take flags parse with the real parser
    same_as = re.findall(r"same as: mammokit (\w+) (--[^\n(]*)", printed)
    assert {command for command, _ in same_as} == {"synth", "preprocess", "train", "predict",
                                                   "evaluate"}  # fmt: skip
    for command, rest in same_as:
        assert build_parser().parse_args([command, *rest.split()]).command == command
    synth = build_parser().parse_args(["synth", *dict(same_as)["synth"].split()])
    assert (synth.patients, synth.test_patients, synth.seed) == (12, 2, 1)
    auc, pf1 = _printed(printed, "ROC AUC"), _printed(printed, "pF1")
    assert math.isfinite(auc) and 0.0 <= auc <= 1.0 and auc == pytest.approx(result.auc, abs=5e-4)
    assert math.isfinite(pf1) and 0.0 <= pf1 <= 1.0 and pf1 == pytest.approx(result.pf1, abs=5e-4)
    assert result.threshold is not None and math.isfinite(result.threshold)
    assert result.backbone == "simple_cnn" and result.epochs >= 1

    # submission.csv: one 0/1 row per held-out breast, the hidden labels never in it
    paths = result.paths
    labels = pd.read_csv(out / "synth" / "test_labels.csv", dtype={"prediction_id": str})
    submission = pd.read_csv(paths.submission, dtype={"prediction_id": str})
    assert list(submission.columns) == ["prediction_id", "cancer"]
    assert sorted(submission["prediction_id"]) == sorted(labels["prediction_id"])
    assert set(submission["cancer"]) <= {0, 1}
    assert result.test_breasts == len(labels) and result.test_positives == labels["cancer"].sum()

    # training used a patient-grouped split of the training patients only
    train = pd.read_csv(out / "synth" / "train.csv", dtype={"patient_id": str})
    oof = pd.read_csv(paths.run / "oof.csv", dtype={"patient_id": str})
    test = pd.read_csv(out / "synth" / "test.csv", dtype={"patient_id": str})
    assert set(oof["patient_id"]) < set(train["patient_id"])
    assert not set(test["patient_id"]) & set(train["patient_id"])

    # the report and the Grad-CAM overlays
    assert paths.report.is_file() and paths.metrics.is_file()
    assert "ROC" in paths.report.read_text()
    assert len(paths.gradcam) >= 2
    for png in paths.gradcam:
        with Image.open(png) as image:
            assert image.mode == "RGB" and image.size == (32, 64)
            assert np.asarray(image).std() > 0

    # demo.toml records the settings and the scores
    saved = load_toml(paths.settings)
    assert saved["demo"]["patients"] == 12 and saved["demo"]["test_patients"] == 2
    assert saved["result"]["auc"] == pytest.approx(result.auc)
    assert set(result.phase_seconds) == {"synth", "preprocess", "train", "predict", "score",
                                         "report"}  # fmt: skip
