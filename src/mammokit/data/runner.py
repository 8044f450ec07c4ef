"""The batch runner: a whole table of images to a preprocessed folder, resumably.

The output folder's layout and lifecycle are :mod:`mammokit.data.folder`'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import attrs
import pandas as pd

from mammokit.core.config import config_to_dict, options_with
from mammokit.core.errors import ConfigError, OutputWriteError
from mammokit.data._job import (
    MASKS_DIR,
    Job,
    Outcome,
    PipelineSpec,
    mask_path,
    payload_path,
    read_record,
    record_path,
    row_digest,
    run_job,
)
from mammokit.data.folder import (
    OWN_FILES,
    check_usable,
    locked,
    prepare_out,
    sweep_temporaries,
    write_errors,
)
from mammokit.data.index import (
    FAILURE_COLUMNS,
    INDEX_COLUMNS,
    MASK_COLUMN,
    id_sort_key,
    write_tables,
)
from mammokit.data.tables import read_table, validate_table
from mammokit.data.writers import DEFAULT_SHARD_BYTES, infer_column_types, write_features_file
from mammokit.dicom.decoders.j2k_reduced import cpus

__all__ = ["DatasetOptions", "DatasetResult", "Failure", "OutputWriteError", "preprocess_dataset"]

FORMATS = ("png", "tfrecord")
EXECUTORS = ("process", "dask")
#: ``mask_column`` "auto" takes this column when the table has one.
LESION_MASK_COLUMN = "lesion_mask"
AUTO_MASK = "auto"
#: Default seconds one image may take in a pool worker (a 4096x3328 image takes ~1 s).
DEFAULT_IMAGE_TIMEOUT = 300.0


@attrs.frozen
class Failure:
    """One image that could not be preprocessed (a row of ``failures.csv``)."""

    image_id: str
    path: str
    error_type: str
    message: str


@attrs.frozen
class DatasetResult:
    """The state of an output folder after :func:`preprocess_dataset`.

    Attributes:
        out_dir: the output folder.
        total: rows in the table.
        succeeded: rows in ``index.csv``.
        failures: the rows of ``failures.csv``, in image_id order.
        skipped: rows already finished by an earlier run (not redone).
        processed: rows run by this call.
        elapsed: seconds this call took.
        worker_peak_rss: worker process id -> its peak resident memory in bytes.
        cpu_seconds: CPU time the jobs of this call took in their workers (the pipeline
            build in each worker included).
        side_conflicts: ``(image_id, conflict)`` of every preprocessed image whose side
            sources disagree (``laterality_conflict`` of ``index.csv``, e.g. "pixels L"),
            in image_id order.
        for_processing: how many preprocessed images are FOR PROCESSING ones (raw detector
            values, windowed as presentation ones: ``for_processing = "window"``).
        unsure_sides: ``(image_id, side_confidence)`` of every preprocessed image whose side
            the pixels decided with a low confidence (``laterality_source`` "pixels (low
            confidence)" in ``index.csv``), in image_id order.
        masks: how many preprocessed images have a lesion mask (``mask_path``; those
            without lesion, all background, included).
    """

    out_dir: Path
    total: int
    succeeded: int
    failures: tuple[Failure, ...]
    skipped: int
    processed: int
    elapsed: float
    worker_peak_rss: dict[int, int] = attrs.field(factory=dict)
    cpu_seconds: float = 0.0
    side_conflicts: tuple[tuple[str, str], ...] = ()
    for_processing: int = 0
    unsure_sides: tuple[tuple[str, str], ...] = ()
    masks: int = 0

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """True when every row was preprocessed."""
        return not self.failures


@attrs.frozen
class DatasetOptions:
    """How :func:`preprocess_dataset` runs and what it writes; every field has a default,
    and the function's keywords set the fields of the same name.

    Attributes:
        workers: processes (or LocalCluster workers); None = one per core; 0 = run in this
            process (no pool, any plugin works).
        format: "png" or "tfrecord".
        executor: "process" (a local pool) or "dask".
        scheduler: a Dask scheduler address (executor "dask"); None starts a LocalCluster.
        overwrite: discard an existing output folder's results and start again (needed when
            its config differs).
        quiet: no progress bar.
        shard_bytes: TFRecord shard size target in bytes.
        image_timeout: seconds one image may take in a worker (executor "process" with
            workers >= 1, or "dask") before that worker is ended and the image recorded as
            a ``Timeout`` failure; None = no limit. Not applied with ``workers=0`` (nothing
            can stop a call in this process).
        extension: the input files' extension (e.g. "png"); None finds each image's file
            among the known extensions.
        table_kind: how the table is checked (:func:`mammokit.data.validate_table`): "auto"
            (by its columns), "train", "test", "any", or "external" (ids only; a blank
            laterality or view means unknown, as external datasets may have).
        mask_column: the table column naming each image's lesion mask files (drawn on the
            source image; several separated by ``;`` are united; an empty cell is an
            image without lesion, all background): a mask is written beside each image
            through the same geometry (``masks/<patient_id>/<image_id>.png``, the
            ``mask_path`` column of ``index.csv``). "auto" takes the ``lesion_mask``
            column when the table has one; "" writes no masks.
        mask_root: the folder relative mask paths start from; None = the table's folder
            (the images folder for a DataFrame table).
    """

    workers: int | None = None
    format: str = "png"
    executor: str = "process"
    scheduler: str | None = None
    overwrite: bool = False
    quiet: bool = False
    shard_bytes: int = DEFAULT_SHARD_BYTES
    image_timeout: float | None = DEFAULT_IMAGE_TIMEOUT
    extension: str | None = None
    table_kind: str = "auto"
    mask_column: str = AUTO_MASK
    mask_root: str | Path | None = None

    def check(self) -> int:
        """The number of workers to start (0: this process).

        Raises:
            ConfigError: an unknown format or executor, or a value out of range.
        """
        if self.format not in FORMATS:
            raise ConfigError(
                f"unknown format {self.format!r}; choose one of: {', '.join(FORMATS)}"
            )
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"unknown executor {self.executor!r}; choose one of: {', '.join(EXECUTORS)}"
            )
        if self.scheduler and self.executor != "dask":
            raise ConfigError("a scheduler address needs executor 'dask'")
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if self.image_timeout is not None and not self.image_timeout > 0:
            raise ConfigError(f"image_timeout must be positive seconds, got {self.image_timeout}")
        if self.shard_bytes < 1:
            raise ConfigError(f"shard_bytes must be positive, got {self.shard_bytes}")
        n_workers = cpus() if self.workers is None else self.workers
        if self.executor == "dask" and n_workers == 0:
            raise ConfigError("executor 'dask' needs at least one worker")
        return n_workers


def preprocess_dataset(
    pipeline: Any,
    images_dir: str | Path,
    table: str | Path | pd.DataFrame,
    out_dir: str | Path,
    *,
    options: DatasetOptions | None = None,
    **changes: Any,
) -> DatasetResult:
    """Preprocess every row of ``table`` into ``out_dir`` (see the module doc for the layout).

    Args:
        pipeline: the :class:`~mammokit.Pipeline` to run.
        images_dir: holds ``<patient_id>/<image_id>.<ext>`` (DICOM, PNG, PGM, JPEG or
            TIFF; see :func:`mammokit.data.tables.find_image`).
        table: a ``train.csv``/``test.csv`` path or an already loaded DataFrame.
        out_dir: the output folder (created; must not overlap ``images_dir``).
        options: a :class:`DatasetOptions` (workers, format, executor, scheduler,
            overwrite, quiet, shard_bytes, image_timeout, extension, table_kind); None
            takes its defaults.
        changes: fields of :class:`DatasetOptions` set on ``options``
            (``workers=0, quiet=True``).

    Returns:
        :class:`DatasetResult`; failures are listed, not raised.

    Raises:
        ConfigError: a bad argument, table or folder, or an existing folder made with a
            different configuration (without ``overwrite``).
        OutputWriteError: an output could not be written (e.g. the disk is full); the run
            stops with every file written so far whole, and a rerun resumes.
    """
    started = time.perf_counter()
    opts = options_with(DatasetOptions, options, changes, where="preprocess_dataset")
    n_workers = opts.check()
    format = opts.format

    frame, table_path = _load_table(table, opts.table_kind)
    images = _existing_dir(images_dir, "images folder")
    out = Path(os.path.abspath(out_dir))
    _check_overlap(images, out, table_path)
    clash = sorted(set(frame.columns) & {*INDEX_COLUMNS, MASK_COLUMN})
    if clash:
        raise ConfigError(f"table column(s) {', '.join(clash)} clash with index.csv columns")

    columns = [str(c) for c in frame.columns]
    rows = [dict(zip(columns, values, strict=True)) for values in frame.itertuples(False, None)]
    run_info: dict[str, Any] = {"format": format}
    masks = _mask_files(frame, table_path, images, opts)
    if masks is not None:
        if format != "png":
            raise ConfigError("lesion masks are written with the png format only")
        run_info["mask_column"] = _mask_column(frame, opts.mask_column)
    column_types: dict[str, str] = {}
    if format == "tfrecord":
        column_types = infer_column_types(columns, ([r[c] for c in columns] for r in rows))
        run_info.update(shard_bytes=opts.shard_bytes, columns=column_types)
    config = config_to_dict(pipeline.config)
    check_usable(out)
    with write_errors(out), locked(out):
        prepare_out(out, config, run_info, opts.overwrite)
        sweep_temporaries(out, sorted({r["patient_id"] for r in rows}))
        if format == "tfrecord":
            bits = 16 if pipeline.config.output_dtype == "uint16" else 8
            write_features_file(out / "shards", column_types, bits)
        jobs = _pending(out, images, rows, format, column_types, opts.extension or "", masks)
        try:
            peak, cpu = _execute(pipeline, jobs, n_workers, opts, len(rows))
        finally:
            # of killed workers, and of those stopped mid-write when the run stops on an error
            # (a full disk): the pool has ended when _execute returns or raises
            sweep_temporaries(out, sorted({r["patient_id"] for r in rows}))
        tables = _finish(out, frame, rows, format, opts.shard_bytes)
    return DatasetResult(
        out_dir=out,
        total=len(rows),
        succeeded=tables.succeeded,
        failures=tables.failures,
        skipped=len(rows) - len(jobs),
        processed=len(jobs),
        elapsed=time.perf_counter() - started,
        worker_peak_rss=peak,
        cpu_seconds=cpu,
        side_conflicts=tables.side_conflicts,
        for_processing=tables.for_processing,
        unsure_sides=tables.unsure_sides,
        masks=tables.masks,
    )


def _pending(
    out: Path,
    images: Path,
    rows: list[dict[str, str]],
    format: str,
    column_types: dict[str, str],
    extension: str = "",
    masks: list[tuple[str, ...]] | None = None,
) -> list[Job]:
    """The jobs of the rows not finished yet, in image_id order (``masks``: each row's
    lesion mask files, None when the table names none)."""
    packed: set[str] = set()
    if format == "tfrecord":
        from mammokit.data._shards import has_packed

        packed = has_packed(out)
    jobs: list[Job] = []
    for i, row in enumerate(rows):
        job = Job(
            images_dir=str(images),
            out_dir=str(out),
            patient_id=row["patient_id"],
            image_id=row["image_id"],
            format=format,
            features={c: (t, row[c]) for c, t in column_types.items()},
            digest=row_digest(row),
            laterality=row.get("laterality", ""),
            extension=extension,
            with_masks=masks is not None,
            masks=() if masks is None else masks[i],
        )
        if not _finished(out, job, packed):
            jobs.append(job)
    return sorted(jobs, key=lambda j: id_sort_key(j.image_id))


class _Tables(NamedTuple):
    """What the records of a run say, once its tables are written."""

    succeeded: int
    failures: tuple[Failure, ...]
    side_conflicts: tuple[tuple[str, str], ...]
    for_processing: int
    unsure_sides: tuple[tuple[str, str], ...]
    masks: int


def _finish(
    out: Path, frame: pd.DataFrame, rows: list[dict[str, str]], format: str, shard_bytes: int
) -> _Tables:
    """Build the shards (tfrecord) and the tables from the records; also the failures, the
    side conflicts (in image_id order), the count of FOR PROCESSING images and of masks."""
    records = _collect_records(out, rows)
    ordered = sorted(rows, key=lambda r: id_sort_key(r["image_id"]))
    shard_of = None
    if format == "tfrecord":
        from mammokit.data._shards import build_shards

        ok = [
            (r["image_id"], r["patient_id"])
            for r in ordered
            if records[r["image_id"]]["status"] == "ok"
        ]
        shard_of = build_shards(out, ok, shard_bytes)
    succeeded, _ = write_tables(out, frame, records, shard_of)
    failures = tuple(
        Failure(*(records[r["image_id"]][c] for c in FAILURE_COLUMNS))
        for r in ordered
        if records[r["image_id"]]["status"] != "ok"
    )
    done = [records[r["image_id"]] for r in ordered if records[r["image_id"]]["status"] == "ok"]
    conflicts = tuple(
        (str(r["image_id"]), str(r["laterality_conflict"]))
        for r in done
        if r.get("laterality_conflict")
    )
    raw = sum(r.get("presentation_intent") == "FOR PROCESSING" for r in done)
    unsure = tuple(
        (str(r["image_id"]), str(r.get("side_confidence", "")))
        for r in done
        if r.get("laterality_source") == "pixels (low confidence)"
    )
    masks = sum(bool(r.get(MASK_COLUMN)) for r in done)
    return _Tables(succeeded, failures, conflicts, raw, unsure, masks)


def _mask_column(frame: pd.DataFrame, option: str) -> str:
    """The table column of the lesion masks ("" for none).

    Raises:
        ConfigError: a named column the table lacks.
    """
    if option == AUTO_MASK:
        return LESION_MASK_COLUMN if LESION_MASK_COLUMN in frame.columns else ""
    if option and option not in frame.columns:
        raise ConfigError(
            f"mask column {option!r}: no such column in the table; "
            f"choose one of: {', '.join(map(str, frame.columns))}"
        )
    return option


def _mask_files(
    frame: pd.DataFrame, table_path: Path | None, images: Path, opts: DatasetOptions
) -> list[tuple[str, ...]] | None:
    """Each row's lesion mask files (absolute; ``;``-separated in the cell, blanks
    dropped), or None when the table names no masks.

    Raises:
        ConfigError: an unknown mask column, or a patient_id that is the masks folder.
    """
    column = _mask_column(frame, opts.mask_column)
    if not column:
        return None
    if MASKS_DIR in set(frame["patient_id"]):
        raise ConfigError(
            f"patient_id {MASKS_DIR!r} would share its folder with the lesion masks; "
            "rename that patient or write no masks"
        )
    root = Path(os.path.abspath(opts.mask_root or (table_path.parent if table_path else images)))
    return [
        tuple(str(root / part.strip()) for part in str(cell).split(";") if part.strip())
        for cell in frame[column]
    ]


def _load_table(table: str | Path | pd.DataFrame, kind: str) -> tuple[pd.DataFrame, Path | None]:
    if isinstance(table, pd.DataFrame):
        return validate_table(table, kind=kind, source="table"), None
    path = Path(os.path.abspath(table))
    return read_table(path, kind=kind), path


def _existing_dir(path: str | Path, what: str) -> Path:
    folder = Path(os.path.abspath(path))
    if not folder.is_dir():
        raise ConfigError(f"{what} {folder} does not exist or is not a folder")
    return folder


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _check_overlap(images: Path, out: Path, table_path: Path | None) -> None:
    """Outputs must never land on inputs: the folders may not nest in either direction."""
    for a, b in ((images, out), (Path(os.path.realpath(images)), Path(os.path.realpath(out)))):
        if _inside(b, a) or _inside(a, b):
            raise ConfigError(
                f"output folder {out} and images folder {images} overlap; "
                "choose an output folder outside the images folder"
            )
    if table_path is not None:
        real_table = Path(os.path.realpath(table_path))
        for name in OWN_FILES:
            if real_table == Path(os.path.realpath(out / name)):
                raise ConfigError(f"the table {table_path} would be overwritten by the output")


def _finished(out: Path, job: Job, packed: set[str]) -> bool:
    record = read_record(out, job.patient_id, job.image_id)
    if record is None or record.get("status") != "ok":
        return False
    if job.with_masks and (
        record.get("digest") != job.digest  # the mask cell may have changed
        or not (out / mask_path(job.patient_id, job.image_id)).exists()
    ):
        return False
    if job.format == "png":
        return (out / job.patient_id / f"{job.image_id}.png").exists()
    if record.get("digest") != job.digest:
        return False  # the row changed: its features in the shard would be stale
    return payload_path(out, job.patient_id, job.image_id).exists() or job.image_id in packed


def _collect_records(out: Path, rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    records = {}
    for row in rows:
        record = read_record(out, row["patient_id"], row["image_id"])
        if record is None:  # pragma: no cover - every job writes its record
            raise ConfigError(
                f"no record at {record_path(out, row['patient_id'], row['image_id'])}"
            )
        records[row["image_id"]] = record
    return records


def _execute(
    pipeline: Any, jobs: list[Job], workers: int, options: DatasetOptions, total: int
) -> tuple[dict[int, int], float]:
    """Run the jobs with a progress bar; returns (peak RSS per worker, total CPU seconds)."""
    from tqdm.auto import tqdm

    peak: dict[int, int] = {}
    cpu = 0.0
    if not jobs:
        return peak, cpu

    bar = tqdm(
        total=total,
        initial=total - len(jobs),
        unit="img",
        desc="preprocess",
        disable=options.quiet,
        dynamic_ncols=True,
        smoothing=0.05,
        postfix={"failed": 0},
    )
    failed = 0

    def on_outcome(outcome: Outcome) -> None:
        nonlocal failed, cpu
        if outcome.worker:
            peak[outcome.worker] = max(peak.get(outcome.worker, 0), outcome.peak_rss)
        cpu += outcome.cpu_seconds
        if not outcome.ok:
            failed += 1
            bar.set_postfix(failed=failed, refresh=False)
        bar.update(1)

    try:
        _dispatch(
            pipeline, jobs, workers, options.executor, options.scheduler, on_outcome,
            options.image_timeout,
        )  # fmt: skip
    finally:
        bar.close()
    return peak, cpu


def _dispatch(
    pipeline: Any,
    jobs: list[Job],
    workers: int,
    executor: str,
    scheduler: str | None,
    on_outcome: Callable[[Outcome], None],
    timeout: float | None = None,
) -> None:
    if executor == "process" and workers == 0:
        for job in jobs:
            on_outcome(run_job(pipeline, job))
        return
    spec = PipelineSpec.from_pipeline(pipeline)
    if executor == "dask":
        from mammokit.data.dask_executor import run_on_dask

        run_on_dask(spec, jobs, workers, on_outcome, scheduler=scheduler, timeout=timeout)
    else:
        from mammokit.data._pool import run_in_pool

        run_in_pool(spec, jobs, min(workers, len(jobs)), on_outcome, timeout)
