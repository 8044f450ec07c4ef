"""Presentation intent and the Presentation LUT Shape (issue 26), on generated files whose
expected outputs follow from the DICOM rules: INVERSE inverts the display once (a
conformant MONOCHROME1 file carries it too), and a FOR PROCESSING image (raw detector
values) is refused unless the user asks to window it as a FOR PRESENTATION one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

import mammokit
from mammokit.app.cli import main
from mammokit.core.errors import ImageReadError
from mammokit.data import read_index
from mammokit.synthetic import Encoding, make_phantom, write_dicom


def _variant(folder: Path, name: str, photometric: str, **tags: str) -> Path:
    """One phantom stored as ``photometric`` with the given header ``tags``."""
    phantom = make_phantom((300, 240), view="CC", seed=5)
    path = write_dicom(
        folder / "p1" / f"{name}.dcm", phantom,
        Encoding(photometric=photometric, transfer_syntax="explicit"),
        patient_id="p1", laterality="L", view="CC",
    )  # fmt: skip
    if tags:
        ds = pydicom.dcmread(path)
        for keyword, value in tags.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("presentation")
    return {
        "m2": _variant(root, "m2", "MONOCHROME2"),
        "m2_identity": _variant(
            root, "m2_identity", "MONOCHROME2", PresentationLUTShape="IDENTITY"
        ),
        "m2_inverse": _variant(root, "m2_inverse", "MONOCHROME2", PresentationLUTShape="INVERSE"),
        "m1": _variant(root, "m1", "MONOCHROME1"),
        "m1_inverse": _variant(root, "m1_inverse", "MONOCHROME1", PresentationLUTShape="INVERSE"),
        "m2_processing": _variant(
            root, "m2_processing", "MONOCHROME2", PresentationIntentType="FOR PROCESSING"
        ),
        "m2_presentation": _variant(
            root, "m2_presentation", "MONOCHROME2", PresentationIntentType="FOR PRESENTATION"
        ),
    }


def _window(path: Path) -> np.ndarray:
    """The window stage's display values, as a fraction of their maximum."""
    pipe = mammokit.Pipeline()
    windowed = pipe.window(pipe.decode(path))
    return np.asarray(windowed.pixels, dtype=np.float64) / windowed.max_value


def test_inverse_inverts_a_monochrome2_display(files: dict[str, Path]) -> None:
    plain = _window(files["m2"])
    np.testing.assert_array_equal(_window(files["m2_identity"]), plain)
    np.testing.assert_allclose(_window(files["m2_inverse"]), 1.0 - plain, atol=1e-12)


def test_a_monochrome1_file_is_inverted_once_with_or_without_inverse(
    files: dict[str, Path],
) -> None:
    np.testing.assert_array_equal(_window(files["m1_inverse"]), _window(files["m1"]))
    assert _window(files["m1"]).mean() < 0.5  # the background dark, as for MONOCHROME2


def test_the_header_fields_are_read(files: dict[str, Path]) -> None:
    meta = mammokit.Pipeline().decode(files["m2_inverse"]).meta
    assert (meta.presentation_intent, meta.presentation_lut_shape) == (
        "FOR PRESENTATION",
        "INVERSE",
    )  # the synthetic files say FOR PRESENTATION
    meta = mammokit.Pipeline().decode(files["m2_processing"]).meta
    assert meta.presentation_intent == "FOR PROCESSING" and meta.inverted is False


def test_for_processing_is_refused_unless_asked_to_window_it(files: dict[str, Path]) -> None:
    with pytest.raises(ImageReadError, match="FOR PROCESSING.*for_processing") as info:
        mammokit.Pipeline(size=(64, 32)).preprocess(files["m2_processing"])
    assert str(files["m2_processing"]) in str(info.value)
    windowed = mammokit.Pipeline(size=(64, 32), for_processing="window")
    presented = windowed.preprocess(files["m2_presentation"]).pixels
    np.testing.assert_array_equal(windowed.preprocess(files["m2_processing"]).pixels, presented)


def test_the_index_records_intent_and_shape_and_the_run_counts_raw_images(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = files["m2"].parents[1]
    rows = [{"patient_id": "p1", "image_id": name, "laterality": "L", "view": "CC"}
            for name in files]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "table.csv", index=False)
    table = tmp_path / "table.csv"
    args = ["preprocess", "--images", str(images), "--csv", str(table), "--out",
            str(tmp_path / "out"), "--size", "64x32", "--workers", "0", "--quiet"]  # fmt: skip
    assert main(args) == 1  # the FOR PROCESSING image is refused by default
    err = capsys.readouterr().err
    assert "m2_processing" in err and "for_processing" in err
    assert main([*args, "--for-processing", "window", "--overwrite"]) == 0
    assert "1 FOR PROCESSING image(s) windowed" in capsys.readouterr().err
    index = read_index(tmp_path / "out").set_index("image_id")
    assert index.loc["m2_processing", "presentation_intent"] == "FOR PROCESSING"
    assert index.loc["m2_presentation", "presentation_intent"] == "FOR PRESENTATION"
    assert index.loc["m2_inverse", "presentation_lut_shape"] == "INVERSE"
    assert index.loc["m2", "presentation_lut_shape"] == ""
    assert index.loc["m1", "presentation_lut_shape"] == ""  # the generator writes none
