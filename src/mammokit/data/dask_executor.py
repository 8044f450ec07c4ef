"""Run the preprocessing jobs on a ``dask.distributed`` cluster (extra ``dask``).

Give the address of a running scheduler (``tcp://host:8786``) to use its workers, or none to
start a :class:`~dask.distributed.LocalCluster` with one single-threaded worker process per
requested worker. Each task runs the same job function as the process pool, so the outputs
are byte-for-byte those of ``executor="process"``.

On a real cluster every worker needs mammokit (and any plugin the pipeline uses) installed,
and must see the images and output folders at the same absolute paths (a shared file
system). Each job writes its own output and record there; the client only collects
outcomes and builds the index at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from mammokit.data._job import Job, Outcome, PipelineSpec, crash_outcome, run_job
from mammokit.errors import ConfigError

__all__ = ["run_on_dask"]


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
) -> None:
    """Run every job on a Dask cluster, calling ``on_outcome`` in the client.

    Args:
        spec: the pipeline, as workers rebuild it.
        jobs: the jobs to run.
        workers: LocalCluster size when ``scheduler`` is None (ignored otherwise).
        on_outcome: called once per job.
        scheduler: the address of a running scheduler, or None for a LocalCluster.

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
    try:
        _run(distributed, client, spec, jobs, on_outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _local_cluster(distributed: Any, workers: int) -> Any:
    """A LocalCluster of single-threaded worker processes.

    Where available its workers start from the same warm fork server as the process pool's
    (faster start and shutdown than dask's default ``spawn``).
    """
    import dask

    from mammokit.data._pool import start_method

    with dask.config.set({"distributed.worker.multiprocessing-method": start_method()}):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # its HTTP server on a free port: 8787 may be taken
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
        )


def _run(
    distributed: Any,
    client: Any,
    spec: PipelineSpec,
    jobs: Iterable[Job],
    on_outcome: Callable[[Outcome], None],
) -> None:
    slots = max(2 * sum(client.nthreads().values()), 2)
    pending = iter(jobs)
    job_of: dict[str, Job] = {}
    finished = distributed.as_completed()

    def submit_next() -> None:
        job = next(pending, None)
        if job is not None:
            future = client.submit(run_job, spec, job, pure=False, retries=0)
            job_of[future.key] = job
            finished.add(future)

    for _ in range(slots):
        submit_next()
    for future in finished:
        job = job_of.pop(future.key)
        try:
            outcome = future.result()
        except distributed.KilledWorker:
            outcome = crash_outcome(job, "the Dask worker was killed")
        on_outcome(outcome)
        future.release()
        submit_next()
