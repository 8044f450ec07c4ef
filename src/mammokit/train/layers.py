"""Custom Keras layers of mammokit models (imports TensorFlow: import this module lazily).

Every layer here is registered as ``mammokit>Name`` so that ``model.keras`` files load with
``safe_mode=True``.
"""

from __future__ import annotations

import math
from typing import Any, cast

from mammokit.core.tf import import_keras, import_tf

tf = import_tf()
keras = import_keras()

__all__ = ["CUSTOM_OBJECTS", "INPUT_MODES", "InputStem"]

#: How the 1-channel input becomes the 3 channels a backbone sees.
INPUT_MODES = ("contrast", "imagenet", "grey")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _gaussian_kernel(sigma: float, limit: int) -> Any:
    """A normalised 1-D Gaussian of std ``sigma`` pixels, truncated at 3 sigma and to
    ``2 * limit + 1`` taps (so that reflect padding stays valid)."""
    radius = max(1, min(math.ceil(3.0 * sigma), limit))
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(x / max(sigma, 1e-3)))
    return kernel / tf.reduce_sum(kernel), radius


@keras.utils.register_keras_serializable(package="mammokit")
class InputStem(keras.layers.Layer):  # type: ignore[misc,name-defined]
    """``(B, H, W, 1) float32 in [0, 1] -> (B, H, W, 3) float32``, the backbone's input.

    Modes:
        ``contrast``: ``[img, img - blur(img, s1 * W), img - blur(img, s2 * W)]`` with a
            Gaussian blur of std ``blur_fractions`` times the image width, each channel
            standardised per image (zero mean, unit std). This is what lets ConvNeXtV2
            learn from random initialisation (see docs/decisions.md).
        ``imagenet``: the grey channel repeated 3 times with ImageNet mean/std
            normalisation, for ImageNet-pretrained weights.
        ``grey``: the grey channel repeated 3 times, scaled to [-1, 1].
    """

    def __init__(
        self,
        mode: str = "contrast",
        blur_fractions: tuple[float, float] | list[float] = (0.10, 0.04),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if mode not in INPUT_MODES:
            raise ValueError(f"input mode must be one of {INPUT_MODES}, got {mode!r}")
        self.mode = mode
        self.blur_fractions = tuple(float(f) for f in blur_fractions)
        if len(self.blur_fractions) != 2 or min(self.blur_fractions) <= 0:
            raise ValueError(f"blur_fractions must be two positive numbers, got {blur_fractions}")
        self._kernels: list[tuple[Any, int, Any, int]] = []

    def build(self, input_shape: Any) -> None:
        height, width = int(input_shape[1]), int(input_shape[2])
        self._kernels = []
        for fraction in self.blur_fractions:
            sigma = fraction * width
            ky, ry = _gaussian_kernel(sigma, height - 1)
            kx, rx = _gaussian_kernel(sigma, width - 1)
            self._kernels.append(
                (tf.reshape(ky, (-1, 1, 1, 1)), ry, tf.reshape(kx, (1, -1, 1, 1)), rx)
            )
        super().build(input_shape)

    def _blur(self, image: Any, kernel: tuple[Any, int, Any, int]) -> Any:
        ky, ry, kx, rx = kernel
        padded = tf.pad(image, [[0, 0], [ry, ry], [0, 0], [0, 0]], mode="REFLECT")
        out = tf.nn.conv2d(padded, ky, strides=1, padding="VALID")
        out = tf.pad(out, [[0, 0], [0, 0], [rx, rx], [0, 0]], mode="REFLECT")
        return tf.nn.conv2d(out, kx, strides=1, padding="VALID")

    def call(self, inputs: Any) -> Any:
        image = tf.cast(inputs, tf.float32)
        if self.mode == "imagenet":
            rgb = tf.repeat(image, 3, axis=-1)
            return (rgb - tf.constant(_IMAGENET_MEAN)) / tf.constant(_IMAGENET_STD)
        if self.mode == "grey":
            return tf.repeat(image * 2.0 - 1.0, 3, axis=-1)
        channels = [image] + [image - self._blur(image, k) for k in self._kernels]
        stacked = tf.concat(channels, axis=-1)
        mean, variance = tf.nn.moments(stacked, axes=[1, 2], keepdims=True)
        return (stacked - mean) * tf.math.rsqrt(variance + 1e-6)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tf.TensorShape(input_shape)[:-1].concatenate([3])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"mode": self.mode, "blur_fractions": list(self.blur_fractions)})
        return cast("dict[str, Any]", config)


#: Custom objects to pass to ``load_model`` (they are also registered globally).
CUSTOM_OBJECTS: dict[str, Any] = {"mammokit>InputStem": InputStem}
