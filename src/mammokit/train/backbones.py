"""Backbones: ConvNeXtV2 sizes through keras-cv-attention-models, and a small plain CNN.

Every factory has the ``mammokit_backbones`` signature ``factory(input_shape, *,
pretrained=None, **options)`` and returns a Keras model ``(B, H, W, C) float32 -> (B, h, w,
F)`` feature map. TensorFlow is imported inside the factories only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mammokit.components import BackboneComponent, Component
from mammokit.errors import ConfigError
from mammokit.protocols import Backbone

__all__ = [
    "CONVNEXTV2_SIZES",
    "KECAM_CONVNEXT_MODULE",
    "backbone_components",
    "load_local_weights",
    "simple_cnn",
]

#: Importing this registers kecam's ConvNeXtV2 layers (ChannelAffine, ...) with Keras.
KECAM_CONVNEXT_MODULE = "keras_cv_attention_models.convnext"


#: mammokit name -> keras_cv_attention_models.convnext function name.
CONVNEXTV2_SIZES: dict[str, str] = {
    "convnextv2_atto": "ConvNeXtV2Atto",
    "convnextv2_femto": "ConvNeXtV2Femto",
    "convnextv2_pico": "ConvNeXtV2Pico",
    "convnextv2_nano": "ConvNeXtV2Nano",
    "convnextv2_tiny": "ConvNeXtV2Tiny",
    "convnextv2_base": "ConvNeXtV2Base",
}


def load_local_weights(model: Any, pretrained: str | Path | None) -> None:
    """Load a local ``.h5`` weights file into ``model`` by layer name (no download, ever).

    Layers absent from the file (e.g. a classification head) keep their initial values.

    Raises:
        ConfigError: the file does not exist, cannot be read as Keras weights, or no layer
            of ``model`` matched it.
    """
    if pretrained is None or str(pretrained) == "":
        return
    path = Path(pretrained)
    if not path.is_file():
        raise ConfigError(
            f"pretrained weights {str(path)!r} not found: give a local weights file "
            "(mammokit never downloads weights)"
        )
    before = [w.copy() for w in model.get_weights()]
    try:
        model.load_weights(str(path), by_name=True, skip_mismatch=True)
    except Exception as err:
        raise ConfigError(f"{path}: cannot load weights: {type(err).__name__}: {err}") from err
    after = model.get_weights()
    if before and all((a == b).all() for a, b in zip(before, after, strict=True)):
        raise ConfigError(
            f"{path}: no layer of {model.name!r} matched the weights file (by layer name)"
        )


def _convnextv2(function_name: str) -> Callable[..., Any]:
    def factory(
        input_shape: Sequence[int],
        *,
        pretrained: str | Path | None = None,
        drop_path_rate: float = 0.0,
        **options: Any,
    ) -> Any:
        """``(B, H, W, 3) float32 -> (B, H/32, W/32, F)``; H and W multiples of 32."""
        from mammokit._tf import import_tf

        import_tf()
        convnext = importlib.import_module(KECAM_CONVNEXT_MODULE)

        height, width, channels = (int(v) for v in input_shape)
        if height % 32 or width % 32:
            raise ConfigError(
                f"ConvNeXtV2 needs an image size that is a multiple of 32, got {height}x{width}"
            )
        build = getattr(convnext, function_name)
        model = build(
            input_shape=(height, width, channels),
            num_classes=0,
            pretrained=None,
            drop_connect_rate=float(drop_path_rate),
            **options,
        )
        load_local_weights(model, pretrained)
        return model

    factory.__name__ = f"make_{function_name}"
    return factory


def simple_cnn(
    input_shape: Sequence[int],
    *,
    pretrained: str | Path | None = None,
    widths: Sequence[int] = (16, 32, 64, 128),
) -> Any:
    """A small plain CNN trained from scratch: per width a 3x3 conv, batch norm, ReLU and
    2x2 max-pool. ``(B, H, W, C) float32 -> (B, H/2^k, W/2^k, widths[-1])``."""
    from mammokit._tf import import_keras

    keras = import_keras()
    inputs = keras.Input(tuple(int(v) for v in input_shape))
    x = inputs
    for index, width in enumerate(widths):
        x = keras.layers.Conv2D(int(width), 3, padding="same", use_bias=False, name=f"conv{index}")(
            x
        )
        x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{index}")(x)
    model = keras.Model(inputs, x, name="simple_cnn")
    load_local_weights(model, pretrained)
    return model


def backbone_components() -> list[Component[Backbone]]:
    """The built-in backbone components."""
    components: list[Component[Backbone]] = [
        BackboneComponent(
            name,
            f"ConvNeXtV2 {function_name[len('ConvNeXtV2') :]} (keras-cv-attention-models), "
            "random init or local weights",
            _convnextv2(function_name),
            load_modules=(KECAM_CONVNEXT_MODULE,),
        )
        for name, function_name in CONVNEXTV2_SIZES.items()
    ]
    components.append(
        Component(
            "simple_cnn", "Small plain CNN (conv-BN-ReLU-pool blocks), from scratch", simple_cnn
        )
    )
    return components
