"""The one place TensorFlow is imported.

``import_tf()`` sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow's first import, so that
``tf.keras`` is tf-keras (Keras 2): keras-cv-attention-models' ConvNeXtV2 does not build on
Keras 3. Every module that needs TensorFlow calls it inside a function, never at import
time, so ``import mammokit`` stays free of TensorFlow.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

__all__ = ["import_keras", "import_tf"]


def import_tf() -> Any:
    """Import and return the ``tensorflow`` module, with legacy Keras selected.

    Raises:
        ImportError: with a hint to install the ``train`` extra when TensorFlow is missing.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(
            "mammokit training needs TensorFlow: pip install 'mammokit[train]'"
        ) from err
    return tf


def import_keras() -> ModuleType:
    """Import and return ``tf_keras`` (Keras 2), the Keras that mammokit trains with."""
    import_tf()
    import tf_keras

    return tf_keras
