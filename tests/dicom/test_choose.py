"""The automatic decoder choice and the dicomsdl decoder, with and without dicomsdl installed."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEG2000Lossless, JPEGLossless, JPEGLosslessSV1, RLELossless

import mammokit
from mammokit.core.images import ImageMeta
from mammokit.dicom import decode_file
from mammokit.dicom.decode import candidates
from mammokit.dicom.decoders._dicomsdl_table import (
    EXCLUDED_TRANSFER_SYNTAXES,
    VERIFIED_TRANSFER_SYNTAXES,
    dicomsdl_available,
)
from mammokit.dicom.decoders.base import reduction_level
from mammokit.dicom.decoders.imagecodecs import imagecodecs_available
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.synthetic.encoders.write import write_dicom

needs_dicomsdl = pytest.mark.skipif(not dicomsdl_available(), reason="mammokit[fast] not installed")
RNG = np.random.default_rng(3)


def _decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


@pytest.fixture
def without_dicomsdl(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``fast`` extra as if not installed: ``import dicomsdl`` and ``import imagecodecs``
    fail, find_spec finds nothing."""
    monkeypatch.setitem(sys.modules, "dicomsdl", None)
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    assert not dicomsdl_available()
    assert not imagecodecs_available()


def _pixels(dtype: type = np.uint16, bits: int = 12) -> np.ndarray:
    info = np.iinfo(dtype)
    low = max(info.min, -(1 << (bits - 1))) if info.min < 0 else 0
    high = min(info.max, (1 << bits) - 1 if info.min == 0 else (1 << (bits - 1)) - 1)
    return RNG.integers(low, high, size=(96, 64), endpoint=True, dtype=dtype)


def test_reduction_level() -> None:
    assert reduction_level(5355, 4915, None) == 0
    assert reduction_level(5355, 4915, (1024, 512)) == 2  # 1338 x 1228 >= 1024 x 512
    assert reduction_level(5355, 4915, (1339, 512)) == 1
    assert reduction_level(5355, 4915, (10, 10)) == 3  # never beyond 1/8
    assert reduction_level(5355, 4915, (6000, 10)) == 0


def test_the_table_is_consistent() -> None:
    assert not set(VERIFIED_TRANSFER_SYNTAXES) & set(EXCLUDED_TRANSFER_SYNTAXES)
    component = _decoders()["dicomsdl"]
    assert isinstance(component, mammokit.DecoderComponent)
    assert component.transfer_syntaxes == frozenset(VERIFIED_TRANSFER_SYNTAXES)


@pytest.mark.parametrize(
    ("ts", "min_shape", "with_fast", "without_fast"),
    [
        ("1.2.840.10008.1.2.4.90", (100, 100), "j2k_reduced", "j2k_reduced"),
        ("1.2.840.10008.1.2.4.90", None, "pydicom", "pydicom"),
        ("1.2.840.10008.1.2.4.90", (900, 900), "pydicom", "pydicom"),
        # JPEG lossless: libjpeg-turbo 3 through imagecodecs, then dicomsdl (both `fast`)
        ("1.2.840.10008.1.2.4.70", None, "imagecodecs", "pydicom"),
        ("1.2.840.10008.1.2.4.70", (100, 100), "imagecodecs", "pydicom"),
        ("1.2.840.10008.1.2.4.57", None, "imagecodecs", "pydicom"),
        # RLE: pylibjpeg-rle directly (dicomsdl decodes RLE only when named)
        ("1.2.840.10008.1.2.5", None, "pylibjpeg_rle", "pylibjpeg_rle"),
        ("1.2.840.10008.1.2.1", None, "pydicom", "pydicom"),
        ("1.2.840.10008.1.2.4.80", None, "pydicom", "pydicom"),
    ],
)
def test_auto_choice_table(
    monkeypatch: pytest.MonkeyPatch,
    ts: str,
    min_shape: tuple[int, int] | None,
    with_fast: str,
    without_fast: str,
) -> None:
    meta = ImageMeta(rows=1000, columns=800, transfer_syntax=ts)
    if dicomsdl_available() and imagecodecs_available():
        chosen = candidates(_decoders(), meta, min_shape)
        assert chosen[0] == with_fast
        if with_fast == "imagecodecs":
            assert chosen[1] == "dicomsdl"  # the first fallback
    monkeypatch.setitem(sys.modules, "dicomsdl", None)
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    chosen = candidates(_decoders(), meta, min_shape)
    assert chosen[0] == without_fast
    assert "dicomsdl" not in chosen and "imagecodecs" not in chosen
    assert chosen[-1] in ("pydicom", "j2k_reduced")


def test_named_only_is_declared_data_not_a_special_case() -> None:
    """Any decoder may declare ``named_only``; the automatic choice then skips it there."""
    meta = ImageMeta(rows=10, columns=10, transfer_syntax="1.2.840.10008.1.2.1")
    fast = mammokit.DecoderComponent(
        name="fast",
        description="a fast native decoder",
        factory=dict,
        speed_rank=1,
        named_only=[meta.transfer_syntax],
    )
    decoders = {"fast": fast, "pydicom": _decoders()["pydicom"]}
    assert candidates(decoders, meta, None) == ["pydicom"]
    other = ImageMeta(rows=10, columns=10, transfer_syntax="1.2.840.10008.1.2.4.70")
    assert candidates(decoders, other, None) == ["fast", "pydicom"]


@needs_dicomsdl
@pytest.mark.parametrize(
    ("ts", "dtype", "bits"),
    [
        (RLELossless, np.uint16, 12),
        (RLELossless, np.uint16, 16),
        (RLELossless, np.int16, 16),
        (RLELossless, np.uint8, 8),
        (JPEGLosslessSV1, np.uint16, 12),
        (JPEGLosslessSV1, np.uint16, 16),
        (JPEGLosslessSV1, np.uint8, 8),
        (JPEGLossless, np.uint16, 14),
    ],
)
def test_dicomsdl_decodes_identically(tmp_path: Path, ts: str, dtype: type, bits: int) -> None:
    """Named, for every verified syntax (automatically, imagecodecs comes first for JPEG
    lossless, and pylibjpeg_rle for RLE)."""
    pixels = _pixels(dtype, bits)
    path = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=ts, bits_stored=bits)
    decoded = decode_file(path, decoders=_decoders(), name="dicomsdl")
    auto = decode_file(path, decoders=_decoders()).decoder
    assert auto == ("pylibjpeg_rle" if ts == RLELossless else "imagecodecs")
    reference = pydicom.dcmread(path).pixel_array
    assert decoded.pixels.dtype == reference.dtype
    np.testing.assert_array_equal(decoded.pixels, reference)
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_auto_without_dicomsdl_uses_pydicom(tmp_path: Path, without_dicomsdl: None) -> None:
    pixels = _pixels()
    path = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=JPEGLosslessSV1, bits_stored=12)
    decoded = decode_file(path, decoders=_decoders(), name="auto")
    assert decoded.decoder == "pydicom"
    np.testing.assert_array_equal(decoded.pixels, pixels)
    with pytest.raises(mammokit.ConfigError, match="decoder 'dicomsdl' is not available"):
        decode_file(path, decoders=_decoders(), name="dicomsdl")


def test_pipeline_records_the_choice_and_a_named_decoder_wins(tmp_path: Path) -> None:
    pixels = _pixels()
    j2k = write_dicom(tmp_path / "j.dcm", pixels, transfer_syntax=JPEG2000Lossless, bits_stored=12)
    rle = write_dicom(tmp_path / "r.dcm", pixels, transfer_syntax=RLELossless, bits_stored=12)
    auto = mammokit.Pipeline(manager=get_plugin_manager(load_entry_points=False))
    assert auto.decode(j2k, min_shape=(40, 30)).decoder == "j2k_reduced"
    assert auto.decode(j2k, min_shape=(40, 30)).scale == 2
    assert auto.decode(j2k).decoder == "pydicom"
    assert auto.decode(rle).decoder == "pylibjpeg_rle"  # dicomsdl decodes RLE only when named
    named = mammokit.Pipeline(decoder="pydicom", manager=auto.manager)
    for path in (j2k, rle):
        decoded = named.decode(path, min_shape=(40, 30))
        assert (decoded.decoder, decoded.scale) == ("pydicom", 1)
        np.testing.assert_array_equal(decoded.pixels, pixels)
    # A named decoder is never swapped for another: it refuses what it cannot do.
    if dicomsdl_available():
        expected, message = mammokit.DicomDecodeError, "does not handle transfer syntax"
    else:
        expected, message = mammokit.ConfigError, "decoder 'dicomsdl' is not available"
    with pytest.raises(expected, match=message):
        mammokit.Pipeline(decoder="dicomsdl", manager=auto.manager).decode(j2k)


@needs_dicomsdl
def test_auto_falls_back_to_pydicom_with_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Two JPEG lossless frames split over four fragments: the check before dicomsdl refuses
    # a frame that is not one fragment, so the automatic choice falls back to pydicom (which
    # finds frame boundaries by their EOI markers), and says so.
    pixels = _pixels()
    one = write_dicom(tmp_path / "one.dcm", pixels, transfer_syntax=JPEGLosslessSV1, bits_stored=12)
    ds = pydicom.dcmread(one)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData, ds.NumberOfFrames = encapsulate([frame, frame], fragments_per_frame=2), 2
    ds.save_as(tmp_path / "two.dcm")
    with caplog.at_level(logging.WARNING, logger="mammokit.dicom"):
        decoded = decode_file(tmp_path / "two.dcm", decoders=_decoders(), options={"frame": 1})
    assert decoded.decoder == "pydicom"
    np.testing.assert_array_equal(decoded.pixels, pixels)
    assert "decoder 'dicomsdl' failed" in caplog.text
    assert "4 fragment(s) for 2 frame(s)" in caplog.text
    assert "falling back to 'pydicom'" in caplog.text


@needs_dicomsdl
def test_dicomsdl_is_identical_on_every_verified_corpus_file(
    corpus_dir: Path, corpus_manifest: list[dict[str, str]]
) -> None:
    decoders = _decoders()
    checked: dict[str, int] = {}
    for row in corpus_manifest:
        if row["ts"] not in VERIFIED_TRANSFER_SYNTAXES or row["BitsAllocated"] not in ("8", "16"):
            continue
        if not (row["PhotometricInterpretation"].startswith("MONOCHROME") and row["decoded"]):
            continue
        path = corpus_dir / row["source"] / row["relpath"]
        options = {"frame": 0} if row["NumberOfFrames"] not in ("", "1") else {}
        decoded = decode_file(path, decoders=decoders, name="dicomsdl", options=options)
        reference = pydicom.dcmread(path).pixel_array
        reference = reference[0] if options else reference
        assert decoded.pixels.dtype == reference.dtype, path
        np.testing.assert_array_equal(decoded.pixels, reference, err_msg=str(path))
        checked[row["ts"]] = checked.get(row["ts"], 0) + 1
    assert set(checked) == set(VERIFIED_TRANSFER_SYNTAXES), checked


_EVIDENCE = """
import sys, numpy as np, pydicom, dicomsdl
path = sys.argv[1]
reference = pydicom.dcmread(path).pixel_array
try:
    pixels = dicomsdl.open(path).pixelData(storedvalue=True)
except Exception as err:
    print("fails", type(err).__name__)
else:
    same = pixels.dtype == reference.dtype and np.array_equal(pixels, reference)
    print("identical" if same else "differs")
"""


def test_exclusions_without_evidence_name_their_analogue() -> None:
    for reason, evidence in EXCLUDED_TRANSFER_SYNTAXES.values():
        assert evidence or reason.startswith("same "), reason


@needs_dicomsdl
@pytest.mark.parametrize(
    "ts", sorted(ts for ts, (_, evidence) in EXCLUDED_TRANSFER_SYNTAXES.items() if evidence)
)
def test_excluded_transfer_syntaxes_still_show_their_problem(
    corpus_file: Callable[[str], Path], ts: str
) -> None:
    """Run dicomsdl on the named evidence file in a subprocess (it may crash): it must still
    differ from pydicom or fail. If this test fails, dicomsdl improved: re-verify the table."""
    reason, relpath = EXCLUDED_TRANSFER_SYNTAXES[ts]
    path = corpus_file(relpath)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == ts
    result = subprocess.run(
        [sys.executable, "-c", _EVIDENCE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode <= 0, result.stderr  # a negative code is a crash: also a problem
    if result.returncode == 0:
        assert result.stdout.split()[0] in ("differs", "fails"), (reason, result.stdout)


def test_auto_on_every_corpus_file_of_the_dicomsdl_syntaxes(
    corpus_dir: Path, corpus_manifest: list[dict[str, str]], full_corpus: bool
) -> None:
    """Where auto may differ from pydicom (JPEG lossless, RLE), every corpus file, broken or
    colour ones included, decodes to pydicom's pixels or raises a MammokitError."""
    rows = [r for r in corpus_manifest if r["ts"] in VERIFIED_TRANSFER_SYNTAXES]
    assert len(rows) >= (20 if full_corpus else 10)
    decoders, decoded_count = _decoders(), 0
    for row in rows:
        path = corpus_dir / row["source"] / row["relpath"]
        try:
            decoded = decode_file(path, decoders=decoders, name="auto")
        except mammokit.MammokitError as err:
            assert str(path) in str(err)
            continue
        np.testing.assert_array_equal(decoded.pixels, pydicom.dcmread(path).pixel_array)
        decoded_count += 1
    assert decoded_count >= (8 if full_corpus else 5)
