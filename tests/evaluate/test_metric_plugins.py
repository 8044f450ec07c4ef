"""Metrics come from ``mammokit_metrics``: a plugin's metric reaches metrics.json, the
report's summary and breakdown tables, the training history (see tests/train) and the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mammokit import Component, MetricComponent, hookimpl
from mammokit.core.config import (
    PredictConfig,
    PreprocessConfig,
    ReportOptions,
    config_to_dict,
    save_toml,
)
from mammokit.core.errors import ConfigError, PluginError
from mammokit.evaluate.evaluation import evaluate
from mammokit.evaluate.report import write_report
from mammokit.plugins import get_plugin_manager
from mammokit.scoring import metrics as m
from mammokit.scoring.metricset import (
    DEFAULT_BREAKDOWN_METRICS,
    DEFAULT_METRICS,
    select_metrics,
    select_report_metrics,
)
from mammokit.train.config import TrainConfig
from mammokit.train.metrics import validation_metrics


def brier(y_true: Any, scores: Any) -> float:
    return float(np.mean((np.asarray(scores, float) - np.asarray(y_true, float)) ** 2))


def mean_positive_score(y_true: Any, scores: Any) -> float:
    positives = np.asarray(scores, float)[np.asarray(y_true) == 1]
    return float(positives.mean()) if positives.size else math.nan


def ppv(y_true: Any, scores: Any, threshold: float) -> float:
    c = m.confusion_counts(y_true, scores, threshold)
    return c.tp / (c.tp + c.fp) if c.tp + c.fp else math.nan


class ScorePlugin:
    """A third party's metrics: a plain Component, a labelled one, a thresholded one."""

    thresholds: list[float] = []

    @hookimpl
    def mammokit_metrics(self) -> list[Component]:
        def make_ppv(threshold: float) -> Any:
            ScorePlugin.thresholds.append(threshold)
            return lambda y, s: ppv(y, s, threshold)

        return [
            Component("mean_positive_score", "Positives mean", lambda: mean_positive_score),
            MetricComponent("brier", "Brier score", lambda: brier, label="Brier score"),
            MetricComponent("ppv", "Precision at the threshold", make_ppv, needs_threshold=True),
            Component("broken", "Raises", lambda: lambda y, s: 1 / 0),
            Component("texty", "Returns text", lambda: lambda y, s: "high"),
        ]  # fmt: skip


@pytest.fixture
def pm() -> Any:
    ScorePlugin.thresholds = []
    return get_plugin_manager(plugins=[ScorePlugin()], load_entry_points=False)


def _write_run(run: Path, oof: pd.DataFrame) -> Path:
    run.mkdir()
    save_toml(
        {
            "preprocess": config_to_dict(PreprocessConfig(size=(64, 32))),
            "train": config_to_dict(TrainConfig(backbone="simple_cnn")),
            "stats": {"positive_rate": 0.2, "seed": 42},
        },
        run / "config.toml",
    )
    oof = oof.assign(image_id=[str(i) for i in range(len(oof))],
                     laterality=oof["prediction_id"].str[-1])  # fmt: skip
    oof.to_csv(run / "oof.csv", index=False)
    return run


def _breasts(n_patients: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(n_patients), 2)
    cancer = (rng.random(patients.size) < 0.2).astype(int)
    return pd.DataFrame(
        {
            "prediction_id": [
                f"{p}_{lat}" for p, lat in zip(patients, "LR" * n_patients, strict=True)
            ],
            "patient_id": patients,
            "cancer": cancer,
            "score": np.clip(rng.normal(0.3 + 0.3 * cancer, 0.15), 0, 1),
            "site_id": 1 + patients % 2,
        }
    )


def test_a_plugin_metric_reaches_metrics_json_and_both_report_tables(
    pm: Any, tmp_path: Path
) -> None:
    breasts = _breasts()
    files = write_report(tmp_path, breasts, threshold=0.4, manager=pm,
                         options=ReportOptions(metrics="auc,brier,ppv", n_boot=50))  # fmt: skip
    summary = json.loads(files.metrics_json.read_text())
    assert list(summary["metrics"]) == ["ROC AUC", "Brier score", "ppv"]
    y, s = breasts["cancer"].to_numpy(), breasts["score"].to_numpy()
    assert summary["metrics"]["Brier score"]["estimate"] == pytest.approx(brier(y, s))
    assert summary["metrics"]["ppv"]["estimate"] == pytest.approx(ppv(y, s, 0.4))
    # built with the policy's threshold (and 0.5 once, when the choice is checked)
    assert 0.4 in ScorePlugin.thresholds and set(ScorePlugin.thresholds) <= {0.4, 0.5}
    assert summary["metrics"]["Brier score"]["n_valid"] == 50  # bootstrapped like the others
    rows = summary["breakdowns"]["site_id"]
    assert [list(row) for row in rows] == [["site_id", "n", "positives", "ROC AUC",
                                            "Brier score", "ppv", "ci"]] * 2  # fmt: skip
    assert [list(row["ci"]) for row in rows] == [["ROC AUC", "Brier score", "ppv"]] * 2
    for row in rows:
        group = breasts[breasts["site_id"].astype(str) == row["site_id"]]
        assert row["Brier score"] == pytest.approx(brier(group["cancer"], group["score"]))
    html = files.html.read_text()
    assert html.count("<td>Brier score</td>") == 1  # the summary row
    assert "<th>Brier score</th>" in html  # the breakdown column
    assert "Sensitivity" not in html and "PR AUC" not in html  # only the chosen ones


def test_a_thresholded_metric_is_left_out_without_a_threshold(pm: Any, tmp_path: Path) -> None:
    files = write_report(tmp_path, _breasts(), threshold=None, manager=pm,
                         options=ReportOptions(metrics=["brier", "ppv"], n_boot=20))  # fmt: skip
    summary = json.loads(files.metrics_json.read_text())
    assert list(summary["metrics"]) == ["Brier score"]
    assert ScorePlugin.thresholds == [0.5]  # only the option check at selection


def test_an_undefined_metric_is_null_and_na(pm: Any, tmp_path: Path) -> None:
    breasts = _breasts(10).assign(cancer=0)
    options = ReportOptions(metrics="mean_positive_score,pf1", n_boot=20)
    files = write_report(tmp_path, breasts, threshold=0.5, manager=pm, options=options)
    summary = json.loads(files.metrics_json.read_text())
    assert summary["metrics"]["mean_positive_score"]["estimate"] is None
    assert summary["breakdowns"]["site_id"][0]["mean_positive_score"] is None
    assert "<td>mean_positive_score</td><td>n/a</td>" in files.html.read_text()


def test_the_default_sets_are_the_built_in_metrics() -> None:
    summary, breakdown = select_report_metrics(None)
    assert summary.names == DEFAULT_METRICS and breakdown.names == DEFAULT_BREAKDOWN_METRICS
    assert list(summary.build(0.5)) == [
        "pF1 (probabilities)", "ROC AUC", "PR AUC (average precision)", "pF1 (binarised)",
        "Sensitivity", "Specificity",
    ]  # fmt: skip
    assert list(summary.build(None)) == ["pF1 (probabilities)", "ROC AUC",
                                         "PR AUC (average precision)"]  # fmt: skip
    chosen = select_report_metrics("auc,pf1")
    assert chosen[0] is chosen[1]  # chosen names serve both tables


def test_evaluate_api_takes_plugin_metrics_and_options(pm: Any, tmp_path: Path) -> None:
    images = _breasts(30, seed=3).loc[lambda f: f.index.repeat(2)].reset_index(drop=True)
    images["score"] += np.tile([0.0, 0.1], len(images) // 2)
    run = _write_run(tmp_path / "run", images)
    options = ReportOptions(
        metrics=("pf1", "ppv", "brier"), metric_options={"pf1": {"beta": 2}}, n_boot=20
    )
    files = evaluate([run], tmp_path / "rep", predict=PredictConfig(aggregate="max"),
                     report=options, manager=pm)  # fmt: skip
    summary = json.loads(files.metrics_json.read_text())
    assert list(summary["metrics"]) == ["pF1 (probabilities) [beta=2]", "ppv", "Brier score"]
    breasts = images.groupby("prediction_id").agg(cancer=("cancer", "max"), score=("score", "max"))
    y, s = breasts["cancer"].to_numpy(), breasts["score"].to_numpy()
    estimates = {k: v["estimate"] for k, v in summary["metrics"].items()}
    assert estimates["Brier score"] == pytest.approx(brier(y, s))  # per breast, max-aggregated
    assert estimates["pF1 (probabilities) [beta=2]"] == pytest.approx(m.pfbeta(y, s, beta=2))
    assert estimates["ppv"] == pytest.approx(ppv(y, s, summary["threshold"]))
    assert summary["threshold"] in ScorePlugin.thresholds


def test_bad_metric_choices_fail_early_with_their_reason(pm: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown metric 'nope'; choose one of: .*brier.*pf1"):
        select_metrics("pf1,nope", manager=pm)
    with pytest.raises(ConfigError, match="listed twice: auc"):
        select_metrics("auc,pf1,auc")
    with pytest.raises(ConfigError, match="at least one"):
        select_metrics(" , ")
    with pytest.raises(ConfigError, match="not chosen: pr_auc"):
        select_metrics("pf1", {"pr_auc": {}})
    with pytest.raises(ConfigError, match=r"metric 'pf1' \(gamma=1\).*gamma"):
        select_metrics("pf1", {"pf1": {"gamma": 1}})
    with pytest.raises(ConfigError, match="'f1' needs a threshold"):
        select_metrics("pf1,f1", allow_threshold=False)
    # evaluate refuses before reading anything: the run directory does not even exist
    with pytest.raises(ConfigError, match="Unknown metric 'nope'"):
        evaluate(
            [tmp_path / "missing"],
            tmp_path / "rep",
            report=ReportOptions(metrics="nope"),
            manager=pm,
        )


def test_a_failing_plugin_metric_is_named(pm: Any) -> None:
    y, s = np.array([0, 1]), np.array([0.2, 0.7])
    with pytest.raises(PluginError, match="metric 'broken' failed: ZeroDivisionError"):
        select_metrics("broken", manager=pm).build(None)["broken"](y, s)
    with pytest.raises(PluginError, match="metric 'texty' returned 'high'"):
        select_metrics("texty", manager=pm).build(None)["texty"](y, s)


def test_validation_metrics_per_image_and_breast(pm: Any) -> None:
    table = pd.DataFrame({"patient_id": ["1", "1", "2", "2", "3", "3"],
                          "laterality": ["L", "L", "L", "R", "R", "R"],
                          "cancer": [1, 1, 0, 0, 0, 0]})  # fmt: skip
    scores = np.array([0.9, 0.5, 0.2, 0.4, 0.1, 0.3])
    out = validation_metrics(table, scores, select_metrics("pf1,brier", manager=pm))
    assert list(out) == ["image_pf1", "image_brier", "breast_pf1", "breast_brier"]
    assert out["image_brier"] == pytest.approx(brier(table["cancer"], scores))
    breast_scores, breast_labels = [0.7, 0.2, 0.4, 0.2], [1, 0, 0, 0]  # means per breast
    assert out["breast_brier"] == pytest.approx(brier(breast_labels, breast_scores))
    default = validation_metrics(table, scores)
    assert list(default) == ["image_pf1", "image_auc", "breast_pf1", "breast_auc"]
    assert default["breast_auc"] == pytest.approx(m.roc_auc(breast_labels, breast_scores))


def test_train_config_metrics() -> None:
    assert TrainConfig().metrics == ("pf1", "auc")
    assert TrainConfig(metrics="pf1, brier").metrics == ("pf1", "brier")
    # pf1 no longer picks the best weights (the monitor does), so it may be left out; the
    # monitor's own metric is computed even when not listed
    assert TrainConfig(metrics=("auc",)).validation_metrics == ("auc",)
    assert TrainConfig(metrics=("pf1",)).validation_metrics == ("pf1", "auc")
    assert TrainConfig(metrics=("pf1",), monitor="val_loss").validation_metrics == ("pf1",)
    assert TrainConfig(monitor="auc").monitor == "breast_auc"  # a bare name: breast level
    with pytest.raises(ValueError, match="monitor must be"):
        TrainConfig(monitor="")
    with pytest.raises(ValueError, match="not in metrics: auc"):
        TrainConfig(metrics=("pf1",), metric_options={"auc": {}})


# --- the command line, in subprocesses ------------------------------------------------

PLUGIN_SOURCE = """
    import numpy as np
    import mammokit

    @mammokit.hookimpl
    def mammokit_metrics():
        def brier(y, s):
            return float(np.mean((np.asarray(s, float) - np.asarray(y, float)) ** 2))
        return [mammokit.MetricComponent("brier", "Brier score", lambda: brier,
                                         label="Brier score")]
"""


def _run_cli(
    args: list[str], pythonpath: Path | None = None, disable: str = ""
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MAMMOKIT_DISABLE_PLUGINS=disable)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath),
                                                           env.get("PYTHONPATH")]))  # fmt: skip
    return subprocess.run([sys.executable, "-m", "mammokit", *args], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return _write_run(tmp_path / "run", _breasts(30, seed=5))


def test_cli_evaluate_metrics_chooses_built_in_metrics(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    done = _run_cli(["evaluate", "--run", str(run_dir), "--out", str(out), "--n-boot", "20",
                     "--metrics", "sensitivity,auc"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "metrics.json").read_text())
    assert list(summary["metrics"]) == ["Sensitivity", "ROC AUC"]
    assert list(summary["breakdowns"]["site_id"][0])[3:] == ["Sensitivity", "ROC AUC", "ci"]
    counts = summary["counts"]  # sensitivity at the prior_quantile threshold
    expected = counts["tp"] / (counts["tp"] + counts["fn"])
    assert summary["metrics"]["Sensitivity"]["estimate"] == pytest.approx(expected)

    bad = _run_cli(["evaluate", "--run", str(run_dir), "--out", str(out), "--metrics", "auc,x"])
    assert bad.returncode == 2
    assert "Unknown metric 'x'; choose one of: auc, f1, pf1, pr_auc" in bad.stderr


def test_cli_evaluate_with_an_entry_point_metric(run_dir: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "brier_metric_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    dist_info = site / "brier_metric-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: brier-metric\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[mammokit]\nbrier = brier_metric_plugin\n")
    out = tmp_path / "rep"
    done = _run_cli(["evaluate", "--run", str(run_dir), "--out", str(out), "--n-boot", "20",
                     "--metrics", "pf1,brier"], pythonpath=site)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "metrics.json").read_text())
    oof = pd.read_csv(run_dir / "oof.csv")
    breasts = oof.groupby("prediction_id").agg(cancer=("cancer", "max"), score=("score", "mean"))
    assert summary["metrics"]["Brier score"]["estimate"] == pytest.approx(
        brier(breasts["cancer"], breasts["score"])
    )
    assert "<td>Brier score</td>" in (out / "report.html").read_text()
    refused = _run_cli(["evaluate", "--run", str(run_dir), "--out", str(out), "--metrics",
                        "pf1,brier"], pythonpath=site, disable="brier")  # fmt: skip
    assert refused.returncode == 2 and "Unknown metric 'brier'" in refused.stderr


def test_cli_train_refuses_an_unknown_metric_before_tensorflow(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from mammokit.app.cli import main
        status = main(["train", "--data", {str(tmp_path)!r}, "--out", {str(tmp_path / "r")!r},
                       "--metrics", "pf1,nope"])
        print(status, "tensorflow" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert "Unknown metric 'nope'; choose one of:" in done.stderr
    thresholded = _run_cli(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                            "--metrics", "pf1,f1"])  # fmt: skip
    assert thresholded.returncode == 2 and "'f1' needs a threshold" in thresholded.stderr
    bad_monitor = _run_cli(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                            "--monitor", "breast_nope"])  # fmt: skip
    assert bad_monitor.returncode == 2 and "Unknown metric 'nope'" in bad_monitor.stderr
