"""The j2k_reduced decoder: exact at full resolution, a faithful thumbnail when reduced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000, JPEG2000Lossless, RLELossless

import mammokit
from mammokit.dicom import decode_file
from mammokit.dicom.codestream import parse_codestream
from mammokit.dicom.decoders.j2k_reduced import J2K_TRANSFER_SYNTAXES, J2kReducedDecoder
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.synthetic.encoders.write import write_dicom

SHAPE = (203, 137)  # odd sizes: the reduced size is the ceiling


def _phantom(signed: bool = False) -> np.ndarray:
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]].astype(np.float64)
    blob = 1500 * np.exp(-((y - 90) ** 2 + (x - 60) ** 2) / (2 * 25.0**2))
    image = 800 + 4 * y + 3 * x + blob
    if signed:
        return (image - 1800).astype(np.int16)
    return image.astype(np.uint16)


def _block_mean(full: np.ndarray, scale: int, shape: tuple[int, int]) -> np.ndarray:
    """The mean of the ``scale`` x ``scale`` block around each full-resolution pixel
    (i * scale, j * scale): where reduced pixel (i, j) sits (the wavelet's LL band)."""
    from scipy.ndimage import uniform_filter

    smooth = uniform_filter(full.astype(np.float64), size=scale, mode="nearest")
    return smooth[::scale, ::scale][: shape[0], : shape[1]]


@pytest.fixture(scope="module")
def decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


def test_parse_codestream_reads_siz_and_cod(tmp_path: Path) -> None:
    path = write_dicom(
        tmp_path / "a.dcm", _phantom(), transfer_syntax=JPEG2000Lossless, bits_stored=12
    )
    ds = pydicom.dcmread(path)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    stream = parse_codestream(frame)
    assert (stream.height, stream.width) == SHAPE
    assert (stream.precision, stream.signed, stream.components) == (12, False, 1)
    assert stream.levels >= 3
    assert stream.reduced_size(2) == (51, 35)
    with pytest.raises(ValueError, match="no JPEG 2000 codestream"):
        parse_codestream(b"\x00" * 64)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("ts", [JPEG2000Lossless, JPEG2000])
def test_full_resolution_equals_pydicom(tmp_path: Path, signed: bool, ts: str) -> None:
    pixels = _phantom(signed)
    options = {} if ts == JPEG2000Lossless else {"j2k_psnr": [60]}
    path = write_dicom(
        tmp_path / "a.dcm", pixels, transfer_syntax=ts, bits_stored=12, encoding_options=options
    )
    decoded = J2kReducedDecoder().decode(path)
    reference = pydicom.dcmread(path).pixel_array
    assert decoded.scale == 1 and decoded.decoder == "j2k_reduced"
    assert decoded.pixels.dtype == reference.dtype
    np.testing.assert_array_equal(decoded.pixels, reference)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize(
    ("min_shape", "scale"), [((101, 68), 2), ((50, 34), 4), ((25, 17), 8), ((1, 1), 8)]
)
def test_reduced_levels_are_close_to_block_means(
    tmp_path: Path, signed: bool, min_shape: tuple[int, int], scale: int
) -> None:
    pixels = _phantom(signed)
    path = write_dicom(tmp_path / "a.dcm", pixels, transfer_syntax=JPEG2000Lossless, bits_stored=12)
    decoded = J2kReducedDecoder().decode(path, min_shape=min_shape)
    rows, cols = -(-SHAPE[0] // scale), -(-SHAPE[1] // scale)
    assert decoded.scale == scale
    assert decoded.pixels.shape == (rows, cols)
    assert decoded.pixels.shape[0] >= min_shape[0] and decoded.pixels.shape[1] >= min_shape[1]
    assert decoded.pixels.dtype == pixels.dtype
    expected = _block_mean(pixels, scale, (rows, cols))
    value_range = float(pixels.max()) - float(pixels.min())
    difference = np.abs(decoded.pixels - expected)
    assert difference.mean() < 0.01 * value_range
    assert difference.max() < 0.05 * value_range


def test_max_reduction_and_min_shape_bounds(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", _phantom(), transfer_syntax=JPEG2000Lossless)
    assert J2kReducedDecoder(max_reduction=1).decode(path, min_shape=(1, 1)).scale == 2
    assert J2kReducedDecoder().decode(path, min_shape=(102, 10)).scale == 1  # 203 >> 1 = 101
    with pytest.raises(TypeError, match="max_reduction"):
        J2kReducedDecoder(max_reduction=4)


def test_named_j2k_reduced_refuses_other_transfer_syntaxes(tmp_path: Path, decoders: dict) -> None:
    path = write_dicom(tmp_path / "rle.dcm", _phantom(), transfer_syntax=RLELossless)
    with pytest.raises(mammokit.DicomDecodeError, match="does not handle transfer syntax"):
        decode_file(path, decoders=decoders, name="j2k_reduced")


def test_truncated_codestream_is_a_named_error(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", _phantom(), transfer_syntax=JPEG2000Lossless)
    ds = pydicom.dcmread(path)
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = pydicom.encaps.encapsulate([frame[: len(frame) // 2]])
    ds.save_as(path)
    with pytest.raises(mammokit.DicomDecodeError, match=r"a\.dcm: cannot decode the JPEG 2000"):
        J2kReducedDecoder().decode(path)


def test_corpus_j2k_files_match_pydicom_and_their_thumbnails(
    corpus_dir: Path, corpus_manifest: list[dict[str, str]], full_corpus: bool
) -> None:
    rows = [
        row
        for row in corpus_manifest
        if row["ts"] in J2K_TRANSFER_SYNTAXES
        and row["PhotometricInterpretation"].startswith("MONOCHROME")
        and row["decoded"]
    ]
    assert len(rows) >= (15 if full_corpus else 7)
    exact = 0
    for row in rows:
        path = corpus_dir / row["source"] / row["relpath"]
        multi = row["NumberOfFrames"] not in ("", "1")
        decoder = J2kReducedDecoder(frame=0 if multi else None)
        reference = pydicom.dcmread(path).pixel_array
        reference = reference[0] if multi else reference
        try:
            full = decoder.decode(path)
        except mammokit.DicomDecodeError as err:  # Pillow refuses a stream pydicom reads
            assert str(path) in str(err)
            continue
        assert full.pixels.dtype == reference.dtype, path
        np.testing.assert_array_equal(full.pixels, reference, err_msg=str(path))
        exact += 1
        value_range = float(reference.max()) - float(reference.min()) or 1.0
        for divisor in (2, 8):  # every level is checked exactly on the phantoms above
            min_shape = (reference.shape[0] // divisor, reference.shape[1] // divisor)
            reduced = decoder.decode(path, min_shape=min_shape)
            assert reduced.pixels.shape[0] >= min_shape[0], path
            assert reduced.pixels.shape[1] >= min_shape[1], path
            if reduced.scale == 1 or min(reduced.pixels.shape) < 64:
                continue  # sign-mismatched streams decode at full size; tiny ones are noisy
            expected = _block_mean(reference, reduced.scale, reduced.pixels.shape)
            difference = np.abs(reduced.pixels - expected)
            assert difference.mean() < 0.05 * value_range, (path, reduced.scale)
    assert exact >= len(rows) - 1
