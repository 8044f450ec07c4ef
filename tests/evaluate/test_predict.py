"""predict / evaluate / explain end to end on `mammokit train` runs over synthetic data.

Two tiny runs (simple_cnn, one epoch) are trained once for the module: ``run1`` at the
preprocessed size, ``run2`` at another model input size (the input pipeline resizes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit.app.cli import main
from mammokit.core.config import (
    PredictConfig,
    PredictOptions,
    PreprocessConfig,
    config_from_dict,
    config_to_dict,
    load_toml,
    save_toml,
)
from mammokit.evaluate.calibration import calibration_path, load_calibration
from mammokit.evaluate.predict import predict
from mammokit.evaluate.runinfo import read_oof, read_run

pytestmark = pytest.mark.train

PRE_SIZE = "64x32"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("predict-e2e")
    ds = root / "ds"
    assert main(["synth", "--out", str(ds), "--patients", "8", "--test-patients", "4",
                 "--size", "128x96", "--seed", "3"]) == 0  # fmt: skip
    assert main(["preprocess", "--images", str(ds / "train_images"), "--csv",
                 str(ds / "train.csv"), "--out", str(root / "pp"), "--size", PRE_SIZE,
                 "--workers", "0", "--quiet"]) == 0  # fmt: skip
    common = ["train", "--data", str(root / "pp"), "--backbone", "simple_cnn", "--epochs", "1",
              "--batch-size", "8", "--quiet"]  # fmt: skip
    assert main([*common, "--out", str(root / "run1"), "--fold", "0"]) == 0
    assert main([*common, "--out", str(root / "run2"), "--fold", "1", "--image-size", "48x24"]) == 0
    return root


def _predict_cli(work: Path, out: Path, *extra: str, runs: tuple[str, ...] = ("run1",),
                 split: str = "test") -> int:  # fmt: skip
    args = ["predict"]
    for run in runs:
        args += ["--run", str(work / run)]
    data = work / "ds"
    args += ["--images", str(data / f"{split}_images"), "--csv", str(data / f"{split}.csv"),
             "--out", str(out), "--workers", "0", "--quiet"]  # fmt: skip
    return main([*args, *extra])


def _check_submission(path: Path, table: Path, *, binary: bool) -> pd.DataFrame:
    submission = pd.read_csv(path, dtype={"prediction_id": str})
    assert list(submission.columns) == ["prediction_id", "cancer"]
    expected = sorted(pd.read_csv(table, dtype=str)["prediction_id"].unique())
    assert submission["prediction_id"].tolist() == expected  # one row per id, sorted
    values = submission["cancer"].to_numpy()
    if binary:
        assert set(values.tolist()) <= {0, 1}
    else:
        assert ((values >= 0) & (values <= 1)).all()
    return submission


def test_predict_single_run_writes_a_prior_quantile_submission(work: Path) -> None:
    out = work / "single" / "submission.csv"
    assert _predict_cli(work, out) == 0
    submission = _check_submission(out, work / "ds" / "test.csv", binary=True)
    rate = read_run(work / "run1").positive_rate
    assert rate is not None and 0 < rate < 1
    # prior_quantile: the fraction predicted positive is the training positive rate.
    assert abs(submission["cancer"].sum() - rate * len(submission)) <= 1
    images = pd.read_csv(out.with_name("image_scores.csv"), dtype={"image_id": str})
    test = pd.read_csv(work / "ds" / "test.csv", dtype={"image_id": str})
    assert sorted(images["image_id"]) == sorted(test["image_id"])
    assert images["score"].between(0, 1).all()
    breasts = pd.read_csv(out.with_name("breast_scores.csv"), dtype={"prediction_id": str})
    grouped = images.groupby("prediction_id")["score"].mean()
    np.testing.assert_allclose(breasts.set_index("prediction_id")["score"], grouped, rtol=1e-12)


def test_predict_ensemble_of_two_averages_the_runs(work: Path) -> None:
    out = work / "ensemble" / "submission.csv"
    assert _predict_cli(work, out, runs=("run1", "run2")) == 0
    _check_submission(out, work / "ds" / "test.csv", binary=True)
    probs = work / "ensemble_p" / "submission.csv"
    assert _predict_cli(work, probs, "--probabilities", runs=("run1", "run2")) == 0
    ensemble = _check_submission(probs, work / "ds" / "test.csv", binary=False)
    singles = []
    for run in ("run1", "run2"):
        path = work / f"single_p_{run}" / "submission.csv"
        assert _predict_cli(work, path, "--threshold", "none", runs=(run,)) == 0
        singles.append(pd.read_csv(path)["cancer"].to_numpy())
    np.testing.assert_allclose(ensemble["cancer"], (singles[0] + singles[1]) / 2, rtol=1e-9)
    assert not np.allclose(singles[0], singles[1])  # two different models
    images = pd.read_csv(probs.with_name("image_scores.csv"))
    np.testing.assert_allclose(images["score"], images[["score_0", "score_1"]].mean(axis=1))


def _png_pixels(folder: Path) -> dict[str, np.ndarray]:
    return {
        path.stem: np.asarray(Image.open(path))
        for path in sorted(folder.rglob("*.png"))
        if ".mammokit" not in path.parts
    }


def test_predict_preprocesses_exactly_like_training(work: Path) -> None:
    """Fails if prediction ever preprocesses differently from the training data."""
    run = read_run(work / "run1")
    dataset_config = config_from_dict(
        PreprocessConfig, load_toml(work / "pp" / "preprocess.toml")["preprocess"]
    )
    assert run.preprocess == dataset_config
    cache = work / "cache_train"
    result = predict(
        [work / "run1", work / "run2"], work / "ds" / "train_images", work / "ds" / "train.csv",
        work / "on_train" / "submission.csv", config=PredictConfig(threshold="none"),
        options=PredictOptions(cache_dir=cache, workers=0, progress=False),
    )  # fmt: skip
    # 1. The config predict used is the one saved in the run, i.e. the dataset's.
    assert result.preprocess_configs == (dataset_config, dataset_config)
    # 2. The images it fed the model are the training PNGs, pixel for pixel.
    (folder,) = [p for p in cache.iterdir() if p.is_dir()]
    assert (
        config_from_dict(PreprocessConfig, load_toml(folder / "preprocess.toml")["preprocess"])
        == dataset_config
    )
    training, predicted = _png_pixels(work / "pp"), _png_pixels(folder)
    assert training.keys() == predicted.keys() and len(training) == 32
    for image_id, pixels in training.items():
        np.testing.assert_array_equal(predicted[image_id], pixels, err_msg=image_id)
    # 3. The model scores equal the validation scores training wrote (same decode/resize).
    scores = pd.read_csv(result.image_scores, dtype={"image_id": str})
    for k, run_name in enumerate(("run1", "run2")):
        oof = read_oof(work / run_name)
        assert oof is not None and len(oof) > 0
        merged = oof.merge(scores, on="image_id", suffixes=("_oof", ""))
        assert len(merged) == len(oof)
        np.testing.assert_allclose(merged[f"score_{k}"], merged["score_oof"], atol=1e-5)


def test_pixel_check_detects_a_different_preprocessing(work: Path) -> None:
    """The comparison above is sensitive: a run whose saved config differs gives other pixels."""
    altered = work / "run_altered"
    shutil.copytree(work / "run1", altered)
    data = load_toml(altered / "config.toml")
    data["preprocess"] = config_to_dict(
        config_from_dict(PreprocessConfig, {**data["preprocess"], "roi_margin": 0.1})
    )
    save_toml(data, altered / "config.toml")
    cache = work / "cache_altered"
    predict([altered], work / "ds" / "train_images", work / "ds" / "train.csv",
            work / "altered" / "submission.csv", config=PredictConfig(threshold="none"),
            options=PredictOptions(cache_dir=cache, workers=0, progress=False))  # fmt: skip
    (folder,) = [p for p in cache.iterdir() if p.is_dir()]
    training, predicted = _png_pixels(work / "pp"), _png_pixels(folder)
    assert any(not np.array_equal(training[k], predicted[k]) for k in training)


def test_hflip_tta_averages_the_mirrored_prediction(work: Path) -> None:
    from mammokit.train import load_model, predict_images
    from mammokit.train.data import load_images

    cache = work / "cache_tta"
    plain = predict([work / "run2"], work / "ds" / "test_images", work / "ds" / "test.csv",
                    work / "tta0" / "s.csv", config=PredictConfig(threshold="none"),
                    options=PredictOptions(cache_dir=cache, workers=0, progress=False))  # fmt: skip
    tta = predict([work / "run2"], work / "ds" / "test_images", work / "ds" / "test.csv",
                  work / "tta1" / "s.csv", config=PredictConfig(threshold="none", tta="hflip"),
                  options=PredictOptions(cache_dir=cache, workers=0, progress=False))  # fmt: skip
    (folder,) = [p for p in cache.iterdir() if p.is_dir()]
    index = pd.read_csv(folder / "index.csv", dtype={"image_id": str})
    run = read_run(work / "run2")
    pixels = load_images([str(folder / p) for p in index["path"]], bit_depth=run.bit_depth,
                         image_size=run.model_input_size)  # fmt: skip
    model = load_model(work / "run2")
    expected = (predict_images(model, pixels) + predict_images(model, pixels[:, :, ::-1])) / 2
    expected_by_id = dict(zip(index["image_id"], expected, strict=True))
    got = pd.read_csv(tta.image_scores, dtype={"image_id": str})
    np.testing.assert_allclose(got["score"], got["image_id"].map(expected_by_id), atol=1e-5)
    before = pd.read_csv(plain.image_scores, dtype={"image_id": str})
    assert not np.allclose(before["score"], got["score"])


def test_best_pf1_and_calibrated_probabilities(work: Path) -> None:
    out = work / "best" / "submission.csv"
    assert _predict_cli(work, out, "--threshold", "best_pf1", "--aggregate", "max") == 0
    _check_submission(out, work / "ds" / "test.csv", binary=True)
    calibrated = work / "calibrated" / "submission.csv"
    assert _predict_cli(work, calibrated, "--probabilities", "--calibration", "platt") == 0
    saved = calibration_path(work / "run1", "platt", "mean")
    assert saved.is_file()
    breasts = pd.read_csv(calibrated.with_name("breast_scores.csv"))
    np.testing.assert_allclose(
        breasts["score"], load_calibration(saved).apply(breasts["score_0"]), rtol=1e-12
    )


def test_failed_images_are_reported_and_every_breast_is_written(work: Path) -> None:
    broken = work / "broken_images"
    shutil.copytree(work / "ds" / "test_images", broken)
    test = pd.read_csv(work / "ds" / "test.csv", dtype=str)
    victim = test["prediction_id"].iloc[0]
    for row in test[test["prediction_id"] == victim].itertuples():
        (broken / row.patient_id / f"{row.image_id}.dcm").write_bytes(b"not a dicom")
    out = work / "broken" / "submission.csv"
    status = main(["predict", "--run", str(work / "run1"), "--images", str(broken), "--csv",
                   str(work / "ds" / "test.csv"), "--out", str(out), "--workers", "0",
                   "--quiet"])  # fmt: skip
    assert status == 1
    submission = _check_submission(out, work / "ds" / "test.csv", binary=True)
    assert submission.set_index("prediction_id").loc[victim, "cancer"] == 0
    failures = pd.read_csv(out.with_name("predict_failures.csv"), dtype=str)
    assert len(failures) == (test["prediction_id"] == victim).sum()
    # Nothing scorable at all: an error, no submission.
    only_victim = work / "only_victim.csv"
    test[test["prediction_id"] == victim].to_csv(only_victim, index=False)
    nothing = work / "nothing" / "submission.csv"
    status = main(["predict", "--run", str(work / "run1"), "--images", str(broken), "--csv",
                   str(only_victim), "--out", str(nothing), "--workers", "0",
                   "--quiet"])  # fmt: skip
    assert status == 1 and not nothing.exists()


def test_evaluate_report_on_predictions_and_on_oof(work: Path) -> None:
    out = work / "for_eval" / "submission.csv"
    assert _predict_cli(work, out) == 0
    report = work / "report"
    assert main(["evaluate", "--run", str(work / "run1"), "--predictions",
                 str(out.with_name("image_scores.csv")), "--labels",
                 str(work / "ds" / "test_labels.csv"), "--out", str(report),
                 "--n-boot", "50"]) == 0  # fmt: skip
    for name in ("report.html", "roc.png", "pr.png", "worst_cases.png", "metrics.json"):
        assert (report / name).stat().st_size > 0
    oof_report = work / "report_oof"
    assert main(["evaluate", "--run", str(work / "run1"), "--run", str(work / "run2"),
                 "--out", str(oof_report), "--images", str(work / "pp"),
                 "--n-boot", "50"]) == 0  # fmt: skip
    html = (oof_report / "report.html").read_text()
    assert "out-of-fold predictions" in html
    for column in ("site_id", "machine_id", "view", "density"):  # from pp/index.csv
        assert f"By {column}" in html


def test_explain_writes_a_heatmap_at_the_model_input_size(work: Path) -> None:
    test = pd.read_csv(work / "ds" / "test.csv", dtype=str)
    row = test.iloc[0]
    dicom = work / "ds" / "test_images" / row["patient_id"] / f"{row['image_id']}.dcm"
    out = work / "explain" / "heat.png"
    assert main(["explain", "--run", str(work / "run2"), str(dicom), "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.mode == "RGB"
        assert image.size == (24, 48)  # run2's model input is 48x24 (H x W)

    from mammokit.evaluate.gradcam import explain_image

    result = explain_image(work / "run1", dicom, work / "explain" / "heat1.png")
    assert result.heatmap.shape == result.image.shape == (64, 32)
    assert result.heatmap.dtype == np.float32
    assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
    assert result.overlay.shape == (64, 32, 3)


def test_gradcam_of_an_identity_feature_map_is_the_image() -> None:
    """A model whose feature map is the input and whose score rises with it: the class
    activation map must be the (normalised) input itself."""
    from mammokit.core.tf import import_keras
    from mammokit.evaluate.gradcam import gradcam

    keras = import_keras()
    inputs = keras.Input((16, 8, 1))
    features = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones",
                                   name="features")(inputs)  # fmt: skip
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    score = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")(pooled)
    model = keras.Model(inputs, score)
    image = np.zeros((1, 16, 8, 1), np.float32)
    image[0, 4:7, 2:5, 0] = [[0.2, 0.5, 0.2], [0.5, 1.0, 0.5], [0.2, 0.5, 0.2]]
    heat = gradcam(model, image)
    assert heat.shape == (1, 16, 8)
    np.testing.assert_allclose(heat[0], image[0, :, :, 0] / image.max(), atol=1e-5)


def test_a_test_table_without_sides_gets_them_from_the_headers(work: Path) -> None:
    """No ``laterality`` column and no ``prediction_id``: the sides come from the DICOM
    headers, and the submission has the same breasts and scores as with the full table."""
    table = pd.read_csv(work / "ds" / "test.csv", dtype=str)
    bare = work / "no-sides" / "test.csv"
    bare.parent.mkdir(parents=True, exist_ok=True)
    table.drop(columns=["laterality", "prediction_id"]).to_csv(bare, index=False)
    full = work / "no-sides" / "full.csv"
    assert _predict_cli(work, full, "--threshold", "none") == 0
    out = work / "no-sides" / "submission.csv"
    args = ["predict", "--run", str(work / "run1"), "--images", str(work / "ds/test_images"),
            "--csv", str(bare), "--out", str(out), "--workers", "0", "--quiet",
            "--threshold", "none"]  # fmt: skip
    assert main(args) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(full))
