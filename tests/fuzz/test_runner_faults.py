"""A full disk during a batch run: the run fails cleanly, and a rerun resumes to the same bytes.

Two ways to fill the disk:

* a write wrapper (everywhere): every ``atomic_write_bytes`` of the runner shares a byte
  budget, and the write that exceeds it raises ``OSError(ENOSPC)``, at several points of
  the run (in the first image, mid-run, while writing the tables); in-process (workers=0);
* a real 300 kB tmpfs (where ``mount`` is allowed, e.g. as root in a container), with a
  process pool; the rerun happens after the file system is grown.

"Cleanly" means: the error reaches the caller as the disk error (it is not recorded as a
failure of whichever image happened to be written), no temporary file is left behind, and
no half-written output exists. After space is freed, a rerun ends with the same
``index.csv``, ``failures.csv`` and PNG files as a run that never failed, with every row in
exactly one of the two tables.
"""

from __future__ import annotations

import errno
import importlib
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import mammokit.core.atomic
from mammokit import Pipeline
from mammokit.synthetic import SynthConfig, write_dataset

SIZE = (64, 32)
#: The modules of the runner that write files (each imported atomic_write_bytes by name).
WRITERS = ("mammokit.data._job", "mammokit.data.index", "mammokit.data._shards")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diskfull-data")
    write_dataset(root, SynthConfig(patients=2, image_size=(128, 96), seed=11))
    return root


@pytest.fixture(scope="module")
def reference(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of an uninterrupted run (and, under ``"<total>"``, how many bytes the
    runner wrote through ``atomic_write_bytes`` in all)."""
    out = tmp_path_factory.mktemp("diskfull-reference") / "out"
    counter = _DiskFull(1 << 40)
    with _patched(counter):
        result = Pipeline(size=SIZE).preprocess_dataset(
            dataset / "train_images", dataset / "train.csv", out, workers=0, quiet=True
        )
    assert result.ok
    return {**_outputs(out), "<total>": str((1 << 40) - counter.left).encode()}


def _outputs(out: Path) -> dict[str, bytes]:
    """index.csv, failures.csv and every PNG, by relative path."""
    files = [out / "index.csv", out / "failures.csv", *sorted(out.glob("*/*.png"))]
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in files}


def _temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@contextmanager
def _patched(replacement: Any) -> Iterator[None]:
    """Every runner module's ``atomic_write_bytes`` replaced for the duration."""
    modules = [importlib.import_module(name) for name in WRITERS]
    saved = [module.atomic_write_bytes for module in modules]
    for module in modules:
        module.atomic_write_bytes = replacement
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.atomic_write_bytes = original


class _DiskFull:
    """``atomic_write_bytes`` with a byte budget shared by every write."""

    def __init__(self, budget: int) -> None:
        self.left = budget
        self.real = mammokit.core.atomic.atomic_write_bytes

    def __call__(self, path: Path, data: bytes) -> None:
        if len(data) > self.left:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        self.left -= len(data)
        self.real(path, data)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_disk_full_fails_cleanly_and_a_rerun_resumes(
    fraction: float, dataset: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    """The disk fills after ``fraction`` of what a whole run writes (0.999: in the tables)."""
    budget = int(fraction * int(reference["<total>"]))
    out = tmp_path / "out"
    pipe = Pipeline(size=SIZE)
    args = (dataset / "train_images", dataset / "train.csv", out)
    with _patched(_DiskFull(budget)), pytest.raises(OSError) as info:
        pipe.preprocess_dataset(*args, workers=0, quiet=True)
    assert info.value.errno == errno.ENOSPC
    assert _temporaries(out) == []
    for png in out.glob("*/*.png"):  # whatever was written is whole
        assert png.read_bytes() == reference[png.relative_to(out).as_posix()]
    result = pipe.preprocess_dataset(*args, workers=0, quiet=True)
    assert result.ok and result.succeeded == result.total
    assert _outputs(out) == {k: v for k, v in reference.items() if k != "<total>"}


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 300 kB tmpfs mounted at a private folder (skipped where mount is not allowed)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)]
    if shutil.which("mount") is None or subprocess.run(command, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_tmpfs_with_workers(
    small_tmpfs: Path, dataset: Path, reference: dict[str, bytes]
) -> None:
    # 300 kB holds the config and a few records and PNGs, not all 8 images' worth.
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * 270_000)
    out = small_tmpfs / "out"
    pipe = Pipeline(size=SIZE)
    args: tuple[Any, ...] = (dataset / "train_images", dataset / "train.csv", out)
    with pytest.raises(OSError) as info:
        pipe.preprocess_dataset(*args, workers=2, quiet=True)
    assert info.value.errno == errno.ENOSPC
    assert _temporaries(out) == []
    filler.unlink()
    result = pipe.preprocess_dataset(*args, workers=2, quiet=True)
    assert result.ok
    assert _outputs(out) == {k: v for k, v in reference.items() if k != "<total>"}
