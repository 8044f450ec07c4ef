"""The process-pool executor: one worker process per core, crash-isolating.

Workers are started with ``forkserver`` where available (else ``spawn``): never a plain
``fork`` of a process that may run threads. At most two jobs per worker are in flight, so
memory stays bounded whatever the table size. If a worker dies (a decoder crash, an
out-of-memory kill), the jobs that were in flight are rerun one at a time in a fresh
single-worker pool; the one that kills its worker again is recorded as a ``WorkerCrash``
failure and the run goes on.

Per-image timeout: a job's clock starts when it becomes one of the ``workers`` oldest
unfinished jobs (the pool runs jobs first in, first out, so those are the ones running; the
clock may start a little early, never late). A job still unfinished ``image_timeout``
seconds later has its pool's workers killed (a hang inside native code cannot be
interrupted any other way), is recorded as a ``Timeout`` failure, and the other jobs in
flight, innocent, go back to the front of the queue for a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout  # not builtin before 3.11
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mammokit.data._job import (
    Job,
    Outcome,
    PipelineSpec,
    crash_outcome,
    run_job,
    timeout_outcome,
)
from mammokit.data.mainguard import check_main_guard
from mammokit.dicom.decoders.j2k_reduced import cpus, set_worker_share

__all__ = ["run_in_pool", "start_method"]


def _init_worker(decode_threads: int) -> None:
    # Ctrl-C goes to the whole process group: let the parent handle it and stop the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_worker_share(decode_threads)  # the workers share the CPUs' decode threads


def start_method() -> str:
    """ "forkserver" (preloading :mod:`mammokit.data._warm`) where available, else "spawn"."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        multiprocessing.get_context("forkserver").set_forkserver_preload(["mammokit.data._warm"])
        return "forkserver"
    return "spawn"  # pragma: no cover - Windows


def _context() -> Any:
    return multiprocessing.get_context(start_method())


def _pool(workers: int) -> ProcessPoolExecutor:
    share = max(1, cpus() // max(1, workers))
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(), initializer=_init_worker, initargs=(share,)
    )


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every worker process of ``pool`` and reap them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    for process in processes:
        process.join()


def _run_batch(
    spec: PipelineSpec,
    queue: deque[Job],
    workers: int,
    on_outcome: Callable[[Outcome], None],
    timeout: float | None = None,
) -> list[Job]:
    """Run jobs from ``queue`` until it is empty (returns []), a job times out (returns [],
    the other in-flight jobs back at the front of ``queue``) or the pool breaks (returns
    the jobs whose outcome is unknown)."""
    pool = _pool(workers)
    inflight: dict[Future[Outcome], Job] = {}
    started: dict[Future[Outcome], float] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < 2 * workers:
                job = queue.popleft()
                inflight[pool.submit(run_job, spec, job)] = job
            now = time.monotonic()
            for future in list(inflight)[:workers]:
                started.setdefault(future, now)
            wait_for = None
            if timeout is not None:
                wait_for = max(0.0, min(started[f] for f in started) + timeout - now)
            done, _ = wait(inflight, timeout=wait_for, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: inflight[f].image_id):
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    return _settle(inflight, on_outcome)
                del inflight[future]
                started.pop(future, None)
                on_outcome(outcome)
            if timeout is not None and not done:
                expired = [f for f in started if time.monotonic() - started[f] >= timeout]
                if expired:
                    _kill_workers(pool)
                    for future in expired:
                        on_outcome(timeout_outcome(inflight.pop(future), timeout))
                    queue.extendleft(reversed(_settle(inflight, on_outcome)))
                    return []
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


def _run_alone(spec: PipelineSpec, job: Job, timeout: float | None) -> Outcome:
    pool = _pool(1)
    try:
        return pool.submit(run_job, spec, job).result(timeout=timeout)
    except FutureTimeout:
        _kill_workers(pool)
        return timeout_outcome(job, timeout or 0.0)
    except BrokenProcessPool:
        return crash_outcome(job, "a crash or an out-of-memory kill")
    finally:
        pool.shutdown(wait=True)


def run_in_pool(
    spec: PipelineSpec,
    jobs: Iterable[Job],
    workers: int,
    on_outcome: Callable[[Outcome], None],
    timeout: float | None = None,
) -> None:
    """Run every job on ``workers`` processes, calling ``on_outcome`` in the parent.

    ``timeout``: seconds one image may run before its worker is killed and the image is
    recorded as a ``Timeout`` failure (None: no limit).

    Raises:
        ConfigError: called from an unguarded script line (see
            :mod:`mammokit.data.mainguard`), before any worker starts.
    """
    check_main_guard(f"{workers} worker process(es)")
    queue = deque(jobs)
    while queue:
        for job in _run_batch(spec, queue, workers, on_outcome, timeout):
            on_outcome(_run_alone(spec, job, timeout))
