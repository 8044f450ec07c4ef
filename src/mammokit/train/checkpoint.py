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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mammokit.train import _testhook

__all__ = ["commit", "history_rows", "history_text", "recover", "stage_dir"]

_STAGE = ".next"
_COMMIT = ".commit"
_MANIFEST = "MANIFEST.json"


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


def _roll_forward(root: Path, done: Path) -> None:
    """Move the committed files of ``done`` over the live ones, then remove ``done``."""
    manifest = json.loads((done / _MANIFEST).read_text())
    for relative in manifest:
        source = done / relative
        if source.exists():  # moved already by an earlier, interrupted roll-forward
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        _testhook.point("commit")
    shutil.rmtree(done)
    _fsync_dir(root / "checkpoints")


def recover(root: Path) -> None:
    """Finish an interrupted commit under run folder ``root`` (or drop an unfinished one)."""
    checkpoints = Path(root) / "checkpoints"
    if (checkpoints / _COMMIT).exists():
        _roll_forward(Path(root), checkpoints / _COMMIT)
    shutil.rmtree(checkpoints / _STAGE, ignore_errors=True)


def stage_dir(root: Path) -> Path:
    """A fresh, empty ``checkpoints/.next/`` under run folder ``root`` (after
    :func:`recover`): write the new files there with paths relative to ``root`` (e.g.
    ``stage / "checkpoints/state.json"``), then call :func:`commit`."""
    root = Path(root)
    recover(root)
    stage = root / "checkpoints" / _STAGE
    stage.mkdir(parents=True)
    return stage


def commit(root: Path) -> None:
    """Replace the live files under ``root`` by those of :func:`stage_dir`, all at once."""
    root = Path(root)
    stage = root / "checkpoints" / _STAGE
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
    # state.json last: a reader who sees the new state finds every other new file in place
    files.sort(key=lambda name: name.endswith("state.json"))
    (stage / _MANIFEST).write_text(json.dumps(files))
    _fsync_tree(stage)
    _testhook.point("checkpoint")
    done = root / "checkpoints" / _COMMIT
    os.replace(stage, done)
    _fsync_dir(root / "checkpoints")
    _roll_forward(root, done)


def history_rows(path: Path, keep: int) -> list[str]:
    """The header and first ``keep`` epoch rows of ``history.csv`` (lines without their
    ending); rows past ``keep`` belong to epochs that were never committed."""
    if keep <= 0 or not path.exists():
        return []
    with open(path, newline="") as handle:
        lines = handle.read().splitlines()
    return lines[: keep + 1]


def history_text(previous: list[str], epoch: int, logs: Mapping[str, Any]) -> str:
    """``history.csv`` with one more row for 0-based ``epoch``, formatted as Keras's
    ``CSVLogger`` does (``epoch`` then the sorted log keys; None is empty)."""
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
