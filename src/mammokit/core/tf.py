"""The one place TensorFlow is imported.

``import_tf()`` sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow's first import, so that
``tf.keras`` is tf-keras (Keras 2): keras-cv-attention-models' ConvNeXtV2 does not build on
Keras 3. Every module that needs TensorFlow calls it inside a function, never at import
time, so ``import mammokit`` stays free of TensorFlow.

TensorFlow's C++ and absl start-up logs (oneDNN, "Could not find cuda drivers", "failed
call to cuInit" on a CPU-only machine, printed once per loaded library) are quiet unless
``MAMMOKIT_TF_LOGS=1`` (``mammokit -v`` sets it) or ``TF_CPP_MIN_LOG_LEVEL`` is set by the
user.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any, cast

__all__ = ["TF_LOGS_ENV", "import_keras", "import_tf"]

#: Environment variable: ``1`` shows TensorFlow's C++ and absl logs (``mammokit -v``).
TF_LOGS_ENV = "MAMMOKIT_TF_LOGS"


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block: TensorFlow's libraries write
    their start-up lines there before its log settings apply."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tf() -> Any:
    """Import and return the ``tensorflow`` module, with legacy Keras selected.

    Raises:
        ImportError: with a hint to install the ``train`` extra when TensorFlow is missing.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    quiet = os.environ.get(TF_LOGS_ENV) != "1" and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    if quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        with _native_stderr_silenced() if quiet else contextlib.nullcontext():
            import tensorflow as tf
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(
            "mammokit training needs TensorFlow: pip install 'mammokit[train]'"
        ) from err
    if quiet:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    return tf


def import_keras() -> ModuleType:
    """Import and return ``tf_keras`` (Keras 2), the Keras that mammokit trains with."""
    import_tf()
    import tf_keras

    return cast("ModuleType", tf_keras)
