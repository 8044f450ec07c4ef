"""A pretraining run's encoder as fine-tuning's initial weights (no TensorFlow).

``train --pretrained RUN_DIR`` (or ``RUN_DIR/encoder.h5``) loads the encoder of a
pretraining run into the backbone. The run's ``config.toml`` says which backbone and
input mode it was pretrained with; fine-tuning with another is refused, since the weights
would be loaded into layers they were not learnt for, or fed other input values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mammokit.core.config import config_from_dict, load_toml
from mammokit.core.errors import ConfigError
from mammokit.train.config import TrainConfig
from mammokit.train.pretrain.config import PRETRAIN_TABLE, PretrainConfig
from mammokit.train.rundir import RunDir

__all__ = ["check_fine_tuning", "pretrain_run_of", "pretrained_file"]


def pretrain_run_of(pretrained: str | Path) -> RunDir | None:
    """The pretraining run ``pretrained`` names (the run folder, or its encoder file), or
    None when it names something else (a weights file, a kecam name)."""
    path = Path(pretrained)
    run = RunDir(path) if path.is_dir() else RunDir(path.parent)
    if not path.is_dir() and path.name != run.encoder.name:
        return None
    if not run.config.is_file() or PRETRAIN_TABLE not in load_toml(run.config):
        if path.is_dir():
            raise ConfigError(
                f"pretrained weights {str(path)!r}: a folder, but not a pretraining run (no "
                f"[{PRETRAIN_TABLE}] table in {run.config}); give a run of `mammokit "
                "pretrain`, a weights file or a kecam weights name"
            )
        return None
    return run


def pretrained_file(pretrained: str | Path) -> Path:
    """The weights file of ``pretrained``: a pretraining run's encoder file, or the path
    itself.

    Raises:
        ConfigError: a pretraining run without an encoder yet (no epoch committed).
    """
    run = pretrain_run_of(pretrained)
    if run is None:
        return Path(pretrained)
    if not run.encoder.is_file():
        raise ConfigError(
            f"pretraining run {run.root}: no {run.encoder.name} yet (no epoch was "
            "committed); resume it with `mammokit pretrain --resume`"
        )
    return run.encoder


def _without_drop_path(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if key != "drop_path_rate"}


def check_fine_tuning(config: TrainConfig) -> None:
    """Refuse to fine-tune from a pretraining run with another backbone or input mode.

    Raises:
        ConfigError: naming the run, its value and the training config's.
    """
    if not config.pretrained:
        return
    run = pretrain_run_of(config.pretrained)
    if run is None:
        return
    table = load_toml(run.config)[PRETRAIN_TABLE]
    saved = config_from_dict(PretrainConfig, table, where=f"{run.config}[{PRETRAIN_TABLE}]")
    # stochastic depth is a training choice, not part of the weights
    mine: dict[str, object] = {
        "backbone": config.backbone,
        "backbone_options": _without_drop_path(config.backbone_options),
        "input_mode": config.resolved_input_mode,
    }
    theirs: dict[str, object] = {
        "backbone": saved.backbone,
        "backbone_options": _without_drop_path(saved.backbone_options),
        "input_mode": saved.input_mode,
    }
    diff = [key for key in mine if mine[key] != theirs[key]]
    if diff:
        shown = "; ".join(f"{key}: {theirs[key]!r} there, {mine[key]!r} here" for key in diff)
        raise ConfigError(
            f"--pretrained {config.pretrained}: the pretraining run {run.root} used another "
            f"{' and '.join(diff)} ({shown}); fine-tune with the run's own"
        )
