"""Hypothesis fuzzing: broken variants of real DICOM files through ``Pipeline.preprocess``.

Every test draws a seed (a small corpus file or a generated phantom, see ``fuzz_seeds``),
breaks it one way, and runs ``Pipeline(size=(64, 32)).preprocess`` on it (with the fuzz
limits and the memory-safe decoders, see ``fuzz_guard.fuzz_pipeline``). The only allowed
outcomes are a (64, 32) uint8 result or a MammokitError naming the file, within the
per-case time limit and memory budget. A failing example saves its mutant for
``tests/fuzz/regressions/``.

CI runs a fixed, derandomized sample (the ``ci`` settings); ``nox -s fuzz`` runs thousands
of random examples per test (``MAMMOKIT_FUZZ_PROFILE=long``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_guard import fuzz_settings, run_case
from fuzz_mutators import (
    CODEC_LIES,
    DELETABLE,
    ENCAPSULATION_BREAKS,
    LIES,
    TRANSFER_SYNTAXES,
    break_encapsulation,
    delete_tag,
    flip_bits,
    is_encapsulated,
    lie,
    lie_in_codec_header,
    set_transfer_syntax,
    truncate,
    zero_pixel_data,
)
from fuzz_seeds import ENCAPSULATED_PHANTOMS, PHANTOM_LABELS, corpus_seeds
from hypothesis import assume, given
from hypothesis import strategies as st

from mammokit import Pipeline

_CORPUS = dict(corpus_seeds())
LABELS = sorted(_CORPUS) + list(PHANTOM_LABELS)
ENCAPSULATED = sorted(k for k, v in _CORPUS.items() if is_encapsulated(v)) + list(
    ENCAPSULATED_PHANTOMS
)

seeds = st.sampled_from(LABELS)
#: Bit positions: mostly in the first 2 kB (the header), sometimes anywhere.
bit_positions = st.lists(
    st.one_of(st.integers(0, 8 * 2048), st.integers(0, 2**31)), min_size=1, max_size=8
)
lies = st.sampled_from(sorted(LIES)).flatmap(
    lambda keyword: st.tuples(st.just(keyword), st.sampled_from(LIES[keyword][1]))
)


def _check(pipe: Pipeline, data: bytes | None, workdir: Path, label: str) -> None:
    """Preprocess ``data``; fail on a finding. ``None`` (mutation not applicable) is
    rejected as an example (hypothesis tests only)."""
    assume(data is not None)
    assert data is not None
    _check_bytes(pipe, data, workdir, label)


def _check_bytes(pipe: Pipeline, data: bytes, workdir: Path, label: str) -> None:
    outcome = run_case(pipe, data, workdir, label=label)
    assert not outcome.is_finding, (
        f"{outcome.kind} on a mutant of {label} (saved as {outcome.saved}): {outcome.detail}"
    )


@pytest.mark.parametrize("label", LABELS)
def test_seed_itself(label: str, fuzz_pipe: Pipeline, seed_bytes: dict, fuzz_dir: Path) -> None:
    """The unmutated seeds: a result or a MammokitError (some corpus files are broken)."""
    _check_bytes(fuzz_pipe, seed_bytes[label], fuzz_dir, f"seed-{label}")


@fuzz_settings(60)
@given(label=seeds, positions=bit_positions)
def test_bit_flips(
    label: str, positions: list[int], fuzz_pipe: Pipeline, seed_bytes: dict, fuzz_dir: Path
) -> None:
    _check(fuzz_pipe, flip_bits(seed_bytes[label], positions), fuzz_dir, f"flip-{label}")


@fuzz_settings(40)
@given(label=seeds, length=st.one_of(st.integers(0, 2048), st.integers(0, 2**31)))
def test_truncation(
    label: str, length: int, fuzz_pipe: Pipeline, seed_bytes: dict, fuzz_dir: Path
) -> None:
    _check(fuzz_pipe, truncate(seed_bytes[label], length), fuzz_dir, f"truncate-{label}")


@fuzz_settings(40)
@given(label=seeds, keyword=st.sampled_from((*DELETABLE, "TransferSyntaxUID")))
def test_tag_deletion(
    label: str, keyword: str, fuzz_pipe: Pipeline, seed_bytes: dict, fuzz_dir: Path
) -> None:
    _check(fuzz_pipe, delete_tag(seed_bytes[label], keyword), fuzz_dir, f"delete-{label}")


@fuzz_settings(80)
@given(label=seeds, changes=st.lists(lies, min_size=1, max_size=3))
def test_lying_header(
    label: str,
    changes: list[tuple[str, object]],
    fuzz_pipe: Pipeline,
    seed_bytes: dict,
    fuzz_dir: Path,
) -> None:
    """Rows/Columns/BitsAllocated/BitsStored/NumberOfFrames/SamplesPerPixel/... lie."""
    data: bytes | None = seed_bytes[label]
    for keyword, value in changes:
        data = lie(data, keyword, value) if data is not None else None
    _check(fuzz_pipe, data, fuzz_dir, f"lie-{label}")


@fuzz_settings(40)
@given(label=seeds, uid=st.sampled_from(TRANSFER_SYNTAXES))
def test_wrong_transfer_syntax(
    label: str, uid: str, fuzz_pipe: Pipeline, seed_bytes: dict, fuzz_dir: Path
) -> None:
    _check(fuzz_pipe, set_transfer_syntax(seed_bytes[label], uid), fuzz_dir, f"syntax-{label}")


@fuzz_settings(60)
@given(
    label=st.sampled_from(ENCAPSULATED),
    how=st.sampled_from(ENCAPSULATION_BREAKS),
    which=st.integers(0, 16),
    value=st.integers(0, 2**32 - 1),
)
def test_broken_encapsulation(
    label: str,
    how: str,
    which: int,
    value: int,
    fuzz_pipe: Pipeline,
    seed_bytes: dict,
    fuzz_dir: Path,
) -> None:
    """Bad item tags and lengths, a garbage offset table, no sequence delimiter, ..."""
    mutant = break_encapsulation(seed_bytes[label], how, which, value)
    _check(fuzz_pipe, mutant, fuzz_dir, f"encapsulation-{label}")


@fuzz_settings(50)
@given(
    label=st.sampled_from(ENCAPSULATED),
    field=st.sampled_from(CODEC_LIES),
    value=st.integers(0, 1000),
)
def test_codec_header_lies(
    label: str, field: str, value: int, fuzz_pipe: Pipeline, seed_bytes: dict, fuzz_dir: Path
) -> None:
    """The JPEG 2000 SIZ/COD, JPEG SOF or RLE header disagrees with the DICOM header."""
    mutant = lie_in_codec_header(seed_bytes[label], field, value)
    _check(fuzz_pipe, mutant, fuzz_dir, f"codec-{label}")


@fuzz_settings(40)
@given(
    label=seeds,
    change=lies,
    positions=st.lists(st.integers(0, 2**31), min_size=1, max_size=4),
    length=st.integers(0, 2**31),
)
def test_combined_damage(
    label: str,
    change: tuple[str, object],
    positions: list[int],
    length: int,
    fuzz_pipe: Pipeline,
    seed_bytes: dict,
    fuzz_dir: Path,
) -> None:
    """A lie, then bit flips, then (sometimes) a cut: damage that stacks up."""
    data = lie(seed_bytes[label], *change)
    assume(data is not None)
    assert data is not None
    data = flip_bits(data, positions)
    if length % 3 == 0:
        data = truncate(data, len(data) - 1 - length % 64)
    _check(fuzz_pipe, data, fuzz_dir, f"combined-{label}")


@pytest.mark.parametrize("label", LABELS)
def test_zero_length_pixel_data(
    label: str, fuzz_pipe: Pipeline, seed_bytes: dict, fuzz_dir: Path
) -> None:
    mutant = zero_pixel_data(seed_bytes[label])
    if mutant is None:
        pytest.skip("no pixel data to empty")
    _check_bytes(fuzz_pipe, mutant, fuzz_dir, f"zero-{label}")
