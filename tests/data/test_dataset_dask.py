"""The Dask executor on a 2-worker LocalCluster gives the process executor's bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_helpers import (
    SIZE,
    TIMEOUT,
    CrashingPipeline,
    SleepingPipeline,
    accounted_once,
    assert_same_tree,
)

from mammokit import ConfigError, Pipeline

pytest.importorskip("distributed")


@pytest.mark.parametrize("output", ["png", "tfrecord"])
def test_dask_local_cluster_equals_process_pool(synth: Path, tmp_path: Path, output: str) -> None:
    pipe = Pipeline(size=SIZE)
    args = (synth / "train_images", synth / "train.csv")
    options = {"format": output, "quiet": True, "shard_bytes": 6000}
    pool = pipe.preprocess_dataset(*args, tmp_path / "pool", workers=2, **options)
    dask = pipe.preprocess_dataset(*args, tmp_path / "dask", workers=2, executor="dask", **options)
    assert dask.ok and dask.succeeded == pool.succeeded == 12
    assert len(dask.worker_peak_rss) == 2
    assert_same_tree(tmp_path / "dask", tmp_path / "pool")


def test_dask_with_an_unreachable_scheduler_is_a_usage_error(synth: Path, tmp_path: Path) -> None:
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConfigError, match="cannot reach the Dask scheduler"),
    ):
        Pipeline(size=SIZE).preprocess_dataset(
            synth / "train_images",
            synth / "train.csv",
            tmp_path / "out",
            executor="dask",
            scheduler="tcp://127.0.0.1:9",
            quiet=True,
        )


def test_a_dask_worker_crash_is_recorded_and_the_run_goes_on(synth: Path, tmp_path: Path) -> None:
    """A worker process that dies on one image (here ``os._exit``, as a native crash would)
    makes that row a ``WorkerCrash`` failure once Dask gives up on it (``KilledWorker``);
    every other row is processed and a rerun retries only that row. With no failure allowed,
    Dask also gives up at once on the innocent tasks the dying worker held: they are rerun
    alone and succeed."""
    import csv

    import dask

    with (synth / "train.csv").open(newline="") as handle:
        row = list(csv.DictReader(handle))[5]
    marker = synth / "train_images" / row["patient_id"] / f"{row['image_id']}.crash"
    marker.touch()
    args = (synth / "train_images", synth / "train.csv", tmp_path / "out")
    options = {"workers": 2, "executor": "dask", "quiet": True}
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            result = CrashingPipeline(size=SIZE).preprocess_dataset(*args, **options)
        assert result.succeeded == 11
        assert [(f.image_id, f.error_type) for f in result.failures] == [
            (row["image_id"], "WorkerCrash")
        ]
        accounted_once(synth / "train.csv", tmp_path / "out")
    finally:
        marker.unlink()
    again = CrashingPipeline(size=SIZE).preprocess_dataset(*args, **options)
    assert again.ok and again.skipped == 11 and again.processed == 1


def test_a_hanging_image_times_out_on_dask_and_the_run_goes_on(synth: Path, tmp_path: Path) -> None:
    """The watchdog ends the worker of an image still running after ``image_timeout``: that
    row is a ``Timeout`` failure (the rerun of its task on the restarted worker does not
    run it again), every other row is processed, and a rerun retries only that row."""
    import csv
    import time

    with (synth / "train.csv").open(newline="") as handle:
        row = list(csv.DictReader(handle))[4]
    marker = synth / "train_images" / row["patient_id"] / f"{row['image_id']}.sleep"
    marker.touch()
    out = tmp_path / "out"
    args = (synth / "train_images", synth / "train.csv", out)
    options = {"workers": 2, "executor": "dask", "quiet": True, "image_timeout": TIMEOUT}
    try:
        started = time.monotonic()
        result = SleepingPipeline(size=SIZE).preprocess_dataset(*args, **options)
        assert time.monotonic() - started < 50, "the hanging image stalled the run"
        assert result.succeeded == 11
        assert [(f.image_id, f.error_type) for f in result.failures] == [
            (row["image_id"], "Timeout")
        ]
        assert f"longer than {TIMEOUT} s" in result.failures[0].message
        accounted_once(synth / "train.csv", out)
        assert not (out / ".mammokit" / "timeouts").exists() or not any(
            (out / ".mammokit" / "timeouts").iterdir()
        ), "the run's timeout markers are left behind"
    finally:
        marker.unlink()
    again = SleepingPipeline(size=SIZE).preprocess_dataset(*args, **options)
    assert again.ok and again.skipped == 11 and again.processed == 1
