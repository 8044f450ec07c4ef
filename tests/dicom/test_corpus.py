"""Every file of the public DICOM corpus: typed errors, pixel identity, the VOI LUT oracle.

For each file in ``MANIFEST.csv`` (through ``corpus_rows()`` of ``tests/conftest.py``):

* decoding either succeeds or raises a MammokitError naming the file;
* what decodes is identical to ``pydicom``'s ``ds.pixel_array`` (values and dtype, in
  native byte order), and every single-frame monochrome file pydicom decodes does decode;
  multi-frame monochrome files are rejected by default and give frame 0 with ``frame=0``;
* ``apply_voi_lut`` equals ``pydicom.pixels.apply_voi_lut`` after the modality LUT (plus
  the inversion for MONOCHROME1) within half a grey level, both normalised to 0..65535.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut
from pydicom.pixels import apply_voi_lut as pydicom_apply_voi_lut

import mammokit
from mammokit.dicom import decode_file
from mammokit.plugins import get_components, get_plugin_manager
from mammokit.preprocess.windowing import apply_voi_lut

_spec = importlib.util.spec_from_file_location(
    "_mammokit_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)

ROWS = _root_conftest.corpus_rows()
MONO_DECODED = [
    r for r in ROWS if r["PhotometricInterpretation"].startswith("MONOCHROME") and r["decoded"]
]


def _id(row: dict[str, str]) -> str:
    return f"{row['source']}/{row['relpath']}"


@pytest.fixture(scope="module")
def decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


@functools.cache
def _reference(path: Path, frame: int | None = None) -> tuple[pydicom.Dataset, np.ndarray]:
    """pydicom's dataset and pixels (native byte order), decoded once per session."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    if frame is not None:
        pixels = pixels[frame]
    return ds, pixels.astype(pixels.dtype.newbyteorder("="))


def _frames(row: dict[str, str]) -> int:
    try:
        return int(row["NumberOfFrames"] or 1)
    except ValueError:
        return 1


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_every_file_decodes_identically_or_raises_a_named_error(
    corpus_dir: Path, decoders: dict[str, mammokit.Component], row: dict[str, str]
) -> None:
    path = corpus_dir / row["source"] / row["relpath"]
    try:
        decoded = decode_file(path, decoders=decoders, name="pydicom")
    except mammokit.MammokitError as err:
        assert str(path) in str(err)
        is_mono = row["PhotometricInterpretation"].startswith("MONOCHROME")
        if is_mono and row["decoded"] and _frames(row) == 1:
            pytest.fail(f"pydicom decodes this single-frame monochrome file but mammokit: {err}")
        return
    _ds, reference = _reference(path)
    assert decoded.pixels.dtype == reference.dtype
    np.testing.assert_array_equal(decoded.pixels, reference)


@pytest.mark.parametrize("row", [r for r in MONO_DECODED if _frames(r) > 1], ids=_id)
def test_multi_frame_needs_a_frame(
    corpus_dir: Path, decoders: dict[str, mammokit.Component], row: dict[str, str]
) -> None:
    path = corpus_dir / row["source"] / row["relpath"]
    with pytest.raises(mammokit.DicomDecodeError, match="multi-frame"):
        decode_file(path, decoders=decoders, name="pydicom")
    decoded = decode_file(path, decoders=decoders, name="pydicom", options={"frame": 0})
    _ds, reference = _reference(path, frame=0)
    assert decoded.pixels.dtype == reference.dtype
    np.testing.assert_array_equal(decoded.pixels, reference)


def _oracle(ds: pydicom.Dataset, pixels: np.ndarray, prefer_lut: bool) -> np.ndarray:
    """pydicom's modality + VOI LUT output normalised to [0, 1], MONOCHROME1 inverted.

    Empty LUT items (no descriptor or data) and empty rescale tags, which mammokit treats
    as absent, are removed first: pydicom's ``apply_modality_lut`` fails on them.
    """
    if any(kw in ds and ds[kw].value in (None, "") for kw in ("RescaleSlope", "RescaleIntercept")):
        for keyword in ("RescaleSlope", "RescaleIntercept"):
            if keyword in ds:
                del ds[keyword]
    for keyword in ("ModalityLUTSequence", "VOILUTSequence"):
        items = ds.get(keyword)
        if items and any(item.get("LUTDescriptor") is None for item in items):
            del ds[keyword]
    modality = apply_modality_lut(pixels, ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pydicom_apply_voi_lut(modality, ds, index=0, prefer_lut=prefer_lut)
    has_lut = bool(ds.get("VOILUTSequence"))
    has_window = "WindowCenter" in ds and "WindowWidth" in ds
    if has_lut and (prefer_lut or not has_window):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        norm = out / float((1 << bits) - 1)
    else:
        if ds.get("ModalityLUTSequence"):
            low, high = 0.0, float((1 << int(ds.ModalityLUTSequence[0].LUTDescriptor[2])) - 1)
        else:
            bits = int(ds.BitsStored)
            low, high = (
                (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
                if int(ds.PixelRepresentation) == 1
                else (0, (1 << bits) - 1)
            )
            if "RescaleSlope" in ds and "RescaleIntercept" in ds:
                slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
                low, high = low * slope + intercept, high * slope + intercept
        norm = np.clip((np.asarray(out, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    if str(ds.PhotometricInterpretation).strip() == "MONOCHROME1":
        norm = 1.0 - norm
    return norm * 65535.0


#: (row, use_sequence): every decoded monochrome file by its window, and by its VOI LUT
#: Sequence where it has one.
VOI_CASES = [
    pytest.param(row, use_sequence, id=f"{_id(row)}-{'sequence' if use_sequence else 'window'}")
    for use_sequence in (False, True)
    for row in MONO_DECODED
    if row["VOILUTSequence"] or not use_sequence
]


@pytest.mark.parametrize(("row", "use_sequence"), VOI_CASES)
def test_voi_lut_matches_the_pydicom_oracle(
    corpus_dir: Path,
    decoders: dict[str, mammokit.Component],
    row: dict[str, str],
    use_sequence: bool,
) -> None:
    path = corpus_dir / row["source"] / row["relpath"]
    frame = 0 if _frames(row) > 1 else None
    options: dict[str, Any] = {} if frame is None else {"frame": frame}
    decoded = decode_file(path, decoders=decoders, name="pydicom", options=options)
    ds, reference = _reference(path, frame)
    try:
        expected = _oracle(copy.deepcopy(ds), reference, prefer_lut=use_sequence)
    except (ValueError, NotImplementedError) as err:
        # pydicom refuses this window (e.g. width < 1): mammokit must refuse it by name.
        with pytest.raises(mammokit.DicomDecodeError, match=str(path.name)):
            apply_voi_lut(decoded, use_sequence=use_sequence, padding=False, default_window="full")
        pytest.xfail(f"pydicom refuses the window too: {err}")
    windowed = apply_voi_lut(
        decoded, use_sequence=use_sequence, padding=False, default_window="full"
    )
    assert windowed.pixels.dtype == np.uint16 and windowed.max_value == 65535
    difference = np.abs(windowed.pixels.astype(np.float64) - expected)
    assert difference.max() <= 0.5 + 1e-6, f"max difference {difference.max()}"
