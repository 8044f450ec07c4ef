"""Self-supervised pretraining of a backbone on unlabelled preprocessed images:
``mammokit pretrain``, :meth:`mammokit.Pipeline.pretrain`.

A pretraining method is a ``mammokit_pretraining_methods`` component; the built-in one is
FCMAE (:mod:`mammokit.train.pretrain.fcmae`). A run writes ``encoder.h5``, which
``train --pretrained RUN_DIR`` loads into the same backbone (:mod:`.encoder`). Importing
this package does not import TensorFlow.
"""

from __future__ import annotations

from mammokit.train.pretrain.config import PretrainConfig, load_pretrain_config
from mammokit.train.pretrain.fcmae import Fcmae
from mammokit.train.pretrain.runner import Pretrainer, PretrainResult, pretrain

__all__ = [
    "Fcmae",
    "PretrainConfig",
    "PretrainResult",
    "Pretrainer",
    "load_pretrain_config",
    "pretrain",
]
