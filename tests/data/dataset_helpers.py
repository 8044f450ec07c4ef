"""Helpers for the dataset tests (importable by worker processes, unlike test modules)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mammokit import Pipeline

#: The output size the dataset tests use.
SIZE = (64, 32)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class CrashingPipeline(Pipeline):
    """Kills its worker process on any image that has a ``<image_id>.crash`` file beside it."""

    def preprocess(self, path: Any) -> Any:
        path = Path(path)
        if path.with_suffix(".crash").exists():
            os._exit(3)
        return super().preprocess(path)


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
