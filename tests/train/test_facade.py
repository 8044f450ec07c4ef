"""The whole path on one object (``mammokit.Pipeline`` -> ``Run``), checked call by call
against the CLI steps a user's shell would run, each in its own process.

ConvNeXtV2 Atto at 128x64, one epoch, on 10 synthetic patients: ``Pipeline.fit`` and
``mammokit preprocess`` + ``mammokit train`` give the same run (training is deterministic on
the CPU); ``Run.predict`` equals ``mammokit predict``; ``Run.evaluate`` equals
``mammokit evaluate --predictions --labels``; ``Run.open`` in a new process rebuilds the
saved pipeline and ``predict_file`` gives the score ``mammokit predict`` gives that image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_processes import mammokit as cli

import mammokit
from mammokit.core.tf import TF_LOGS_ENV

pytestmark = pytest.mark.train

OPTIONS = {"backbone": "convnextv2_atto", "epochs": 1, "batch_size": 8, "strategy": "cpu",
           "threshold": "best_pf1"}  # fmt: skip
CLI_OPTIONS = ("--backbone", "convnextv2_atto", "--epochs", "1", "--batch-size", "8",
               "--strategy", "cpu")  # fmt: skip


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, mammokit.Run]:
    """``(workspace, run)``: the data made by ``mammokit synth`` and a run made by
    ``Pipeline.fit`` in this process.

    The tests of this module each start CLI processes (20 to 40 s each): they prove that
    the Python API and the CLI, each step in its own process, give the same results."""
    root = tmp_path_factory.mktemp("facade")
    cli("synth", "--out", "data", "--patients", "10", "--size", "256x208",
        "--lesion-contrast", "0.4", cwd=root)  # fmt: skip
    pipe = mammokit.Pipeline(size=(128, 64), **OPTIONS)
    run = pipe.fit(root / "data/train_images", root / "data/train.csv", root / "py-run",
                   workers=1, quiet=True)  # fmt: skip
    return root, run


def test_fit_equals_preprocess_then_train_on_the_cli(fitted: tuple[Path, mammokit.Run]) -> None:
    """Preprocess and train in two CLI processes (about 35 s): the CLI's run equals
    ``Pipeline.fit``'s, score for score and table for table."""
    root, run = fitted
    cli("preprocess", "--images", "data/train_images", "--csv", "data/train.csv",
        "--out", "prep", "--size", "128x64", "--workers", "1", "--quiet", cwd=root)  # fmt: skip
    cli("train", "--data", "prep", "--out", "cli-run", *CLI_OPTIONS, "--quiet", cwd=root)
    py = pd.read_csv(run.root / "oof.csv", dtype={"image_id": str}).set_index("image_id")
    sh = pd.read_csv(root / "cli-run/oof.csv", dtype={"image_id": str}).set_index("image_id")
    assert len(py) > 0
    pd.testing.assert_series_equal(py["score"], sh.loc[py.index, "score"], atol=1e-6, rtol=0)
    saved = mammokit.core.config.load_toml(root / "cli-run/config.toml")
    assert saved["train"] == run.pipeline.config_tables()["train"]
    assert saved["preprocess"] == run.pipeline.config_tables()["preprocess"]


def test_run_predict_equals_the_cli(fitted: tuple[Path, mammokit.Run]) -> None:
    """``Run.predict`` against ``mammokit predict`` in its own process (about 20 s)."""
    root, run = fitted
    sub = run.predict(root / "data/train_images", root / "data/train.csv", workers=1)
    assert list(sub.columns) == ["prediction_id", "cancer"]
    assert set(sub["cancer"]) <= {0, 1}
    cli("predict", "--run", run.root, "--images", "data/train_images", "--csv",
        "data/train.csv", "--out", "cli-sub.csv", "--threshold", "best_pf1",
        "--workers", "1", "--quiet", cwd=root)  # fmt: skip
    pd.testing.assert_frame_equal(sub, pd.read_csv(root / "cli-sub.csv"))


def test_run_evaluate_equals_the_cli(fitted: tuple[Path, mammokit.Run]) -> None:
    root, run = fitted
    result = run.evaluate(root / "data/train_images", root / "data/train.csv",
                          root / "py-eval", n_boot=50, workers=1)  # fmt: skip
    assert result.report.html.exists()
    cli("evaluate", "--run", run.root, "--predictions", result.predictions.image_scores,
        "--labels", "data/train.csv", "--threshold", "best_pf1", "--n-boot", "50",
        "--out", "cli-eval", cwd=root)  # fmt: skip
    theirs = json.loads((root / "cli-eval/metrics.json").read_text())
    assert result.metrics["metrics"] == theirs["metrics"]


def test_open_in_a_new_process_rebuilds_the_pipeline_and_scores_a_file(
    fitted: tuple[Path, mammokit.Run],
) -> None:
    """``Run.open`` in a user's script in a new process, then ``mammokit predict`` in another
    (about 35 s): a saved run alone rebuilds the pipeline and gives the CLI's score, and the
    script's output holds no TensorFlow start-up log (library calls are as quiet as the CLI)."""
    root, run = fitted
    table = pd.read_csv(root / "data/train.csv", dtype={"image_id": str, "patient_id": str})
    row = table.iloc[0]
    image = root / "data/train_images" / row["patient_id"] / f"{row['image_id']}.dcm"
    script = (
        "import sys, mammokit\n"
        "run = mammokit.Run.open(sys.argv[1])\n"
        "assert run.pipeline.predict_config.threshold == 'best_pf1', run.pipeline\n"
        "assert run.pipeline.train_config.backbone == 'convnextv2_atto'\n"
        "print(repr(run.predict_file(sys.argv[2], laterality=sys.argv[3])))\n"
    )
    (root / "score_one.py").write_text(script, encoding="utf-8")
    quiet = {k: v for k, v in os.environ.items() if k not in (TF_LOGS_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    args = [sys.executable, str(root / "score_one.py"), str(run.root), str(image)]
    done = subprocess.run([*args, row["laterality"]], capture_output=True, text=True, env=quiet)
    assert done.returncode == 0, done.stderr
    logs = ("absl::InitializeLog", "I0000", "E0000", "cuInit", "oneDNN", "cuda", "TF-TRT")
    assert not [line for line in done.stderr.splitlines() if any(m in line for m in logs)]
    score = float(done.stdout.strip().splitlines()[-1])
    cli("predict", "--run", run.root, "--images", "data/train_images", "--csv",
        "data/train.csv", "--out", "one-sub.csv", "--scores", "one-images.csv",
        "--workers", "1", "--quiet", cwd=root)  # fmt: skip
    scores = pd.read_csv(root / "one-images.csv", dtype={"image_id": str}).set_index("image_id")
    assert score == pytest.approx(float(scores.loc[row["image_id"], "score"]), abs=1e-5)
    assert run.predict_file(image, laterality=row["laterality"]) == pytest.approx(score, abs=1e-6)


def test_a_run_loads_its_model_once(fitted: tuple[Path, mammokit.Run]) -> None:
    """``predict_file`` scores with the one model that ``Run.model`` loaded: zeroing that
    object's weights makes every score sigmoid(0) = 0.5, which a fresh load would not."""
    root, run = fitted
    fresh = mammokit.Run.open(run.root)
    table = pd.read_csv(root / "data/train.csv", dtype={"image_id": str, "patient_id": str})
    row = table.iloc[1]
    image = root / "data/train_images" / row["patient_id"] / f"{row['image_id']}.dcm"
    assert fresh.predict_file(image, laterality=row["laterality"]) != 0.5
    model = fresh.model
    assert fresh.model is model
    for weight in model.weights:
        weight.assign(np.zeros(weight.shape, dtype=weight.dtype.as_numpy_dtype))
    assert fresh.predict_file(image, laterality=row["laterality"]) == 0.5
    assert fresh.model is model


def test_unknown_names_fail_at_construction_listing_the_choices() -> None:
    with pytest.raises(mammokit.ConfigError, match="choose one of: .*simple_cnn"):
        mammokit.Pipeline(backbone="convnextv2_nope")
    with pytest.raises(mammokit.ConfigError, match="did you mean sampling"):
        mammokit.Pipeline(samplng="undersample")
    with pytest.raises(mammokit.ConfigError, match="threshold policy"):
        mammokit.Pipeline(threshold="median")


def test_to_toml_and_from_toml_round_trip(tmp_path: Path) -> None:
    pipe = mammokit.Pipeline(size=(256, 128), window="minmax", **OPTIONS)
    again = mammokit.Pipeline.from_toml(pipe.to_toml(tmp_path / "pipeline.toml"))
    assert again.config_tables() == pipe.config_tables()
