"""The bundled corpus (``tests/corpus``): intact, and enough for the suite in a bare clone.

Without the full public corpus beside the project, the tests read ``tests/corpus`` (see
``tests/conftest.py``). These tests pin what that subset must hold: every file its
MANIFEST.csv row says (size and sha256, also in the full corpus when present), a file of
every transfer syntax the built-in decoders claim, the photometric and LUT cases, broken
files that are rejected by name, and every corpus file a test names.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path

import pytest
from pydicom.uid import AllTransferSyntaxes

import mammokit
from mammokit.dicom import decode_file
from mammokit.dicom.decoders._dicomsdl_table import EXCLUDED_TRANSFER_SYNTAXES
from mammokit.dicom.decoders.pydicom import pydicom_can_decode
from mammokit.plugins import get_components, get_plugin_manager

_spec = importlib.util.spec_from_file_location(
    "_mammokit_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)

BUNDLED: Path = _root_conftest.BUNDLED_CORPUS
ROWS = _root_conftest.corpus_rows(BUNDLED)
TESTS = Path(__file__).resolve().parents[1]

#: Claimed transfer syntaxes with no file in pydicom, pydicom-data or pylibjpeg-data.
NO_PUBLIC_FILE = {
    "1.2.840.10008.1.2.4.202": "HTJ2K lossless RPCL: decoded by OpenJPEG as 4.201 is",
}
#: Claimed transfer syntaxes whose only public files are colour (rejected by name): the
#: bundled file proves the syntax is recognised, not that its pixels decode.
NO_MONOCHROME_FILE = {
    "1.2.840.10008.1.2.4.201": "HTJ2K lossless: only HTJ2KLossless_08_RGB.dcm",
    "1.2.840.10008.1.2.4.203": "HTJ2K: only HTJ2K_08_RGB.dcm",
}
#: Deliberately broken bundled files: decoding options, and what the error must say.
BROKEN = {
    "pydicom/MR_truncated.dcm": ({}, "cannot decode pixel data"),
    "pydicom/meta_missing_tsyntax.dcm": ({}, "missing Transfer Syntax UID"),
    "pydicom/JPEG-lossy.dcm": ({}, "cannot decode pixel data"),
    "pydicom/JPEG2000-embedded-sequence-delimiter.dcm": ({}, "but the header says 1024x256"),
    "pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm": (
        {"frame": 0},
        "cannot read the encapsulated pixel data",
    ),
    "pydicom-data/liver_rle.dcm": ({"frame": 0}, "cannot decode pixel data"),
}
#: A corpus path as tests spell it: ``"<source>/<relpath>.dcm"``.
_NAMED = re.compile(r"""["']((?:pydicom|pydicom-data|pylibjpeg-data)/[\w./+-]+\.dcm)["']""")


def _name(row: dict[str, str]) -> str:
    return f"{row['source']}/{row['relpath']}"


def _monochrome_decoded(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows of monochrome files pydicom decoded."""
    return [
        r for r in rows if r["PhotometricInterpretation"].startswith("MONOCHROME") and r["decoded"]
    ]


def _decoders() -> dict[str, mammokit.Component]:
    return get_components(get_plugin_manager(load_entry_points=False), "mammokit_decoders")


def _claimed_transfer_syntaxes() -> set[str]:
    """Every transfer syntax a built-in decoder claims; the one that claims any (pydicom)
    handles those pydicom has an available decoder for."""
    claimed: set[str] = set()
    for name, component in _decoders().items():
        if component.transfer_syntaxes:
            claimed |= set(component.transfer_syntaxes)
        else:
            assert name == "pydicom", f"decoder {name!r} claims every transfer syntax"
            claimed |= {str(uid) for uid in AllTransferSyntaxes if pydicom_can_decode(uid)}
    return claimed


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_bundled_file_matches_its_manifest_row_and_the_full_corpus() -> None:
    full = _root_conftest.CORPUS if _root_conftest.FULL_CORPUS else None
    full_rows = {_name(r): r for r in _root_conftest.corpus_rows()} if full else {}
    for row in ROWS:
        path = BUNDLED / _name(row)
        assert path.stat().st_size == int(row["size"]), path
        assert _sha256(path) == row["sha256"], path
        if full is not None:  # the full corpus holds the same bytes under the same name
            assert full_rows[_name(row)] == row, _name(row)
            assert _sha256(full / _name(row)) == row["sha256"], _name(row)
    on_disk = {str(p.relative_to(BUNDLED)) for p in BUNDLED.rglob("*.dcm")}
    assert on_disk == {_name(row) for row in ROWS}


def test_the_bundled_corpus_stays_small_and_says_where_each_file_came_from() -> None:
    assert sum(int(row["size"]) for row in ROWS) < 4 << 20
    readme = (BUNDLED / "README.md").read_text()
    for row in ROWS:
        assert f"`{_name(row)}`" in readme, f"{_name(row)} is not described in README.md"
    for source in {row["source"] for row in ROWS}:
        assert "Permission is hereby granted" in (BUNDLED / source / "LICENSE").read_text()


def test_every_claimed_transfer_syntax_has_a_bundled_file() -> None:
    claimed = _claimed_transfer_syntaxes()
    assert len(claimed) >= 13
    present = {row["ts"] for row in ROWS}
    mono = {row["ts"] for row in _monochrome_decoded(ROWS)}
    assert claimed - present <= set(NO_PUBLIC_FILE), sorted(claimed - present)
    assert claimed - mono <= set(NO_PUBLIC_FILE) | set(NO_MONOCHROME_FILE), sorted(claimed - mono)
    # The exemptions hold for the full corpus too: a new public file there should be bundled.
    everything = _root_conftest.corpus_rows()
    assert not {row["ts"] for row in everything} & set(NO_PUBLIC_FILE)
    assert not {
        row["ts"]
        for row in everything
        if row["ts"] in NO_MONOCHROME_FILE and row["PhotometricInterpretation"] != "RGB"
    }


def test_the_bundled_corpus_has_each_photometric_and_lut_case() -> None:
    decoded = _monochrome_decoded(ROWS)
    photometrics = {row["PhotometricInterpretation"] for row in decoded}
    assert {"MONOCHROME1", "MONOCHROME2"} <= photometrics
    assert any(row["WindowCenter"] and row["WindowWidth"] for row in decoded)
    assert any(row["VOILUTSequence"] for row in decoded)
    assert any(row["ModalityLUTSequence"] for row in decoded)
    assert any(row["NumberOfFrames"] not in ("", "1") for row in decoded)
    assert {row["PixelRepresentation"] for row in decoded} == {"0", "1"}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("decoder", ["pydicom", "auto"])
def test_broken_bundled_files_are_rejected_by_name(name: str, decoder: str) -> None:
    options, message = BROKEN[name]
    path = BUNDLED / name
    with pytest.raises(mammokit.DicomDecodeError) as caught:
        decode_file(path, decoders=_decoders(), name=decoder, options=options)
    assert str(caught.value).startswith(str(path)), caught.value
    if decoder == "pydicom":
        assert message in str(caught.value)


def test_every_corpus_file_a_test_names_is_bundled() -> None:
    named = {
        match for source in TESTS.rglob("*.py") for match in _NAMED.findall(source.read_text())
    }
    named |= {relpath for _, relpath in EXCLUDED_TRANSFER_SYNTAXES.values() if relpath}
    assert len(named) >= 15
    bundled = {_name(row) for row in ROWS}
    assert named <= bundled, sorted(named - bundled)
