"""Optimiser: Keras AdamW with decoupled weight decay, warmup + cosine schedule, EMA,
gradient clipping and mixed precision (imports TensorFlow lazily).

Weight decay convention. tensorflow-addons' ``AdamW(weight_decay=wd)`` removed ``wd * w``
from every weight at every step, independent of the learning rate. Keras's AdamW removes
``lr_t * wd_keras * w``. mammokit's ``TrainConfig.weight_decay`` is in tfa's convention
(the decay per step at the peak learning rate), and is given to Keras as
``wd_keras = weight_decay / learning_rate``, so that at the peak both remove the same
fraction; during warmup and cosine decay the Keras decay follows the schedule, which is
what tfa users were advised to do by hand.

Norm parameters, biases, GRN and layer-scale parameters (every 1-D variable) are excluded
from weight decay.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

__all__ = [
    "OptimizerSettings",
    "WarmupCosine",
    "build_optimizer",
    "decay_excluded",
    "set_mixed_precision",
]


class OptimizerSettings(Protocol):
    """What :func:`build_optimizer` reads: a :class:`~mammokit.TrainConfig` or a
    :class:`~mammokit.PretrainConfig`."""

    @property
    def learning_rate(self) -> float: ...
    @property
    def keras_weight_decay(self) -> float: ...
    @property
    def warmup_epochs(self) -> float: ...
    @property
    def epochs(self) -> int: ...
    @property
    def min_lr_ratio(self) -> float: ...
    @property
    def clipnorm(self) -> float | None: ...
    @property
    def ema(self) -> bool: ...
    @property
    def ema_momentum(self) -> float: ...


def _schedule_class() -> type:
    from mammokit.core.tf import import_keras, import_tf

    tf = import_tf()
    keras = import_keras()

    class _WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc,name-defined]
        """Linear warmup from 0 to ``peak`` over ``warmup_steps``, then cosine decay to
        ``peak * min_ratio`` at ``total_steps``."""

        def __init__(
            self, peak: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.0
        ) -> None:
            super().__init__()
            self.peak = float(peak)
            self.warmup_steps = int(warmup_steps)
            self.total_steps = max(int(total_steps), self.warmup_steps + 1)
            self.min_ratio = float(min_ratio)

        def __call__(self, step: Any) -> Any:
            step = tf.cast(step, tf.float32)
            warm = tf.cast(max(self.warmup_steps, 1), tf.float32)
            warmup_lr = self.peak * (step + 1.0) / warm
            span = tf.cast(self.total_steps - self.warmup_steps, tf.float32)
            progress = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
            decayed = self.peak * (self.min_ratio + (1.0 - self.min_ratio) * cosine)
            return tf.where(step < self.warmup_steps, warmup_lr, decayed)

        def get_config(self) -> dict[str, Any]:
            return {
                "peak": self.peak,
                "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps,
                "min_ratio": self.min_ratio,
            }

    return _WarmupCosine


_CACHE: dict[str, type] = {}


def WarmupCosine(peak: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> Any:
    """The warmup + cosine learning-rate schedule (a Keras ``LearningRateSchedule``)."""
    if "cls" not in _CACHE:
        _CACHE["cls"] = _schedule_class()
    return _CACHE["cls"](peak, warmup_steps, total_steps, min_ratio)


def decay_excluded(variables: Any) -> list[Any]:
    """The variables weight decay must skip: every vector (biases, LayerNorm/BatchNorm
    gamma and beta, GRN gamma and beta, layer scale). Kernels (2-D and up) are decayed."""
    return [v for v in variables if len(v.shape) <= 1]


def build_optimizer(config: OptimizerSettings, *, steps_per_epoch: int, model: Any) -> Any:
    """Keras AdamW for ``config``, with the schedule, EMA and clipping, and decay excluded
    from :func:`decay_excluded` variables of ``model`` (which must be built)."""
    from mammokit.core.tf import import_keras

    keras = import_keras()
    warmup = round(config.warmup_epochs * steps_per_epoch)
    total = max(config.epochs * steps_per_epoch, 1)
    schedule = WarmupCosine(config.learning_rate, warmup, total, config.min_lr_ratio)
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=config.keras_weight_decay,
        clipnorm=config.clipnorm,
        use_ema=config.ema,
        ema_momentum=config.ema_momentum,
    )
    optimizer.exclude_from_weight_decay(var_list=decay_excluded(model.trainable_variables))
    return optimizer


def set_mixed_precision(mode: str, *, device: str) -> str:
    """Set the global Keras dtype policy; returns the policy name.

    ``mode``: "off" (float32), "bf16", "fp16", or "auto": bf16 on TPU, fp16 on GPU (Keras
    adds dynamic loss scaling to the optimizer at compile), float32 on CPU.
    ``device``: "tpu", "gpu" or "cpu".
    """
    from mammokit.core.tf import import_keras

    keras = import_keras()
    if mode == "auto":
        mode = {"tpu": "bf16", "gpu": "fp16"}.get(device, "off")
    policy = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[mode]
    keras.mixed_precision.set_global_policy(policy)
    return policy
