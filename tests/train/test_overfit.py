"""Overfit one batch: every backbone, from random initialisation, must drive the training
loss on 16 fixed synthetic images down by at least 90% within a few hundred CPU steps,
with the default input stem, head and optimiser."""

from __future__ import annotations

import numpy as np
import pytest

from mammokit import get_components, get_plugin_manager

pytestmark = pytest.mark.train

#: ConvNeXtV2 overfits on 32x32 (one 1x1 feature at stride 32), the cheapest real size.
SIZES = {"simple_cnn": (64, 32)}
MAX_STEPS = 300


def sixteen_images(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """16 smooth grey ``(H, W, 1)`` images in [0, 1]; the 8 positives carry a soft blob."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    noise = rng.uniform(0.2, 0.6, size=(16, height, width))
    images = np.stack([gaussian_filter(im, 2.0) for im in noise])
    labels = np.tile([0.0, 1.0], 8).astype(np.float32)
    yy, xx = np.mgrid[:height, :width]
    for i in np.flatnonzero(labels):
        cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
        images[i] += 0.15 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (width / 10) ** 2))
    return images[..., None].astype(np.float32), labels[:, None]


def overfit_losses(backbone: str, size: tuple[int, int]) -> list[float]:
    from mammokit.core.tf import import_keras
    from mammokit.train.config import TrainConfig
    from mammokit.train.model import build_model
    from mammokit.train.optim import build_optimizer

    keras = import_keras()
    keras.utils.set_random_seed(0)
    config = TrainConfig(backbone=backbone, epochs=MAX_STEPS, warmup_epochs=0)
    model = build_model(config, size)
    model.compile(
        optimizer=build_optimizer(config, steps_per_epoch=1, model=model),
        loss=keras.losses.BinaryCrossentropy(),
    )
    x, y = sixteen_images(*size)

    losses: list[float] = []

    class StopWhenFitted(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            losses.append(float((logs or {})["loss"]))
            if len(losses) >= 3 and max(losses[-3:]) <= 0.1 * losses[0]:
                self.model.stop_training = True

    model.fit(
        x, y, batch_size=16, epochs=MAX_STEPS, shuffle=False, verbose=0,
        callbacks=[StopWhenFitted()],
    )  # fmt: skip
    return losses


BACKBONES = sorted(
    get_components(get_plugin_manager(load_entry_points=False), "mammokit_backbones")
)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_overfit_one_batch(backbone: str) -> None:
    """Each backbone, at its smallest input. ``convnextv2_base`` takes about 50 s and
    ``convnextv2_tiny`` about 20 s (88 M and 28 M parameters even at 32x32): they are the
    seed's own sizes, and the only check that their published widths and depths build and
    learn here."""
    losses = overfit_losses(backbone, SIZES.get(backbone, (32, 32)))
    assert np.isfinite(losses).all()
    assert max(losses[-3:]) <= 0.1 * losses[0], (
        f"{backbone}: loss {losses[0]:.3f} -> {losses[-1]:.3f} after {len(losses)} steps"
    )
