"""The process-pool executor: one worker process per core, crash-isolating.

Workers are started with ``forkserver`` where available (else ``spawn``): never a plain
``fork`` of a process that may run threads. At most two jobs per worker are in flight, so
memory stays bounded whatever the table size. If a worker dies (a decoder crash, an
out-of-memory kill), the jobs that were in flight are rerun one at a time in a fresh
single-worker pool; the one that kills its worker again is recorded as a ``WorkerCrash``
failure and the run goes on.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mammokit.data._job import Job, Outcome, PipelineSpec, crash_outcome, run_job

__all__ = ["run_in_pool", "start_method"]


def _init_worker() -> None:
    # Ctrl-C goes to the whole process group: let the parent handle it and stop the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_method() -> str:
    """ "forkserver" (preloading :mod:`mammokit.data._warm`) where available, else "spawn"."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        multiprocessing.get_context("forkserver").set_forkserver_preload(["mammokit.data._warm"])
        return "forkserver"
    return "spawn"  # pragma: no cover - Windows


def _context() -> Any:
    return multiprocessing.get_context(start_method())


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_init_worker)


def _run_batch(
    spec: PipelineSpec, queue: deque[Job], workers: int, on_outcome: Callable[[Outcome], None]
) -> list[Job]:
    """Run jobs from ``queue`` until it is empty (returns []) or the pool breaks (returns
    the jobs whose outcome is unknown)."""
    pool = _pool(workers)
    inflight: dict[Future[Outcome], Job] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < 2 * workers:
                job = queue.popleft()
                inflight[pool.submit(run_job, spec, job)] = job
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: inflight[f].image_id):
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    return _settle(inflight, on_outcome)
                del inflight[future]
                on_outcome(outcome)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
    return []


def _settle(
    inflight: dict[Future[Outcome], Job], on_outcome: Callable[[Outcome], None]
) -> list[Job]:
    """Report the in-flight jobs that finished before the pool broke; return the others."""
    unknown = []
    for future, job in inflight.items():
        try:
            outcome = future.result(timeout=0)
        except Exception:
            unknown.append(job)
        else:
            on_outcome(outcome)
    return unknown


def _run_alone(spec: PipelineSpec, job: Job) -> Outcome:
    pool = _pool(1)
    try:
        return pool.submit(run_job, spec, job).result()
    except BrokenProcessPool:
        return crash_outcome(job, "a crash or an out-of-memory kill")
    finally:
        pool.shutdown(wait=True)


def run_in_pool(
    spec: PipelineSpec,
    jobs: Iterable[Job],
    workers: int,
    on_outcome: Callable[[Outcome], None],
) -> None:
    """Run every job on ``workers`` processes, calling ``on_outcome`` in the parent."""
    queue = deque(jobs)
    while queue:
        for job in _run_batch(spec, queue, workers, on_outcome):
            on_outcome(_run_alone(spec, job))
