"""A killed training run resumes to the same model, and a rerun to the same bits (issue 19).

Every training runs in its own process, as a user's shell (or a preempted VM) runs it.
The uninterrupted runs are ``mammokit train``; a killed one is ``_kill_worker.py``, a
user's script training the same config with a handler (``train(..., handlers=[...])``)
that SIGKILLs its process at a named point, so the point is hit for sure, not by timing.
After each kill the run is resumed (with the worker or with ``mammokit train --resume``);
the end result is compared with an uninterrupted run: every weight of ``model.keras`` and
of the ``last``/``best`` checkpoints exactly equal (``np.array_equal``), ``history.csv``
byte-equal, the same best epoch.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

KILL_WORKER = Path(__file__).resolve().with_name("_kill_worker.py")

#: simple_cnn with the default (undersample) sampling, dropout in the head; val_loss picks
#: the best epoch so that it moves.
SIMPLE = ["--backbone", "simple_cnn", "--epochs", "4", "--batch-size", "4",
          "--strategy", "cpu", "--monitor", "val_loss"]  # fmt: skip
#: ConvNeXtV2 Atto with stochastic depth, EMA and a non-default sampling strategy.
CONVNEXT = ["--backbone", "convnextv2_atto", "--backbone-options", "drop_path_rate=0.2",
            "--epochs", "3", "--batch-size", "4", "--strategy", "cpu", "--ema",
            "--ema-momentum", "0.9", "--sampling", "balanced_batches",
            "--monitor", "val_loss"]  # fmt: skip


def _run(root: Path, command: list[str], expected: int) -> None:
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    assert done.returncode == expected, f"{command}\n{done.stdout}\n{done.stderr[-3000:]}"


def train(root: Path, out: str, *args: str) -> None:
    """``python -m mammokit train --data prep --out OUT ARGS`` in a new process, which
    must succeed."""
    _run(root, [sys.executable, "-m", "mammokit", "train", "--data", "prep", "--out", out,
                *args, "--quiet"], 0)  # fmt: skip


def killed(root: Path, out: str, kill: str, *, like: str | None = None) -> None:
    """Train run ``out`` in a new process (a new run with run ``like``'s config, else
    resumed) that must die by SIGKILL at ``kill`` (``POINT:N``, see ``_kill_worker.py``)."""
    start = ["--like", like] if like else ["--resume"]
    _run(root, [sys.executable, str(KILL_WORKER), "prep", out, kill, *start], -signal.SIGKILL)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 synthetic patients (32 images) preprocessed to 64x32 by the CLI."""
    root = tmp_path_factory.mktemp("resume")
    for args in (
        ["synth", "--out", "data", "--patients", "8", "--size", "128x104",
         "--lesion-contrast", "0.4"],
        ["preprocess", "--images", "data/train_images", "--csv", "data/train.csv",
         "--out", "prep", "--size", "64x32", "--workers", "1", "--quiet"],
    ):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "mammokit", *args], cwd=root,
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
    return root


def _h5(data: bytes | Path) -> dict[str, np.ndarray]:
    import h5py

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    out: dict[str, np.ndarray] = {}
    with h5py.File(source, "r") as handle:
        handle.visititems(
            lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
            else None
        )  # fmt: skip
    return out


def weights(run: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every weight array of ``model.keras`` and of the last/best checkpoints."""
    with zipfile.ZipFile(run / "model.keras") as archive:
        model = _h5(archive.read("model.weights.h5"))
    return {
        "model.keras": model,
        "last": _h5(run / "checkpoints" / "last.weights.h5"),
        "best": _h5(run / "checkpoints" / "best.weights.h5"),
    }


def max_difference(a: Path, b: Path) -> float:
    """The largest absolute difference between any two corresponding weights."""
    wa, wb = weights(a), weights(b)
    diffs = [0.0]
    for name, arrays in wa.items():
        assert arrays.keys() == wb[name].keys(), name
        for key, value in arrays.items():
            if value.size and value.dtype.kind == "f":
                diffs.append(float(np.max(np.abs(value - wb[name][key]))))
    return max(diffs)


def assert_same_run(a: Path, b: Path) -> None:
    """Same weights (exactly), same history.csv (bytes), same best epoch and resume state."""
    wa, wb = weights(a), weights(b)
    for name, arrays in wa.items():
        assert arrays.keys() == wb[name].keys(), name
        assert arrays, name
        unequal = [k for k, v in arrays.items() if not np.array_equal(v, wb[name][k])]
        assert not unequal, (name, unequal[:5], max_difference(a, b))
    assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
    sa, sb = (json.loads((run / "summary.json").read_text()) for run in (a, b))
    assert sa["best_epoch"] == sb["best_epoch"] and sa["values"] == sb["values"]
    state = [json.loads((run / "checkpoints" / "state.json").read_text()) for run in (a, b)]
    assert state[0] == state[1]


def _state(run: Path) -> dict[str, int] | None:
    path = run / "checkpoints" / "state.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_two_runs_of_one_config_are_bit_identical(root: Path) -> None:
    """Two training processes (about 25 s): bit-identity holds across processes, which one
    process cannot show; the second run is also the reference of the kill chain."""
    train(root, "simple-a", *SIMPLE)
    train(root, "simple-b", *SIMPLE)
    assert_same_run(root / "simple-a", root / "simple-b")
    config = (root / "simple-a" / "config.toml").read_text()
    assert "[determinism]" in config and "bit_identical = true" in config


def test_killed_simple_cnn_resumes_to_the_uninterrupted_model(root: Path) -> None:
    """Kills: in epoch 1 (before any checkpoint), half-way through moving epoch 1's
    commit into place, during epoch 3's validation, and after epoch 3's commit was
    written but before its commit point.

    About a minute: one process per kill, as a preempted machine restarts it; each kill point
    is a different crash window of the commit protocol, and no faster test reaches them."""
    if not (root / "simple-a" / "model.keras").exists():
        train(root, "simple-a", *SIMPLE)
    run = root / "simple-k"
    killed(root, run.name, "batch:2", like="simple-a")
    assert _state(run) is None and (run / "config.toml").exists()
    killed(root, run.name, "commit:3")
    assert _state(run) is None and (run / "checkpoints" / ".commit").is_dir()
    # rolls epoch 1 in, trains epoch 2, dies validating epoch 3 (two batches an epoch)
    killed(root, run.name, "validation:3")
    after = _state(run)
    assert after is not None and after["epoch"] == 2
    killed(root, run.name, "checkpoint:1")
    assert _state(run) == after and (run / "checkpoints" / ".next").is_dir()
    train(root, run.name, *SIMPLE, "--resume")  # the run's own command again, + --resume
    assert_same_run(root / "simple-a", run)


def test_killed_convnextv2_with_ema_and_balanced_batches_resumes_exactly(root: Path) -> None:
    """ConvNeXtV2 Atto (stochastic depth + head dropout), EMA on, balanced batches: killed
    mid-epoch 2, after epoch 2's commit was written but not committed, and during epoch
    2's validation (with the EMA weights swapped in).

    About two minutes: five training processes, each importing TensorFlow and building
    Atto. It earns them: the only proof that a resume is exact with stochastic depth, EMA
    and a sampler's state, each of which the simple_cnn chain lacks."""
    train(root, "atto-a", *CONVNEXT)
    run = root / "atto-k"
    killed(root, run.name, "batch:8", like="atto-a")
    first = _state(run)
    assert first is not None and first["epoch"] == 1 and first["step"] < 8
    killed(root, run.name, "checkpoint:1")
    assert _state(run) == first and (run / "checkpoints" / ".next").is_dir()
    killed(root, run.name, "validation:1")
    assert _state(run) == first
    train(root, run.name, "--resume")
    assert_same_run(root / "atto-a", run)


def test_a_smoothed_monitor_resumes_to_the_uninterrupted_choice(root: Path) -> None:
    """``--monitor-smoothing 3``: killed while validating epoch 3, whose choice needs the
    raw values of epochs 1 and 2, then resumed; the same model, history and kept epoch as
    an uninterrupted run, and that epoch is the one the mean of 3 picks from history.csv.

    About 35 s: three training processes (the run, the kill, the resume)."""
    from mammokit.train.epochs import choose_epoch

    smoothed = [*SIMPLE, "--monitor-smoothing", "3"]
    train(root, "smooth-a", *smoothed)
    run = root / "smooth-k"
    killed(root, run.name, "validation:5", like="smooth-a")  # two batches an epoch: epoch 3
    state = _state(run)
    assert state is not None and state["epoch"] == 2
    train(root, run.name, "--resume")
    assert_same_run(root / "smooth-a", run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["monitor_smoothing"] == 3
    assert summary["best_epoch"] == choose_epoch(summary["values"], "min", 3)
    assert "mean of 3 epochs" in summary["text"]
