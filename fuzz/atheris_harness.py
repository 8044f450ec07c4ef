"""Coverage-guided fuzzing of ``Pipeline.preprocess`` with atheris (libFuzzer for Python).

Optional: ``pip install -e '.[fuzz]'`` (atheris has Linux/macOS wheels for CPython 3.10+).
The hypothesis suite in ``tests/fuzz`` is what CI runs; this harness is for long runs that
let libFuzzer's coverage feedback find paths hypothesis does not.

Usage::

    python fuzz/atheris_harness.py --make-seeds fuzz/corpus    # corpus + phantom seeds
    python fuzz/atheris_harness.py fuzz/corpus -timeout=20 -rss_limit_mb=2048 \\
        -max_len=200000 -atheris_runs=100000

Each input is written to a file and preprocessed with the fuzz pipeline of the test suite
(``Pipeline(size=(64, 32))``, 4 Mpixel / 16 MiB limits, the memory-safe decoders). Only a
MammokitError may come out; anything else is a crash, which libFuzzer reports and saves as
``crash-<sha1>``. libFuzzer's ``-timeout`` (a hang, native code included) and
``-rss_limit_mb`` (a memory blow-up) save the input the same way. Half of the mutations
are the suite's structured ones (lying header values, broken encapsulation, codec header
lies, wrong transfer syntax, tag deletion), half libFuzzer's byte-level ones.

Add a saved input that shows a real bug to ``tests/fuzz/regressions/`` with a line in its
``MANIFEST.csv``.
"""

from __future__ import annotations

import contextlib
import os
import random
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

import atheris  # noqa: E402

with atheris.instrument_imports(include=["mammokit", "pydicom"]):
    import fuzz_mutators as mutators
    from fuzz_guard import fuzz_pipeline

    from mammokit import MammokitError

_PIPE = None
_WORKDIR = Path(tempfile.mkdtemp(prefix="mammokit-atheris-"))


def _structured(data: bytes, rng: random.Random) -> bytes | None:
    """One of the suite's structured mutations, chosen by ``rng``."""
    kind = rng.randrange(6)
    if kind == 0:
        keyword = rng.choice(sorted(mutators.LIES))
        return mutators.lie(data, keyword, rng.choice(mutators.LIES[keyword][1]))
    if kind == 1:
        how = rng.choice(mutators.ENCAPSULATION_BREAKS)
        return mutators.break_encapsulation(data, how, rng.randrange(16), rng.getrandbits(32))
    if kind == 2:
        field = rng.choice(mutators.CODEC_LIES)
        return mutators.lie_in_codec_header(data, field, rng.randrange(1000))
    if kind == 3:
        return mutators.set_transfer_syntax(data, rng.choice(mutators.TRANSFER_SYNTAXES))
    if kind == 4:
        return mutators.delete_tag(data, rng.choice(mutators.DELETABLE))
    return mutators.zero_pixel_data(data)


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """libFuzzer's mutator hook: a structured mutation or a byte-level one."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        try:  # the structured mutators expect a well-formed file; an input may not be one
            mutated = _structured(data, rng)
        except (ValueError, IndexError, struct.error):
            mutated = None
        if mutated is not None and len(mutated) <= max_size:
            return mutated
    return atheris.Mutate(data, max_size)


def test_one_input(data: bytes) -> None:
    """Preprocess one input; only a MammokitError may escape."""
    global _PIPE
    if _PIPE is None:
        _PIPE = fuzz_pipeline()
    path = _WORKDIR / "input.dcm"
    path.write_bytes(data)
    with contextlib.suppress(MammokitError):
        _PIPE.preprocess(path)


def make_seeds(folder: Path) -> int:
    """Write the suite's seed files (small corpus files and phantoms) into ``folder``."""
    from fuzz_seeds import corpus_seeds, phantom_seeds

    folder.mkdir(parents=True, exist_ok=True)
    seeds = corpus_seeds() + phantom_seeds(Path(tempfile.mkdtemp()))
    for label, data in seeds:
        (folder / label.replace("/", "__")).write_bytes(data)
    return len(seeds)


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "--make-seeds":
        print(f"{make_seeds(Path(argv[2]))} seed files written to {argv[2]}")
        return
    os.environ.setdefault("RUST_BACKTRACE", "0")
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
