"""TrainConfig: every choice of a training run, saved as ``[train]`` in ``config.toml``.

No TensorFlow here: the config is read and validated by the CLI before TensorFlow loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from mammokit.core.config import (
    as_names,
    as_size,
    config_from_dict,
    config_to_dict,
    load_toml,
    one_of,
)

__all__ = [
    "DEFAULT_MONITOR",
    "SPECIAL_MONITORS",
    "AugmentConfig",
    "TrainConfig",
    "load_train_config",
]


def _options(value: Any) -> dict[str, Any]:
    return dict(value or {})


def _options_by_name(value: Any) -> dict[str, dict[str, Any]]:
    return {str(name): dict(options or {}) for name, options in dict(value or {}).items()}


def _text_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(value or {}).items()}


def _weight_map(value: Any) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(value or {}).items()}


#: The kinds of auxiliary target.
AUX_KINDS = ("binary", "categorical")


def _size_or_none(value: Any) -> tuple[int, int] | None:
    return None if value is None or value == "" else as_size(value)


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


#: How the grey input becomes the backbone's 3 channels.
InputMode = Literal["auto", "contrast", "imagenet", "grey"]
#: Mixed precision policy.
MixedPrecision = Literal["off", "auto", "bf16", "fp16"]
#: The distribution strategy.
StrategyName = Literal["auto", "tpu", "mirrored", "multi_worker", "cpu"]
#: Whether the monitored value is better higher or lower ("auto": from its name).
MonitorMode = Literal["auto", "max", "min"]
#: Which weights ``model.keras`` holds.
FinalWeights = Literal["best", "last"]
#: The loss of the lesion-mask head.
MaskLoss = Literal["dice", "bce"]


#: The monitor when none is configured (the reason is in docs/decisions.md).
DEFAULT_MONITOR = "breast_auc"
#: Monitors that are not a ``<level>_<metric>`` of ``metrics``.
SPECIAL_MONITORS = ("breast_pf1_best_threshold", "val_loss")


def _monitor_name(value: Any) -> str:
    """``"val_breast_auc"``, ``"breast_auc"`` or a bare metric name ``"auc"`` ->
    ``"breast_auc"``: the breast level unless ``image_`` is written."""
    text = str(value).strip()
    if text.startswith("val_") and text != "val_loss":
        text = text[len("val_") :]
    if text and text not in SPECIAL_MONITORS and not text.startswith(("breast_", "image_")):
        text = f"breast_{text}"
    return text


@attrs.frozen
class TrainConfig:
    """One training run.

    Attributes:
        backbone: a ``mammokit_backbones`` name.
        backbone_options: options for the backbone's factory (e.g. ``drop_path_rate`` for
            ConvNeXtV2).
        pretrained: the backbone's initial weights: a local weights file, a name that
            keras-cv-attention-models publishes for it ("imagenet", "imagenet21k-ft1k"; see
            :mod:`mammokit.train.weights`), or None for random init.
        input_mode: how the grey image becomes 3 channels inside the model: "contrast"
            (image + two high-pass channels, standardised; trains from random init),
            "imagenet" (repeat + ImageNet normalisation; for pretrained weights), "grey",
            or "auto" (imagenet when ``pretrained`` is set, else contrast).
        head_dropout: dropout before the final dense layer.
        head_hidden: units of an optional hidden dense (+GELU) layer in the head; 0 = none.
        image_size: (H, W) the model sees; None = the preprocessed size. Images are
            resized in the input pipeline when it differs.
        epochs: training epochs.
        batch_size: the global batch size (over all replicas).
        label: the table column of the binary (0/1) target: folds, sampling, metrics,
            ``oof.csv``'s label column (named so) and evaluate follow it (e.g. "abnormal").
        aux: auxiliary targets trained with extra heads on the pooled features: table
            column -> "binary" (0/1) or "categorical" (its distinct values, e.g. density
            A-D or BIRADS 0-2), e.g. ``{density = "categorical", biopsy = "binary"}``.
            Missing values are left out of the loss; ``model.keras`` keeps only the main
            head, so predictions come from it alone.
        aux_weights: table column -> its auxiliary loss weight (default 1.0 each).
        n_folds: folds of the patient-grouped stratified split.
        fold: the validation fold.
        seed: the run's seed (folds, sampling, augmentation, initialisation).
        stratify: extra table columns the folds are stratified on besides the label
            (e.g. ``"site_id,density"``); a patient takes its first image's value.
        sampling: a ``mammokit_sampling_strategies`` name.
        sampling_options: options for the sampling strategy's factory.
        loss: a ``mammokit_losses`` name.
        loss_options: options for the loss's factory (e.g. ``smoothing`` for bce_smooth).
        metrics: the ``mammokit_metrics`` computed on the validation fold each epoch, per
            image and per breast (history columns ``val_image_<name>``,
            ``val_breast_<name>``); a tuple or ``"pf1,auc"``. Metrics that need a
            threshold are refused.
        metric_options: metric name -> options for its factory (e.g. ``{"pf1": {"beta":
            2}}``).
        learning_rate: peak learning rate after warmup (2e-4: chosen on real validation
            folds, docs/decisions.md).
        weight_decay: decoupled weight decay in tensorflow-addons' convention, i.e. the
            fraction of each weight removed per step at the peak learning rate. Keras's
            AdamW multiplies its decay by the learning rate, so it is given
            ``weight_decay / learning_rate`` (see :mod:`mammokit.train.optim`).
        warmup_epochs: linear warmup length, then cosine decay to ``min_lr_ratio``.
        min_lr_ratio: the final learning rate as a fraction of the peak.
        ema: keep an exponential moving average of the weights (``ema_momentum``).
        ema_momentum: the moving average's momentum.
        mixed_precision: "off", "auto" (bf16 on TPU, fp16 with loss scaling on GPU, off
            on CPU), "bf16" or "fp16".
        clipnorm: clip each gradient to this norm; None = no clipping.
        augment: the :class:`AugmentConfig` fields to change (e.g. ``hflip=0``).
        strategy: "auto", "tpu", "mirrored", "multi_worker" or "cpu".
        external: extra training-only datasets (``mammokit_external_datasets``) as
            "name:path" or "name:path?key=value&key=value" with the reader's options, e.g.
            "image_folder:/data/films?labels=my.csv&laterality=side".
        cache: keep decoded training images in memory after the first epoch.
        monitor: the validation value that picks the ``best`` weights: ``breast_<metric>``
            or ``image_<metric>`` for any ``mammokit_metrics`` name (e.g. "breast_auc";
            computed, and kept in ``history.csv``, even when not in ``metrics``),
            "breast_pf1_best_threshold" (breast pF1 binarised at its best threshold) or
            "val_loss". A bare metric name means the breast level ("auc" is "breast_auc");
            a ``val_`` prefix is accepted. See docs/decisions.md for the default.
        monitor_mode: "max", "min" or "auto" (min for val_loss, else max).
        monitor_smoothing: the best epoch is chosen on the mean of the monitor over the
            last this many epochs, not on one epoch's value: steadier on a small
            validation fold. The weights kept are those of the window's last epoch; the
            first epochs' shorter windows count only until the first full one; early
            stopping follows the same mean. 1 = the raw value; 3 by default (measured on
            the shared real data, docs/decisions.md).
        early_stopping_patience: stop after this many epochs without a better ``monitor``
            value; 0 = never stop early.
        final_weights: which weights ``model.keras`` holds: "best" or "last".
        steps_per_execution: Keras steps per tf.function call.
        mask_weight: the loss weight of the lesion-mask head on the backbone's feature map
            (:mod:`mammokit.train.lesion_head`), trained on ``index.csv``'s ``mask_path``
            (``mammokit preprocess`` with a lesion mask column); 0 = no head.
        mask_loss: that head's loss, "dice" (soft Dice per image) or "bce" (binary
            cross-entropy per cell).
        save_mask_model: also write the head as ``mask_model.keras`` (image -> lesion
            map at the backbone's stride); ``model.keras`` keeps the main head only.
    """

    backbone: str = "convnextv2_atto"
    backbone_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    pretrained: str | None = None
    input_mode: InputMode = attrs.field(default="auto", validator=one_of(InputMode))
    head_dropout: float = attrs.field(default=0.3, converter=float, validator=_fraction)
    head_hidden: int = attrs.field(default=0, converter=int, validator=_non_negative)
    image_size: tuple[int, int] | None = attrs.field(default=None, converter=_size_or_none)
    epochs: int = attrs.field(default=10, converter=int, validator=_non_negative)
    batch_size: int = attrs.field(default=16, converter=int)
    label: str = "cancer"
    aux: dict[str, str] = attrs.field(factory=dict, converter=_text_map)
    aux_weights: dict[str, float] = attrs.field(factory=dict, converter=_weight_map)
    n_folds: int = attrs.field(default=5, converter=int)
    fold: int = attrs.field(default=0, converter=int, validator=_non_negative)
    seed: int = attrs.field(default=42, converter=int)
    stratify: tuple[str, ...] = attrs.field(default=(), converter=as_names)
    sampling: str = "undersample"
    sampling_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    loss: str = "bce"
    loss_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    metrics: tuple[str, ...] = attrs.field(default=("pf1", "auc"), converter=as_names)
    metric_options: dict[str, dict[str, Any]] = attrs.field(
        factory=dict, converter=_options_by_name
    )
    learning_rate: float = attrs.field(default=2e-4, converter=float)
    weight_decay: float = attrs.field(default=2.5e-5, converter=float, validator=_non_negative)
    warmup_epochs: float = attrs.field(default=1.0, converter=float, validator=_non_negative)
    min_lr_ratio: float = attrs.field(default=0.01, converter=float, validator=_fraction)
    ema: bool = False
    ema_momentum: float = attrs.field(default=0.999, converter=float, validator=_fraction)
    mixed_precision: MixedPrecision = attrs.field(default="off", validator=one_of(MixedPrecision))
    clipnorm: float | None = attrs.field(default=None, validator=_non_negative)
    augment: AugmentConfig = attrs.field(factory=AugmentConfig, converter=_augment)
    strategy: StrategyName = attrs.field(default="auto", validator=one_of(StrategyName))
    external: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    cache: bool = False
    monitor: str = attrs.field(default=DEFAULT_MONITOR, converter=_monitor_name)
    monitor_mode: MonitorMode = attrs.field(default="auto", validator=one_of(MonitorMode))
    monitor_smoothing: int = attrs.field(default=3, converter=int, validator=attrs.validators.ge(1))
    early_stopping_patience: int = attrs.field(default=0, converter=int, validator=_non_negative)
    final_weights: FinalWeights = attrs.field(default="best", validator=one_of(FinalWeights))
    steps_per_execution: int = attrs.field(default=1, converter=int)
    mask_weight: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    mask_loss: MaskLoss = attrs.field(default="dice", validator=one_of(MaskLoss))
    save_mask_model: bool = False

    def __attrs_post_init__(self) -> None:
        self._check_counts()
        self._check_aux()
        self._check_metrics()
        if self.save_mask_model and not self.mask_weight:
            raise ValueError("save_mask_model needs a mask head: set mask_weight > 0")
        for item in self.external:
            if ":" not in item:
                raise ValueError(f"external must be 'name:path', got {item!r}")

    def _check_counts(self) -> None:
        """Raise ValueError for a bad batch size, fold, learning rate or empty label."""
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")
        if self.fold >= self.n_folds:
            raise ValueError(f"fold must be in [0, {self.n_folds - 1}], got {self.fold}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not self.label.strip():
            raise ValueError("label must name a table column")

    def _check_aux(self) -> None:
        """Raise ValueError for a bad auxiliary kind, the label as aux, or a stray weight."""
        for column, kind in self.aux.items():
            if kind not in AUX_KINDS:
                raise ValueError(
                    f"aux {column!r}: kind must be binary or categorical, got {kind!r}"
                )
            if column == self.label:
                raise ValueError(f"aux {column!r} is the label itself")
        stray_weights = sorted(set(self.aux_weights) - set(self.aux))
        if stray_weights:
            raise ValueError(f"aux_weights for column(s) not in aux: {', '.join(stray_weights)}")
        if any(w < 0 for w in self.aux_weights.values()):
            raise ValueError(f"aux_weights must be >= 0, got {self.aux_weights}")

    def _check_metrics(self) -> None:
        """Raise ValueError for a bad monitor, a repeated metric or stray metric options."""
        if self.monitor not in SPECIAL_MONITORS:
            level, _, metric = self.monitor.partition("_")
            if level not in ("breast", "image") or not metric:
                raise ValueError(
                    f"monitor must be breast_<metric>, image_<metric>, "
                    f"{' or '.join(SPECIAL_MONITORS)}, got {self.monitor!r}"
                )
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics lists a name twice: {self.metrics}")
        stray = sorted(set(self.metric_options) - set(self.metrics))
        if stray:
            raise ValueError(f"metric_options for metric(s) not in metrics: {', '.join(stray)}")

    def aux_weight(self, column: str) -> float:
        """The loss weight of the auxiliary target ``column``."""
        return self.aux_weights.get(column, 1.0)

    @property
    def resolved_input_mode(self) -> str:
        """The input mode after resolving "auto"."""
        if self.input_mode != "auto":
            return self.input_mode
        return "imagenet" if self.pretrained else "contrast"

    @property
    def monitor_metric(self) -> str | None:
        """The ``mammokit_metrics`` name the monitor reads, or None for the special ones."""
        if self.monitor in SPECIAL_MONITORS:
            return None
        return self.monitor.partition("_")[2]

    @property
    def validation_metrics(self) -> tuple[str, ...]:
        """``metrics`` plus the monitor's metric when it is not among them."""
        extra = self.monitor_metric
        return self.metrics if extra in (None, *self.metrics) else (*self.metrics, str(extra))

    @property
    def resolved_monitor_mode(self) -> str:
        """ "max" or "min" after resolving "auto"."""
        if self.monitor_mode != "auto":
            return self.monitor_mode
        return "min" if self.monitor == "val_loss" else "max"

    @property
    def keras_weight_decay(self) -> float:
        """``weight_decay`` converted to Keras AdamW's convention (divided by the peak lr)."""
        return self.weight_decay / self.learning_rate

    def to_dict(self) -> dict[str, Any]:
        """TOML-ready values."""
        return config_to_dict(self)


def load_train_config(
    path: str | Path | None,
    overrides: Mapping[str, Any] | None = None,
    **more: Any,
) -> TrainConfig:
    """A TrainConfig from a TOML file's ``[train]`` table (or the whole file), with
    ``overrides`` (applied as given, None included) then ``more`` (None values ignored)
    applied on top.

    Raises:
        ConfigError: unreadable file, unknown key or invalid value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        raw = load_toml(path)
        data = dict(raw.get("train", raw))
    data.update(overrides or {})
    data.update({k: v for k, v in more.items() if v is not None})
    return config_from_dict(TrainConfig, data, where=str(path) if path else "train")
