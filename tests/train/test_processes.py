"""Each CLI step in its own process, as a user's shell runs them: ``mammokit train`` in one
subprocess, then ``predict``, ``evaluate`` and ``explain`` each in a new one.

For the default backbone (ConvNeXtV2 Atto, from keras-cv-attention-models), the plain
``simple_cnn`` and a third-party backbone with its own Keras layer (the ``mammokit-testkit``
test plugin, found through its entry point): the scores that ``predict`` gives the
validation images equal the run's own ``oof.csv``, ``evaluate`` reads them back, and
``explain`` prints the same score for one image.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.train

TESTKIT = Path(__file__).resolve().parents[1] / "plugins" / "testkit"
BACKBONES = ("convnextv2_atto", "simple_cnn", "testkit_scaled_cnn")


def _env() -> dict[str, str]:
    """The environment of a user's shell with the test plugin installed (on the path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTKIT), env.get("PYTHONPATH")]))
    return env


def mammokit(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mammokit ARGS`` in a new process; fail the test on a non-zero exit."""
    command = [sys.executable, "-m", "mammokit", *map(str, args)]
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, f"{command}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic dataset (10 patients) made and preprocessed to 128x64 by the CLI."""
    root = tmp_path_factory.mktemp("processes")
    mammokit("synth", "--out", "data", "--patients", "10", "--size", "256x208",
             "--lesion-contrast", "0.4", cwd=root)  # fmt: skip
    mammokit("preprocess", "--images", "data/train_images", "--csv", "data/train.csv",
             "--out", "prep", "--size", "128x64", "--workers", "1", "--quiet",
             cwd=root)  # fmt: skip
    return root


@pytest.fixture(scope="module", params=BACKBONES)
def trained(request: pytest.FixtureRequest, workspace: Path) -> tuple[Path, str]:
    """``(workspace, run folder name)`` after ``mammokit train`` in its own process (20 to
    40 s per backbone: a TensorFlow process that trains, as a user's shell runs it)."""
    backbone = request.param
    run = f"run-{backbone}"
    mammokit("train", "--data", "prep", "--out", run, "--backbone", backbone, "--epochs", "1",
             "--batch-size", "8", "--strategy", "cpu", "--quiet", cwd=workspace)  # fmt: skip
    return workspace, run


def _oof(root: Path, run: str) -> pd.Series:
    oof = pd.read_csv(root / run / "oof.csv", dtype={"image_id": str, "patient_id": str})
    return oof.set_index("image_id")["score"]


def test_predict_in_a_new_process_gives_the_oof_scores(trained: tuple[Path, str]) -> None:
    root, run = trained
    mammokit("predict", "--run", run, "--images", "data/train_images", "--csv",
             "data/train.csv", "--out", f"{run}-sub.csv", "--scores", f"{run}-images.csv",
             "--workers", "1", "--quiet", cwd=root)  # fmt: skip
    scores = pd.read_csv(root / f"{run}-images.csv", dtype={"image_id": str})
    scores = scores.set_index("image_id")["score"]
    oof = _oof(root, run)
    assert len(oof) > 0
    pd.testing.assert_series_equal(scores.loc[oof.index], oof, check_names=False, atol=1e-5, rtol=0)
    submission = pd.read_csv(root / f"{run}-sub.csv")
    assert list(submission.columns) == ["prediction_id", "cancer"]
    assert len(submission) == 20  # 10 patients x 2 breasts


def test_evaluate_in_a_new_process_reads_the_run(trained: tuple[Path, str]) -> None:
    """Two evaluate processes (about 25 s with TensorFlow's import): a run's own
    out-of-fold scores, then a score file that predict wrote, as a user's shell runs them."""
    root, run = trained
    oof = pd.read_csv(root / run / "oof.csv")
    mammokit("evaluate", "--run", run, "--out", f"{run}-oof", "--n-boot", "20", cwd=root)
    on_oof = json.loads((root / f"{run}-oof" / "metrics.json").read_text())
    assert on_oof["breasts"] == oof["prediction_id"].nunique()
    assert on_oof["positive_breasts"] == oof.groupby("prediction_id")["cancer"].max().sum()

    if not (root / f"{run}-images.csv").exists():  # the predict test of this run writes it
        test_predict_in_a_new_process_gives_the_oof_scores(trained)
    mammokit("evaluate", "--run", run, "--predictions", f"{run}-images.csv", "--labels",
             "data/train.csv", "--out", f"{run}-all", "--n-boot", "20", cwd=root)  # fmt: skip
    on_all = json.loads((root / f"{run}-all" / "metrics.json").read_text())
    assert on_all["breasts"] == 20 and (root / f"{run}-all" / "report.html").is_file()


def test_explain_in_a_new_process_prints_the_oof_score(trained: tuple[Path, str]) -> None:
    root, run = trained
    oof = _oof(root, run)
    table = pd.read_csv(root / "data" / "train.csv", dtype={"image_id": str, "patient_id": str})
    row = table.set_index("image_id").loc[oof.index[0]]
    image = root / "data" / "train_images" / row["patient_id"] / f"{oof.index[0]}.dcm"
    done = mammokit("explain", image, "--run", run, "--out", f"{run}-cam.png", cwd=root)
    match = re.search(r"score (\d+\.\d+)", done.stdout)
    assert match, done.stdout
    assert float(match.group(1)) == pytest.approx(oof.iloc[0], abs=1e-4)
    assert (root / f"{run}-cam.png").stat().st_size > 0


def test_the_testkit_model_needs_what_its_backbone_declares(workspace: Path) -> None:
    """Without the declared module, Keras cannot rebuild the test plugin's layer: the test
    above would not prove anything if the model loaded anyway."""
    run = workspace / "run-testkit_scaled_cnn"
    if not (run / "model.keras").is_file():
        mammokit("train", "--data", "prep", "--out", run.name, "--backbone",
                 "testkit_scaled_cnn", "--epochs", "1", "--batch-size", "8",
                 "--strategy", "cpu", "--quiet", cwd=workspace)  # fmt: skip
    script = (
        "from mammokit.core.tf import import_keras\n"
        "keras = import_keras()\n"
        "from mammokit.train.layers import CUSTOM_OBJECTS\n"
        f"keras.models.load_model({str(run / 'model.keras')!r}, custom_objects=CUSTOM_OBJECTS,"
        " compile=False, safe_mode=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=_env(), capture_output=True, text=True
    )
    # tf_keras leaves an unknown class as its name: "'str' object is not callable".
    failed = "LearnedScale" in done.stderr or "'str' object is not callable" in done.stderr
    assert done.returncode != 0 and failed, done.stderr[-2000:]
