"""Pretraining methods are plugins (``mammokit_pretraining_methods``), and a pretraining
run's encoder is what fine-tuning starts from, for another ConvNeXtV2 size (issue 25)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import mammokit
from mammokit import ConfigError, PretrainConfig, PretrainingMethodComponent

pytestmark = pytest.mark.train


TESTKIT = Path(__file__).resolve().parents[1] / "plugins" / "testkit"


class BrightnessPlugin:
    """A third-party plugin registering the test kit's method (it learns each image's mean
    brightness from the pooled encoder features) as ``brightness``."""

    @mammokit.hookimpl
    def mammokit_pretraining_methods(self) -> list[PretrainingMethodComponent]:
        sys.path.insert(0, str(TESTKIT))
        try:
            from mammokit_testkit import BrightnessMethod
        finally:
            sys.path.remove(str(TESTKIT))
        return [PretrainingMethodComponent("brightness", "Learn the mean", BrightnessMethod)]


def test_a_third_party_method_registers_through_the_hook_and_pretrains(
    preprocessed_dir: Path, tmp_path: Path
) -> None:
    """Registered by a plugin, listed beside FCMAE, chosen by name with its options, run
    by Pipeline.pretrain: the encoder it wrote fine-tunes (``train --pretrained``)."""
    manager = mammokit.get_plugin_manager(plugins=[BrightnessPlugin()])
    methods = manager.pretraining_methods()
    assert set(methods) >= {"fcmae", "brightness"}
    assert methods["fcmae"].plugin == "mammokit.train.plugin"
    with pytest.raises(ConfigError, match="Unknown pretraining method 'brightnes'"):
        manager.build_pretraining_method("brightnes")
    pipe = mammokit.Pipeline(backbone="simple_cnn", manager=manager)
    run = tmp_path / "pre"
    result = pipe.pretrain(
        preprocessed_dir, run, method="brightness", method_options={"scale": 2.0},
        epochs=2, batch_size=8, strategy="cpu", quiet=True,
    )  # fmt: skip
    assert result.encoder == run / "encoder.h5" and result.encoder.is_file()
    assert list(result.history["epoch"]) == [1, 2]
    assert 'method = "brightness"' in (run / "config.toml").read_text()
    fine = mammokit.Pipeline(
        backbone="simple_cnn", pretrained=str(run), epochs=1, batch_size=8, strategy="cpu",
        n_folds=2, manager=manager,
    )  # fmt: skip
    trained = fine.train(preprocessed_dir, tmp_path / "ft", quiet=True)
    assert trained.epochs_run == 1


def test_femto_pretrains_and_its_encoder_is_the_start_of_fine_tuning(
    preprocessed_dir: Path, tmp_path: Path
) -> None:
    """FCMAE end to end on ConvNeXtV2 Femto; fine-tuning from the run (prepared, the first
    step not taken) holds exactly the encoder's weights; another backbone or input mode is
    refused before anything is built."""
    from mammokit.train import TrainConfig, Trainer
    from mammokit.train.pretrain import pretrain

    config = PretrainConfig(
        backbone="convnextv2_femto", epochs=1, batch_size=8, strategy="cpu",
        method_options={"decoder_dim": 32},
    )  # fmt: skip
    run = tmp_path / "pre"
    pretrain([preprocessed_dir], run, config, verbose=0)
    tuned = TrainConfig(backbone="convnextv2_femto", pretrained=str(run), strategy="cpu")
    trainer = Trainer(preprocessed_dir, tmp_path / "ft", tuned, verbose=0)
    trainer.prepare()
    backbone = trainer.model.get_layer("convnext_v2_femto")
    import h5py

    with h5py.File(run / "encoder.h5", "r") as stored:
        for layer in backbone.layers:
            for weight in layer.weights:
                saved = stored[f"{layer.name}/{weight.name}"][()]
                assert np.array_equal(weight.numpy(), saved), weight.name
    for wrong in ({"backbone": "convnextv2_atto"}, {"input_mode": "contrast"}):
        config = TrainConfig(pretrained=str(run), **{"backbone": "convnextv2_femto", **wrong})
        with pytest.raises(ConfigError, match="the pretraining run .* used another"):
            Trainer(preprocessed_dir, tmp_path / "no", config).prepare()
        assert not (tmp_path / "no").exists()
