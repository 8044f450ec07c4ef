"""Losses, the Keras pF1 metric, the input stem, augmentation, strategies and local weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mammokit import get_plugin_manager, resolve_component
from mammokit.core.errors import ConfigError
from mammokit.scoring.metrics import pfbeta
from mammokit.train.config import AugmentConfig

pytestmark = pytest.mark.train


def _loss(name: str, **options: object) -> object:
    pm = get_plugin_manager(load_entry_points=False)
    return resolve_component(pm, "mammokit_losses", name).factory(**options)


def test_every_loss_gives_a_finite_value_and_behaves_as_named() -> None:
    y = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
    confident = np.array([[0.99], [0.01], [0.95], [0.05]], np.float32)
    values = {name: float(_loss(name)(y, confident)) for name in ("bce", "bce_smooth", "focal")}
    assert all(np.isfinite(v) and v >= 0 for v in values.values())
    assert values["bce_smooth"] > values["bce"]  # smoothing penalises over-confidence
    assert values["focal"] < values["bce"]  # focal down-weights easy examples
    wrong = np.array([[0.1], [0.9], [0.2], [0.8]], np.float32)
    assert float(_loss("bce")(y, wrong)) > values["bce"]
    with pytest.raises(ValueError):
        _loss("bce_smooth", label_smoothing=1.5)


def test_keras_pf1_agrees_with_the_numpy_reference() -> None:
    from mammokit.train.metrics import keras_pf1

    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.1).astype(np.float32)
    scores = np.clip(rng.random(300) * 0.6 + labels * 0.3, 0, 1).astype(np.float32)
    for beta in (1.0, 2.0):
        metric = keras_pf1(beta=beta)
        for chunk in np.array_split(np.arange(300), 7):
            metric.update_state(labels[chunk, None], scores[chunk, None])
        assert float(metric.result()) == pytest.approx(pfbeta(labels, scores, beta=beta), abs=1e-6)
    metric.reset_state()
    metric.update_state(np.zeros((4, 1)), np.full((4, 1), 0.5))
    assert float(metric.result()) == 0.0 == pfbeta(np.zeros(4), np.full(4, 0.5))


def test_contrast_stem_standardises_three_channels() -> None:
    from mammokit.train.layers import InputStem

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, 64, 32, 1)).astype(np.float32)
    out = InputStem(mode="contrast")(x).numpy()
    assert out.shape == (2, 64, 32, 3)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1, atol=1e-3)
    flat = InputStem(mode="contrast")(np.full((1, 64, 32, 1), 0.3, np.float32)).numpy()
    np.testing.assert_allclose(flat[..., 1:], 0, atol=1e-3)  # high-pass of a flat image
    imagenet = InputStem(mode="imagenet")(x).numpy()
    np.testing.assert_allclose(imagenet[..., 0], (x[..., 0] - 0.485) / 0.229, rtol=1e-5)
    with pytest.raises(ValueError):
        InputStem(mode="rgb")


def test_augmentation_is_seeded_in_range_and_off_at_eval(tmp_path: Path) -> None:
    from PIL import Image

    from mammokit.train.data import augment_batch, eval_dataset, load_images

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (4, 64, 32), dtype=np.uint8)
    paths = []
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    exact = pixels[..., None].astype(np.float32) / 255.0
    evaluated = np.concatenate(list(eval_dataset(4, batch_size=3, paths=paths).as_numpy_iterator()))
    np.testing.assert_array_equal(evaluated, exact)
    np.testing.assert_array_equal(load_images(paths, bit_depth=8), exact)
    cfg = AugmentConfig(hflip=0.5, vflip=0.5, cutout=1.0)
    a = augment_batch(exact, cfg, seed=0, step=3).numpy()
    b = augment_batch(exact, cfg, seed=0, step=3).numpy()
    c = augment_batch(exact, cfg, seed=0, step=4).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, exact)
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.shape == exact.shape
    assert (a == 0).sum() > (exact == 0).sum()  # cutout blanks a rectangle
    identity = augment_batch(exact, AugmentConfig.off(), seed=0, step=0).numpy()
    np.testing.assert_allclose(identity, exact, atol=1e-6)
    assert AugmentConfig().hflip == 0.5  # the default keeps horizontal flips on


def test_strategies_on_this_cpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    from mammokit.train.strategy import make_strategy

    assert make_strategy("cpu").name == "cpu"
    auto = make_strategy("auto")
    assert auto.name == "default" and auto.device == "cpu"
    assert make_strategy("mirrored").strategy.num_replicas_in_sync == 1
    with pytest.raises(ConfigError, match="no TPU"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    with pytest.raises(ConfigError, match="choose one of"):
        make_strategy("gpu")


def test_pretrained_is_a_local_weights_file(tmp_path: Path) -> None:
    from mammokit.train.backbones import simple_cnn

    source = simple_cnn((32, 32, 3))
    source.save_weights(str(tmp_path / "w.h5"))
    loaded = simple_cnn((32, 32, 3), pretrained=tmp_path / "w.h5")
    for a, b in zip(source.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="not found"):
        simple_cnn((32, 32, 3), pretrained=tmp_path / "missing.h5")
    from mammokit.core.tf import import_keras

    keras = import_keras()
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="unrelated")])
    other.save_weights(str(tmp_path / "other.h5"))
    with pytest.raises(ConfigError, match="no layer"):
        simple_cnn((32, 32, 3), pretrained=tmp_path / "other.h5")


def test_weight_decay_skips_norms_biases_and_grn() -> None:
    from mammokit.train.config import TrainConfig
    from mammokit.train.model import build_model
    from mammokit.train.optim import build_optimizer, decay_excluded

    config = TrainConfig(learning_rate=1e-3, weight_decay=2e-5)
    model = build_model(config, (32, 32))
    excluded = {v.name for v in decay_excluded(model.trainable_variables)}
    assert any("grn" in n for n in excluded) and any("ln/gamma" in n for n in excluded)
    assert any(n.endswith("bias:0") for n in excluded)
    assert not any("kernel" in n and "dw_conv" not in n for n in excluded)
    optimizer = build_optimizer(config, steps_per_epoch=10, model=model)
    assert optimizer.weight_decay == pytest.approx(0.02)
    schedule = optimizer._learning_rate
    lrs = [float(schedule(step)) for step in (0, 9, 10, 55, 99)]
    assert lrs[0] < lrs[1] <= 1e-3 + 1e-9 and lrs[2] == pytest.approx(1e-3, rel=1e-3)
    assert lrs[2] > lrs[3] > lrs[4] > 0
