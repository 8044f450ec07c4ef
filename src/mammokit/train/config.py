"""TrainConfig: every choice of a training run, saved as ``[train]`` in ``config.toml``.

No TensorFlow here: the config is read and validated by the CLI before TensorFlow loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from mammokit.config import _names, _size, config_from_dict, config_to_dict, load_toml

__all__ = ["AugmentConfig", "TrainConfig", "load_train_config"]


def _options(value: Any) -> dict[str, Any]:
    return dict(value or {})


def _options_by_name(value: Any) -> dict[str, dict[str, Any]]:
    return {str(name): dict(options or {}) for name, options in dict(value or {}).items()}


def _size_or_none(value: Any) -> tuple[int, int] | None:
    return None if value is None or value == "" else _size(value)


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _fraction(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1], got {value}")


@attrs.frozen
class AugmentConfig:
    """In-graph training augmentation (never applied at evaluation).

    Attributes:
        hflip, vflip: probability of a horizontal / vertical flip.
        rotate_degrees: maximum absolute rotation (uniform in [-d, d]).
        scale: maximum relative zoom (uniform in [1 - s, 1 + s]).
        translate: maximum shift as a fraction of height/width.
        brightness: maximum additive brightness change (image in [0, 1]).
        contrast: maximum relative contrast change around the image mean.
        gamma: maximum relative gamma change (gamma in [1 - g, 1 + g]).
        cutout: probability of blanking one rectangle of ``cutout_size`` (fraction of H, W).
    """

    hflip: float = attrs.field(default=0.5, converter=float, validator=_fraction)
    vflip: float = attrs.field(default=0.0, converter=float, validator=_fraction)
    rotate_degrees: float = attrs.field(default=5.0, converter=float, validator=_non_negative)
    scale: float = attrs.field(default=0.05, converter=float, validator=_fraction)
    translate: float = attrs.field(default=0.03, converter=float, validator=_fraction)
    brightness: float = attrs.field(default=0.05, converter=float, validator=_fraction)
    contrast: float = attrs.field(default=0.1, converter=float, validator=_fraction)
    gamma: float = attrs.field(default=0.1, converter=float, validator=_fraction)
    cutout: float = attrs.field(default=0.0, converter=float, validator=_fraction)
    cutout_size: float = attrs.field(default=0.15, converter=float, validator=_fraction)

    @classmethod
    def off(cls) -> AugmentConfig:
        """No augmentation at all."""
        return cls(
            hflip=0, vflip=0, rotate_degrees=0, scale=0, translate=0,
            brightness=0, contrast=0, gamma=0, cutout=0,
        )  # fmt: skip


def _augment(value: Any) -> AugmentConfig:
    if isinstance(value, AugmentConfig):
        return value
    return config_from_dict(AugmentConfig, dict(value or {}), where="train.augment")


def _one_of(*choices: str) -> Any:
    return attrs.validators.in_(choices)


@attrs.frozen
class TrainConfig:
    """One training run.

    Attributes:
        backbone: a ``mammokit_backbones`` name; ``backbone_options`` go to its factory
            (e.g. ``drop_path_rate`` for ConvNeXtV2).
        pretrained: a local weights file for the backbone, or None for random init.
        input_mode: how the grey image becomes 3 channels inside the model: "contrast"
            (image + two high-pass channels, standardised; trains from random init),
            "imagenet" (repeat + ImageNet normalisation; for pretrained weights), "grey",
            or "auto" (imagenet when ``pretrained`` is set, else contrast).
        head_dropout: dropout before the final dense layer.
        head_hidden: units of an optional hidden dense (+GELU) layer in the head; 0 = none.
        image_size: (H, W) the model sees; None = the preprocessed size. Images are
            resized in the input pipeline when it differs.
        epochs, batch_size: the global batch size (over all replicas).
        n_folds, fold, seed: the patient-grouped stratified split, and the run's seed.
        sampling: a ``mammokit_sampling_strategies`` name with ``sampling_options``.
        loss: a ``mammokit_losses`` name with ``loss_options``.
        metrics: the ``mammokit_metrics`` computed on the validation fold each epoch, per
            image and per breast (history columns ``val_image_<name>``,
            ``val_breast_<name>``); a tuple or ``"pf1,auc"``. It must include ``pf1``,
            which picks the best weights; metrics that need a threshold are refused.
        metric_options: metric name -> options for its factory (e.g. ``{"pf1": {"beta":
            2}}``).
        learning_rate: peak learning rate after warmup.
        weight_decay: decoupled weight decay in tensorflow-addons' convention, i.e. the
            fraction of each weight removed per step at the peak learning rate. Keras's
            AdamW multiplies its decay by the learning rate, so it is given
            ``weight_decay / learning_rate`` (see :mod:`mammokit.train.optim`).
        warmup_epochs: linear warmup length, then cosine decay to ``min_lr_ratio``.
        ema: keep an exponential moving average of the weights (``ema_momentum``).
        mixed_precision: "off", "auto" (bf16 on TPU, fp16 with loss scaling on GPU, off
            on CPU), "bf16" or "fp16".
        clipnorm: clip each gradient to this norm; None = no clipping.
        augment: the :class:`AugmentConfig`.
        strategy: "auto", "tpu", "mirrored", "multi_worker" or "cpu".
        external: extra training-only datasets as "name:path" (``mammokit_external_datasets``).
        cache: keep decoded training images in memory after the first epoch.
        final_weights: which weights ``model.keras`` holds: "best" or "last".
        steps_per_execution: Keras steps per tf.function call.
    """

    backbone: str = "convnextv2_atto"
    backbone_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    pretrained: str | None = None
    input_mode: str = attrs.field(
        default="auto", validator=_one_of("auto", "contrast", "imagenet", "grey")
    )
    head_dropout: float = attrs.field(default=0.3, converter=float, validator=_fraction)
    head_hidden: int = attrs.field(default=0, converter=int, validator=_non_negative)
    image_size: tuple[int, int] | None = attrs.field(default=None, converter=_size_or_none)
    epochs: int = attrs.field(default=10, converter=int, validator=_non_negative)
    batch_size: int = attrs.field(default=16, converter=int)
    n_folds: int = attrs.field(default=5, converter=int)
    fold: int = attrs.field(default=0, converter=int, validator=_non_negative)
    seed: int = attrs.field(default=42, converter=int)
    sampling: str = "undersample"
    sampling_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    loss: str = "bce"
    loss_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    metrics: tuple[str, ...] = attrs.field(default=("pf1", "auc"), converter=_names)
    metric_options: dict[str, dict[str, Any]] = attrs.field(
        factory=dict, converter=_options_by_name
    )
    learning_rate: float = attrs.field(default=5e-4, converter=float)
    weight_decay: float = attrs.field(default=2.5e-5, converter=float, validator=_non_negative)
    warmup_epochs: float = attrs.field(default=1.0, converter=float, validator=_non_negative)
    min_lr_ratio: float = attrs.field(default=0.01, converter=float, validator=_fraction)
    ema: bool = False
    ema_momentum: float = attrs.field(default=0.999, converter=float, validator=_fraction)
    mixed_precision: str = attrs.field(
        default="off", validator=_one_of("off", "auto", "bf16", "fp16")
    )
    clipnorm: float | None = attrs.field(default=None, validator=_non_negative)
    augment: AugmentConfig = attrs.field(factory=AugmentConfig, converter=_augment)
    strategy: str = attrs.field(
        default="auto", validator=_one_of("auto", "tpu", "mirrored", "multi_worker", "cpu")
    )
    external: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    cache: bool = False
    final_weights: str = attrs.field(default="best", validator=_one_of("best", "last"))
    steps_per_execution: int = attrs.field(default=1, converter=int)

    def __attrs_post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")
        if self.fold >= self.n_folds:
            raise ValueError(f"fold must be in [0, {self.n_folds - 1}], got {self.fold}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if "pf1" not in self.metrics:
            raise ValueError(
                f"metrics must include pf1 (it picks the best weights), got {self.metrics}"
            )
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics lists a name twice: {self.metrics}")
        stray = sorted(set(self.metric_options) - set(self.metrics))
        if stray:
            raise ValueError(f"metric_options for metric(s) not in metrics: {', '.join(stray)}")
        for item in self.external:
            if ":" not in item:
                raise ValueError(f"external must be 'name:path', got {item!r}")

    @property
    def resolved_input_mode(self) -> str:
        """The input mode after resolving "auto"."""
        if self.input_mode != "auto":
            return self.input_mode
        return "imagenet" if self.pretrained else "contrast"

    @property
    def keras_weight_decay(self) -> float:
        """``weight_decay`` converted to Keras AdamW's convention (divided by the peak lr)."""
        return self.weight_decay / self.learning_rate

    def to_dict(self) -> dict[str, Any]:
        """TOML-ready values."""
        return config_to_dict(self)


def load_train_config(path: str | Path | None, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a TOML file's ``[train]`` table (or the whole file), with
    ``overrides`` (None values ignored) applied on top.

    Raises:
        ConfigError: unreadable file, unknown key or invalid value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        raw = load_toml(path)
        data = dict(raw.get("train", raw))
    data.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(TrainConfig, data, where=str(path) if path else "train")
