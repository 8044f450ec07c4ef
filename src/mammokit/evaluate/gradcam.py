"""Grad-CAM explanations of a run's model on one image (TensorFlow imported lazily).

The target is the model's last convolutional stage: the last top-level layer whose output
is a ``(B, h, w, C)`` feature map (the backbone, for mammokit's models). The class
activation map is ``ReLU(sum_c mean_hw(d score / d A_c) · A_c)``, normalised to [0, 1] and
resized bilinearly to the model input size.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError

__all__ = ["Explanation", "explain_image", "explain_pngs", "gradcam", "overlay", "target_layer"]


def target_layer(model: Any, name: str | None = None) -> Any:
    """The layer Grad-CAM differentiates against: ``name``, or the last top-level layer with
    a 4-D output. Raises ConfigError when there is none."""
    if name is not None:
        try:
            return model.get_layer(name)
        except ValueError:
            names = ", ".join(layer.name for layer in model.layers)
            raise ConfigError(f"no layer {name!r} in the model; layers: {names}") from None
    for layer in reversed(model.layers):
        shape = layer.get_output_at(-1).shape
        if len(shape) == 4 and type(layer).__name__ != "InputLayer":
            return layer
    raise ConfigError("the model has no layer with a (B, h, w, C) output to explain")


def gradcam(model: Any, images: np.ndarray, *, layer: str | None = None) -> np.ndarray:
    """Grad-CAM heatmaps: ``(B, H, W, 1) float32`` model input -> ``(B, H, W) float32`` in
    [0, 1] (all zeros where no feature raises the score)."""
    from mammokit.core.tf import import_keras, import_tf

    tf = import_tf()
    keras = import_keras()
    batch = np.asarray(images, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[-1] != 1:
        raise ConfigError(f"gradcam expects (B, H, W, 1) input, got {batch.shape}")
    target = target_layer(model, layer)
    probe = keras.Model(model.inputs, [target.get_output_at(-1), model.output])
    inputs = tf.constant(batch)
    with tf.GradientTape() as tape:
        features, score = probe(inputs, training=False)
        total = tf.reduce_sum(score)
    grads = tape.gradient(total, features)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, batch.shape[1:3], method="bilinear")[..., 0].numpy()
    peak = cam.reshape(cam.shape[0], -1).max(axis=1)
    scale = np.where(peak > 0, peak, 1.0)[:, None, None]
    return cast("np.ndarray", (cam / scale).astype(np.float32))


def overlay(image: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.4) -> np.ndarray:
    """``(H, W)`` grey image (any dtype, scaled by its max) and ``(H, W)`` heatmap in [0, 1]
    -> ``(H, W, 3) uint8`` RGB: the image with the 'jet'-coloured heatmap blended in."""
    from matplotlib import colormaps

    if image.shape != heatmap.shape:
        raise ConfigError(f"image {image.shape} and heatmap {heatmap.shape} differ in shape")
    grey = np.asarray(image, dtype=np.float32)
    top = float(grey.max())
    grey = grey / top if top > 0 else grey
    colour = colormaps["jet"](np.clip(heatmap, 0.0, 1.0))[..., :3]
    weight = alpha * np.clip(heatmap, 0.0, 1.0)[..., None]
    blended = (1.0 - weight) * grey[..., None] + weight * colour
    return cast("np.ndarray", np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8))


@attrs.frozen
class Explanation:
    """Grad-CAM of one image.

    Attributes:
        score: the model's probability for the image.
        heatmap: ``(H, W) float32`` in [0, 1] at the model input size.
        image: ``(H, W) float32`` in [0, 1], the model input it explains.
        overlay: ``(H, W, 3) uint8``, written to the output PNG.
        flipped: True when preprocessing mirrored the image (the overlay is mirrored too).
    """

    score: float
    heatmap: np.ndarray = attrs.field(eq=False)
    image: np.ndarray = attrs.field(eq=False)
    overlay: np.ndarray = attrs.field(eq=False)
    flipped: bool


def explain_image(
    run_dir: str | Path,
    image_path: str | Path,
    out_png: str | Path,
    *,
    layer: str | None = None,
    alpha: float = 0.4,
) -> Explanation:
    """Preprocess one image with the run's saved config, exactly as for training and
    prediction (PNG round trip, the training decoder and resize), and write the Grad-CAM
    overlay as an RGB PNG.

    Raises:
        ImageReadError: the image cannot be read.
        ConfigError: not a run directory.
    """
    from PIL import Image

    from mammokit.data.writers import write_png
    from mammokit.evaluate.runinfo import read_run
    from mammokit.preprocess.pipeline import ImagePipeline
    from mammokit.train import load_model
    from mammokit.train.data import load_images

    run = read_run(run_dir)
    preprocessed = ImagePipeline(run.preprocess).preprocess(image_path)
    with tempfile.TemporaryDirectory(prefix="mammokit-explain-") as scratch:
        png = Path(scratch) / "image.png"
        write_png(png, preprocessed.pixels)
        batch = load_images([str(png)], bit_depth=run.bit_depth, image_size=run.model_input_size)
    model = load_model(run.path)
    score = float(np.asarray(model(batch, training=False)).reshape(-1)[0])
    heatmap = gradcam(model, batch, layer=layer)[0]
    image = batch[0, :, :, 0]
    rgb = overlay(image, heatmap, alpha=alpha)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    atomic_write_bytes(Path(out_png), buffer.getvalue())
    return Explanation(score, heatmap, image, rgb, bool(preprocessed.flipped))


def explain_pngs(
    run_dir: str | Path, pngs: Sequence[str | Path], *, layer: str | None = None
) -> list[Explanation]:
    """Grad-CAM of already preprocessed PNGs (a preprocessed folder's images), loaded as the
    run's training input pipeline loads them (bit depth, model input size).

    Raises:
        ConfigError: not a run directory.
    """
    from mammokit.evaluate.runinfo import read_run
    from mammokit.train import load_model
    from mammokit.train.data import load_images

    run = read_run(run_dir)
    if not pngs:
        return []
    model = load_model(run.path)
    batch = load_images(
        [str(p) for p in pngs], bit_depth=run.bit_depth, image_size=run.model_input_size
    )
    scores = np.asarray(model(batch, training=False)).reshape(-1)
    heatmaps = gradcam(model, batch, layer=layer)
    out = []
    for i in range(len(pngs)):
        image = batch[i, :, :, 0]
        rgb = overlay(image, heatmaps[i])
        out.append(Explanation(float(scores[i]), heatmaps[i], image, rgb, False))
    return out
