"""Training losses: ``bce``, ``bce_smooth`` and ``focal`` (Keras, TensorFlow imported lazily).

Each factory returns a Keras loss ``(y_true (B, 1), y_pred (B, 1) probabilities) -> scalar``.
"""

from __future__ import annotations

from typing import Any

from mammokit.plugins.components import Component
from mammokit.plugins.protocols import Loss

__all__ = ["bce", "bce_smooth", "focal", "loss_components"]


def bce() -> Any:
    """Plain binary cross-entropy on probabilities."""
    from mammokit.core.tf import import_keras

    return import_keras().losses.BinaryCrossentropy(name="bce")


def bce_smooth(label_smoothing: float = 0.1) -> Any:
    """Binary cross-entropy with label smoothing: targets become ``y (1 - s) + s / 2``."""
    from mammokit.core.tf import import_keras

    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return import_keras().losses.BinaryCrossentropy(
        label_smoothing=float(label_smoothing), name="bce_smooth"
    )


def focal(gamma: float = 2.0, alpha: float | None = None) -> Any:
    """Binary focal loss ``-(1 - p_t)^gamma log(p_t)``, optionally weighted by ``alpha``
    for positives and ``1 - alpha`` for negatives."""
    from mammokit.core.tf import import_keras

    keras = import_keras()
    return keras.losses.BinaryFocalCrossentropy(
        gamma=float(gamma),
        alpha=0.25 if alpha is None else float(alpha),
        apply_class_balancing=alpha is not None,
        name="focal",
    )


def loss_components() -> list[Component[Loss]]:
    """The built-in loss components."""
    return [
        Component("bce", "Binary cross-entropy", bce),
        Component(
            "bce_smooth", "Binary cross-entropy with label smoothing (default 0.1)", bce_smooth
        ),
        Component("focal", "Binary focal loss (gamma 2, optional alpha)", focal),
    ]
