"""The batch runner: outputs, records, resume, refusals, executors and crash isolation."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dataset_helpers import SIZE, CrashingPipeline, assert_same_tree, tree
from dataset_helpers import accounted_once as _accounted_once
from dataset_helpers import csv_rows as _rows
from PIL import Image

import mammokit
from mammokit import ConfigError, Pipeline
from mammokit.core.config import config_to_dict, load_toml
from mammokit.data import read_failures, read_index, read_table
from mammokit.data.index import FAILURE_COLUMNS, INDEX_COLUMNS
from mammokit.data.writers import iter_framed_records


def test_png_run_writes_index_images_and_config(synth: Path, tmp_path: Path) -> None:
    pipe = Pipeline(size=SIZE)
    out = tmp_path / "out"
    result = pipe.preprocess_dataset(
        synth / "train_images", synth / "train.csv", out, workers=0, quiet=True
    )
    table = _rows(synth / "train.csv")
    assert result.ok and result.total == result.succeeded == result.processed == len(table) == 12
    assert load_toml(out / "preprocess.toml") == {"preprocess": config_to_dict(pipe.config)}
    header = (out / "index.csv").read_text().splitlines()[0].split(",")
    assert header == [*table[0].keys(), *INDEX_COLUMNS]
    index = _rows(out / "index.csv")
    assert [int(r["image_id"]) for r in index] == sorted(int(r["image_id"]) for r in table)
    by_id = {r["image_id"]: r for r in table}
    for row in index:
        assert {k: row[k] for k in by_id[row["image_id"]]} == by_id[row["image_id"]]
        assert row["path"] == f"{row['patient_id']}/{row['image_id']}.png"
        with Image.open(out / row["path"]) as image:
            assert image.size == (SIZE[1], SIZE[0]) and image.mode == "L"
        y0, x0, y1, x1 = (int(row[c]) for c in ("crop_y0", "crop_x0", "crop_y1", "crop_x1"))
        assert 0 <= y0 < y1 <= int(row["source_rows"]) and 0 <= x0 < x1 <= int(row["source_cols"])
        assert row["flipped"] in ("0", "1") and row["roi_method"] and row["decoder"]
    assert (out / "failures.csv").read_text() == ",".join(FAILURE_COLUMNS) + "\n"
    frame = read_index(out)
    assert frame["image_id"].map(type).eq(str).all() and frame["crop_y1"].dtype.kind == "i"
    assert len(read_failures(out)) == 0


def test_rerun_skips_finished_images_and_changes_nothing(synth: Path, tmp_path: Path) -> None:
    pipe = Pipeline(size=SIZE)
    out = tmp_path / "out"
    pipe.preprocess_dataset(synth / "train_images", synth / "train.csv", out, workers=0, quiet=True)
    before = tree(out)
    png = next(out.glob("*/*.png"))
    mtime = png.stat().st_mtime_ns
    again = pipe.preprocess_dataset(
        synth / "train_images", synth / "train.csv", out, workers=0, quiet=True
    )
    assert again.processed == 0 and again.skipped == 12 and again.ok
    assert tree(out) == before and png.stat().st_mtime_ns == mtime
    # An image whose output was deleted is redone, to the same bytes.
    png.unlink()
    third = pipe.preprocess_dataset(
        synth / "train_images", synth / "train.csv", out, workers=0, quiet=True
    )
    assert third.processed == 1 and tree(out) == before


def test_rerun_removes_temporaries_of_a_killed_run(synth: Path, tmp_path: Path) -> None:
    """A SIGKILL between writing a temporary file and renaming it leaves the temporary."""
    pipe = Pipeline(size=SIZE)
    out = tmp_path / "out"
    args = (synth / "train_images", synth / "train.csv", out)
    pipe.preprocess_dataset(*args, workers=0, quiet=True)
    before = tree(out)
    png = next(out.glob("*/*.png"))
    litter = [
        png.with_name(f".{png.name}.k2j_9xQa.tmp"),
        out / ".mammokit" / "records" / png.parent.name / f".{png.stem}.json.abcdefgh.tmp",
        out / ".index.csv.zz_1zz_1.tmp",
    ]
    for path in litter:
        path.write_bytes(b"partial")
    keep = png.with_name(".notes.tmp")  # not the shape of a temporary: not ours
    keep.write_bytes(b"mine")
    pipe.preprocess_dataset(*args, workers=0, quiet=True)
    assert not any(path.exists() for path in litter)
    keep.unlink()
    assert tree(out) == before


def test_corrupt_and_missing_files_are_failures_not_fatal(
    synth: Path, synth_source: Path, tmp_path: Path
) -> None:
    table = _rows(synth / "train.csv")
    corrupt, missing = table[1], table[6]
    corrupt_path = synth / "train_images" / corrupt["patient_id"] / f"{corrupt['image_id']}.dcm"
    corrupt_path.write_bytes(corrupt_path.read_bytes()[:700])
    missing_rel = Path("train_images", missing["patient_id"], f"{missing['image_id']}.dcm")
    (synth / missing_rel).unlink()
    out = tmp_path / "out"
    args = (synth / "train_images", synth / "train.csv", out)
    result = Pipeline(size=SIZE).preprocess_dataset(*args, workers=2, quiet=True)
    assert result.succeeded == 10 and result.failed == 2 and not result.ok
    _, failed = _accounted_once(synth / "train.csv", out)
    assert failed == {corrupt["image_id"], missing["image_id"]}
    failures = {r["image_id"]: r for r in _rows(out / "failures.csv")}
    assert failures[missing["image_id"]]["message"] == "file not found"
    assert failures[missing["image_id"]]["error_type"] == "ImageReadError"
    assert failures[corrupt["image_id"]]["error_type"] == "DicomDecodeError"
    assert (
        failures[corrupt["image_id"]]["path"]
        == f"{corrupt['patient_id']}/{corrupt['image_id']}.dcm"
    )
    assert [f.image_id for f in result.failures] == sorted(failed, key=int)
    # A rerun retries failures only: once the missing file is back, that image is done.
    shutil.copy(synth_source / missing_rel, synth / missing_rel)
    again = Pipeline(size=SIZE).preprocess_dataset(*args, workers=0, quiet=True)
    assert again.processed == 2 and again.succeeded == 11
    assert [f.image_id for f in again.failures] == [corrupt["image_id"]]
    _accounted_once(synth / "train.csv", out)


def test_traversal_in_the_table_is_rejected_before_any_output(synth: Path, tmp_path: Path) -> None:
    frame = read_table(synth / "train.csv")
    frame.loc[4, "image_id"] = "../../../etc/passwd"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"row 5 \(line 6\), column 'image_id'.*would leave"):
        Pipeline(size=SIZE).preprocess_dataset(
            synth / "train_images", bad, out, workers=0, quiet=True
        )
    assert not out.exists()


def test_process_pool_equals_in_process_run(synth: Path, tmp_path: Path) -> None:
    pipe = Pipeline(size=SIZE)
    args = (synth / "train_images", synth / "train.csv")
    pipe.preprocess_dataset(*args, tmp_path / "serial", workers=0, quiet=True)
    result = pipe.preprocess_dataset(*args, tmp_path / "pool", workers=2, quiet=True)
    assert tree(tmp_path / "serial") == tree(tmp_path / "pool")
    assert len(result.worker_peak_rss) == 2 and all(v > 0 for v in result.worker_peak_rss.values())


def test_changed_config_is_refused_unless_overwrite(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = (synth / "train_images", synth / "train.csv", out)
    Pipeline(size=SIZE).preprocess_dataset(*args, workers=0, quiet=True)
    with pytest.raises(
        ConfigError, match=r"different configuration \(size: \[64, 32\] -> \[48, 32\]"
    ):
        Pipeline(size=(48, 32)).preprocess_dataset(*args, workers=0, quiet=True)
    with pytest.raises(ConfigError, match="format: 'png' -> 'tfrecord'"):
        Pipeline(size=SIZE).preprocess_dataset(*args, workers=0, quiet=True, format="tfrecord")
    result = Pipeline(size=(48, 32)).preprocess_dataset(
        *args, workers=0, quiet=True, overwrite=True
    )
    assert result.processed == 12
    fresh = tmp_path / "fresh"
    Pipeline(size=(48, 32)).preprocess_dataset(*args[:2], fresh, workers=0, quiet=True)
    assert tree(out) == tree(fresh)


def test_output_folder_may_not_touch_the_inputs(synth: Path, tmp_path: Path) -> None:
    pipe = Pipeline(size=SIZE)
    images, table = synth / "train_images", synth / "train.csv"
    for out in (images, images / "out", synth.parent):
        with pytest.raises(ConfigError, match="overlap"):
            pipe.preprocess_dataset(images, table, out, workers=0, quiet=True)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no preprocess.toml"):
        pipe.preprocess_dataset(images, table, foreign, workers=0, quiet=True)
    with pytest.raises(ConfigError, match="images folder .* does not exist"):
        pipe.preprocess_dataset(tmp_path / "nope", table, tmp_path / "o", workers=0, quiet=True)
    with pytest.raises(ConfigError, match="unknown format"):
        pipe.preprocess_dataset(images, table, tmp_path / "o", format="jpeg")


def test_empty_table(synth: Path, tmp_path: Path) -> None:
    empty = read_table(synth / "train.csv").iloc[:0]
    for output in ("png", "tfrecord"):
        out = tmp_path / output
        result = Pipeline(size=SIZE).preprocess_dataset(
            synth / "train_images", empty, out, format=output, workers=0, quiet=True
        )
        assert result.ok and result.total == 0
        assert len(read_index(out)) == 0 and len(read_failures(out)) == 0


def test_one_run_per_output_folder(synth: Path, tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")

    out = tmp_path / "out"
    (out / ".mammokit").mkdir(parents=True)
    with open(out / ".mammokit" / "lock", "ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="another mammokit run is writing"):
            Pipeline(size=SIZE).preprocess_dataset(
                synth / "train_images", synth / "train.csv", out, workers=0, quiet=True
            )
    assert not (out / "preprocess.toml").exists()


def test_sixteen_bit_output(synth: Path, tmp_path: Path) -> None:
    pipe = Pipeline(size=SIZE, output_dtype="uint16")
    out = tmp_path / "out"
    pipe.preprocess_dataset(synth / "train_images", synth / "train.csv", out, workers=0, quiet=True)
    row = _rows(out / "index.csv")[0]
    with Image.open(out / row["path"]) as image:
        pixels = np.asarray(image)
    assert image.mode == "I;16" and pixels.shape == SIZE and pixels.max() > 255


def _tfrecord(
    pipe: Pipeline, synth: Path, out: Path, table: Path | pd.DataFrame, **kw: object
) -> object:
    options: dict[str, Any] = {"shard_bytes": 6000, **kw}
    return pipe.preprocess_dataset(
        synth / "train_images", table, out, format="tfrecord", quiet=True, **options
    )


def test_tfrecord_shards_are_bounded_deterministic_and_resumable(
    synth: Path, tmp_path: Path
) -> None:
    pipe = Pipeline(size=SIZE)
    out = tmp_path / "out"
    _tfrecord(pipe, synth, out, synth / "train.csv", workers=2)
    shards = sorted((out / "shards").glob("*.tfrecord"))
    assert len(shards) >= 2
    assert [s.name for s in shards] == [
        f"shard-{i:05d}-of-{len(shards):05d}.tfrecord" for i in range(len(shards))
    ]
    counts = {s.name: len(list(iter_framed_records(s.read_bytes()))) for s in shards}
    index = _rows(out / "index.csv")
    assert sum(counts.values()) == len(index) == 12
    for shard in shards:
        assert counts[shard.name] == sum(r["path"] == f"shards/{shard.name}" for r in index)
        assert shard.stat().st_size <= 6000 or counts[shard.name] == 1
    assert not list((out / ".mammokit" / "payloads").rglob("*.tfrecord"))
    # the laterality columns of index.csv travel in every record too
    outputs = json.loads((out / "shards" / "features.json").read_text())["outputs"]
    assert outputs["laterality_source"] == outputs["laterality_conflict"] == "bytes"
    records = [r for s in shards for r in iter_framed_records(s.read_bytes())]
    sources = {r["laterality_source"] for r in index}
    assert sources and all(
        b"laterality_conflict" in record and any(src.encode() in record for src in sources)
        for record in records
    )
    before = tree(out)
    assert _tfrecord(pipe, synth, out, synth / "train.csv", workers=0).processed == 0
    assert tree(out) == before
    # Start with part of the table, then the whole: payloads already packed are recovered
    # from the shards and the result equals one run over the whole table.
    part = tmp_path / "part"
    frame = read_table(synth / "train.csv")
    _tfrecord(pipe, synth, part, frame.iloc[::2], workers=0)
    grown = _tfrecord(pipe, synth, part, synth / "train.csv", workers=0)
    assert grown.skipped == 6 and grown.processed == 6
    assert tree(part) == before


def test_worker_crash_is_recorded_and_the_run_goes_on(synth: Path, tmp_path: Path) -> None:
    row = _rows(synth / "train.csv")[5]
    (synth / "train_images" / row["patient_id"] / f"{row['image_id']}.crash").touch()
    out = tmp_path / "out"
    result = CrashingPipeline(size=SIZE).preprocess_dataset(
        synth / "train_images", synth / "train.csv", out, workers=2, quiet=True
    )
    assert result.succeeded == 11
    assert [(f.image_id, f.error_type) for f in result.failures] == [
        (row["image_id"], "WorkerCrash")
    ]
    _accounted_once(synth / "train.csv", out)


def test_a_plugin_that_cannot_reach_workers_needs_workers_0(synth: Path, tmp_path: Path) -> None:
    class LocalPlugin:  # defined in a function: cannot be pickled for worker processes
        @mammokit.hookimpl
        def mammokit_padders(self) -> list[mammokit.Component]:
            return []

    manager = mammokit.get_plugin_manager(plugins=[LocalPlugin()], load_entry_points=False)
    pipe = Pipeline(size=SIZE, manager=manager)
    args = (synth / "train_images", synth / "train.csv")
    with pytest.raises(ConfigError, match="cannot be sent to worker processes"):
        pipe.preprocess_dataset(*args, tmp_path / "a", workers=1, quiet=True)
    assert pipe.preprocess_dataset(*args, tmp_path / "b", workers=0, quiet=True).ok


@pytest.mark.train
def test_tfrecord_reader_gives_the_png_pixels_and_the_table(synth: Path, tmp_path: Path) -> None:
    from mammokit.data import tfrecord_dataset

    pipe = Pipeline(size=SIZE, output_dtype="uint16")
    pipe.preprocess_dataset(
        synth / "train_images", synth / "train.csv", tmp_path / "png", workers=0, quiet=True
    )
    _tfrecord(pipe, synth, tmp_path / "tf", synth / "train.csv", workers=0)
    index = {r["image_id"]: r for r in _rows(tmp_path / "png" / "index.csv")}
    seen = []
    for item in tfrecord_dataset(tmp_path / "tf"):
        image_id = str(int(item["image_id"]))
        row = index[image_id]
        seen.append(image_id)
        image = item["image"].numpy()
        assert image.shape == (*SIZE, 1) and image.dtype == np.uint16
        with Image.open(tmp_path / "png" / row["path"]) as png:
            np.testing.assert_array_equal(image[..., 0], np.asarray(png))
        assert item["laterality"].numpy().decode() == row["laterality"]
        assert int(item["cancer"]) == int(row["cancer"])
        assert int(item["crop_y1"]) == int(row["crop_y1"]) and int(item["flipped"]) == int(
            row["flipped"]
        )
        assert item["decoder"].numpy().decode() == row["decoder"]
    assert seen == list(index)


def test_worker_preload_stays_free_of_tensorflow() -> None:
    """The fork server imports this module for every worker: TensorFlow would cost each
    worker hundreds of MB."""
    import subprocess
    import sys

    code = "import sys, mammokit.data._warm; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


class _Killed(Exception):
    """Stands for the process dying at that point."""


class _StopAt:
    """Replacements for the packing's writes and deletions that "die" at event ``stop``."""

    def __init__(self, shards: Any, stop: int) -> None:
        self.write_real, self.drop_real = shards.atomic_write_bytes, shards._drop_payloads
        self.stop, self.events = stop, 0

    def _tick(self) -> None:
        self.events += 1
        if self.events == self.stop:
            raise _Killed

    def write(self, path: Path, data: bytes) -> None:
        self._tick()
        self.write_real(path, data)

    def drop(self, out_dir: Path, images: list[tuple[str, str]]) -> None:
        for image in images:
            self._tick()
            self.drop_real(out_dir, [image])


@pytest.mark.parametrize("shard_bytes", [6000, 10**9], ids=["several-shards", "one-shard"])
def test_tfrecord_packing_interrupted_at_any_step_recovers(
    synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shard_bytes: int
) -> None:
    """Stop the shard packing after each of its writes and deletions in turn (recovering
    payloads, writing shards and the manifest, deleting payloads); a rerun must still give
    the bytes of an uninterrupted run."""
    from mammokit.data import _shards

    pipe = Pipeline(size=SIZE)
    frame = read_table(synth / "train.csv").iloc[:8]
    reference = tmp_path / "reference"
    _tfrecord(pipe, synth, reference, frame, workers=0, shard_bytes=shard_bytes)
    stop = 0
    while True:
        stop += 1
        out = tmp_path / f"stop-{stop}"
        _tfrecord(
            pipe, synth, out, frame.iloc[::2], workers=0, shard_bytes=shard_bytes
        )  # packed, payloads deleted
        stopper = _StopAt(_shards, stop)
        with monkeypatch.context() as patch:
            patch.setattr(_shards, "atomic_write_bytes", stopper.write)
            patch.setattr(_shards, "_drop_payloads", stopper.drop)
            with contextlib.suppress(_Killed):
                _tfrecord(pipe, synth, out, frame, workers=0, shard_bytes=shard_bytes)
        _tfrecord(pipe, synth, out, frame, workers=0, shard_bytes=shard_bytes)
        assert_same_tree(out, reference)
        if stopper.events < stop:  # the run got through every event: all stops were tried
            break
    assert stop > 8
