"""Training: sampling, external data, backbones, losses, optimiser, strategies, fit loop.

Importing this package does not import TensorFlow; :func:`train`, :class:`Trainer`,
:func:`load_model` and :func:`predict_images` import it when called. A :class:`Handler`
(any object with some of its event methods) given to ``train(..., handlers=[...])`` is told
of each training step, validation, commit and epoch end (:mod:`mammokit.train.handlers`).
"""

from __future__ import annotations

from mammokit.train.config import AugmentConfig, TrainConfig, load_train_config
from mammokit.train.fit import TrainResult, read_dataset, train
from mammokit.train.handlers import Handler
from mammokit.train.load import load_model, predict_images
from mammokit.train.rundir import RunDir, read_run_config
from mammokit.train.trainer import Trainer

__all__ = [
    "AugmentConfig",
    "Handler",
    "RunDir",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "load_model",
    "load_train_config",
    "predict_images",
    "read_dataset",
    "read_run_config",
    "train",
]
