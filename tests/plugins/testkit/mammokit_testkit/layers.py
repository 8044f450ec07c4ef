"""The test plugin's custom layer (imports TensorFlow: imported lazily)."""

from __future__ import annotations

from typing import Any

from mammokit.core.tf import import_keras

keras = import_keras()


@keras.utils.register_keras_serializable(package="mammokit_testkit")
class LearnedScale(keras.layers.Layer):  # type: ignore[misc,name-defined]
    """``(B, H, W, C) -> (B, H, W, C)``: one learned scale per channel, initialised at 1."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(
            name="scale", shape=(int(input_shape[-1]),), initializer="ones", trainable=True
        )
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale
