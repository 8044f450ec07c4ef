"""decode_file / read_meta on generated DICOM and image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import JPEG2000Lossless, RLELossless

import mammokit
from mammokit.dicom import decode_file, read_meta
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.synthetic.encoders.write import write_dicom

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


def _decode(
    path: Path, decoders: dict[str, mammokit.Component], **kwargs: object
) -> mammokit.DecodedImage:
    return decode_file(path, decoders=decoders, **kwargs)  # type: ignore[arg-type]


def _image(shape: tuple[int, int] = (64, 48), bits: int = 12) -> np.ndarray:
    return RNG.integers(0, 1 << bits, size=shape, dtype=np.uint16)


@pytest.mark.parametrize(
    "ts", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", RLELossless, JPEG2000Lossless]
)
def test_pydicom_decoder_returns_the_stored_values(tmp_path: Path, decoders: dict, ts: str) -> None:
    pixels = _image()
    path = write_dicom(
        tmp_path / "a.dcm",
        pixels,
        transfer_syntax=ts,
        bits_stored=12,
        PatientID="p1",
        ImageLaterality="R",
        ViewPosition="MLO",
    )
    decoded = _decode(path, decoders, name="pydicom")
    assert decoded.decoder == "pydicom"
    assert decoded.scale == 1
    assert decoded.pixels.dtype == np.uint16
    np.testing.assert_array_equal(decoded.pixels, pixels)
    meta = decoded.meta
    assert (meta.rows, meta.columns, meta.bits_stored) == (64, 48, 12)
    assert (meta.patient_id, meta.image_id, meta.laterality, meta.view) == ("p1", "a", "R", "MLO")
    assert meta.transfer_syntax == ts
    assert meta.is_dicom


def test_signed_values_keep_their_dtype(tmp_path: Path, decoders: dict) -> None:
    # Big endian files are covered by the corpus (MR_small_bigendian.dcm).
    pixels = RNG.integers(-2000, 2000, size=(32, 40), dtype=np.int16)
    path = write_dicom(tmp_path / "s.dcm", pixels, bits_stored=16)
    decoded = _decode(path, decoders, name="pydicom")
    assert decoded.pixels.dtype == np.dtype("int16")
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_read_meta_reads_windows_lut_function_and_padding(tmp_path: Path) -> None:
    path = write_dicom(
        tmp_path / "m.dcm",
        _image(),
        bits_stored=12,
        photometric="MONOCHROME1",
        WindowCenter=[2000, 1500],
        WindowWidth=[3000, 1000],
        VOILUTFunction="SIGMOID",
        PixelPaddingValue=4095,
        RescaleSlope=1,
        RescaleIntercept=-10,
    )
    meta = read_meta(path)
    assert meta.photometric == "MONOCHROME1"
    assert meta.window_centers == (2000.0, 1500.0)
    assert meta.window_widths == (3000.0, 1000.0)
    assert meta.voi_lut_function == "SIGMOID"
    assert meta.pixel_padding_value == 4095
    assert meta.rescale_intercept == -10.0


def test_multi_frame_rejected_unless_a_frame_is_chosen(tmp_path: Path, decoders: dict) -> None:
    frames = np.stack([_image(), _image()])
    path = write_dicom(tmp_path / "mf.dcm", frames, bits_stored=12)
    with pytest.raises(mammokit.DicomDecodeError, match="multi-frame image .2 frames"):
        _decode(path, decoders)
    decoded = _decode(path, decoders, options={"frame": 1})
    np.testing.assert_array_equal(decoded.pixels, frames[1])
    with pytest.raises(mammokit.DicomDecodeError, match="frame 2 requested but the file has 2"):
        _decode(path, decoders, options={"frame": 2})


def test_colour_is_rejected_by_name(tmp_path: Path, decoders: dict) -> None:
    path = write_dicom(tmp_path / "c.dcm", _image())
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "RGB"
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.save_as(path)
    with pytest.raises(mammokit.DicomDecodeError, match=r"c\.dcm: photometric interpretation RGB"):
        _decode(path, decoders)


def test_header_over_the_pixel_limit_fails_before_decoding(tmp_path: Path, decoders: dict) -> None:
    path = write_dicom(tmp_path / "big.dcm", _image())
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = 60000, 60000  # a lying header: the data is 64x48
    ds.save_as(path)
    with pytest.raises(mammokit.ResourceLimitError, match="3,600,000,000 pixels"):
        _decode(path, decoders)
    with pytest.raises(mammokit.ResourceLimitError, match="max_bytes=1,000"):
        _decode(tmp_path / "big.dcm", decoders, max_pixels=10**10, max_bytes=1000)


def test_lying_header_and_truncated_data_are_decode_errors(tmp_path: Path, decoders: dict) -> None:
    path = write_dicom(tmp_path / "lie.dcm", _image())
    ds = pydicom.dcmread(path)
    ds.Rows = 128  # twice the rows the data holds
    ds.save_as(path)
    with pytest.raises(mammokit.DicomDecodeError, match=r"lie\.dcm: cannot decode pixel data"):
        _decode(path, decoders)
    data = write_dicom(tmp_path / "cut.dcm", _image(), transfer_syntax=RLELossless).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 500])
    with pytest.raises(mammokit.DicomDecodeError, match=r"cut\.dcm"):
        _decode(tmp_path / "cut.dcm", decoders)


def test_missing_tag_and_missing_file(tmp_path: Path, decoders: dict) -> None:
    path = write_dicom(tmp_path / "nobits.dcm", _image())
    ds = pydicom.dcmread(path)
    del ds.BitsStored
    ds.save_as(path)
    with pytest.raises(mammokit.DicomDecodeError, match="missing required tag.*BitsStored"):
        _decode(path, decoders)
    with pytest.raises(mammokit.ImageReadError, match="no such file"):
        _decode(tmp_path / "absent.dcm", decoders)
    (tmp_path / "junk.dcm").write_bytes(b"hello" * 100)
    with pytest.raises(mammokit.DicomDecodeError, match="not a DICOM file"):
        _decode(tmp_path / "junk.dcm", decoders)


def test_named_decoder_must_exist(tmp_path: Path, decoders: dict) -> None:
    path = write_dicom(tmp_path / "a.dcm", _image())
    with pytest.raises(mammokit.ConfigError, match="Unknown decoder 'nope'; choose one of"):
        _decode(path, decoders, name="nope")
    with pytest.raises(mammokit.ConfigError, match="invalid options for decoder 'pydicom'"):
        _decode(path, decoders, name="pydicom", options={"colour": True})


@pytest.mark.parametrize(
    ("dtype", "suffix"),
    [
        (np.uint8, ".png"),
        (np.uint16, ".png"),
        (np.uint8, ".pgm"),
        (np.uint16, ".tif"),
        (np.uint8, ".jpg"),
    ],
)
def test_ordinary_images(tmp_path: Path, decoders: dict, dtype: type, suffix: str) -> None:
    values = (np.arange(40 * 30).reshape(40, 30) * (7 if dtype == np.uint16 else 1)) % (
        np.iinfo(dtype).max + 1
    )
    pixels = values.astype(dtype)
    path = tmp_path / f"img{suffix}"
    Image.fromarray(pixels).save(path)
    decoded = _decode(path, decoders, name="pydicom")  # images ignore the decoder name
    assert decoded.decoder == "pillow"
    assert decoded.pixels.dtype == dtype
    assert not decoded.meta.is_dicom
    assert (decoded.meta.rows, decoded.meta.columns) == (40, 30)
    if suffix != ".jpg":
        np.testing.assert_array_equal(decoded.pixels, pixels)
    windowed = mammokit.apply_voi_lut(decoded)
    assert windowed.max_value == np.iinfo(dtype).max
    assert windowed.pixels is decoded.pixels


def test_grey_rgb_accepted_colour_rejected(tmp_path: Path, decoders: dict) -> None:
    grey = RNG.integers(0, 256, size=(20, 10), dtype=np.uint8)
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(_decode(tmp_path / "g.png", decoders).pixels, grey)
    colour = np.dstack([grey, grey, 255 - grey])
    Image.fromarray(colour).save(tmp_path / "c.png")
    with pytest.raises(mammokit.ImageReadError, match=r"c\.png: colour image"):
        _decode(tmp_path / "c.png", decoders)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(mammokit.ImageReadError, match=r"broken\.png"):
        _decode(tmp_path / "broken.png", decoders)


def test_image_over_the_pixel_limit(tmp_path: Path, decoders: dict) -> None:
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(mammokit.ResourceLimitError, match="max_pixels=5,000"):
        _decode(tmp_path / "a.png", decoders, max_pixels=5000)


def test_configured_decode_builds_each_decoder_once(tmp_path: Path, decoders: dict) -> None:
    from mammokit.dicom.decode import ConfiguredDecode
    from mammokit.dicom.decoders.pydicom import PydicomDecoder

    built: list[PydicomDecoder] = []

    def factory(**options: object) -> PydicomDecoder:
        built.append(PydicomDecoder(**options))  # type: ignore[arg-type]
        return built[-1]

    counting = mammokit.DecoderComponent(
        name="counting", description="pydicom, counting its builds", factory=factory
    )
    decode = ConfiguredDecode({**decoders, "counting": counting}, name="counting")
    assert len(built) == 1  # built with the configuration, before any file
    paths = [write_dicom(tmp_path / f"{i}.dcm", _image()) for i in range(3)]
    for path in paths:
        got = decode(path)
        want = _decode(path, decoders, name="pydicom")
        assert got.decoder == "counting"
        np.testing.assert_array_equal(got.pixels, want.pixels)
    assert len(built) == 1  # and kept for every file


def test_configured_decode_fails_per_file_like_decode_file(tmp_path: Path, decoders: dict) -> None:
    """A decoder that cannot be built fails on each file with decode_file's error, not
    when the configuration is made; invalid limits likewise."""
    from mammokit.dicom.decode import ConfiguredDecode

    path = write_dicom(tmp_path / "a.dcm", _image())
    bad_options = ConfiguredDecode(decoders, name="pydicom", options={"colour": True})
    for _ in range(2):
        with pytest.raises(mammokit.ConfigError, match="invalid options for decoder 'pydicom'"):
            bad_options(path)
    bad_limits = ConfiguredDecode(decoders, max_pixels=0)
    for _ in range(2):
        with pytest.raises(mammokit.ImageReadError, match="invalid limits"):
            bad_limits(path)
