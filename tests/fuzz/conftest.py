"""Fixtures of the fuzz suite: the fuzz pipeline, the seed files, and a mutant counter."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_guard import STATS, fuzz_pipeline, warm_up
from fuzz_seeds import corpus_seeds, phantom_seeds

from mammokit import Pipeline

# The long run (nox -s fuzz) caps the address space, so that a runaway native allocation
# fails (and is reported as a finding) instead of waking the out-of-memory killer.
if os.environ.get("MAMMOKIT_FUZZ_MEMORY_CAP_MB"):
    _cap = int(os.environ["MAMMOKIT_FUZZ_MEMORY_CAP_MB"]) << 20
    resource.setrlimit(resource.RLIMIT_AS, (_cap, resource.getrlimit(resource.RLIMIT_AS)[1]))

# A Rust decoder's panic (caught and reported as a DicomDecodeError) prints a symbolised
# backtrace when RUST_BACKTRACE is set, which takes seconds per panic.
os.environ["RUST_BACKTRACE"] = "0"


class Seeds(dict[str, bytes]):
    """Label -> file bytes, with a short repr (hypothesis prints test arguments)."""

    def __repr__(self) -> str:
        return f"<{len(self)} seed files>"


@pytest.fixture(scope="session")
def seed_bytes(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    """Label -> bytes of every seed file (corpus files and freshly generated phantoms)."""
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    return Seeds(dict(corpus_seeds()) | dict(phantom_seeds(folder)))


@pytest.fixture(scope="session")
def fuzz_pipe(seed_bytes: Seeds, fuzz_dir: Path) -> Pipeline:
    """``Pipeline(size=(64, 32))`` with the fuzz limits and the memory-safe decoders,
    warmed up on every seed (so no case pays for imports under tracemalloc)."""
    pipe = fuzz_pipeline()
    warm_up(pipe, seed_bytes.values(), fuzz_dir)
    return pipe


@pytest.fixture(scope="session")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where each mutant is written before it is preprocessed."""
    yield tmp_path_factory.mktemp("fuzz-cases")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many mutants ran and what they did (for the record of the fuzz runs)."""
    if STATS:
        counts = ", ".join(f"{kind} {count}" for kind, count in sorted(STATS.items()))
        terminalreporter.write_line(
            f"mammokit fuzz: {sum(STATS.values())} mutants preprocessed ({counts})"
        )
