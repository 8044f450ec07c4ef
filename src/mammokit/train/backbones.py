"""Backbones: ConvNeXtV2 sizes through keras-cv-attention-models, and a small plain CNN.

Every factory has the ``mammokit_backbones`` signature ``factory(input_shape, *,
pretrained=None, **options)`` and returns a Keras model ``(B, H, W, C) float32 -> (B, h, w,
F)`` feature map. ``pretrained`` is a local weights file or, for ConvNeXtV2, a name that
keras-cv-attention-models publishes (``"imagenet"``, ``"imagenet21k-ft1k"``; see
:mod:`mammokit.train.weights`). TensorFlow is imported inside the factories only.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mammokit.core.errors import ConfigError
from mammokit.plugins.components import BackboneComponent, Component
from mammokit.plugins.protocols import Backbone
from mammokit.train.pretrain.encoder import pretrained_file
from mammokit.train.weights import named_weights, weights_file

__all__ = [
    "CONVNEXTV2_SIZES",
    "KECAM_CONVNEXT_MODULE",
    "backbone_components",
    "load_local_weights",
    "load_weights",
    "simple_cnn",
]

logger = logging.getLogger("mammokit.train")

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
    """Load a local ``.h5`` weights file into ``model`` by layer name.

    Layers absent from the file (e.g. a classification head) keep their initial values, and
    are named in a warning: weights are never partly random in silence.

    Raises:
        ConfigError: the file does not exist, cannot be read as Keras weights, or no layer
            of ``model`` matched it (the weights did not change).
    """
    if pretrained is None or str(pretrained) == "":
        return
    path = Path(pretrained)
    if not path.is_file():
        raise ConfigError(
            f"pretrained weights {str(path)!r} not found: give a local weights file or a "
            "name that keras-cv-attention-models publishes for the backbone"
        )
    weighted = [layer.name for layer in model.layers if layer.weights]
    stored = _layers_in_file(path)
    try:
        model.load_weights(str(path), by_name=True, skip_mismatch=True)
    except Exception as err:
        raise ConfigError(f"{path}: cannot load weights: {type(err).__name__}: {err}") from err
    missing = [name for name in weighted if name not in stored]
    if weighted and len(missing) == len(weighted):
        raise ConfigError(
            f"{path}: no layer of {model.name!r} matched the weights file (by layer name)"
        )
    if missing:
        logger.warning(
            "%s: %d layer(s) of %s are not in the file and keep their random initial "
            "weights: %s", path, len(missing), model.name, ", ".join(missing[:8]),
        )  # fmt: skip


def _layers_in_file(path: Path) -> set[str]:
    """The layer names a Keras HDF5 weights file holds (whole-model files too)."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            group = file.get("model_weights", file)
            names = group.attrs.get("layer_names", list(group))
    except OSError as err:
        raise ConfigError(f"{path}: not a Keras HDF5 weights file ({err})") from err
    return {name.decode() if isinstance(name, bytes) else str(name) for name in names}


def _is_path(pretrained: str | Path) -> bool:
    text = str(pretrained)
    return (
        isinstance(pretrained, Path)
        or "/" in text
        or os.sep in text
        or Path(text).suffix != ""
        or Path(text).is_dir()
    )


def load_weights(
    model: Any, pretrained: str | Path | None, *, weights_dir: str | Path | None = None
) -> None:
    """Load ``pretrained`` into ``model``: a local weights file, a pretraining run (its
    ``encoder.h5``; :mod:`mammokit.train.pretrain.encoder`), or a name kecam
    publishes for ``model.name`` (found in ``weights_dir`` or the Keras cache, downloaded
    only when absent; see :mod:`mammokit.train.weights`).

    Raises:
        ConfigError: unknown name, missing or mismatched file (naming the URL and the path to
            put it at), or a file that changed no weight.
    """
    if pretrained is None or str(pretrained) == "":
        return
    if _is_path(pretrained):
        load_local_weights(model, pretrained_file(pretrained))
        return
    height = int(model.input_shape[1] or 224)
    weights = named_weights(model.name, str(pretrained), height)
    load_local_weights(model, weights_file(weights, weights_dir=weights_dir))


def _convnextv2(function_name: str) -> Callable[..., Any]:
    def factory(
        input_shape: Sequence[int],
        *,
        pretrained: str | Path | None = None,
        drop_path_rate: float = 0.0,
        weights_dir: str | Path | None = None,
        **options: Any,
    ) -> Any:
        """``(B, H, W, 3) float32 -> (B, H/32, W/32, F)``; H and W multiples of 32.
        ``pretrained``: a weights file or a kecam name (``"imagenet"``, ...), looked for in
        ``weights_dir`` and then the Keras cache."""
        from mammokit.core.tf import import_tf

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
        load_weights(model, pretrained, weights_dir=weights_dir)
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
    from mammokit.core.tf import import_keras

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
    load_weights(model, pretrained)
    return model


def backbone_components() -> list[Component[Backbone]]:
    """The built-in backbone components."""
    components: list[Component[Backbone]] = [
        BackboneComponent(
            name,
            f"ConvNeXtV2 {function_name[len('ConvNeXtV2') :]} (keras-cv-attention-models), "
            "random init, local weights or kecam's named weights",
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
