"""Batch runs under stress: a per-image timeout, kills at random points, a full disk."""

from __future__ import annotations

import errno
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataset_helpers import (
    SIZE,
    TIMEOUT,
    SleepingPipeline,
    accounted_once,
    assert_same_tree,
    cli_args,
    csv_rows,
    kill_cli_after,
    start_cli,
    tree,
)

from mammokit import ConfigError, MammokitError, Pipeline
from mammokit.app.cli import main
from mammokit.data import read_table
from mammokit.data.index import id_sort_key


def test_a_hanging_image_times_out_and_the_run_goes_on(synth: Path, tmp_path: Path) -> None:
    table = read_table(synth / "train.csv")
    victim = table.iloc[4]
    (synth / "train_images" / victim["patient_id"] / f"{victim['image_id']}.sleep").touch()
    args = (synth / "train_images", synth / "train.csv")
    reference = tmp_path / "reference"
    Pipeline(size=SIZE).preprocess_dataset(*args, reference, workers=0, quiet=True)
    out = tmp_path / "out"
    started = time.monotonic()
    result = SleepingPipeline(size=SIZE).preprocess_dataset(
        *args, out, workers=2, quiet=True, image_timeout=TIMEOUT
    )
    assert time.monotonic() - started < 45, "the hanging image stalled the run"
    assert result.succeeded == 11
    assert [(f.image_id, f.error_type) for f in result.failures] == [
        (str(victim["image_id"]), "Timeout")
    ]
    assert f"longer than {TIMEOUT} s" in result.failures[0].message
    accounted_once(synth / "train.csv", out)
    got, want = tree(out), tree(reference)
    victim_png = f"{victim['patient_id']}/{victim['image_id']}.png"
    assert victim_png not in got
    assert not [name for name in got if name.endswith(".tmp")]
    for name, data in want.items():
        if name.endswith(".png") and name != victim_png:
            assert got[name] == data, name
    # once the file is fixed, a rerun retries only the timed-out image
    (synth / "train_images" / victim["patient_id"] / f"{victim['image_id']}.sleep").unlink()
    again = SleepingPipeline(size=SIZE).preprocess_dataset(
        *args, out, workers=2, quiet=True, image_timeout=TIMEOUT
    )
    assert again.ok and again.processed == 1
    assert_same_tree(out, reference)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_sigkill_at_a_random_point_then_rerun_equals_an_uninterrupted_run(
    synth: Path, tmp_path: Path, seed: int
) -> None:
    """Kill the CLI's process group after a seeded random number of finished images plus a
    random delay (two kills per seed), rerun, compare bytes and the accounting."""
    rng = random.Random(seed)
    output = ("png", "tfrecord")[seed % 2]
    table = read_table(synth / "train.csv")
    broken = table.iloc[rng.randrange(len(table))]
    (synth / "train_images" / broken["patient_id"] / f"{broken['image_id']}.dcm").write_bytes(
        b"not a dicom"
    )
    reference = tmp_path / "reference"
    assert main(cli_args(synth, reference, "--workers", "0", "--format", output)) == 1
    out = tmp_path / "killed"
    args = cli_args(synth, out, "--workers", "2", "--format", output)
    records = out / ".mammokit" / "records"
    log = tmp_path / "stderr.txt"
    finished = 0
    killed = []
    for _ in range(2):
        finished = rng.randint(finished, len(table) - 4)
        # the kill may land while the tables are written (a rerun rebuilds them), or, on a
        # fast machine, after the run ended: at least one kill must hit a running run
        delay = rng.uniform(0.0, 0.1)
        killed.append(kill_cli_after(log, args, records, finished, delay, must_kill=False))
    assert any(killed), "every run ended before its kill"
    assert start_cli(log, *args).wait(timeout=300) == 1, log.read_text()
    assert_same_tree(out, reference)
    done, failed = accounted_once(synth / "train.csv", out)
    assert failed == {str(broken["image_id"])} and len(done) == len(table) - 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 KiB tmpfs (root only), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _resize(disk: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def _assert_whole(out: Path, reference: Path) -> None:
    """No temporary file, and every file left is byte-identical to the reference's."""
    want = tree(reference)
    for name, data in tree(out).items():
        assert not name.endswith(".tmp"), name
        if name.endswith(".png") or (name.endswith(".json") and "/records/" in name):
            assert data == want[name], f"{name} is partial or corrupt"


@pytest.mark.parametrize("workers", [0, 2])
def test_a_full_disk_stops_the_run_cleanly_and_a_rerun_resumes(
    synth: Path, small_disk: Path, tmp_path: Path, workers: int, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = tmp_path / "reference"
    assert main(cli_args(synth, reference, "--workers", "0")) == 0
    out = small_disk / "out"
    if workers == 0:
        with pytest.raises(MammokitError, match="the disk is full") as info:
            Pipeline(size=SIZE).preprocess_dataset(
                synth / "train_images", synth / "train.csv", out, workers=0, quiet=True
            )
        assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
        assert isinstance(info.value.__cause__, OSError)
    else:
        capsys.readouterr()
        assert main(cli_args(synth, out, "--workers", "2")) == 1
        err = capsys.readouterr().err
        assert "the disk is full" in err and "rerun the same command" in err
    assert not (out / "index.csv").exists()
    assert 0 < len(list((out / ".mammokit" / "records").glob("*/*.json"))) < 12  # mid-run
    _assert_whole(out, reference)
    _resize(small_disk, "4m")
    assert main(cli_args(synth, out, "--workers", str(workers))) == 0
    assert_same_tree(out, reference)
    accounted_once(synth / "train.csv", out)


def test_image_timeout_must_be_positive(synth: Path, tmp_path: Path) -> None:
    args = (synth / "train_images", synth / "train.csv", tmp_path / "out")
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="image_timeout must be positive"):
            Pipeline(size=SIZE).preprocess_dataset(*args, workers=1, image_timeout=bad)
    assert main([*cli_args(synth, tmp_path / "cli"), "--image-timeout", "-1"]) == 2
    assert not (tmp_path / "out").exists() and not (tmp_path / "cli").exists()
    # 0 on the command line means no limit
    assert main([*cli_args(synth, tmp_path / "cli", "--workers", "1"), "--image-timeout", "0"]) == 0


def test_a_hang_in_flight_when_a_worker_crashes_times_out_when_rerun_alone(
    synth: Path, tmp_path: Path
) -> None:
    """The crash breaks the pool; the hanging image, then rerun in a pool of its own, is
    killed there after the timeout."""
    ordered = sorted(csv_rows(synth / "train.csv"), key=lambda r: id_sort_key(r["image_id"]))
    crash, hang = ordered[0], ordered[1]
    (synth / "train_images" / crash["patient_id"] / f"{crash['image_id']}.crash").touch()
    (synth / "train_images" / hang["patient_id"] / f"{hang['image_id']}.sleep").touch()
    out = tmp_path / "out"
    result = SleepingPipeline(size=SIZE).preprocess_dataset(
        synth / "train_images",
        synth / "train.csv",
        out,
        workers=2,
        quiet=True,
        image_timeout=TIMEOUT,
    )
    assert result.succeeded == 10
    assert {(f.image_id, f.error_type) for f in result.failures} == {
        (crash["image_id"], "WorkerCrash"),
        (hang["image_id"], "Timeout"),
    }
    accounted_once(synth / "train.csv", out)
