"""PretrainConfig: every choice of a self-supervised pretraining run, saved as
``[pretrain]`` in the run's ``config.toml``.

No TensorFlow here: the config is read and checked before TensorFlow loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from mammokit.core.config import as_size, config_from_dict, config_to_dict, load_toml, one_of
from mammokit.train.config import AugmentConfig

__all__ = ["PRETRAIN_TABLE", "PretrainConfig", "load_pretrain_config"]

#: The table of a pretraining run's ``config.toml`` that holds its :class:`PretrainConfig`.
PRETRAIN_TABLE = "pretrain"

#: Distribution strategies of a pretraining run (a multi-worker run is not supported).
PretrainStrategy = Literal["auto", "tpu", "mirrored", "cpu"]

#: Input modes a pretraining run may use ("auto" is a fine-tuning choice only).
PretrainInputMode = Literal["imagenet", "contrast", "grey"]


def _at_least_zero(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


def _fraction(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1], got {value}")


def _options(value: Any) -> dict[str, Any]:
    return dict(value or {})


def _size_or_none(value: Any) -> tuple[int, int] | None:
    return None if value is None or value == "" else as_size(value)


def _augment(value: Any) -> AugmentConfig:
    if isinstance(value, AugmentConfig):
        return value
    return config_from_dict(AugmentConfig, dict(value or {}), where="pretrain.augment")


@attrs.frozen
class PretrainConfig:
    """One self-supervised pretraining run: the encoder it trains, the method and the
    optimiser (the fields shared with :class:`~mammokit.TrainConfig` mean the same there).

    Attributes:
        method: a ``mammokit_pretraining_methods`` name ("fcmae").
        method_options: options for the method's factory (FCMAE: ``mask_ratio``,
            ``patch_size``, ``decoder_dim``, ``decoder_depth``, ``norm_pix_loss``).
        backbone: the ``mammokit_backbones`` name of the encoder; ``train`` must use the
            same one to take the weights.
        backbone_options: options for the backbone's factory.
        input_mode: how the grey image becomes 3 channels ("imagenet", "contrast" or
            "grey"); fine-tuning with ``input_mode="auto"`` and pretrained weights uses
            "imagenet", so that is the default here, and ``train`` refuses a mismatch.
        image_size: (H, W) the encoder sees; None = the preprocessed size.
        epochs, batch_size, seed: as in training.
        learning_rate, weight_decay, warmup_epochs, min_lr_ratio, clipnorm: the AdamW
            optimiser and its warmup + cosine schedule, as in training (``weight_decay`` in
            the same convention: 2.5e-5 at 5e-4 is the paper's 0.05).
        augment: the in-graph augmentation of the images (:class:`AugmentConfig`).
        strategy: "auto", "tpu", "mirrored" or "cpu" (not "multi_worker").
        cache: keep the decoded images in memory after the first epoch.
    """

    method: str = "fcmae"
    method_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    backbone: str = "convnextv2_atto"
    backbone_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    input_mode: PretrainInputMode = attrs.field(
        default="imagenet", validator=one_of(PretrainInputMode)
    )
    image_size: tuple[int, int] | None = attrs.field(default=None, converter=_size_or_none)
    epochs: int = attrs.field(default=20, converter=int, validator=_at_least_zero)
    batch_size: int = attrs.field(default=16, converter=int, validator=_positive)
    seed: int = attrs.field(default=42, converter=int)
    learning_rate: float = attrs.field(default=5e-4, converter=float, validator=_positive)
    weight_decay: float = attrs.field(default=2.5e-5, converter=float, validator=_at_least_zero)
    warmup_epochs: float = attrs.field(default=1.0, converter=float, validator=_at_least_zero)
    min_lr_ratio: float = attrs.field(default=0.01, converter=float, validator=_fraction)
    clipnorm: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    augment: AugmentConfig = attrs.field(factory=AugmentConfig, converter=_augment)
    strategy: PretrainStrategy = attrs.field(default="auto", validator=one_of(PretrainStrategy))
    cache: bool = False

    #: The optimiser fields of :class:`~mammokit.TrainConfig` that pretraining leaves off.
    ema = False
    ema_momentum = 0.0

    @property
    def keras_weight_decay(self) -> float:
        """``weight_decay`` in Keras AdamW's convention (divided by the peak lr)."""
        return self.weight_decay / self.learning_rate

    def to_dict(self) -> dict[str, Any]:
        """TOML-ready values."""
        return config_to_dict(self)


def load_pretrain_config(
    path: str | Path | None, overrides: Mapping[str, Any] | None = None
) -> PretrainConfig:
    """A PretrainConfig from a TOML file's ``[pretrain]`` table (or the whole file), with
    ``overrides`` applied on top.

    Raises:
        ConfigError: unreadable file, unknown key or invalid value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        raw = load_toml(path)
        data = dict(raw.get(PRETRAIN_TABLE, raw))
    data.update(overrides or {})
    return config_from_dict(PretrainConfig, data, where=str(path) if path else PRETRAIN_TABLE)
