"""The run directory layout (no TensorFlow): the paths predict/evaluate rely on.

``<run>/config.toml``, ``model.keras``, ``checkpoints/{best,last}.weights.h5``,
``checkpoints/state/`` + ``checkpoints/state.json`` (for ``--resume``; ``.next/`` and
``.commit/`` beside them only while an epoch is committed), ``history.csv``,
``tb/``, ``oof.csv``, ``summary.json``. ``oof.csv``'s ``cancer`` column holds the run's
label (``[train] label``, "cancer" unless configured).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from mammokit._atomic import atomic_write_bytes
from mammokit.config import PreprocessConfig, config_from_dict, load_toml
from mammokit.errors import ConfigError
from mammokit.train.config import TrainConfig

__all__ = ["RunDir", "read_run_config"]

OOF_COLUMNS = ("image_id", "patient_id", "laterality", "prediction_id", "cancer", "score")


@attrs.frozen
class RunDir:
    """Paths inside one run directory."""

    root: Path = attrs.field(converter=Path)

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def model(self) -> Path:
        return self.root / "model.keras"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best_weights(self) -> Path:
        return self.checkpoints / "best.weights.h5"

    @property
    def last_weights(self) -> Path:
        return self.checkpoints / "last.weights.h5"

    @property
    def state_prefix(self) -> Path:
        """tf.train.Checkpoint prefix of the model + optimizer state (TF format, no pickle)."""
        return self.checkpoints / "state" / "ckpt"

    @property
    def state_json(self) -> Path:
        return self.checkpoints / "state.json"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def summary(self) -> Path:
        """``summary.json``: the monitor, its value per epoch, the chosen epoch and why."""
        return self.root / "summary.json"

    @property
    def oof(self) -> Path:
        return self.root / "oof.csv"

    @property
    def external(self) -> Path:
        return self.root / "external"

    def read_state(self) -> dict[str, Any] | None:
        """The resume state or None: ``{"epoch": next epoch, "best": float, "best_epoch":
        int, "seed": int, "step": optimizer step, "stopped_early": epoch or None}``."""
        if not self.state_json.exists():
            return None
        try:
            state: dict[str, Any] = json.loads(self.state_json.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{self.state_json}: unreadable resume state: {err}") from err
        return state

    def write_state(self, state: dict[str, Any]) -> None:
        atomic_write_bytes(self.state_json, (json.dumps(state, indent=1) + "\n").encode())


def read_run_config(run_dir: str | Path) -> tuple[PreprocessConfig, TrainConfig, dict[str, Any]]:
    """``(preprocess, train, stats)`` from ``<run>/config.toml``.

    Raises:
        ConfigError: missing or invalid file.
    """
    path = RunDir(run_dir).config
    if not path.exists():
        raise ConfigError(f"{path}: not found; is {run_dir} a mammokit run directory?")
    data = load_toml(path)
    for table in ("preprocess", "train"):
        if table not in data:
            raise ConfigError(f"{path}: missing the [{table}] table")
    preprocess = config_from_dict(PreprocessConfig, data["preprocess"], where=f"{path}[preprocess]")
    train = config_from_dict(TrainConfig, data["train"], where=f"{path}[train]")
    return preprocess, train, dict(data.get("stats", {}))
