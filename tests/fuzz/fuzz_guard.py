"""Running one fuzz case: only MammokitError may escape, within a time and memory budget.

:func:`run_case` writes a mutant to a file, runs ``pipe.preprocess`` on it under

* a per-case time limit: ``SIGALRM`` raises :class:`CaseTimeout` (a BaseException, so no
  ``except Exception`` in the library can swallow it) inside Python code, and
  ``faulthandler`` kills the whole process with a traceback if a native decoder hangs
  without returning to Python (a test run must fail loudly, never stall CI);
* a memory budget: the peak of Python/numpy allocations (``tracemalloc``) and the growth of
  the process's peak RSS (``resource.getrusage``, which also sees native allocations);

and classifies the outcome. Anything but a result of the right shape or a MammokitError is
a *finding*: the mutant is saved (``MAMMOKIT_FUZZ_FINDINGS`` or a temporary folder) so it
can be added to ``tests/fuzz/regressions/``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from hypothesis import HealthCheck, settings

from mammokit import MammokitError, Pipeline
from mammokit.plugins import get_plugin_manager

__all__ = [
    "HARD_TIMEOUT",
    "MAX_RSS_GROWTH",
    "MAX_TRACED",
    "TIME_LIMIT",
    "FUZZ_LIMITS",
    "STATS",
    "CaseTimeout",
    "Outcome",
    "fuzz_pipeline",
    "fuzz_settings",
    "memory_tracking",
    "run_case",
    "time_limit",
    "warm_up",
]

#: Seconds one case may take before it counts as a hang.
TIME_LIMIT = float(os.environ.get("MAMMOKIT_FUZZ_TIME_LIMIT", "20"))
#: Seconds after which a native hang kills the process (with a traceback).
HARD_TIMEOUT = 3 * TIME_LIMIT
#: Largest peak of traced (Python and numpy) allocations during one case, in bytes.
MAX_TRACED = 96 << 20
#: Largest growth of the process's peak RSS during one case (native allocations included).
MAX_RSS_GROWTH = 256 << 20


def fuzz_settings(ci_examples: int) -> settings:
    """Hypothesis settings for one fuzz test.

    ``MAMMOKIT_FUZZ_PROFILE`` unset or ``ci``: ``ci_examples`` examples, derandomized (the
    same mutants on every run, so CI never flakes) and no example database. ``long``
    (``nox -s fuzz``): ``MAMMOKIT_FUZZ_EXAMPLES`` (default 2000) random examples per test.
    """
    profile = os.environ.get("MAMMOKIT_FUZZ_PROFILE", "ci")
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
        "print_blob": True,
    }
    if profile == "long":
        examples = int(os.environ.get("MAMMOKIT_FUZZ_EXAMPLES", "2000"))
        return settings(max_examples=examples, database=None, **common)
    if profile != "ci":
        raise ValueError(f"MAMMOKIT_FUZZ_PROFILE must be 'ci' or 'long', got {profile!r}")
    return settings(max_examples=ci_examples, derandomize=True, database=None, **common)


#: Outcome kind -> how many cases had it, over the whole test session.
STATS: Counter[str] = Counter()


class CaseTimeout(BaseException):
    """A fuzz case ran past its time limit."""


@attrs.frozen
class Outcome:
    """What one case did.

    Attributes:
        kind: "ok" (a result of the configured size and dtype), "error" (a MammokitError),
            or a finding: "crash" (another exception), "bad-output", "hang", "memory".
        detail: the error type and message, or what was wrong.
        seconds: wall time.
        traced_peak: peak traced allocation in bytes.
        rss_growth: growth of the peak RSS in bytes.
        saved: where the mutant was saved (findings only).
    """

    kind: str
    detail: str
    seconds: float
    traced_peak: int
    rss_growth: int
    saved: str = ""

    @property
    def is_finding(self) -> bool:
        return self.kind not in ("ok", "error")


@contextmanager
def time_limit(seconds: float, hard_seconds: float) -> Iterator[None]:
    """Raise CaseTimeout after ``seconds``; kill the process after ``hard_seconds`` (the
    traceback goes to ``hard-timeouts.log`` in the findings folder)."""
    use_alarm = hasattr(signal, "SIGALRM")

    def on_alarm(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"still running after {seconds} s")

    if use_alarm:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(hard_seconds, exit=True, file=_hard_timeout_log())
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


_HARD_LOG: list[Any] = []


def _hard_timeout_log() -> Any:
    """The file a hard timeout's traceback goes to (pytest captures stderr, and the
    process then exits before the capture is shown)."""
    if not _HARD_LOG:
        path = _findings_dir() / "hard-timeouts.log"
        _HARD_LOG.append(path.open("a"))
        _HARD_LOG[0].write(
            f"pid {os.getpid()}: on a hard timeout the case being run is the newest "
            "mutant.dcm (see run_case's workdir); its traceback follows.\n"
        )
        _HARD_LOG[0].flush()
    return _HARD_LOG[0]


def _peak_rss() -> int:
    """The process's peak resident set size in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@contextmanager
def memory_tracking() -> Iterator[dict[str, int]]:
    """Measure the traced peak (above the start) and the peak-RSS growth of a block."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    rss = _peak_rss()
    result = {"traced_peak": 0, "rss_growth": 0}
    try:
        yield result
    finally:
        result["traced_peak"] = tracemalloc.get_traced_memory()[1] - base
        result["rss_growth"] = _peak_rss() - rss
        if started:
            tracemalloc.stop()


#: The fuzz pipeline's limits: 4 Mpixel, 16 MiB decoded (the seeds are at most 1 Mpixel),
#: so that the memory budget below is a few times what an accepted header can claim.
FUZZ_LIMITS = {"max_pixels": 1 << 22, "max_bytes": 16 << 20}


def fuzz_pipeline(**config: Any) -> Pipeline:
    """``Pipeline(size=(64, 32), **FUZZ_LIMITS, **config)`` with the built-in plugins only.

    Its automatic decoder choice is the production one, ``dicomsdl`` included when installed
    (for JPEG lossless: the automatic choice never gives it RLE, where its native decoder
    can corrupt the heap; see ``mammokit.dicom.decoders.dicomsdl``).
    """
    config = {**FUZZ_LIMITS, **config}
    manager = get_plugin_manager(load_entry_points=False)
    return Pipeline(size=(64, 32), manager=manager, **config)


def warm_up(pipe: Pipeline, seeds: Iterable[bytes], workdir: Path) -> None:
    """Preprocess each seed once, untimed and untraced: the lazy imports (decoder plugins,
    codecs) happen here rather than inside the first timed, traced case."""
    path = workdir / "warm-up.dcm"
    for data in seeds:
        path.write_bytes(data)
        with contextlib.suppress(MammokitError):
            pipe.preprocess(path)


def _findings_dir() -> Path:
    folder = os.environ.get("MAMMOKIT_FUZZ_FINDINGS")
    path = Path(folder) if folder else Path(tempfile.gettempdir()) / "mammokit-fuzz-findings"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save(data: bytes, label: str) -> str:
    digest = hashlib.sha256(data).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    path = _findings_dir() / f"{safe}-{digest}.dcm"
    path.write_bytes(data)
    return str(path)


def _check_output(pipe: Pipeline, result: Any) -> str:
    pixels = getattr(result, "pixels", None)
    if not isinstance(pixels, np.ndarray):
        return f"returned {type(result).__name__} without a pixel array"
    if pixels.shape != tuple(pipe.config.size) or pixels.dtype != np.dtype(
        pipe.config.output_dtype
    ):
        return f"returned {pixels.shape} {pixels.dtype}"
    box = result.crop_box
    rows, cols = result.source_shape
    if not (0 <= box.y0 < box.y1 <= rows and 0 <= box.x0 < box.x1 <= cols):
        return f"crop box {box} outside the source {rows}x{cols}"
    return ""


def run_case(
    pipe: Pipeline,
    data: bytes,
    workdir: Path,
    *,
    label: str = "mutant",
    time_limit_s: float = TIME_LIMIT,
) -> Outcome:
    """Preprocess ``data`` (written to ``workdir``) and classify what happened."""
    path = workdir / "mutant.dcm"
    path.write_bytes(data)
    kind, detail = "ok", ""
    start = time.perf_counter()
    with memory_tracking() as memory:
        try:
            with time_limit(time_limit_s, max(HARD_TIMEOUT, 3 * time_limit_s)):
                result = pipe.preprocess(path)
        except CaseTimeout as err:
            kind, detail = "hang", str(err)
        except MammokitError as err:
            kind, detail = "error", f"{type(err).__name__}: {err}"
            if str(path) not in str(err):
                kind, detail = "crash", f"error does not name the file: {detail}"
            elif str(err).endswith(": out of memory"):  # a MemoryError the guard turned
                kind = "memory"  # into a ResourceLimitError: an allocation ran away
        except MemoryError as err:
            kind, detail = "memory", f"MemoryError escaped: {err}"
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # e.g. a pyo3 PanicException from a Rust decoder
            kind = "crash"
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            detail += "\n" + "".join(traceback.format_tb(err.__traceback__)[-4:])
        else:
            problem = _check_output(pipe, result)
            if problem:
                kind, detail = "bad-output", problem
    seconds = time.perf_counter() - start
    if kind in ("ok", "error") and (
        memory["traced_peak"] > MAX_TRACED or memory["rss_growth"] > MAX_RSS_GROWTH
    ):
        kind = "memory"
        detail = (
            f"traced peak {memory['traced_peak'] >> 20} MiB, peak RSS grew "
            f"{memory['rss_growth'] >> 20} MiB ({detail or 'ok'})"
        )
    saved = _save(data, f"{label}-{kind}") if kind not in ("ok", "error") else ""
    STATS[kind] += 1
    return Outcome(kind, detail, seconds, memory["traced_peak"], memory["rss_growth"], saved)
