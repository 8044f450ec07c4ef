"""Run the preprocessing jobs on a ``dask.distributed`` cluster (extra ``dask``).

Give the address of a running scheduler (``tcp://host:8786``) to use its workers, or none to
start a :class:`~dask.distributed.LocalCluster` with one single-threaded worker process per
requested worker. Each task runs the same job function as the process pool, so the outputs
are byte-for-byte those of ``executor="process"``.

On a real cluster every worker needs mammokit (and any plugin the pipeline uses) installed,
and must see the images and output folders at the same absolute paths (a shared file
system). Each job writes its own output and record there; the client only collects
outcomes and builds the index at the end.

Per-image timeout: a task cannot be cancelled once it runs, so each task starts a watchdog
thread in its worker. An image still running ``timeout`` seconds later gets its
``Timeout`` failure record and a marker (under the output folder, for this run only), and
the watchdog ends the worker process (exit status 71): a hang in native code cannot be
interrupted any other way. Dask's nanny restarts the worker and the scheduler reruns the
task, which finds the marker and returns the ``Timeout`` outcome without running the image
again (or the scheduler gives up, ``KilledWorker``, and the client finds the marker). The
other tasks that worker held are rerun elsewhere. On workers with several threads the
other images in flight there are rerun too.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mammokit.core.atomic import atomic_write_bytes
from mammokit.core.errors import ConfigError
from mammokit.data._job import (
    STATE_DIR,
    Job,
    Outcome,
    PipelineSpec,
    crash_outcome,
    run_job,
    timeout_outcome,
)
from mammokit.dicom.decoders.j2k_reduced import set_worker_share

__all__ = ["HANG_EXIT", "run_on_dask"]

#: The exit status of a worker process ended by the per-image watchdog.
HANG_EXIT = 71


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ConfigError(
            "executor 'dask' needs dask.distributed: pip install 'mammokit[dask]'"
        ) from err
    return distributed


def run_on_dask(
    spec: PipelineSpec,
    jobs: Iterable[Job],
    workers: int,
    on_outcome: Callable[[Outcome], None],
    *,
    scheduler: str | None = None,
    timeout: float | None = None,
) -> None:
    """Run every job on a Dask cluster, calling ``on_outcome`` in the client.

    Args:
        spec: the pipeline, as workers rebuild it.
        jobs: the jobs to run.
        workers: LocalCluster size when ``scheduler`` is None (ignored otherwise).
        on_outcome: called once per job.
        scheduler: the address of a running scheduler, or None for a LocalCluster.
        timeout: seconds one image may run before its worker is ended and the image
            recorded as a ``Timeout`` failure (see the module docstring); None: no limit.

    Raises:
        ConfigError: dask is missing or the scheduler cannot be reached.
    """
    distributed = _import_distributed()
    cluster = None
    try:
        if scheduler:
            client = distributed.Client(scheduler)  # distributed.comm.timeouts.connect
        else:
            cluster = _local_cluster(distributed, workers)
            client = distributed.Client(cluster)
    except (OSError, TimeoutError) as err:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"cannot reach the Dask scheduler {scheduler!r}: {err}") from err
    deadline = _Deadline(timeout, uuid.uuid4().hex) if timeout is not None else None
    out_dirs: set[str] = set()

    def tracked(jobs: Iterable[Job]) -> Iterable[Job]:
        for job in jobs:
            out_dirs.add(job.out_dir)
            yield job

    try:
        _run(distributed, client, spec, tracked(jobs), on_outcome, deadline)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        if deadline is not None:
            for out_dir in out_dirs:
                shutil.rmtree(deadline.folder(out_dir), ignore_errors=True)


def _local_cluster(distributed: Any, workers: int) -> Any:
    """A LocalCluster of single-threaded worker processes.

    Where available its workers start from the same warm fork server as the process pool's
    (faster start and shutdown than dask's default ``spawn``).
    """
    import dask

    from mammokit.data._pool import start_method
    from mammokit.data.mainguard import check_main_guard

    check_main_guard(f"a Dask LocalCluster of {workers} worker process(es)")

    with dask.config.set({"distributed.worker.multiprocessing-method": start_method()}):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # its HTTP server on a free port: 8787 may be taken
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
        )


class _Deadline:
    """The per-image timeout of one run: ``seconds``, and the run's marker folder name."""

    def __init__(self, seconds: float, run_id: str) -> None:
        self.seconds = seconds
        self.run_id = run_id

    def folder(self, out_dir: str) -> Path:
        return Path(out_dir) / STATE_DIR / "timeouts" / self.run_id

    def marker(self, job: Job) -> Path:
        return self.folder(job.out_dir) / job.patient_id / job.image_id


def _run_with_deadline(spec: PipelineSpec, job: Job, deadline: _Deadline | None) -> Outcome:
    """:func:`run_job` in a Dask worker, under a watchdog (see the module docstring)."""
    set_worker_share(1)  # the cluster's threads are its parallelism: one decode thread each
    if deadline is None:
        return run_job(spec, job)
    marker = deadline.marker(job)
    if marker.exists():  # this image already timed out in this run, in a worker now gone
        return timeout_outcome(job, deadline.seconds)
    finished = threading.Event()

    def watchdog() -> None:
        if finished.wait(deadline.seconds):
            return
        timeout_outcome(job, deadline.seconds)
        atomic_write_bytes(marker, b"")
        os._exit(HANG_EXIT)

    threading.Thread(target=watchdog, name="mammokit-image-deadline", daemon=True).start()
    try:
        return run_job(spec, job)
    finally:
        finished.set()


def _run(
    distributed: Any,
    client: Any,
    spec: PipelineSpec,
    jobs: Iterable[Job],
    on_outcome: Callable[[Outcome], None],
    deadline: _Deadline | None = None,
) -> None:
    """Keep twice the cluster's threads busy; then rerun alone each job whose worker died.

    When a worker dies, the scheduler blames every task it held, so a job can end in
    ``KilledWorker`` for a neighbour's crash. Such jobs are rerun one at a time at the end,
    with nothing else on the cluster: only a job that kills its worker on its own is
    recorded as a ``WorkerCrash`` (as the process pool does).
    """
    submit = functools.partial(client.submit, _run_with_deadline, pure=False, retries=0)
    slots = max(2 * sum(client.nthreads().values()), 2)
    pending = iter(jobs)
    job_of: dict[str, Job] = {}
    finished = distributed.as_completed()
    suspects: list[Job] = []

    def submit_next() -> None:
        job = next(pending, None)
        if job is not None:
            future = submit(spec, job, deadline)
            job_of[future.key] = job
            finished.add(future)

    for _ in range(slots):
        submit_next()
    for future in finished:
        job = job_of.pop(future.key)
        try:
            on_outcome(future.result())
        except distributed.KilledWorker:
            suspects.append(job)
        future.release()
        submit_next()
    for job in suspects:
        outcome = _timed_out(deadline, job)
        if outcome is None:
            future = submit(spec, job, deadline)
            try:
                outcome = future.result()
            except distributed.KilledWorker:
                outcome = _timed_out(deadline, job) or crash_outcome(
                    job, "its Dask worker died, also when run alone"
                )
            future.release()
        on_outcome(outcome)


def _timed_out(deadline: _Deadline | None, job: Job) -> Outcome | None:
    """The job's ``Timeout`` outcome if its watchdog fired in this run, else None."""
    if deadline is None or not deadline.marker(job).exists():
        return None
    return timeout_outcome(job, deadline.seconds)
