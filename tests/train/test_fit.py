"""End to end: `mammokit synth` + `mammokit preprocess` output -> `mammokit train` with
ConvNeXtV2Atto at 128x64 on CPU -> a reloadable model; --resume; two workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammokit.app.cli import main
from mammokit.core.config import load_toml

pytestmark = pytest.mark.train

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run_dir(preprocessed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of ConvNeXtV2 Atto through ``mammokit train`` (about 20 s, TensorFlow's
    import and graph building included), shared by the module's tests of a finished run."""
    out = tmp_path_factory.mktemp("run") / "run"
    status = main(
        ["train", "--data", str(preprocessed_dir), "--out", str(out),
         "--backbone", "convnextv2_atto", "--epochs", "1", "--batch-size", "8",
         "--image-size", "128x64", "--strategy", "cpu", "--quiet"]
    )  # fmt: skip
    assert status == 0
    return out


def test_train_writes_the_run_directory(run_dir: Path, preprocessed_dir: Path) -> None:
    for name in ("config.toml", "model.keras", "history.csv", "oof.csv"):
        assert (run_dir / name).is_file(), name
    for name in ("best.weights.h5", "last.weights.h5", "state.json"):
        assert (run_dir / "checkpoints" / name).is_file(), name
    assert any((run_dir / "tb").rglob("events.out.tfevents.*"))
    config = load_toml(run_dir / "config.toml")
    assert config["preprocess"]["size"] == [128, 64]
    assert config["train"]["backbone"] == "convnextv2_atto"
    assert 0.0 < config["stats"]["positive_rate"] < 1.0 and config["stats"]["seed"] == 42
    mix = config["stats"]["sampling"]  # what the default undersampling drew in epoch 1
    assert 0 < mix["positive_rows"] < mix["rows_per_epoch"]
    assert mix["positive_fraction"] == round(mix["positive_rows"] / mix["rows_per_epoch"], 4)
    assert mix["data_positive_fraction"] <= mix["positive_fraction"] <= 0.5
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == [1]  # epochs from 1, as in the log and summary.json
    for column in ("loss", "val_breast_pf1", "val_breast_auc", "val_image_pf1", "val_image_auc"):
        assert np.isfinite(history[column]).all(), column
    oof = pd.read_csv(run_dir / "oof.csv", dtype={"patient_id": str, "image_id": str})
    assert list(oof.columns) == [
        "image_id", "patient_id", "laterality", "prediction_id", "cancer", "score"
    ]  # fmt: skip
    index = pd.read_csv(preprocessed_dir / "index.csv", dtype={"patient_id": str})
    assert 0 < len(oof) < len(index)
    assert oof["score"].between(0, 1).all()


def test_reloaded_model_gives_the_same_predictions(run_dir: Path, preprocessed_dir: Path) -> None:
    from mammokit.train import load_model, predict_images

    oof = pd.read_csv(run_dir / "oof.csv", dtype={"patient_id": str, "image_id": str})
    index = pd.read_csv(preprocessed_dir / "index.csv", dtype={"image_id": str})
    paths = index.set_index("image_id").loc[oof["image_id"], "path"]
    pixels = np.stack([np.asarray(Image.open(preprocessed_dir / p)) for p in paths])
    model = load_model(run_dir)
    assert model.input_shape == (None, 128, 64, 1) and model.output_shape == (None, 1)
    scores = predict_images(model, pixels)
    np.testing.assert_allclose(scores, oof["score"].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(predict_images(run_dir, pixels[:3]), scores[:3], atol=1e-6)


def test_resume_continues_from_the_last_checkpoint(run_dir: Path, preprocessed_dir: Path) -> None:
    from mammokit.core.tf import import_tf

    tf = import_tf()
    again = ["train", "--data", str(preprocessed_dir), "--out", str(run_dir), "--quiet"]
    assert main([*again, "--epochs", "1"]) == 2  # an existing run needs --resume
    assert main([*again, "--resume", "--backbone", "simple_cnn"]) == 2  # config is the saved one

    def iterations() -> int:
        reader = tf.train.load_checkpoint(str(run_dir / "checkpoints" / "state" / "ckpt"))
        return int(reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))

    after_one = iterations()
    assert after_one > 0
    assert main([*again, "--resume", "--epochs", "2"]) == 0
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert json.loads((run_dir / "checkpoints" / "state.json").read_text())["epoch"] == 2
    assert iterations() == 2 * after_one
    assert load_toml(run_dir / "config.toml")["train"]["epochs"] == 1  # saved config kept


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_end_with_identical_weights(preprocessed_dir: Path, tmp_path: Path) -> None:
    """Two TensorFlow worker processes (about 25 s): the only test of multi-worker training,
    which needs a process per worker."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ)
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "_mw_worker.py"),
                    str(preprocessed_dir),
                    str(tmp_path / "run"),
                    str(tmp_path / f"w{index}.npy"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for proc in procs:
        output, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, output[-3000:]
    w0, w1 = np.load(tmp_path / "w0.npy"), np.load(tmp_path / "w1.npy")
    assert w0.shape == w1.shape and np.array_equal(w0, w1)
    assert (tmp_path / "run" / "model.keras").is_file()
    assert list(pd.read_csv(tmp_path / "run" / "history.csv")["epoch"]) == [1]


def test_tfrecord_stream_keeps_each_epochs_plan(tfrecord_dir: Path) -> None:
    from mammokit.data import read_index
    from mammokit.train.config import AugmentConfig
    from mammokit.train.data import ImageSource, Targets, TFRecordSource, train_dataset

    index = read_index(tfrecord_dir)
    count = len(index)
    rng = np.random.default_rng(0)
    plans = [rng.choice(count, size=16, replace=True) for _ in range(3)]
    dataset = train_dataset(
        np.concatenate(plans),
        ImageSource(tfrecords=TFRecordSource(str(tfrecord_dir), index["image_id"])),
        # the label is the row: track rows
        Targets(labels=np.arange(count, dtype=np.float32), weights=np.ones(count, np.float32)),
        batch_size=8,
        augment=AugmentConfig.off(),
        seed=0,
        epoch_size=16,
    )
    seen = [batch[1].numpy().ravel().astype(int) for batch in dataset]
    assert len(seen) == 6 and all(len(b) == 8 for b in seen)
    for epoch, plan in enumerate(plans):
        got = np.concatenate(seen[2 * epoch : 2 * epoch + 2])
        assert sorted(got) == sorted(plan)


def test_train_from_tfrecord_shards(tfrecord_dir: Path, tmp_path: Path) -> None:
    from mammokit.train import TrainConfig, load_model, train

    config = TrainConfig(backbone="simple_cnn", epochs=1, batch_size=8, strategy="cpu")
    result = train(tfrecord_dir, tmp_path / "run", config, verbose=0)
    oof = pd.read_csv(tmp_path / "run" / "oof.csv")
    assert len(oof) > 0 and oof["score"].between(0, 1).all()
    assert load_model(result.run_dir).output_shape == (None, 1)


def test_train_with_ema_clipping_cache_and_other_components(
    preprocessed_dir: Path, tmp_path: Path
) -> None:
    from mammokit.train import TrainConfig, train

    config = TrainConfig(
        backbone="simple_cnn",
        image_size=(64, 32),
        epochs=2,
        batch_size=8,
        strategy="cpu",
        sampling="balanced_batches",
        sampling_options={"positive_fraction": 0.25},
        loss="focal",
        ema=True,
        ema_momentum=0.5,
        clipnorm=1.0,
        cache=True,
        augment={"cutout": 0.5, "vflip": 0.5},
        final_weights="last",
    )
    recorder = Recorder()
    result = train(preprocessed_dir, tmp_path / "run", config, verbose=0, handlers=[recorder])
    assert list(result.history["epoch"]) == [1, 2]
    assert result.model.input_shape == (None, 64, 32, 1)
    assert np.isfinite(result.history["loss"]).all()
    recorder.check(result.history)


class Recorder:
    """A user's handler (no base class): records each event it is told of."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, object]] = []

    def on_batch_begin(self, epoch: int, batch: int) -> None:
        self.seen.append(("batch_begin", epoch, batch))

    def on_batch_end(self, epoch: int, batch: int, logs: object) -> None:
        self.seen.append(("batch_end", epoch, batch))

    def on_validation_batch(self, epoch: int, batch: int) -> None:
        self.seen.append(("validation_batch", epoch, batch))

    def on_validation(self, epoch: int, logs: dict[str, float]) -> None:
        self.seen.append(("validation", epoch, dict(logs)))

    def on_checkpoint(self, epoch: int, stage: Path) -> None:
        assert (stage / "checkpoints" / "state.json").is_file()
        live = stage.parent / "state.json"
        done = json.loads(live.read_text())["epoch"] if live.exists() else 0
        assert done == epoch - 1  # the epoch is written, not committed yet
        self.seen.append(("checkpoint", epoch, stage.name))

    def on_commit(self, epoch: int, path: str) -> None:
        self.seen.append(("commit", epoch, path))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.seen.append(("epoch_end", epoch, None))

    def check(self, history: pd.DataFrame) -> None:
        """Per epoch, in order: the batches, validation, the commit, the epoch's end."""
        for epoch in (1, 2):
            kinds = [kind for kind, number, _ in self.seen if number == epoch]
            steps = kinds.count("batch_begin")
            assert steps > 0 and kinds[: 2 * steps] == ["batch_begin", "batch_end"] * steps
            rest = kinds[2 * steps :]
            assert rest[-1] == "epoch_end" and "validation_batch" in rest
            assert rest.index("validation") > max(
                i for i, k in enumerate(rest) if k == "validation_batch"
            )
            assert rest.index("validation") < rest.index("checkpoint") < rest.index("commit")
            commits = [p for k, n, p in self.seen if k == "commit" and n == epoch]
            assert commits[-1] == "checkpoints/state.json" and "history.csv" in commits
            (logs,) = [p for k, n, p in self.seen if k == "validation" and n == epoch]
            assert isinstance(logs, dict)
            row = history[history["epoch"] == epoch].iloc[0]
            assert logs["monitor"] == pytest.approx(row["monitor"])
            assert logs["best_epoch"] == row["best_epoch"]


def test_mixed_precision_keeps_a_float32_output() -> None:
    from mammokit.core.tf import import_keras
    from mammokit.train.config import TrainConfig
    from mammokit.train.model import build_model
    from mammokit.train.optim import set_mixed_precision

    keras = import_keras()
    assert set_mixed_precision("auto", device="cpu") == "float32"
    assert set_mixed_precision("auto", device="tpu") == "mixed_bfloat16"
    try:
        assert set_mixed_precision("fp16", device="cpu") == "mixed_float16"
        model = build_model(TrainConfig(backbone="simple_cnn"), (32, 32))
        assert model.output.dtype.name == "float32"
        assert model.get_layer("input_stem").dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_external_positives_join_training_only(preprocessed_dir: Path, tmp_path: Path) -> None:
    from mammokit.train import TrainConfig, train

    source = tmp_path / "ddsm" / "case1"
    source.mkdir(parents=True)
    yy, xx = np.mgrid[:160, :100]
    for i in range(3):
        breast = ((yy - 80) / 70.0) ** 2 + (xx / 80.0) ** 2 < 1
        Image.fromarray(np.where(breast, 140 + 20 * i, 0).astype(np.uint8)).save(
            source / f"{i}.png"
        )
    config = TrainConfig(
        backbone="simple_cnn", epochs=1, batch_size=8, strategy="cpu", sampling="none",
        external=(f"ddsm:{tmp_path / 'ddsm'}",),
    )  # fmt: skip
    result = train(preprocessed_dir, tmp_path / "run", config, verbose=0)
    written = sorted((result.run_dir / "external" / "ddsm").rglob("*.png"))
    assert len(written) == 3
    with Image.open(written[0]) as image:
        assert image.size == (64, 128)  # the data's preprocessing size
    oof = pd.read_csv(result.run_dir / "oof.csv", dtype=str)
    assert not oof["image_id"].str.startswith("ddsm").any()
    from mammokit.train.fit import read_dataset
    from mammokit.train.folds import split_fold

    table, _ = read_dataset(preprocessed_dir)
    own, _ = split_fold(table, n_folds=5, fold=0, seed=42)
    expected = own.groupby("prediction_id")["cancer"].max().mean()
    stats = load_toml(result.run_dir / "config.toml")["stats"]
    assert stats["positive_rate"] == pytest.approx(expected)  # external positives excluded
