"""A test plugin with one component of every kind, typed against mammokit's Protocols.

``nox -s plugin`` type-checks it with ``mypy --strict`` against the installed mammokit, and
the tests build every component through the plugin manager, so the Protocols are what a
plugin author's code is checked against, before run time and at build time.

Its backbone ``testkit_scaled_cnn`` has a custom Keras layer: its saved model loads in a
new process only if mammokit imports :mod:`mammokit_testkit.layers` first, which the
component declares in ``load_modules``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mammokit
from mammokit import (
    Backbone,
    Component,
    Decoder,
    ExternalDataset,
    Loss,
    Metric,
    Padder,
    PretrainingMethod,
    RoiExtractor,
    SamplingStrategy,
    ThresholdPolicy,
    WindowingMethod,
)

LAYERS_MODULE = "mammokit_testkit.layers"
#: A transfer syntax no real file uses: the test decoder is never chosen automatically.
PRIVATE_SYNTAX = "1.2.826.0.1.3680043.10.1147.1"


class HalfWindow:
    """``(H, W)`` stored values -> uint8, the top half of the stored range stretched."""

    def __call__(self, decoded: mammokit.DecodedImage, /) -> mammokit.WindowedImage:
        pixels = decoded.pixels.astype(np.float64)
        low, high = float(pixels.min()), float(pixels.max())
        middle = (low + high) / 2
        scaled = np.clip((pixels - middle) / max(high - middle, 1e-9), 0, 1)
        return mammokit.WindowedImage(
            pixels=np.rint(scaled * 255).astype(np.uint8),
            meta=decoded.meta,
            max_value=255,
            scale=decoded.scale,
        )


class WholeImage:
    """The whole frame as the ROI."""

    def __call__(self, pixels: np.ndarray, /) -> mammokit.CropBox | None:
        return mammokit.CropBox(0, 0, int(pixels.shape[0]), int(pixels.shape[1]))


class BottomPad:
    """Pads below (or right of) the crop to the target aspect."""

    def __call__(self, pixels: np.ndarray, aspect: float, background: int, /) -> np.ndarray:
        height, width = pixels.shape
        new_h = max(height, round(width * aspect))
        new_w = max(width, round(new_h / aspect))
        out = np.full((new_h, new_w), background, dtype=pixels.dtype)
        out[:height, :width] = pixels
        return out


class EveryRow:
    """Every row once per epoch, in a seeded order; no class weights."""

    class_weight: Mapping[int, float] | None = None

    def plan(self, labels: np.ndarray, *, epoch: int, seed: int, batch_size: int) -> np.ndarray:
        return np.random.default_rng([seed, epoch]).permutation(len(labels))


class NamedOnlyDecoder:
    """Decodes through mammokit's pydicom decoder; registered for a private syntax only."""

    def decode(
        self,
        path: Path,
        *,
        min_shape: tuple[int, int] | None = None,
        limits: Any = None,
    ) -> mammokit.DecodedImage:
        from mammokit.dicom.decoders.pydicom import PydicomDecoder

        return PydicomDecoder().decode(path, min_shape=min_shape, limits=limits)


def folder_table(path: str, **options: Any) -> pd.DataFrame:
    """Every ``*.png`` under ``path`` as an unlabelled negative (a test external dataset)."""
    files = sorted(Path(path).glob("*.png"))
    table = pd.DataFrame(
        {
            "path": [str(f) for f in files],
            "cancer": [0] * len(files),
            "patient_id": [f.stem for f in files],
            "source": ["testkit"] * len(files),
        }
    )
    return table


def mean_score(labels: np.ndarray, scores: np.ndarray, /) -> float:
    """The mean score (a metric that needs no labels)."""
    return float(np.mean(scores)) if len(scores) else float("nan")


def make_median_policy(arg: str | None = None, **context: Any) -> ThresholdPolicy:
    """Threshold at the median breast score."""

    def threshold(scores: np.ndarray, /) -> float | None:
        return float(np.median(scores)) if len(scores) else None

    return threshold


def make_mse_loss() -> Loss:
    """Mean squared error on probabilities (Keras)."""
    from mammokit.core.tf import import_keras

    loss: Loss = import_keras().losses.MeanSquaredError(name="testkit_mse")
    return loss


def scaled_cnn(input_shape: Sequence[int], *, pretrained: str | None = None) -> Backbone:
    """``(B, H, W, C) float32 -> (B, H/4, W/4, 16)``: two conv blocks and a LearnedScale."""
    from mammokit.core.tf import import_keras
    from mammokit_testkit.layers import LearnedScale

    keras = import_keras()
    inputs = keras.Input(tuple(int(v) for v in input_shape))
    x = inputs
    for index, width in enumerate((8, 16)):
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"tk_conv{index}")(x)
        x = keras.layers.ReLU(name=f"tk_relu{index}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"tk_pool{index}")(x)
    x = LearnedScale(name="tk_scale")(x)
    model: Backbone = keras.Model(inputs, x, name="testkit_scaled_cnn")
    return model


@mammokit.hookimpl
def mammokit_decoders() -> list[Component[Decoder]]:
    return [
        mammokit.DecoderComponent(
            "testkit_decoder",
            "Test decoder (mammokit-testkit), only for a private transfer syntax",
            NamedOnlyDecoder,
            transfer_syntaxes={PRIVATE_SYNTAX},
            named_only={PRIVATE_SYNTAX},
        )
    ]


@mammokit.hookimpl
def mammokit_windowing_methods() -> list[Component[WindowingMethod]]:
    return [Component("testkit_half", "Test window: top half of the range", HalfWindow)]


@mammokit.hookimpl
def mammokit_roi_extractors() -> list[Component[RoiExtractor]]:
    return [Component("testkit_whole", "Test ROI: the whole frame", WholeImage)]


@mammokit.hookimpl
def mammokit_padders() -> list[Component[Padder]]:
    return [Component("testkit_bottom_pad", "Test padder: below or right", BottomPad)]


@mammokit.hookimpl
def mammokit_sampling_strategies() -> list[Component[SamplingStrategy]]:
    return [Component("testkit_every_row", "Test sampler: every row, seeded", EveryRow)]


@mammokit.hookimpl
def mammokit_external_datasets() -> list[Component[ExternalDataset]]:
    return [Component("testkit_folder", "Test dataset: PNGs of a folder", folder_table)]


@mammokit.hookimpl
def mammokit_backbones() -> list[Component[Backbone]]:
    return [
        mammokit.BackboneComponent(
            "testkit_scaled_cnn",
            "Test backbone with a custom layer (mammokit-testkit)",
            scaled_cnn,
            load_modules=(LAYERS_MODULE,),
        )
    ]


@mammokit.hookimpl
def mammokit_losses() -> list[Component[Loss]]:
    return [Component("testkit_mse", "Test loss: mean squared error", make_mse_loss)]


@mammokit.hookimpl
def mammokit_threshold_policies() -> list[Component[ThresholdPolicy]]:
    return [Component("testkit_median", "Test policy: the median score", make_median_policy)]


@mammokit.hookimpl
def mammokit_metrics() -> list[Component[Metric]]:
    return [
        mammokit.MetricComponent(
            "testkit_mean_score", "Test metric: the mean score", lambda: mean_score
        )
    ]


class BrightnessMethod:
    """Test pretraining method: the encoder learns each image's mean brightness (times
    ``scale``) through a pooled dense head."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)

    def build(self, encoder: Any, stem: Any, /, *, seed: int) -> Any:
        """A built Keras model around ``encoder`` whose ``train_step`` fits the brightness."""
        from mammokit.core.tf import import_keras, import_tf

        tf, keras = import_tf(), import_keras()
        scale = self.scale

        class Brightness(keras.Model):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                super().__init__(name="brightness")
                self.encoder, self.stem = encoder, stem
                self.pool = keras.layers.GlobalAveragePooling2D()
                self.head = keras.layers.Dense(1)
                self.tracker = keras.metrics.Mean(name="loss")
                self(tf.zeros((1, *encoder.input_shape[1:3], 1)))

            @property
            def metrics(self) -> list[Any]:
                return [self.tracker]

            def call(self, images: Any, training: Any = None) -> Any:
                return self.head(self.pool(self.encoder(self.stem(images))))

            def train_step(self, images: Any) -> dict[str, Any]:
                target = scale * tf.reduce_mean(images, axis=[1, 2])
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(self(images, training=True) - target))
                variables = self.trainable_variables
                grads = tape.gradient(loss, variables)
                self.optimizer.apply_gradients(zip(grads, variables, strict=True))
                self.tracker.update_state(loss)
                return {"loss": self.tracker.result()}

        return Brightness()


@mammokit.hookimpl
def mammokit_pretraining_methods() -> list[Component[PretrainingMethod]]:
    return [
        mammokit.PretrainingMethodComponent(
            "testkit_brightness", "Test pretraining: learn the mean brightness", BrightnessMethod
        )
    ]
