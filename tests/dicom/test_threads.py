"""OpenJPEG's decode threads: the rule of :mod:`mammokit.dicom.decoders.j2k_reduced`, the
pool workers' share, and pixels that do not depend on the thread count."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless

from mammokit.data._pool import _pool
from mammokit.dicom import decode_file
from mammokit.dicom.decoders.j2k_reduced import (
    OPENJPEG_ENV,
    J2kReducedDecoder,
    cpus,
    decode_threads,
    openjpeg_threads,
    set_worker_share,
)
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.synthetic.encoders.write import write_dicom


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(OPENJPEG_ENV, raising=False)
    set_worker_share(None)
    yield
    set_worker_share(None)


def test_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert decode_threads() == cpus()  # one image in the calling process: every CPU
    set_worker_share(3)
    assert decode_threads() == 3  # a pool worker: its share
    set_worker_share(0)
    assert decode_threads() == 1  # never less than one
    monkeypatch.setenv(OPENJPEG_ENV, "5")
    assert decode_threads() == 5  # the user's own setting wins
    monkeypatch.setenv(OPENJPEG_ENV, "ALL_CPUS")
    assert decode_threads() == cpus()


def test_the_variable_is_set_for_one_decode_only(monkeypatch: pytest.MonkeyPatch) -> None:
    with openjpeg_threads(2):
        assert os.environ[OPENJPEG_ENV] == "2"
    assert OPENJPEG_ENV not in os.environ
    monkeypatch.setenv(OPENJPEG_ENV, "1")
    with openjpeg_threads(2):
        assert os.environ[OPENJPEG_ENV] == "1"  # the user's value is left alone
    assert os.environ[OPENJPEG_ENV] == "1"


def test_pool_workers_share_the_cpus() -> None:
    for workers in (1, 2):
        pool = _pool(workers)
        try:
            assert pool.submit(decode_threads).result(timeout=120) == max(1, cpus() // workers)
        finally:
            pool.shutdown(wait=True)


def test_pixels_do_not_depend_on_the_thread_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 4095, size=(700, 520), endpoint=True, dtype=np.uint16)
    path = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=JPEG2000Lossless, bits_stored=12)
    decoders = get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")
    results = []
    for threads in (1, 2, 4):
        for min_shape in (None, (160, 120)):
            decoded = decode_file(
                path,
                decoders=decoders,
                name="j2k_reduced",
                options={"threads": threads},
                min_shape=min_shape,
            )
            results.append(decoded.pixels)
    np.testing.assert_array_equal(results[0], pydicom.dcmread(path).pixel_array)
    for i in (2, 4):
        np.testing.assert_array_equal(results[i], results[0])  # full size
        np.testing.assert_array_equal(results[i + 1], results[1])  # 1/4
    assert results[1].shape == (175, 130)
    assert OPENJPEG_ENV not in os.environ


@pytest.mark.parametrize("threads", [-1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(threads: object) -> None:
    with pytest.raises(TypeError, match="threads must be an integer >= 0"):
        J2kReducedDecoder(threads=threads)  # type: ignore[arg-type]
