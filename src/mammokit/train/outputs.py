"""What a finished training run writes and returns: ``model.keras``, ``oof.csv``,
``summary.json`` and :class:`TrainResult` (imports TensorFlow lazily)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pluggy

from mammokit.core.atomic import atomic_write_bytes
from mammokit.train.aux_heads import AuxTarget
from mammokit.train.config import TrainConfig
from mammokit.train.epochs import window_mean
from mammokit.train.rundir import OOF_COLUMNS, RunDir

__all__ = ["TrainResult", "final_model", "summary", "write_model", "write_oof", "write_summary"]


@attrs.frozen
class TrainResult:
    """What :func:`~mammokit.train.train` produced.

    Attributes:
        run_dir: the run directory.
        history: one row per epoch (the content of ``history.csv``; epochs from 1).
        best: the best value of ``monitor``.
        epochs_run: epochs trained by this call (0 if already finished).
        model: the final Keras model (the weights ``model.keras`` holds).
        monitor: the validation value that chose the best epoch (``TrainConfig.monitor``).
        best_epoch: the epoch (from 1) of ``best``.
        stopped_early: the last epoch when early stopping ended training, else None.
        summary: one line saying which epoch ``model.keras`` holds and why (also in
            ``summary.json`` of the run, with the monitored value per epoch).
    """

    run_dir: Path
    history: pd.DataFrame = attrs.field(eq=False)
    best: float
    epochs_run: int
    model: Any = attrs.field(default=None, eq=False, repr=False)
    monitor: str = "breast_pf1"
    best_epoch: int | None = None
    stopped_early: int | None = None
    summary: str = ""


def summary(
    config: TrainConfig, history: pd.DataFrame, best_epoch: int | None, stopped: int | None
) -> dict[str, Any]:
    """What ``summary.json`` holds: the monitor, its value per epoch (raw, and averaged over
    ``monitor_smoothing`` epochs as the choice saw it), the chosen epoch and a one-line
    reason (epochs from 1, as in ``history.csv``)."""
    values = [float(v) for v in history["monitor"]] if "monitor" in history else []
    smoothing = config.monitor_smoothing
    found = bool(best_epoch and best_epoch <= len(values))
    best = window_mean(values[:best_epoch], smoothing) if found else math.nan
    mode = config.resolved_monitor_mode
    held = "best" if config.final_weights == "best" else "last"
    chosen = best_epoch if held == "best" else len(values) or None
    judged = config.monitor if smoothing == 1 else f"{config.monitor} (mean of {smoothing} epochs)"
    text = (
        f"model.keras holds epoch {chosen} of {len(values)} ({held} weights): "
        f"{'highest' if mode == 'max' else 'lowest'} {judged} = {best:.4f} "
        f"at epoch {best_epoch}"
    )
    if stopped:
        text += (
            f"; stopped early after epoch {stopped} "
            f"({config.early_stopping_patience} epoch(s) without a better {config.monitor})"
        )

    def finite(value: float) -> float | None:  # strict JSON has no NaN
        return None if math.isnan(value) else value

    return {
        "monitor": config.monitor,
        "mode": mode,
        "values": [finite(v) for v in values],
        "monitor_smoothing": smoothing,
        "smoothed_values": [
            finite(window_mean(values[:epoch], smoothing)) for epoch in range(1, len(values) + 1)
        ],
        "best_epoch": best_epoch,
        "best": finite(best),
        "model_epoch": chosen,
        "final_weights": config.final_weights,
        "stopped_early_after": stopped,
        "label": config.label,
        "text": text,
    }


def write_summary(run: RunDir, content: dict[str, Any]) -> None:
    """Write ``summary.json`` (the dict of :func:`summary`) atomically."""
    atomic_write_bytes(run.summary, (json.dumps(content, indent=2) + "\n").encode("utf-8"))


def final_model(
    config: TrainConfig,
    image_size: tuple[int, int],
    aux: Sequence[AuxTarget],
    weights: Path,
    manager: pluggy.PluginManager,
    *,
    heads: bool = False,
) -> Any:
    """A clean, uncompiled float32 model with ``weights``, its main head only (every
    head with ``heads``)."""
    from mammokit.core.tf import import_keras
    from mammokit.train.model import build_model

    keras = import_keras()
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        model = build_model(config, image_size, manager=manager, aux=aux)
        model.load_weights(str(weights))
        if len(model.outputs) > 1 and not heads:  # predictions: the main head alone
            model = keras.Model(model.inputs, model.outputs[0], name=model.name)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    return model


def write_model(run: RunDir, model: Any, path: Path | None = None) -> None:
    """Save ``model`` as ``model.keras`` (or ``path`` in the run), written beside it, then
    renamed into place."""
    model.save(str(run.model_partial), save_format="keras")
    run.model_partial.replace(path or run.model)


def write_oof(run: RunDir, label: str, val_rows: pd.DataFrame, scores: np.ndarray) -> None:
    """Write ``oof.csv``: the validation rows' ids, label (named ``label``) and ``scores``."""
    oof = val_rows.assign(score=scores)
    oof = oof[[c for c in OOF_COLUMNS if c in oof.columns]].rename(columns={"cancer": label})
    atomic_write_bytes(run.oof, oof.to_csv(index=False).encode("utf-8"))
