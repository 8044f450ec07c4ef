"""Decoder ``pylibjpeg_rle``: exactly pydicom's pixels, on the corpus and on generated files,
and a named error (never a crash) on broken ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from mutant_helpers import decode_mutants
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import compress
from pydicom.uid import RLELossless

import mammokit
from mammokit.dicom import decode_file
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.synthetic.encoders.write import write_dicom

RLE_UID = "1.2.840.10008.1.2.5"


def _decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


def _rle(name: str = "pylibjpeg_rle", frame: int | None = None) -> dict[str, object]:
    return {"decoders": _decoders(), "name": name, "options": {"frame": frame}}


def test_every_corpus_rle_file_decodes_to_pydicoms_pixels_or_a_named_error(
    corpus_dir: Path, corpus_manifest: list[dict[str, str]], full_corpus: bool
) -> None:
    rows = [r for r in corpus_manifest if r["ts"] == RLE_UID and r["relpath"].endswith(".dcm")]
    assert len(rows) >= (10 if full_corpus else 4)
    decoded_count = 0
    for row in rows:
        path = corpus_dir / row["source"] / row["relpath"]
        frames = int(row["NumberOfFrames"] or 1)
        frame = frames // 2 if frames > 1 else None
        try:
            reference = pydicom.dcmread(path).pixel_array
        except Exception:
            reference = None
        try:
            decoded = decode_file(path, **_rle(frame=frame))  # type: ignore[arg-type]
        except mammokit.MammokitError as err:
            assert str(path) in str(err)
            # refused: colour (not a mammogram), 1-bit, or broken for pydicom as well
            monochrome = row["PhotometricInterpretation"].startswith("MONOCHROME")
            assert reference is None or not monochrome or row["BitsAllocated"] == "1", row
            continue
        assert reference is not None, row
        expected = reference[frame] if frame is not None else reference
        assert decoded.pixels.dtype == expected.dtype, row["relpath"]
        np.testing.assert_array_equal(decoded.pixels, expected, err_msg=row["relpath"])
        assert decoded.decoder == "pylibjpeg_rle"
        decoded_count += 1
    assert decoded_count >= (4 if full_corpus else 3)  # MR, emri, rtdose (and rtdose 15 frames)


@pytest.mark.parametrize("frame", [0, 4, 9])
def test_each_frame_of_a_multiframe_file(corpus_file: Callable[[str], Path], frame: int) -> None:
    path = corpus_file("pydicom-data/emri_small_RLE.dcm")
    decoded = decode_file(path, **_rle(frame=frame))  # type: ignore[arg-type]
    np.testing.assert_array_equal(decoded.pixels, pydicom.dcmread(path).pixel_array[frame])


def _with_unused_bits(tmp_path: Path, values: np.ndarray, bits_stored: int, signed: bool) -> Path:
    """An RLE file whose 16-bit words carry ``values`` as they are, high bits included."""
    path = write_dicom(tmp_path / "base.dcm", np.zeros(values.shape, np.uint16), bits_stored=16)
    ds = pydicom.dcmread(path)
    ds.PixelRepresentation = int(signed)
    ds.BitsStored = 16
    ds.PixelData = values.astype(np.int16 if signed else np.uint16).tobytes()
    compress(ds, RLELossless, encoding_plugin="pydicom")
    ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    out = tmp_path / f"unused_{bits_stored}_{int(signed)}.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.parametrize("signed", [False, True])
def test_the_unused_high_bits_are_corrected_as_pydicom_does(tmp_path: Path, signed: bool) -> None:
    """12 bits stored in 16: unsigned values lose bits 12-15, signed ones are sign-extended
    from bit 11 (a stored 0x0FFF is -1)."""
    rng = np.random.default_rng(3)
    words = rng.integers(0, 65535, size=(40, 24), endpoint=True, dtype=np.uint16)
    path = _with_unused_bits(tmp_path, words.view(np.int16) if signed else words, 12, signed)
    decoded = decode_file(path, **_rle())  # type: ignore[arg-type]
    reference = pydicom.dcmread(path).pixel_array
    assert decoded.pixels.dtype == reference.dtype == (np.int16 if signed else np.uint16)
    np.testing.assert_array_equal(decoded.pixels, reference)
    low = (words & 0x0FFF).astype(np.int32)
    expected = np.where(low >= 2048, low - 4096, low) if signed else low
    np.testing.assert_array_equal(decoded.pixels.astype(np.int32), expected)


@pytest.mark.parametrize(
    ("dtype", "bits"), [(np.uint8, 8), (np.uint16, 10), (np.uint16, 16), (np.int16, 15)]
)
def test_generated_files_round_trip(tmp_path: Path, dtype: type, bits: int) -> None:
    info = np.iinfo(dtype)
    low, high = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if info.min < 0 else (0, (1 << bits) - 1)
    )
    pixels = np.random.default_rng(bits).integers(low, high, (57, 31), endpoint=True, dtype=dtype)
    path = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=RLELossless, bits_stored=bits)
    decoded = decode_file(path, decoders=_decoders())  # auto
    assert decoded.decoder == "pylibjpeg_rle"
    np.testing.assert_array_equal(decoded.pixels, pixels)
    np.testing.assert_array_equal(decoded.pixels, pydicom.dcmread(path).pixel_array)


def _replace_frame(path: Path, out: Path, change: Callable[[bytearray], bytes]) -> Path:
    ds = pydicom.dcmread(path)
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([change(bytearray(frame))])
    ds.save_as(out)
    return out


def _segment(frame: bytearray, index: int) -> slice:
    offsets = np.frombuffer(bytes(frame[4:64]), "<u4")
    count = int(np.frombuffer(bytes(frame[:4]), "<u4")[0])
    end = int(offsets[index + 1]) if index + 1 < count else len(frame)
    return slice(int(offsets[index]), end)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # the low-byte segment cut short: too few bytes decoded
        (lambda f: bytes(f[: _segment(f, 1).start + 20]), "cannot decode the RLE frame"),
        # a literal run longer than the segment holds
        (lambda f: bytes(f[: _segment(f, 1).start] + b"\x7f" + b"\x00" * 16), "cannot decode"),
        # a segment table that disagrees with the header (checked before decoding)
        (lambda f: (3).to_bytes(4, "little") + bytes(f[4:]), r"declares 3 segment\(s\)"),
    ],
)
def test_broken_frames_raise_a_named_error(
    tmp_path: Path, change: Callable[[bytearray], bytes], message: str
) -> None:
    pixels = np.random.default_rng(1).integers(0, 4095, (48, 40), endpoint=True, dtype=np.uint16)
    good = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=RLELossless, bits_stored=12)
    bad = _replace_frame(good, tmp_path / "bad.dcm", change)
    with pytest.raises(mammokit.DicomDecodeError, match=message) as err:
        decode_file(bad, **_rle())  # type: ignore[arg-type]
    assert str(bad) in str(err.value)


def test_a_segment_that_runs_past_the_frame_is_cut_at_its_size_as_pydicom_does(
    tmp_path: Path,
) -> None:
    """Repeat runs that would write past Rows x Columns stop at the frame's end (the decoder
    is memory-safe); pydicom gives the same pixels, so the file is not refused."""
    pixels = np.random.default_rng(1).integers(0, 4095, (48, 40), endpoint=True, dtype=np.uint16)
    good = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=RLELossless, bits_stored=12)
    bad = _replace_frame(
        good, tmp_path / "long.dcm", lambda f: bytes(f[: _segment(f, 1).start]) + b"\x81\x05" * 30
    )
    decoded = decode_file(bad, **_rle())  # type: ignore[arg-type]
    np.testing.assert_array_equal(decoded.pixels, pydicom.dcmread(bad).pixel_array)
    np.testing.assert_array_equal(decoded.pixels >> 8, pixels >> 8)  # the high bytes are intact
    assert (decoded.pixels & 0xFF == 5).all()  # every low byte is the repeated 5


def test_random_corruption_never_crashes_the_process(tmp_path: Path) -> None:
    """300 files with 1-5 random bytes changed in the RLE data: each decodes (the change may
    alter pixels: RLE has no checksum) or raises a DicomDecodeError naming it; none kills
    the process (a native decoder writing past its buffer would)."""
    pixels = np.random.default_rng(2).integers(0, 4095, (64, 48), endpoint=True, dtype=np.uint16)
    good = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=RLELossless, bits_stored=12)
    _equal, refused, _other = decode_mutants(good, tmp_path / "mutants", "pylibjpeg_rle", seed=7)
    assert refused >= 30  # most changes to run headers break the segment lengths
