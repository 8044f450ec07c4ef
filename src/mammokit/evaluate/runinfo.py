"""Reading a training run directory (no TensorFlow): its configs, stats and oof predictions.

The layout is the training engineer's contract: ``config.toml`` with ``[preprocess]``,
``[train]`` and ``[stats]`` (``positive_rate``, ``seed``), ``model.keras`` and ``oof.csv``
(``image_id, patient_id, laterality, prediction_id, cancer, score``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np

from mammokit.core.config import PreprocessConfig
from mammokit.core.errors import ConfigError
from mammokit.evaluate.calibration import (
    Calibration,
    fit_calibration,
    load_calibration,
    save_calibration,
)
from mammokit.scoring.aggregate import aggregate_scores
from mammokit.train.config import TrainConfig
from mammokit.train.rundir import OOF_COLUMNS, RunDir, read_oof, read_run_config

__all__ = [
    "OOF_COLUMNS",
    "RunInfo",
    "oof_breasts",
    "read_oof",
    "read_run",
    "run_calibration",
    "run_label",
]


@attrs.frozen
class RunInfo:
    """What predict and evaluate need from a run directory.

    Attributes:
        path: the run directory.
        preprocess: the :class:`PreprocessConfig` its training data was made with.
        train: the run's :class:`~mammokit.train.TrainConfig` (no TensorFlow needed).
        positive_rate: the breast-level positive rate of the training rows, or None.
        seed: the run's seed, or None.
    """

    path: Path
    preprocess: PreprocessConfig
    train: TrainConfig
    positive_rate: float | None
    seed: int | None

    @property
    def model_path(self) -> Path:
        return RunDir(self.path).model

    @property
    def oof_path(self) -> Path:
        return RunDir(self.path).oof

    @property
    def model_input_size(self) -> tuple[int, int]:
        """The (H, W) the model was trained at: ``[train] image_size`` or the preprocessed
        size (the training input pipeline resizes to it)."""
        return self.train.image_size or self.preprocess.size

    @property
    def bit_depth(self) -> int:
        """8 or 16: the preprocessed PNGs' bit depth."""
        return 16 if self.preprocess.output_dtype == "uint16" else 8


def read_run(run_dir: str | Path) -> RunInfo:
    """Read ``<run>/config.toml`` (through :func:`mammokit.train.read_run_config`).

    Raises:
        ConfigError: not a run directory, or a missing/invalid table or stat.
    """
    path = Path(run_dir)
    preprocess, train, stats = read_run_config(path)
    rate = stats.get("positive_rate")
    if rate is not None:
        rate = float(rate)
        if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ConfigError(f"{path}: [stats] positive_rate {rate} not in [0, 1]")
    seed = stats.get("seed")
    return RunInfo(
        path=path,
        preprocess=preprocess,
        train=train,
        positive_rate=rate,
        seed=int(seed) if seed is not None else None,
    )


def run_label(infos: Sequence[RunInfo]) -> str:
    """The label column the runs were trained on (``[train] label``).

    Raises:
        ConfigError: the runs were trained on different labels.
    """
    labels = sorted({info.train.label for info in infos})
    if len(labels) > 1:
        raise ConfigError(f"the runs were trained on different labels: {', '.join(labels)}")
    return labels[0] if labels else "cancer"


def run_calibration(
    run: RunInfo, method: str, aggregate: str, *, refit: bool = False
) -> Calibration:
    """The run's calibration for ``method`` and ``aggregate``: loaded from
    ``<run>/calibration/<method>-<aggregate>.json``, or fitted on the run's breast-level
    out-of-fold predictions and saved there (also when ``refit``).

    Raises:
        ConfigError: no saved calibration and no usable ``oof.csv``.
    """
    path = RunDir(run.path).calibration(method, aggregate)
    if path.is_file() and not refit:
        return load_calibration(path)
    oof = read_oof(run.path, label=run.train.label)
    if oof is None:
        raise ConfigError(f"{run.path}: calibration needs oof.csv, and the run has none")
    breasts = aggregate_scores(oof, aggregate)
    calibration = fit_calibration(
        method, breasts["cancer"].to_numpy(), breasts["score"].to_numpy(), aggregate=aggregate
    )
    save_calibration(calibration, path)
    return calibration


def oof_breasts(
    runs: list[RunInfo], aggregate: str, calibrations: list[Calibration | None] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Breast-level out-of-fold labels and scores pooled over ``runs`` (each run's scores
    aggregated with ``aggregate`` and passed through its calibration), or None when no run
    has ``oof.csv``."""
    labels: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for index, run in enumerate(runs):
        oof = read_oof(run.path, label=run.train.label)
        if oof is None:
            continue
        breasts = aggregate_scores(oof, aggregate)
        values = breasts["score"].to_numpy(dtype=np.float64)
        calibration = calibrations[index] if calibrations else None
        if calibration is not None:
            values = calibration.apply(values)
        labels.append(breasts["cancer"].to_numpy())
        scores.append(values)
    if not labels:
        return None
    return np.concatenate(labels), np.concatenate(scores)
