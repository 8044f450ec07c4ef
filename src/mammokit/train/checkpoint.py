"""Crash-safe end-of-epoch commits of a run directory (no TensorFlow here).

Everything the rest of a run depends on changes at once, at the end of each epoch: the
TF checkpoint (weights, optimizer moments, EMA weights, the step that positions the
learning-rate schedule and seeds all randomness), ``last``/``best`` weights,
``history.csv`` and ``state.json`` (next epoch, best value and epoch, which is the
early-stopping counter, the stop flag). A commit is a redo log:

1. every new file is written into ``checkpoints/.next/`` (left over = discarded);
2. the folder is fsynced and renamed to ``checkpoints/.commit/``: the commit point;
3. its files are moved over the live ones (``os.replace``), ``state.json`` last, and the
   folder is removed. A ``.commit/`` found later (a kill during step 3) is moved in first.

So a SIGKILL at any moment leaves either the previous epoch's files or the new ones, never
a mix; :func:`recover` runs before anything reads them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mammokit.core.errors import ConfigError
from mammokit.train.rundir import RunDir

__all__ = ["commit", "history_rows", "history_text", "recover", "stage_dir", "start_state"]

_MANIFEST = "MANIFEST.json"

#: Called with each file's path (relative to the run) once it is moved into place.
OnFile = Callable[[str], None]


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system syncs folders
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _roll_forward(run: RunDir, on_file: OnFile | None = None) -> None:
    """Move the committed files of ``checkpoints/.commit/`` over the live ones, then remove
    the folder; ``on_file`` is told of each file moved."""
    done = run.committing
    manifest = json.loads((done / _MANIFEST).read_text())
    for relative in manifest:
        source = done / relative
        if source.exists():  # moved already by an earlier, interrupted roll-forward
            target = run.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        if on_file is not None:
            on_file(relative)
    shutil.rmtree(done)
    _fsync_dir(run.checkpoints)


def recover(root: Path) -> None:
    """Finish an interrupted commit under run folder ``root`` (or drop an unfinished one)."""
    run = RunDir(root)
    if run.committing.exists():
        _roll_forward(run)
    shutil.rmtree(run.staging, ignore_errors=True)


def start_state(run: RunDir, *, resume: bool, check: Callable[[], None]) -> dict[str, Any]:
    """The committed state of ``run`` to start from (``{}`` = no epoch done), after
    finishing or dropping an interrupted commit; a run killed before its first commit
    resumes from the start. ``check()`` is called to compare the saved config when
    resuming (it raises on a difference).

    Raises:
        ConfigError: a run folder that holds a run (a state, a model or an encoder), without
            ``resume``.
    """
    if run.checkpoints.exists():
        recover(run.root)
    state = run.read_state()
    if resume:
        check()
        return state or {}
    if state is not None or run.model.exists() or run.encoder.exists():
        raise ConfigError(
            f"{run.root} already holds a run; use --resume to continue it or choose a new --out"
        )
    return {}


def stage_dir(root: Path) -> Path:
    """A fresh, empty ``checkpoints/.next/`` under run folder ``root`` (after
    :func:`recover`): write the new files there with the run's layout (e.g.
    ``RunDir(stage).state_json``), then call :func:`commit`."""
    recover(root)
    stage = RunDir(root).staging
    stage.mkdir(parents=True)
    return stage


def commit(
    root: Path,
    *,
    on_written: Callable[[Path], None] | None = None,
    on_file: OnFile | None = None,
) -> None:
    """Replace the live files under ``root`` by those of :func:`stage_dir`, all at once.

    ``on_written(stage)`` is called once every file is written and synced, before the
    commit point; ``on_file(path)`` after each file (relative to ``root``) is moved in.
    """
    run = RunDir(root)
    stage = run.staging
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
    # state.json last: a reader who sees the new state finds every other new file in place
    state = str(run.state_json.relative_to(run.root))
    files.sort(key=lambda name: name == state)
    (stage / _MANIFEST).write_text(json.dumps(files))
    _fsync_tree(stage)
    if on_written is not None:
        on_written(stage)
    os.replace(stage, run.committing)
    _fsync_dir(run.checkpoints)
    _roll_forward(run, on_file)


def history_rows(path: Path, keep: int) -> list[str]:
    """The header and first ``keep`` epoch rows of ``history.csv`` (lines without their
    ending); rows past ``keep`` belong to epochs that were never committed."""
    if keep <= 0 or not path.exists():
        return []
    with open(path, newline="") as handle:
        lines = handle.read().splitlines()
    return lines[: keep + 1]


def history_text(previous: list[str], epoch: int, logs: Mapping[str, Any]) -> str:
    """``history.csv`` with one more row for ``epoch`` (numbered from 1), formatted as
    Keras's ``CSVLogger`` does (``epoch`` then the sorted log keys; None is empty)."""
    keys = (
        next(csv.reader([previous[0]]))[1:] if previous else sorted(logs)
    )  # the header of a resumed run
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["epoch", *keys], dialect=csv.excel)
    if not previous:
        writer.writeheader()
    writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in keys}})
    head = "".join(line + "\r\n" for line in previous)
    return head + out.getvalue()
