"""dicomsdl's guard rails: the frame-header checks before it runs, and RLE only in isolation.

dicomsdl trusts the DICOM header; a frame that disagrees with it makes it corrupt the heap.
The crash tests run every case in a forked child of a subprocess, so a regression shows as
a failed assertion naming the case, not as a dead test run.
"""

from __future__ import annotations

import csv
import json
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGLosslessSV1, RLELossless

import mammokit
from mammokit.dicom import decode_file
from mammokit.dicom.codestream import check_frame_stream
from mammokit.dicom.decoders._dicomsdl_table import dicomsdl_available
from mammokit.dicom.decoders.imagecodecs import imagecodecs_available
from mammokit.dicom.header import read_checked
from mammokit.dicom.safety import DEFAULT_LIMITS
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.synthetic import SynthConfig, write_dataset
from mammokit.synthetic.encoders.write import write_dicom

needs_dicomsdl = pytest.mark.skipif(not dicomsdl_available(), reason="mammokit[fast] not installed")
PIXELS = np.random.default_rng(5).integers(0, 4095, size=(96, 64), endpoint=True, dtype=np.uint16)


def _decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


def _check(path: Path, frame: int | None = None) -> None:
    check_frame_stream(path, read_checked(path, DEFAULT_LIMITS, frame=frame)[1], frame or 0)


Change = Callable[[bytearray], bytes | bytearray]


def _rewrite_frames(path: Path, out: Path, change: Change, fragments_per_frame: int = 1) -> Path:
    """Copy ``path`` with every frame replaced by ``change(frame bytes)``."""
    ds = pydicom.dcmread(path)
    frames = int(ds.get("NumberOfFrames") or 1)
    new = [
        bytes(change(bytearray(f))) for f in generate_frames(ds.PixelData, number_of_frames=frames)
    ]
    ds.PixelData = encapsulate(new, fragments_per_frame=fragments_per_frame)
    ds.save_as(out)
    return out


def test_valid_streams_pass(tmp_path: Path, corpus_file: Callable[[str], Path]) -> None:
    for ts in (RLELossless, JPEGLosslessSV1):
        _check(write_dicom(tmp_path / f"{ts}.dcm", PIXELS, transfer_syntax=ts, bits_stored=12))
    multi = corpus_file("pydicom-data/emri_small_RLE.dcm")  # 10 frames of 64x64
    for frame in (0, 5, 9):
        _check(multi, frame)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: (3).to_bytes(4, "little") + f[4:], r"declares 3 segment\(s\); 16-bit"),
        (lambda f: f[:4] + (60).to_bytes(4, "little") + f[8:], r"offsets \[60, "),
        (lambda f: f[:8] + (10**6).to_bytes(4, "little") + f[12:], r"not increasing from 64"),
        (lambda f: f[:8] + (64).to_bytes(4, "little") + f[12:], r"not increasing from 64"),
        (lambda f: f[:40], "shorter than its header"),
    ],
)
def test_rle_header_lies_are_refused(tmp_path: Path, change: Change, message: str) -> None:
    good = write_dicom(tmp_path / "a.dcm", PIXELS, transfer_syntax=RLELossless, bits_stored=12)
    bad = _rewrite_frames(good, tmp_path / "b.dcm", change)
    with pytest.raises(mammokit.DicomDecodeError, match=message) as err:
        _check(bad)
    assert str(bad) in str(err.value)


def test_rle_offsets_past_the_end_of_a_truncated_file_are_refused(tmp_path: Path) -> None:
    good = write_dicom(tmp_path / "a.dcm", PIXELS, transfer_syntax=RLELossless, bits_stored=12)
    data = good.read_bytes()
    offsets = struct.unpack_from("<3I", data, data.rindex(b"\xfe\xff\x00\xe0") + 8)
    assert offsets[0] == 2  # two segments; the second starts at offsets[2]
    truncated = tmp_path / "t.dcm"
    truncated.write_bytes(data[: data.rindex(b"\xfe\xff\x00\xe0") + 8 + offsets[2] - 10])
    with pytest.raises(mammokit.DicomDecodeError, match="not increasing from 64"):
        _check(truncated)


def test_frames_split_over_fragments_are_refused(
    tmp_path: Path, corpus_file: Callable[[str], Path]
) -> None:
    multi = corpus_file("pydicom-data/emri_small_RLE.dcm")
    split = _rewrite_frames(multi, tmp_path / "split.dcm", lambda f: f, fragments_per_frame=2)
    with pytest.raises(mammokit.DicomDecodeError, match=r"20 fragment\(s\) for 10 frame"):
        _check(split, 3)


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("Rows", 95, "the JPEG stream is 96x64 but the header says 95x64"),
        ("Columns", 128, "the JPEG stream is 96x64 but the header says 96x128"),
        ("BitsAllocated", 8, "12-bit samples, more than the header's 8 bits allocated"),
    ],
)
def test_jpeg_lossless_header_lies_are_refused(
    tmp_path: Path, attribute: str, value: int, message: str
) -> None:
    path = write_dicom(tmp_path / "a.dcm", PIXELS, transfer_syntax=JPEGLosslessSV1, bits_stored=12)
    ds = pydicom.dcmread(path)
    setattr(ds, attribute, value)
    if attribute == "BitsAllocated":
        ds.BitsStored, ds.HighBit = 8, 7
    ds.save_as(path)
    with pytest.raises(mammokit.DicomDecodeError, match=message):
        _check(path)


def test_a_baseline_jpeg_is_not_lossless(corpus_file: Callable[[str], Path]) -> None:
    path = corpus_file("pylibjpeg-data/JPEGBaseline/JPEGBaseline_1s_1f_u_08_08.dcm")
    meta = read_checked(path, DEFAULT_LIMITS)[1]
    meta = mammokit.ImageMeta(rows=meta.rows, columns=meta.columns, transfer_syntax=JPEGLosslessSV1)
    with pytest.raises(mammokit.DicomDecodeError, match="not lossless Huffman"):
        check_frame_stream(path, meta, 0)


# Every header field dicomsdl sizes its buffers from, told a lie, on each JPEG lossless file;
# each case decoded with decoder="dicomsdl" in a forked child. Prints one JSON line per case.
_LIES = """
import json, os, sys
import numpy as np, pydicom
from mammokit.dicom import decode_file
from mammokit.core.errors import MammokitError
from mammokit.plugins import get_components, get_plugin_manager

decoders = get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")
out = sys.argv[1]
for number, source in enumerate(sys.argv[2:]):
    original = pydicom.dcmread(source)
    lies = [("Rows", v) for v in (1, 7, original.Rows // 2, original.Rows + 1, 65535)]
    lies += [("Columns", v) for v in (1, original.Columns // 2, original.Columns * 2)]
    lies += [("BitsAllocated", 8), ("BitsStored", 1), ("PixelRepresentation", 1)]
    for attribute, value in lies:
        ds = pydicom.dcmread(source)
        setattr(ds, attribute, value)
        path = os.path.join(out, f"{number}-{attribute}-{value}.dcm")
        ds.save_as(path)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                pixels = decode_file(path, decoders=decoders, name="dicomsdl").pixels
                result = "decoded"
            except MammokitError as err:
                result = "refused: " + err.cause
            [bytearray(1000) for _ in range(3000)]  # use the heap after the call
            os.write(write, result.encode())
            os._exit(0)
        os.close(write)
        message = os.read(read, 4096).decode()
        os.close(read)
        status = os.waitpid(pid, 0)[1]
        print(json.dumps({"case": os.path.basename(path), "status": status, "result": message}))
"""


@needs_dicomsdl
def test_jpeg_lossless_header_lies_never_crash_dicomsdl(
    tmp_path: Path, corpus_file: Callable[[str], Path]
) -> None:
    generated = write_dicom(
        tmp_path / "sv1.dcm", PIXELS, transfer_syntax=JPEGLosslessSV1, bits_stored=12
    )
    sources = [
        generated,
        corpus_file("pydicom-data/JPEG-LL.dcm"),
        corpus_file("pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm"),
    ]
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_LIES), str(tmp_path), *map(str, sources)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    cases = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(cases) == 3 * 11
    crashed = [c["case"] for c in cases if c["status"] != 0]
    assert not crashed, crashed
    # Size lies are refused before dicomsdl runs; the rest decode (dicomsdl ignores them).
    for case in cases:
        if "-Rows-" in case["case"] or "-Columns-" in case["case"]:
            assert case["result"].startswith("refused: the JPEG stream is"), case


@needs_dicomsdl
def test_dicomsdl_decodes_any_frame_of_a_multiframe_rle(corpus_file: Callable[[str], Path]) -> None:
    path = corpus_file("pydicom-data/emri_small_RLE.dcm")
    reference = pydicom.dcmread(path).pixel_array
    for frame in (0, 4, 9):
        decoded = decode_file(path, decoders=_decoders(), name="dicomsdl", options={"frame": frame})
        np.testing.assert_array_equal(decoded.pixels, reference[frame])


def _index_decoders(out: Path) -> set[str]:
    with (out / "index.csv").open(newline="") as handle:
        return {row["decoder"] for row in csv.DictReader(handle)}


@pytest.mark.parametrize("syntax", ["rle", "jpeg_lossless"])
def test_the_choice_does_not_depend_on_how_the_run_is_executed(tmp_path: Path, syntax: str) -> None:
    """In-process and worker-process runs choose the same decoder (RLE: pylibjpeg_rle,
    dicomsdl only when named; JPEG lossless: imagecodecs, else dicomsdl, when installed), so
    both write the same bytes, index included; a run naming dicomsdl gives the same pixels."""
    root = write_dataset(
        tmp_path / "synth",
        SynthConfig(patients=1, image_size=(96, 80), transfer_syntaxes=(syntax,), seed=2),
    )
    manager = get_plugin_manager(load_entry_points=False)
    runs = {}
    for name, decoder, workers in [("in", "auto", 0), ("pool", "auto", 1), ("sdl", "dicomsdl", 1)]:
        if decoder == "dicomsdl" and not dicomsdl_available():
            continue
        pipe = mammokit.Pipeline(size=(64, 32), decoder=decoder, manager=manager)
        out = tmp_path / name
        result = pipe.preprocess_dataset(
            root / "train_images", root / "train.csv", out, workers=workers, quiet=True
        )
        assert result.ok and result.succeeded == 4
        runs[name] = out
    fast = "imagecodecs" if imagecodecs_available() else "dicomsdl" if dicomsdl_available() else ""
    auto = "pylibjpeg_rle" if syntax == "rle" else fast or "pydicom"
    assert _index_decoders(runs["in"]) == _index_decoders(runs["pool"]) == {auto}
    assert (runs["in"] / "index.csv").read_bytes() == (runs["pool"] / "index.csv").read_bytes()
    if "sdl" in runs:
        assert _index_decoders(runs["sdl"]) == {"dicomsdl"}
        for png in sorted(runs["in"].glob("*/*.png")):  # the same pixels, whichever decoded
            assert png.read_bytes() == (runs["sdl"] / png.relative_to(runs["in"])).read_bytes()
