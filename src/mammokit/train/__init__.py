"""Training: sampling, external data, backbones, losses, optimiser, strategies, fit loop.

Importing this package does not import TensorFlow; :func:`train`, :func:`load_model` and
:func:`predict_images` import it when called.
"""

from __future__ import annotations

from mammokit.train.config import AugmentConfig, TrainConfig, load_train_config
from mammokit.train.fit import TrainResult, read_dataset, train
from mammokit.train.load import load_model, predict_images
from mammokit.train.rundir import RunDir, read_run_config

__all__ = [
    "AugmentConfig",
    "RunDir",
    "TrainConfig",
    "TrainResult",
    "load_model",
    "load_train_config",
    "predict_images",
    "read_dataset",
    "read_run_config",
    "train",
]
