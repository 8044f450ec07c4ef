"""Helpers for the dataset tests (importable by worker processes, unlike test modules)."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mammokit import Pipeline

#: The output size the dataset tests use.
SIZE = (64, 32)
#: The per-image timeout of the hang tests (a hanging image sleeps 60 s). A fresh worker's
#: first image also builds its pipeline, which takes seconds when `nox` runs two sessions
#: on two cores: a shorter timeout then kills innocent images too.
TIMEOUT = 10
CLI_SIZE = f"{SIZE[0]}x{SIZE[1]}"


def cli_args(data: Path, out: Path, *extra: str) -> list[str]:
    """``mammokit preprocess`` arguments for a synthetic dataset folder ``data``."""
    return [
        "preprocess",
        "--images",
        str(data / "train_images"),
        "--csv",
        str(data / "train.csv"),
        "--out",
        str(out),
        "--size",
        CLI_SIZE,
        "--quiet",
        *extra,
    ]


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as strings."""
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def accounted_once(table: Path, out: Path) -> tuple[set[str], set[str]]:
    """The ids in index.csv and failures.csv, checking each input row is in exactly one."""
    ids = [r["image_id"] for r in csv_rows(table)]
    done = [r["image_id"] for r in csv_rows(out / "index.csv")]
    failed = [r["image_id"] for r in csv_rows(out / "failures.csv")]
    assert len(done) == len(set(done)) and len(failed) == len(set(failed))
    assert sorted(done + failed) == sorted(ids)
    return set(done), set(failed)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class CrashingPipeline(Pipeline):
    """Kills its worker process on any image that has a ``<image_id>.crash`` file beside it."""

    def preprocess(self, path: Any, **options: Any) -> Any:
        path = Path(path)
        if path.with_suffix(".crash").exists():
            os._exit(3)
        return super().preprocess(path, **options)


def assert_same_tree(actual: Path, expected: Path) -> None:
    """Every file equal byte for byte; on failure, name the files and diff the CSVs."""
    import difflib

    got, want = tree(actual), tree(expected)
    differing = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    if not differing:
        return
    lines = [f"files differ: {differing}"]
    for name in differing:
        if name.endswith((".csv", ".json", ".toml")):
            lines += difflib.unified_diff(
                want.get(name, b"").decode().splitlines(),
                got.get(name, b"").decode().splitlines(),
                f"expected/{name}",
                f"actual/{name}",
                lineterm="",
            )
    raise AssertionError("\n".join(lines))


class SleepingPipeline(CrashingPipeline):
    """Sleeps a minute on an image with a ``<image_id>.sleep`` file beside it (a hang);
    crashes like :class:`CrashingPipeline` on one with a ``.crash`` file."""

    def preprocess(self, path: Any, **options: Any) -> Any:
        import time

        path = Path(path)
        if path.with_suffix(".sleep").exists():
            time.sleep(60)
        return super().preprocess(path, **options)


def start_cli(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m mammokit *args`` in its own process group, stderr appended to ``log``."""
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "mammokit", *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: SIGKILL reaches every worker
        )


def kill_cli_after(
    log: Path,
    args: list[str],
    records: Path,
    finished: int,
    delay: float = 0.0,
    must_kill: bool = True,
) -> bool:
    """Start the CLI, SIGKILL its whole process group once ``finished`` records exist under
    ``records`` and ``delay`` more seconds passed. Returns whether the kill ended it; if it
    ended on its own first, that fails unless ``must_kill`` is False."""
    proc = start_cli(log, *args)
    deadline = time.monotonic() + 120
    while len(list(records.glob("*/*.json"))) < finished and proc.poll() is None:
        assert time.monotonic() < deadline, "no image finished in time"
        time.sleep(0.005)
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = proc.returncode == -signal.SIGKILL
    assert killed or not must_kill, f"ended before the kill: {log.read_text()}"
    return killed
