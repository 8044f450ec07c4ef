"""Resource limits: checked from the header before any pixel buffer is allocated.

A file that *claims* a huge image (60000x60000, a million frames, 32-bit samples, a
deflated body of zeros, a huge element length, a huge PNG) must fail with a
ResourceLimitError at once, with a tiny memory peak: the proof that nothing was decoded is
the traced peak (numpy and Python allocations) and the growth of the process's peak RSS
(native allocations too), plus a decoder plugin that records whether it was ever asked.
The limits are ``PreprocessConfig.max_pixels`` / ``max_bytes`` (100 Mpixel, 1 GiB by
default), configurable per pipeline and saved with the config.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fuzz_guard import memory_tracking
from fuzz_mutators import lie
from PIL import Image
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    RLELossless,
)

from mammokit import (
    DecoderComponent,
    Pipeline,
    PreprocessConfig,
    ResourceLimitError,
    get_plugin_manager,
    hookimpl,
)
from mammokit.core.config import config_from_dict, config_to_dict
from mammokit.dicom import read_meta
from mammokit.dicom.safety import BoundedFile, Limits
from mammokit.synthetic.encoders.write import dataset_for, write_dicom

SIZE = (64, 32)
#: What "no big allocation" means here: a few MiB traced, a few tens of MiB of RSS.
TRACED_BUDGET = 4 << 20
RSS_BUDGET = 48 << 20
#: Generous wall-clock bound: failing "quickly" means no decode, not a speed target.
QUICK = 5.0

SYNTAXES = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000": JPEG2000Lossless,
    "jpeg-lossless": JPEGLosslessSV1,
}


def _image(height: int = 96, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((y * 37 + x * 11) % 4096).astype(np.uint16)


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real 96x64 16-bit image in each transfer syntax (each preprocessed once here, so
    that lazy imports do not count in the measured calls)."""
    folder = tmp_path_factory.mktemp("limits")
    files = {
        name: write_dicom(folder / f"{name}.dcm", _image(), transfer_syntax=uid, bits_stored=12)
        for name, uid in SYNTAXES.items()
    }
    pipe = Pipeline(size=SIZE)
    thin = write_dicom(folder / "thin.dcm", _image(512, 16) + 100, bits_stored=12)
    for path in [*files.values(), thin]:  # the thin one takes the ROI fallbacks
        pipe.preprocess(path)
    return files


def _lying(honest: Path, tmp_path: Path, **values: Any) -> Path:
    data = honest.read_bytes()
    for keyword, value in values.items():
        mutated = lie(data, keyword, value)
        assert mutated is not None
        data = mutated
    path = tmp_path / f"lying-{honest.name}"
    path.write_bytes(data)
    return path


def _assert_rejected_cheaply(
    call: Any, match: str, traced_budget: int = TRACED_BUDGET
) -> ResourceLimitError:
    start = time.perf_counter()
    with memory_tracking() as memory, pytest.raises(ResourceLimitError, match=match) as info:
        call()
    assert time.perf_counter() - start < QUICK
    assert memory["traced_peak"] < traced_budget, memory
    assert memory["rss_growth"] < RSS_BUDGET, memory
    return info.value


@pytest.mark.parametrize("syntax", sorted(SYNTAXES))
@pytest.mark.parametrize("entry", ["preprocess", "decode", "read_meta"])
def test_60000x60000_claim_fails_fast_with_tiny_memory(
    syntax: str, entry: str, honest: dict[str, Path], tmp_path: Path
) -> None:
    path = _lying(honest[syntax], tmp_path, Rows=60000, Columns=60000)
    pipe = Pipeline(size=SIZE)
    calls = {
        "preprocess": lambda: pipe.preprocess(path),
        "decode": lambda: pipe.decode(path),
        "read_meta": lambda: read_meta(path),
    }
    error = _assert_rejected_cheaply(calls[entry], "3,600,000,000 pixels")
    assert error.path == str(path)
    assert "max_pixels=100,000,000" in error.cause


class _SpyDecoder:
    """A decoder plugin that records every file it is asked to decode."""

    def __init__(self) -> None:
        self.asked: list[Path] = []

    @hookimpl
    def mammokit_decoders(self) -> list[DecoderComponent]:
        def factory(**options: Any) -> Any:
            spy = self

            class Decoder:
                def decode(self, path: Path, **kwargs: Any) -> Any:
                    spy.asked.append(path)
                    raise AssertionError("the limits should have stopped this file")

            return Decoder()

        return [DecoderComponent(name="spy", description="records calls", factory=factory)]


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"Rows": 60000, "Columns": 60000}, "more than the limit max_pixels"),
        ({"NumberOfFrames": "100000"}, "100000 frame"),
        ({"SamplesPerPixel": 3, "Rows": 10000, "Columns": 10000}, "3 sample"),
    ],
)
def test_no_decoder_is_asked_for_a_file_over_the_limits(
    values: dict[str, Any], match: str, honest: dict[str, Path], tmp_path: Path
) -> None:
    spy = _SpyDecoder()
    manager = get_plugin_manager(plugins=[spy], load_entry_points=False)
    pipe = Pipeline(size=SIZE, decoder="spy", manager=manager)
    path = _lying(honest["explicit"], tmp_path, **values)
    _assert_rejected_cheaply(lambda: pipe.preprocess(path), match)
    assert spy.asked == []


def test_32_bit_samples_count_four_bytes(honest: dict[str, Path], tmp_path: Path) -> None:
    # 8000x8000 = 64 Mpixel passes max_pixels; at 4 bytes each it is 256 MB.
    path = _lying(honest["explicit"], tmp_path, Rows=8000, Columns=8000, BitsAllocated=32)
    pipe = Pipeline(size=SIZE, max_bytes=200_000_000)
    error = _assert_rejected_cheaply(lambda: pipe.preprocess(path), "256,000,000 bytes")
    assert "max_bytes=200,000,000" in error.cause


@pytest.mark.parametrize("syntax", sorted(SYNTAXES))
def test_limits_are_configurable_to_the_pixel_and_byte(
    syntax: str, honest: dict[str, Path]
) -> None:
    path = honest[syntax]
    pixels, nbytes = 96 * 64, 96 * 64 * 2  # 16 bits allocated
    # max_bytes also bounds the file size: an uncompressed file is a little larger.
    enough = max(nbytes, path.stat().st_size)
    assert Pipeline(size=SIZE, max_pixels=pixels, max_bytes=enough).preprocess(path).pixels.shape
    with pytest.raises(ResourceLimitError, match=f"max_pixels={pixels - 1:,}"):
        Pipeline(size=SIZE, max_pixels=pixels - 1).preprocess(path)
    with pytest.raises(ResourceLimitError, match=f"max_bytes={nbytes - 1:,}") as info:
        Pipeline(size=SIZE, max_bytes=nbytes - 1).preprocess(path)
    if path.stat().st_size < nbytes:  # compressed: the decoded size is what is too big
        assert f"would take {nbytes:,} bytes" in info.value.cause


def test_limits_travel_with_the_config(honest: dict[str, Path]) -> None:
    config = PreprocessConfig(size=SIZE, max_pixels=1000, max_bytes=50_000)
    again = config_from_dict(PreprocessConfig, config_to_dict(config))
    assert (again.max_pixels, again.max_bytes) == (1000, 50_000)
    with pytest.raises(ResourceLimitError, match="max_pixels=1,000"):
        Pipeline(again).preprocess(honest["rle"])


def test_defaults_fit_every_real_mammogram_size() -> None:
    config = PreprocessConfig()
    # The largest RSNA images are 5355x4915 (GE) stored in 16 bits.
    assert config.max_pixels >= 5355 * 4915
    assert config.max_bytes >= 5355 * 4915 * 2


def test_file_larger_than_max_bytes_is_not_parsed(honest: dict[str, Path]) -> None:
    path = honest["explicit"]
    size = path.stat().st_size
    pipe = Pipeline(size=SIZE, max_bytes=size - 1, max_pixels=1 << 30)
    with pytest.raises(ResourceLimitError, match=f"file is {size:,} bytes"):
        pipe.preprocess(path)


def test_deflate_bomb_is_stopped_before_inflating(tmp_path: Path, honest: dict[str, Path]) -> None:
    ds = dataset_for(np.zeros((64, 48), np.uint16))
    ds.add_new(0x00091010, "LO", "mammokit limits test")
    ds.add_new(0x00091001, "OB", bytes(48 << 20))  # 48 MiB of zeros: about 50 kB deflated
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    path = tmp_path / "bomb.dcm"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 200_000
    pipe = Pipeline(size=SIZE, max_bytes=16 << 20)
    _assert_rejected_cheaply(lambda: pipe.preprocess(path), "inflates to more than")


def test_a_lying_element_length_does_not_allocate_it(
    honest: dict[str, Path], tmp_path: Path
) -> None:
    data = bytearray(honest["implicit"].read_bytes())
    modality = data.find(b"\x08\x00\x60\x00")  # (0008,0060), implicit VR: 4-byte length
    struct.pack_into("<I", data, modality + 4, 0x7FFFFFF0)
    path = tmp_path / "lying-length.dcm"
    path.write_bytes(bytes(data))
    with memory_tracking() as memory, pytest.raises(Exception, match="missing required tag"):
        Pipeline(size=SIZE).preprocess(path)
    assert memory["traced_peak"] < TRACED_BUDGET


def test_bounded_file_reads_no_more_than_is_left(tmp_path: Path) -> None:
    path = tmp_path / "ten.bin"
    path.write_bytes(bytes(range(10)) * 1000)
    with memory_tracking() as memory, BoundedFile(path) as handle:
        handle.seek(9990)
        assert handle.read(0x7FFFFFF0) == bytes(range(10))
        assert handle.read(1 << 30) == b""
        handle.seek(0)
        assert handle.read(5) == bytes(range(5))
    assert memory["traced_peak"] < 1 << 20


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.find(b"IHDR")
    struct.pack_into(">II", data, ihdr + 4, width, height)
    struct.pack_into(">I", data, ihdr + 17, zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


def test_ordinary_image_claiming_60000x60000_fails_fast(
    tmp_path: Path, honest: dict[str, Path]
) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png(60000, 60000))
    _assert_rejected_cheaply(lambda: Pipeline(size=SIZE).preprocess(path), "image too large|pixels")


def test_thin_image_is_not_padded_past_max_pixels(tmp_path: Path, honest: dict[str, Path]) -> None:
    # An honest 4096x16 image: 65 kpixel decoded, but 4096x2048 padded to aspect 2 (16 MiB
    # as uint16, 32 MiB as int32 in the resize); decoding, windowing and the ROI use less.
    path = write_dicom(tmp_path / "thin.dcm", _image(4096, 16) + 100, bits_stored=12)
    pipe = Pipeline(size=SIZE, max_pixels=1_000_000)
    error = _assert_rejected_cheaply(lambda: pipe.preprocess(path), "padded to aspect 2", 16 << 20)
    assert "4096x2048 = 8,388,608 pixels, more than the 2,000,000 allowed" in error.cause
    # Up to 16 Mpixel of padding is always allowed within the limits.
    assert Pipeline(size=SIZE, max_pixels=4_200_000).preprocess(path).pixels.shape == SIZE


def test_a_needle_is_not_padded_whatever_the_limits(
    tmp_path: Path, honest: dict[str, Path]
) -> None:
    # 20000x4 (80 kpixel) would pad to 20000x10000 = 200 Mpixel at aspect 2: more than 16
    # times the crop and more than 16 Mpixel, so it fails even under the default limits.
    path = write_dicom(tmp_path / "needle.dcm", _image(20000, 4) + 100, bits_stored=12)
    error = _assert_rejected_cheaply(
        lambda: Pipeline(size=SIZE).preprocess(path), "padded to aspect 2", 16 << 20
    )
    assert "more than the 16,777,216 allowed" in error.cause


def test_a_square_crop_at_the_limit_may_be_padded(honest: dict[str, Path]) -> None:
    # The 96x64 image at max_pixels = its size: its crop padded to aspect 2 is larger.
    pipe = Pipeline(size=SIZE, max_pixels=96 * 64)
    assert pipe.preprocess(honest["explicit"]).pixels.shape == SIZE


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_pixels must be positive"):
        Limits(max_pixels=0)
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        Limits(max_bytes=-1)
