"""A test plugin: a backbone with a custom Keras layer (``testkit_scaled_cnn``).

Its saved model loads in a new process only if mammokit imports
:mod:`mammokit_testkit.layers` first, which the component declares in ``load_modules``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mammokit

LAYERS_MODULE = "mammokit_testkit.layers"


def scaled_cnn(input_shape: Sequence[int], *, pretrained: str | None = None) -> Any:
    """``(B, H, W, C) float32 -> (B, H/4, W/4, 16)``: two conv blocks and a LearnedScale."""
    from mammokit.train._tf import import_keras
    from mammokit_testkit.layers import LearnedScale

    keras = import_keras()
    inputs = keras.Input(tuple(int(v) for v in input_shape))
    x = inputs
    for index, width in enumerate((8, 16)):
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"tk_conv{index}")(x)
        x = keras.layers.ReLU(name=f"tk_relu{index}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"tk_pool{index}")(x)
    x = LearnedScale(name="tk_scale")(x)
    return keras.Model(inputs, x, name="testkit_scaled_cnn")


@mammokit.hookimpl
def mammokit_backbones() -> list[mammokit.Component]:
    return [
        mammokit.BackboneComponent(
            "testkit_scaled_cnn",
            "Test backbone with a custom layer (mammokit-testkit)",
            scaled_cnn,
            load_modules=(LAYERS_MODULE,),
        )
    ]
