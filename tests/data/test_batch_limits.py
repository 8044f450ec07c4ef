"""Batch runs under stress: a per-image timeout, kills at random points, a full disk."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from dataset_helpers import (
    SIZE,
    SleepingPipeline,
    accounted_once,
    assert_same_tree,
    cli_args,
    kill_cli_after,
    start_cli,
    tree,
)

from mammokit import Pipeline
from mammokit.cli import main
from mammokit.data import read_table


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
        *args, out, workers=2, quiet=True, image_timeout=3
    )
    assert time.monotonic() - started < 45, "the hanging image stalled the run"
    assert result.succeeded == 11
    assert [(f.image_id, f.error_type) for f in result.failures] == [
        (str(victim["image_id"]), "Timeout")
    ]
    assert "longer than 3 s" in result.failures[0].message
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
        *args, out, workers=2, quiet=True, image_timeout=3
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
    for _ in range(2):
        finished = rng.randint(finished, len(table) - 4)
        # the kill may land while the tables are written: a rerun rebuilds them
        kill_cli_after(log, args, records, finished, delay=rng.uniform(0.0, 0.3))
    assert start_cli(log, *args).wait(timeout=300) == 1, log.read_text()
    assert_same_tree(out, reference)
    done, failed = accounted_once(synth / "train.csv", out)
    assert failed == {str(broken["image_id"])} and len(done) == len(table) - 1
