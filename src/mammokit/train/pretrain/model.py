"""The FCMAE Keras model: masked encoder, light decoder, masked-patch loss (imports
TensorFlow: import this module lazily; :mod:`mammokit.train.pretrain.fcmae` says what it
does)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mammokit.core.errors import ConfigError
from mammokit.core.tf import import_keras, import_tf
from mammokit.train.backbones import KECAM_CONVNEXT_MODULE
from mammokit.train.pretrain.masking import MaskedEncoder, random_patch_masks
from mammokit.train.rng import step_seed

if TYPE_CHECKING:
    from mammokit.train.pretrain.fcmae import Fcmae

tf = import_tf()
keras = import_keras()

__all__ = ["FcmaeModel", "MaskToken", "patch_targets"]

#: The salt of the mask's random stream (random layers take salts from 0 up).
_MASK_SALT = 1_000_003


class MaskToken(keras.layers.Layer):  # type: ignore[misc,name-defined]
    """``[x (B, h, w, D), masked (B, h, w, 1)] -> x`` with a learnt token (normal, std
    0.02, as in FCMAE) in place of every masked site."""

    def build(self, input_shape: Any) -> None:
        dim = int(input_shape[0][-1])
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.token = self.add_weight(name="token", shape=(1, 1, 1, dim), initializer=init)
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        x, masked = inputs
        return x * (1.0 - masked) + self.token * masked


def _decoder(grid: tuple[int, int], channels: int, method: Fcmae) -> Any:
    """``[features (B, gh, gw, F), masked (B, gh, gw, 1)] -> (B, gh, gw, P * P)``: a 1x1
    projection, the mask token, ``decoder_depth`` ConvNeXt V2 blocks (kecam's own), a 1x1
    prediction of each patch's pixels."""
    convnext = importlib.import_module(f"{KECAM_CONVNEXT_MODULE}.convnext")
    features = keras.Input((*grid, channels), name="features")
    masked = keras.Input((*grid, 1), name="masked")
    x = keras.layers.Conv2D(method.decoder_dim, 1, name="decoder_proj")(features)
    x = MaskToken(name="decoder_mask_token")([x, masked])
    for index in range(method.decoder_depth):
        x = convnext.block(
            x, method.decoder_dim, layer_scale_init_value=0, use_grn=True,
            name=f"decoder_block{index + 1}_",
        )  # fmt: skip
    pred = keras.layers.Conv2D(method.patch_size**2, 1, name="decoder_pred")(x)
    return keras.Model([features, masked], pred, name="fcmae_decoder")


def patch_targets(images: Any, patch_size: int, *, normalise: bool) -> Any:
    """``(B, H, W, 1)`` images -> ``(B, H/P, W/P, P * P)`` the pixels of each patch, each
    patch normalised to zero mean and unit variance when ``normalise``."""
    target = tf.nn.space_to_depth(images, patch_size)
    if not normalise:
        return target
    mean, variance = tf.nn.moments(target, axes=[-1], keepdims=True)
    return (target - mean) * tf.math.rsqrt(variance + 1e-6)


class FcmaeModel(keras.Model):  # type: ignore[misc,name-defined]
    """FCMAE around ``encoder`` (kept as ``self.encoder``, its weights the run's output).

    ``model((images, masked))`` gives the reconstruction ``(B, gh, gw, P * P)`` of images
    ``(B, H, W, 1)`` with patches ``masked (B, gh, gw)`` (1 = masked);
    :meth:`reconstruction_loss` its loss; :meth:`train_step` draws the masks from ``(seed,
    optimizer step)``, so a resumed run masks as the uninterrupted one did.
    """

    def __init__(self, encoder: Any, stem: Any, method: Fcmae, *, seed: int) -> None:
        super().__init__(name="fcmae")
        self.encoder = encoder
        self.stem = stem
        self.method = method
        self.seed = int(seed)
        self.masked_encoder = MaskedEncoder(encoder, method.patch_size)
        self.grid = self.masked_encoder.grid
        method.masked_count(self.grid[0] * self.grid[1])
        out = tuple(int(v) for v in encoder.output_shape[1:3])
        if out != self.grid:
            raise ConfigError(
                f"FCMAE: backbone {encoder.name!r} gives a {out[0]}x{out[1]} feature map, "
                f"not one site per {method.patch_size}-pixel patch ({self.grid[0]}x"
                f"{self.grid[1]}); set patch_size to the backbone's output stride"
            )
        self.decoder = _decoder(self.grid, int(encoder.output_shape[-1]), method)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        height, width = self.masked_encoder.image_size
        self((tf.zeros((1, height, width, 1)), tf.zeros((1, *self.grid))))

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker]

    def call(self, inputs: Any, training: Any = None) -> Any:
        images, masked = inputs
        masked = masked[..., None]
        visible = 1.0 - masked
        # masked pixels are zeroed before the stem too: a stem that mixes positions (the
        # "contrast" input mode blurs and standardises) then sees none of them
        image_size = self.masked_encoder.image_size
        pixels = images * self.masked_encoder.visible_at(visible, image_size, "the image")
        features = self.masked_encoder(self.stem(pixels), visible)
        return self.decoder([features, masked], training=training)

    def reconstruction_loss(self, images: Any, masked: Any, training: Any = None) -> Any:
        """The mean squared error over the masked patches (``masked (B, gh, gw)``)."""
        pred = self((images, masked), training=training)
        target = patch_targets(images, self.method.patch_size, normalise=self.method.norm_pix_loss)
        per_patch = tf.reduce_mean(tf.square(pred - target), axis=-1)
        return tf.reduce_sum(per_patch * masked) / tf.reduce_sum(masked)

    def train_step(self, data: Any) -> dict[str, Any]:
        images = data[0] if isinstance(data, tuple) else data
        seed = step_seed(self.seed, self.optimizer.iterations, _MASK_SALT)
        masked = random_patch_masks(tf.shape(images)[0], self.grid, self.method.mask_ratio, seed)
        with tf.GradientTape() as tape:
            loss = self.reconstruction_loss(images, masked, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = loss / tf.cast(replicas, loss.dtype)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}
