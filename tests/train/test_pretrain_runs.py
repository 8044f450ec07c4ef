"""``mammokit pretrain`` (issue 25): a killed run resumes to the uninterrupted run's
weights, bit for bit, and ``train --pretrained RUN_DIR`` starts from exactly its encoder.

Every run is its own process, as a user's shell runs it: the uninterrupted and the resumed
runs are ``mammokit pretrain``; the killed run and the fine-tuning are
``_pretrain_worker.py``, a user's script with a handler (one SIGKILLs its process at a named
point, the other records the backbone's weights before the first training step).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

WORKER = Path(__file__).resolve().with_name("_pretrain_worker.py")

#: FCMAE on ConvNeXtV2 Atto at 128x64 (8 patches of 32 pixels, 5 masked), stochastic depth
#: on, a small decoder; 48 images in batches of 8: 6 steps an epoch.
PRETRAIN = ["--backbone", "convnextv2_atto", "--backbone-options", "drop_path_rate=0.1",
            "--method-options", "decoder_dim=64", "--epochs", "2", "--batch-size", "8",
            "--strategy", "cpu"]  # fmt: skip


def _run(root: Path, command: list[str], expected: int = 0) -> str:
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    assert done.returncode == expected, f"{command}\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def pretrain(root: Path, out: str, *args: str) -> str:
    """``python -m mammokit pretrain --data prep --out OUT ARGS`` in a new process."""
    command = [sys.executable, "-m", "mammokit", "pretrain", "--data", "prep", "--out", out]
    return _run(root, [*command, *args, "--quiet"])


@pytest.fixture(scope="module")
def root(preprocessed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``prep`` (the session's 48 synthetic images preprocessed to 128x64)
    and ``pre-a``, an uninterrupted ``mammokit pretrain`` run of them."""
    root = tmp_path_factory.mktemp("pretrain")
    (root / "prep").symlink_to(preprocessed_dir, target_is_directory=True)
    printed = pretrain(root, "pre-a", *PRETRAIN)
    assert "pretrained 2 epoch(s) of fcmae" in printed
    return root


def h5_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an HDF5 file by its path inside it."""
    import h5py

    with h5py.File(path, "r") as handle:
        names: list[str] = []
        handle.visit(names.append)
        return {n: handle[n][()] for n in names if isinstance(handle[n], h5py.Dataset)}


def _state(run: Path) -> dict[str, int] | None:
    path = run / "checkpoints" / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_killed_pretraining_resumes_to_the_uninterrupted_encoder(root: Path) -> None:
    """Killed mid-epoch 2 (whose steps draw masks, augmentation and stochastic depth from
    ``(seed, step)``), resumed by ``mammokit pretrain --resume``: the encoder, history and
    state are the uninterrupted run's, exactly. (The commit's own crash windows are
    training's, tested by test_resume.py: pretraining commits through the same code.)"""
    run = root / "pre-k"
    kill = [sys.executable, str(WORKER), "kill", "prep", run.name]
    _run(root, [*kill, "batch:10", "--like", "pre-a"], -signal.SIGKILL)  # epoch 2, step 4
    first = _state(run)
    assert first is not None and first["epoch"] == 1 and first["step"] == 6
    pretrain(root, run.name, "--resume")
    a, k = h5_arrays(root / "pre-a" / "encoder.h5"), h5_arrays(run / "encoder.h5")
    assert a.keys() == k.keys() and len(a) > 50
    unequal = [name for name in a if not np.array_equal(a[name], k[name])]
    assert not unequal, unequal[:5]
    assert (root / "pre-a" / "history.csv").read_bytes() == (run / "history.csv").read_bytes()
    assert _state(root / "pre-a") == _state(run) and _state(run)["epoch"] == 2  # type: ignore[index]


def test_fine_tuning_starts_from_the_pretrained_encoder(root: Path) -> None:
    """``train`` with ``pretrained=<the pretraining run>``: before its first step, every
    weight of the backbone is exactly the trained encoder's, and the backbone has no weight
    the encoder file lacks (none left at its random initial value)."""
    out = root / "start.npz"
    _run(root, [sys.executable, str(WORKER), "finetune", "prep", "pre-a", "ft", str(out)])
    started = dict(np.load(out))
    stored = h5_arrays(root / "pre-a" / "encoder.h5")  # <layer>/<layer>/<weight>:0
    assert started.keys() == stored.keys() and len(started) > 50
    differ = [key for key in started if not np.array_equal(started[key], stored[key])]
    assert not differ, differ[:5]
    assert (root / "ft" / "model.keras").is_file()
