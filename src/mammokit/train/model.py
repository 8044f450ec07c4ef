"""The full classifier: input stem -> backbone -> head (imports TensorFlow lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from mammokit.plugins import manager_or_shared
from mammokit.train.aux_heads import AuxTarget, head_name
from mammokit.train.config import TrainConfig
from mammokit.train.lesion_head import mask_head

__all__ = ["build_model"]


def build_model(
    config: TrainConfig,
    image_size: tuple[int, int],
    *,
    manager: pluggy.PluginManager | None = None,
    aux: Sequence[AuxTarget] = (),
) -> Any:
    """Build the classifier ``(B, H, W, 1) float32 in [0, 1] -> (B, 1) float32 sigmoid``.

    With ``aux`` targets, the model has one more output per target after the main one, a
    dense layer (``aux_<column>``: 1 sigmoid unit, or one softmax unit per class) on the
    pooled features; with ``config.mask_weight``, the lesion-mask head comes last, on the
    backbone's feature map (:mod:`mammokit.train.lesion_head`). They are created after the
    main head so the main head's weights are initialised as without them.

    Inside the model: :class:`~mammokit.train.layers.InputStem` turns the grey channel
    into 3 channels, the configured backbone gives a feature map, then global average
    pooling -> optional hidden dense + GELU -> dropout(``head_dropout``) -> dense(1,
    sigmoid) in float32 (also under mixed precision).

    Raises:
        ConfigError: unknown backbone or invalid backbone options.
    """
    from mammokit.core.tf import import_keras
    from mammokit.train.layers import InputStem

    keras = import_keras()
    height, width = image_size
    backbone = manager_or_shared(manager).build_backbone(
        config.backbone, (height, width, 3), pretrained=config.pretrained, **config.backbone_options
    )
    inputs = keras.Input((height, width, 1), name="image", dtype="float32")
    x = InputStem(mode=config.resolved_input_mode, name="input_stem")(inputs)
    x = features = backbone(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    pooled = x
    if config.head_hidden:
        x = keras.layers.Dense(config.head_hidden, activation="gelu", name="head_hidden")(x)
    if config.head_dropout:
        x = keras.layers.Dropout(config.head_dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="head_out")(x)
    heads = [
        keras.layers.Dense(
            target.units,
            activation="sigmoid" if target.kind == "binary" else "softmax",
            dtype="float32",
            name=head_name(target.column),
        )(pooled)
        for target in aux
    ]
    if config.mask_weight:
        heads.append(mask_head(features))
    if not heads:
        return keras.Model(inputs, outputs, name=f"mammokit_{config.backbone}")
    return keras.Model(inputs, [outputs, *heads], name=f"mammokit_{config.backbone}")
