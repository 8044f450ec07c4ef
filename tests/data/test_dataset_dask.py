"""The Dask executor on a 2-worker LocalCluster gives the process executor's bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_helpers import SIZE, assert_same_tree

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
