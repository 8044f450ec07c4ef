"""How many threads a native decoder may use: OpenJPEG's decode threads for JPEG 2000.

OpenJPEG (in Pillow, which ``j2k_reduced`` calls) decodes code-blocks on several threads
when its environment variable ``OPJ_NUM_THREADS`` says so, with pixel-identical output;
Pillow has no other way to ask. The rule, from :func:`decode_threads`:

1. ``OPJ_NUM_THREADS`` set by the user (a number, or ``ALL_CPUS``) is left alone;
2. in a worker of mammokit's process pool, the worker's share of the CPUs
   (:func:`set_worker_share`: the CPUs divided by the workers, at least 1), so a batch run
   never runs more decode threads than cores; a Dask task uses 1;
3. otherwise (one image in the calling process) every CPU the process may run on.

A decoder sets the variable only for the length of one decode (:func:`openjpeg_threads`)
and restores it after. ``os.environ`` is process-wide, so two threads decoding at once
share one value; they compute the same one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["OPENJPEG_ENV", "cpus", "decode_threads", "openjpeg_threads", "set_worker_share"]

#: OpenJPEG's own variable, read each time a codec is created.
OPENJPEG_ENV = "OPJ_NUM_THREADS"

_worker_share: int | None = None


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def set_worker_share(threads: int | None) -> None:
    """Declare this process a batch worker allowed ``threads`` decode threads (None: not a
    worker). Called by the pool's worker initializer and by a Dask task."""
    global _worker_share
    _worker_share = None if threads is None else max(1, int(threads))


def decode_threads() -> int:
    """The decode threads for this process now (the module docstring's rule)."""
    named = os.environ.get(OPENJPEG_ENV, "").strip()
    if named.isdigit() and int(named) > 0:
        return int(named)
    if named.upper() == "ALL_CPUS":
        return cpus()
    return _worker_share if _worker_share is not None else cpus()


@contextmanager
def openjpeg_threads(threads: int) -> Iterator[None]:
    """Run a block with ``OPJ_NUM_THREADS`` = ``threads``, unless the user set it."""
    if os.environ.get(OPENJPEG_ENV):
        yield
        return
    os.environ[OPENJPEG_ENV] = str(max(1, int(threads)))
    try:
        yield
    finally:
        os.environ.pop(OPENJPEG_ENV, None)
