"""``mammokit evaluate`` without TensorFlow: a run directory's files, written per the contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mammokit.app.cli import main
from mammokit.app.run import Ensemble
from mammokit.core.config import (
    PredictConfig,
    PreprocessConfig,
    ReportOptions,
    config_to_dict,
    save_toml,
)
from mammokit.core.errors import ConfigError
from mammokit.evaluate.evaluation import (
    LabelledPredictions,
    evaluate,
    join_labels,
    read_labels,
    read_predictions,
)
from mammokit.evaluate.runinfo import read_run
from mammokit.scoring import metrics as m
from mammokit.train.config import TrainConfig


def _images(n_patients: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(100, 100 + n_patients):
        for laterality in "LR":
            cancer = int(rng.random() < 0.2)
            for view in ("CC", "MLO"):
                rows.append(
                    {
                        "image_id": str(patient * 10 + len(rows) % 10),
                        "patient_id": str(patient),
                        "laterality": laterality,
                        "view": view,
                        "prediction_id": f"{patient}_{laterality}",
                        "cancer": cancer,
                        "score": float(np.clip(rng.normal(0.3 + 0.3 * cancer, 0.15), 0, 1)),
                        "site_id": 1 + patient % 2,
                    }
                )
    frame = pd.DataFrame(rows)
    frame["image_id"] = [str(1000 + i) for i in range(len(frame))]
    return frame


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    save_toml(
        {
            "preprocess": config_to_dict(PreprocessConfig(size=(64, 32))),
            "train": config_to_dict(TrainConfig(backbone="simple_cnn")),
            "stats": {"positive_rate": 0.2, "seed": 42},
        },
        run / "config.toml",
    )
    oof = _images(40, seed=0)
    columns = ["image_id", "patient_id", "laterality", "prediction_id", "cancer", "score"]
    oof[columns].to_csv(run / "oof.csv", index=False)
    return run


def test_read_run(run_dir: Path) -> None:
    info = read_run(run_dir)
    assert info.positive_rate == 0.2 and info.seed == 42
    assert info.preprocess.size == (64, 32)
    assert info.model_input_size == (64, 32) and info.bit_depth == 8
    with pytest.raises(ConfigError, match="run directory"):
        read_run(run_dir / "nope")


def test_evaluate_oof_with_cli(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["evaluate", "--run", str(run_dir), "--out", str(out), "--n-boot", "100"]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    oof = pd.read_csv(run_dir / "oof.csv")
    breasts = oof.groupby("prediction_id").agg(cancer=("cancer", "max"), score=("score", "mean"))
    assert summary["breasts"] == len(breasts)
    auc = m.roc_auc(breasts["cancer"], breasts["score"])
    assert summary["metrics"]["ROC AUC"]["estimate"] == pytest.approx(auc)
    # prior_quantile with the run's positive rate 0.2: about 20% of breasts positive.
    counts = summary["counts"]
    assert abs(counts["tp"] + counts["fp"] - 0.2 * len(breasts)) <= 1
    for png in ("roc", "pr", "pf1_threshold", "histogram", "calibration", "worst_cases"):
        assert (out / f"{png}.png").stat().st_size > 1000


def test_evaluate_predictions_against_breast_and_image_labels(
    run_dir: Path, tmp_path: Path
) -> None:
    test = _images(30, seed=1)
    test.drop(columns=["cancer"]).to_csv(tmp_path / "image_scores.csv", index=False)
    test.drop_duplicates("prediction_id")[["prediction_id", "cancer"]].to_csv(
        tmp_path / "labels.csv", index=False
    )
    test.drop(columns=["score"]).to_csv(tmp_path / "train_like.csv", index=False)
    expected = test.groupby("prediction_id").agg(cancer=("cancer", "max"), score=("score", "max"))
    for labels in ("labels.csv", "train_like.csv"):
        breasts, images = join_labels(
            read_predictions(tmp_path / "image_scores.csv"), read_labels(tmp_path / labels), "max"
        )
        assert images is not None and "view" in images.columns
        indexed = breasts.set_index("prediction_id")
        assert indexed["cancer"].equals(expected["cancer"].astype(int))
        np.testing.assert_allclose(indexed["score"], expected["score"])
    scores = LabelledPredictions(tmp_path / "image_scores.csv", tmp_path / "labels.csv")
    files = evaluate([run_dir], tmp_path / "rep", scores=scores,
                     predict=PredictConfig(threshold="best_pf1", calibration="isotonic"),
                     report=ReportOptions(n_boot=50))  # fmt: skip
    html = files.html.read_text()
    assert "By view (image level)" in html and "calibrated (isotonic" in html
    assert (run_dir / "calibration" / "isotonic-mean.json").is_file()


def test_breast_level_submission_as_predictions(run_dir: Path, tmp_path: Path) -> None:
    test = _images(10, seed=2).drop_duplicates("prediction_id")
    test[["prediction_id", "score"]].rename(columns={"score": "cancer"}).to_csv(
        tmp_path / "submission.csv", index=False
    )
    test[["prediction_id", "cancer"]].to_csv(tmp_path / "labels.csv", index=False)
    breasts, images = join_labels(
        read_predictions(tmp_path / "submission.csv"), read_labels(tmp_path / "labels.csv"), "mean"
    )
    assert images is None
    assert breasts["cancer"].tolist() == test.sort_values("prediction_id")["cancer"].tolist()


def test_evaluate_usage_errors(run_dir: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"prediction_id": ["999_L"], "cancer": [1]}).to_csv(labels, index=False)
    status = main(["evaluate", "--run", str(run_dir), "--predictions", str(run_dir / "oof.csv"),
                   "--labels", str(labels), "--out", str(tmp_path / "r")])  # fmt: skip
    assert status == 2  # no prediction matches a label: a ConfigError
    assert main(["evaluate", "--run", str(run_dir), "--labels", str(labels),
                 "--out", str(tmp_path / "r")]) == 2  # fmt: skip
    assert main(["evaluate", "--run", str(run_dir), "--out", str(tmp_path / "r"),
                 "--threshold", "bogus"]) == 2  # fmt: skip


def test_evaluate_scores_a_predictions_file_without_a_run(tmp_path: Path) -> None:
    test = _images(30, seed=2)
    test.drop(columns=["cancer"]).to_csv(tmp_path / "image_scores.csv", index=False)
    test.drop_duplicates("prediction_id")[["prediction_id", "cancer"]].to_csv(
        tmp_path / "labels.csv", index=False
    )
    (tmp_path / "synth.toml").write_text("[synth]\n")  # labels from `mammokit synth`
    argv = ["evaluate", "--predictions", str(tmp_path / "image_scores.csv"),
            "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "rep"),
            "--n-boot", "50"]  # fmt: skip
    assert main(argv) == 2  # prior_quantile without a run has no prior: a ConfigError
    assert main([*argv, "--threshold", "prior_quantile:0.2"]) == 0
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "none (predictions file only)" in page and "synthetic (made by mammokit synth" in page
    assert "0.2 (given)" in page
    provenance = json.loads((tmp_path / "rep" / "metrics.json").read_text())["provenance"]
    assert provenance["threshold policy"] == "prior_quantile:0.2"
    assert "backbone" not in provenance


def test_the_command_is_the_ensemble_report(run_dir: Path, tmp_path: Path) -> None:
    """``mammokit evaluate`` and ``Ensemble.report`` write the same numbers; the policy
    given overrides the run's own ``[predict]`` table, as ``--threshold`` does."""
    argv = ["evaluate", "--run", str(run_dir), "--threshold", "fixed:0.5", "--aggregate", "max",
            "--metrics", "auc,pf1", "--n-boot", "30", "--out", str(tmp_path / "cli")]  # fmt: skip
    assert main(argv) == 0
    ensemble = Ensemble.open(
        [run_dir], predict=PredictConfig(threshold="fixed:0.5", aggregate="max")
    )
    files = ensemble.report(tmp_path / "py", options=ReportOptions(metrics="auc,pf1", n_boot=30))
    ours = json.loads(files.metrics_json.read_text())
    theirs = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert ours["threshold"] == theirs["threshold"] == 0.5
    assert ours["metrics"] == theirs["metrics"]
    assert list(ours["metrics"]) == ["ROC AUC", "pF1 (probabilities)"]
    # no policy given: the run's own [predict] table (here the default, prior_quantile)
    own = Ensemble.open([run_dir]).report(tmp_path / "own", options=ReportOptions(n_boot=10))
    assert json.loads(own.metrics_json.read_text())["policy"] == "prior_quantile"


def test_an_ensemble_without_runs_only_reports_a_predictions_file(tmp_path: Path) -> None:
    test = _images(10, seed=3)
    test.drop(columns=["cancer"]).to_csv(tmp_path / "image_scores.csv", index=False)
    test.drop_duplicates("prediction_id")[["prediction_id", "cancer"]].to_csv(
        tmp_path / "labels.csv", index=False
    )
    none = Ensemble(predict=PredictConfig(threshold="fixed:0.4"))
    files = none.report(tmp_path / "rep", predictions=tmp_path / "image_scores.csv",
                        labels=tmp_path / "labels.csv",
                        options=ReportOptions(n_boot=10))  # fmt: skip
    assert json.loads(files.metrics_json.read_text())["threshold"] == 0.4
    with pytest.raises(ConfigError, match="together"):
        none.report(tmp_path / "rep", labels=tmp_path / "labels.csv")
    with pytest.raises(ConfigError, match="needs a run directory"):
        none.report(tmp_path / "rep")
    with pytest.raises(ConfigError, match="at least one run"):
        none.write_predictions(tmp_path, tmp_path / "labels.csv", tmp_path / "s.csv")


def test_labels_of_unknown_side_take_the_side_predict_found(run_dir: Path, tmp_path: Path) -> None:
    """An image labels table that does not know the side (empty cells, or no column): each
    image belongs to the breast its prediction names; `mammokit evaluate` in its own
    process, as a user runs it after `mammokit predict`."""
    import subprocess
    import sys

    test = _images(12, seed=3)
    test.drop(columns=["cancer"]).to_csv(tmp_path / "image_scores.csv", index=False)
    blank = test.drop(columns=["score", "prediction_id"]).assign(laterality="")
    blank.to_csv(tmp_path / "blank_side.csv", index=False)
    blank.drop(columns=["laterality"]).to_csv(tmp_path / "no_side.csv", index=False)
    expected = test.groupby("prediction_id").agg(cancer=("cancer", "max"), score=("score", "max"))
    for labels in ("blank_side.csv", "no_side.csv"):
        breasts, _ = join_labels(
            read_predictions(tmp_path / "image_scores.csv"), read_labels(tmp_path / labels), "max"
        )
        indexed = breasts.set_index("prediction_id")
        assert indexed["cancer"].equals(expected["cancer"].astype(int))
        np.testing.assert_allclose(indexed["score"], expected["score"])
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "mammokit", "evaluate", "--run", str(run_dir),
         "--predictions", str(tmp_path / "image_scores.csv"),
         "--labels", str(tmp_path / "no_side.csv"), "--out", str(out), "--n-boot", "20"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "metrics.json").read_text())["breasts"] == len(expected)
    # breast-level predictions cannot name the side of an image: a clear error
    test.drop_duplicates("prediction_id")[["prediction_id", "score"]].to_csv(
        tmp_path / "breast_scores.csv", index=False
    )
    with pytest.raises(ConfigError, match="have no side"):
        join_labels(
            read_predictions(tmp_path / "breast_scores.csv"),
            read_labels(tmp_path / "no_side.csv"),
            "max",
        )
