"""The run directory layout (no TensorFlow): the paths predict/evaluate rely on.

``<run>/config.toml`` ([preprocess], [train], [predict], [stats], [determinism]),
``model.keras``, ``checkpoints/{best,last}.weights.h5``, ``checkpoints/state/`` +
``checkpoints/state.json`` (for ``--resume``; ``.next/`` and ``.commit/`` beside them only
while an epoch is committed), ``history.csv`` (one row per epoch, numbered from 1),
``tb/``, ``oof.csv``, ``summary.json``. An epoch's commit stages its files in
``checkpoints/.next/`` with the run's own layout, so :class:`RunDir` names them there too.
``oof.csv``'s label column is named as the run's label (``[train] label``, "cancer" unless
configured); :func:`read_oof` gives it back as ``cancer``, what the scoring code reads.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from stat import S_ISREG
from typing import Any, cast

import attrs
import pandas as pd

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.config import (
    PredictConfig,
    PreprocessConfig,
    config_from_dict,
    config_to_dict,
    load_toml,
    save_toml,
)
from mammokit.core.errors import ConfigError
from mammokit.train.config import TrainConfig

__all__ = [
    "RunDir",
    "check_resume_config",
    "read_oof",
    "read_run_config",
    "write_run_config",
]

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
    def mask_model(self) -> Path:
        """The lesion-mask head alone (``save_mask_model``)."""
        return self.root / "mask_model.keras"

    @property
    def model_partial(self) -> Path:
        """Where ``model.keras`` is written before it is renamed into place."""
        return self.root / ".model.keras.tmp.keras"

    @property
    def encoder(self) -> Path:
        """``encoder.h5``: a pretraining run's encoder (the backbone's weights in Keras's
        HDF5 format, by layer name, as ``--pretrained`` loads them), committed with each
        epoch."""
        return self.root / "encoder.h5"

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
    def staging(self) -> Path:
        """``checkpoints/.next/``: an epoch's new files while they are written."""
        return self.checkpoints / ".next"

    @property
    def committing(self) -> Path:
        """``checkpoints/.commit/``: an epoch's committed files while they move into place."""
        return self.checkpoints / ".commit"

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

    def calibration(self, method: str, aggregate: str) -> Path:
        """``calibration/<method>-<aggregate>.json``: a calibration fitted on ``oof.csv``."""
        return self.root / "calibration" / f"{method}-{aggregate}.json"

    @property
    def external(self) -> Path:
        return self.root / "external"

    def read_state(self) -> dict[str, Any] | None:
        """The resume state or None: ``{"epoch": epochs done (the last committed epoch,
        numbered from 1; 0-based, the next one), "best": float, "best_epoch": int, "seed":
        int, "step": optimizer step, "stopped_early": epoch or None}``."""
        if not self.state_json.exists():
            return None
        try:
            state: dict[str, Any] = json.loads(self.state_json.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{self.state_json}: unreadable resume state: {err}") from err
        return state

    def write_state(self, state: dict[str, Any]) -> None:
        """Write ``state.json`` (see :meth:`read_state`) atomically."""
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


def check_resume_config(run_dir: str | Path, table: str, config: Any) -> None:
    """Refuse to resume run ``run_dir`` with a ``config`` (an attrs config) other than the
    one its ``config.toml`` holds in ``[table]`` (``epochs`` aside: a run may be extended).

    Raises:
        ConfigError: nothing to resume, or the fields that differ.
    """
    path = RunDir(run_dir).config
    if not path.exists():
        raise ConfigError(f"{RunDir(run_dir).root}: nothing to resume (no config.toml)")
    data = load_toml(path)
    saved = config_from_dict(type(config), data.get(table, {}), where=f"{path}[{table}]")
    mine = {k: v for k, v in config_to_dict(config).items() if k != "epochs"}
    theirs = {k: v for k, v in config_to_dict(saved).items() if k != "epochs"}
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if diff:
        raise ConfigError(
            f"{path}: --resume with a different {table} config ({', '.join(diff)}); "
            "resume with the saved config or start a new run directory"
        )


def write_run_config(
    run_dir: str | Path,
    *,
    preprocess: PreprocessConfig,
    train: TrainConfig,
    predict: PredictConfig,
    stats: dict[str, Any],
    determinism: dict[str, Any] | None = None,
) -> None:
    """Write ``<run>/config.toml`` atomically: one table per stage, plus ``[stats]`` and
    ``[determinism]`` (whether a rerun is bit-identical on this device, and why)."""
    tables = {
        "preprocess": config_to_dict(preprocess),
        "train": config_to_dict(train),
        "predict": config_to_dict(predict),
        "stats": stats,
    }
    if determinism is not None:
        tables["determinism"] = determinism
    save_toml(tables, RunDir(run_dir).config)


def read_oof(run_dir: str | Path, *, label: str = "cancer") -> pd.DataFrame | None:
    """The run's ``oof.csv`` (ids as text), or None when the run has none.

    The file is parsed once per process while it is unchanged (its size and modification
    time): threshold policies, calibration and evaluation all read the same copy.

    ``label``: the run's label (``[train] label``); its column comes back as ``cancer``
    (files written before the label named the column hold ``cancer`` already).

    Raises:
        ConfigError: the file lacks a contract column.
    """
    path = RunDir(run_dir).oof
    try:
        stat = path.stat()
    except OSError:
        return None
    if not S_ISREG(stat.st_mode):
        return None
    frame: pd.DataFrame = _parse_oof(str(path.resolve()), stat.st_mtime_ns, stat.st_size, label)
    return cast(pd.DataFrame, frame.copy())  # the cached copy stays untouched


@functools.lru_cache(maxsize=16)
def _parse_oof(path: str, mtime_ns: int, size: int, label: str = "cancer") -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        dtype={"image_id": str, "patient_id": str, "prediction_id": str},
        keep_default_na=False,
    )
    if label != "cancer" and label in frame.columns and "cancer" not in frame.columns:
        frame = frame.rename(columns={label: "cancer"})
    missing = [c for c in OOF_COLUMNS if c not in frame.columns]
    if missing:
        named = [label if column == "cancer" else column for column in missing]
        raise ConfigError(f"{path}: missing column(s) {', '.join(named)}")
    return frame
