"""``train(data_dir, run_dir, config)``: a preprocessed folder -> a run directory.

A thin function over :class:`mammokit.train.trainer.Trainer`, which says what a run does
step by step; ``handlers=`` adds :mod:`mammokit.train.handlers` to the run.
Nothing is pickled: weights are HDF5, optimizer state a TF checkpoint, the rest CSV/TOML/JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pluggy

from mammokit.core.config import PredictConfig
from mammokit.train.config import TrainConfig
from mammokit.train.outputs import TrainResult
from mammokit.train.table import read_dataset
from mammokit.train.trainer import Trainer

__all__ = ["TrainResult", "read_dataset", "train"]


def train(
    data_dir: str | Path,
    run_dir: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    manager: pluggy.PluginManager | None = None,
    verbose: int = 2,
    predict: PredictConfig | None = None,
    handlers: Iterable[object] = (),
) -> TrainResult:
    """Train ``config`` on the preprocessed folder ``data_dir``, writing ``run_dir``.

    Args:
        resume: continue from ``run_dir``'s last checkpoint (same config, seed and next
            epoch); without it, an existing run directory with checkpoints is an error.
        verbose: Keras progress (2 = one line per epoch, 0 = silent).
        predict: saved as the run's ``[predict]`` table (how :class:`mammokit.Run`
            predicts); the defaults when None.
        handlers: objects told of the run's events (batches, validation, the commit's
            stages, epoch ends: :mod:`mammokit.train.handlers`), after the built-in steps.

    Raises:
        ConfigError: invalid data, config, handler or run directory.
    """
    trainer = Trainer(
        data_dir, run_dir, config, resume=resume, manager=manager, verbose=verbose,
        predict=predict, handlers=handlers,
    )  # fmt: skip
    return trainer.run()
