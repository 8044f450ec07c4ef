"""The preprocessed folder: its layout, its lifecycle (create, check, lock, clear) and the
reading of its configuration. Written by :func:`mammokit.data.preprocess_dataset`, read by
training, prediction and ``mammokit inspect``; this is the one module that knows the paths.

Layout::

    <out>/preprocess.toml           [preprocess] = the PreprocessConfig (written first)
    <out>/<patient_id>/<image_id>.png        format "png"
    <out>/masks/<patient_id>/<image_id>.png  lesion masks, when the table names them (0/255)
    <out>/shards/shard-KKKKK-of-NNNNN.tfrecord  format "tfrecord" (+ shards/features.json)
    <out>/index.csv                 table columns + path, crop box, flip, source shape...
    <out>/failures.csv              image_id, path, error_type, message
    <out>/.mammokit/                records of finished images (private)

Resuming: each image's output is written atomically, then its record; a rerun skips images
whose record says "ok" (failures are retried). ``index.csv``, ``failures.csv`` and the shards
are rebuilt from the records in image_id order. A run killed at any moment and rerun
therefore ends with the same bytes as one uninterrupted run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.config import PreprocessConfig, config_from_dict, load_toml, save_toml
from mammokit.core.errors import ConfigError, OutputWriteError
from mammokit.data._job import MASKS_DIR, STATE_DIR
from mammokit.data._shards import MANIFEST

__all__ = [
    "FAILURES_CSV",
    "INDEX_CSV",
    "OWN_FILES",
    "PREPROCESS_TOML",
    "check_usable",
    "clear_outputs",
    "locked",
    "prepare_out",
    "read_preprocess_config",
    "sweep_temporaries",
    "write_errors",
]

PREPROCESS_TOML = "preprocess.toml"
INDEX_CSV = "index.csv"
FAILURES_CSV = "failures.csv"
#: The tables the runner writes into the folder (rebuilt on every run).
OWN_FILES = (INDEX_CSV, FAILURES_CSV, PREPROCESS_TOML)
#: ``.mammokit/run.json``: the run settings that must match for a resume.
RUN_FILE = "run.json"


def read_preprocess_config(folder: str | Path) -> PreprocessConfig:
    """The :class:`PreprocessConfig` a preprocessed folder was made with.

    Raises:
        ConfigError: no ``preprocess.toml`` (not a preprocessed folder) or an invalid one.
    """
    path = Path(folder) / PREPROCESS_TOML
    if not path.exists():
        raise ConfigError(f"{path}: not found; run `mammokit preprocess` first")
    raw = load_toml(path)
    return config_from_dict(PreprocessConfig, raw.get("preprocess", raw), where=str(path))


def check_usable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output folder {out} is a file")
    foreign = out.is_dir() and any(entry.name != STATE_DIR for entry in out.iterdir())
    if foreign and not (out / PREPROCESS_TOML).exists():
        raise ConfigError(
            f"output folder {out} is not empty and holds no preprocess.toml; "
            "choose an empty or new folder"
        )


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold ``<out>/.mammokit/lock`` for the run: one run per output folder at a time.

    The lock dies with its process, so a killed run never leaves ``out`` locked.
    """
    state = out / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "ab") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            raise ConfigError(f"another mammokit run is writing to {out}; wait for it") from err
        yield


@contextlib.contextmanager
def write_errors(out: Path) -> Iterator[None]:
    """Turn a failed write (a full disk, a read-only folder) into an :class:`OutputWriteError`.

    Every output is written atomically, so what is on disk stays whole: the run stops, and
    rerunning it once there is room resumes to the same bytes as an uninterrupted run.
    """
    try:
        yield
    except OSError as err:
        full = err.errno in (errno.ENOSPC, errno.EDQUOT)
        cause = "the disk is full" if full else "an output could not be written"
        raise OutputWriteError(
            err.errno,
            f"{cause} ({err}) while preprocessing into {out}; the files written so far are "
            "whole: make room and rerun the same command to resume",
        ) from err


_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.tmp")


def sweep_temporaries(out: Path, patients: Iterable[str]) -> None:
    """Delete temporary files left by atomic writes of a run that was killed."""
    state = out / STATE_DIR
    folders = [out, out / "shards", state]
    for patient in patients:
        folders += [out / patient, state / "records" / patient, state / "payloads" / patient]
        folders.append(out / MASKS_DIR / patient)
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if _TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)


def prepare_out(
    out: Path, config: dict[str, Any], run_info: dict[str, Any], overwrite: bool
) -> None:
    """Create ``out`` or check that it holds a run with the same configuration."""
    toml_path = out / PREPROCESS_TOML
    run_path = out / STATE_DIR / RUN_FILE
    if toml_path.exists():
        old = load_toml(toml_path).get("preprocess", {})
        try:
            old_run = json.loads(run_path.read_bytes())
        except (OSError, ValueError):
            old_run = None
        changes = _differences(old, config) + (
            _differences(old_run, run_info) if old_run is not None else []
        )
        if overwrite:
            clear_outputs(out)
        elif changes:
            raise ConfigError(
                f"{out} was preprocessed with a different configuration "
                f"({'; '.join(changes)}); use a new folder or overwrite"
            )
    out.mkdir(parents=True, exist_ok=True)
    if not toml_path.exists():
        save_toml({"preprocess": config}, toml_path)
    text = json.dumps(run_info, indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(run_path, text.encode())


def _differences(old: Any, new: dict[str, Any]) -> list[str]:
    if not isinstance(old, dict):
        return ["unreadable previous settings"]
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def clear_outputs(out: Path) -> None:
    """Remove what an earlier run wrote (its outputs, records and tables), nothing else."""
    records = out / STATE_DIR / "records"
    if records.is_dir():
        for record in records.glob("*/*.json"):
            png = out / record.parent.name / f"{record.stem}.png"
            png.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                png.parent.rmdir()
    for folder in (
        out / STATE_DIR / "records", out / STATE_DIR / "payloads", out / "shards", out / MASKS_DIR,
    ):  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
    for path in (*(out / n for n in OWN_FILES), out / STATE_DIR / RUN_FILE):
        path.unlink(missing_ok=True)
    (out / STATE_DIR / MANIFEST).unlink(missing_ok=True)
