"""Phantom mammograms and their DICOM encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_voi_lut
from skimage.measure import label

from mammokit.synthetic import Encoding, Lesion, Traits, make_phantom, write_dicom
from mammokit.synthetic.dicom import TRANSFER_SYNTAXES


def test_phantom_shape_range_and_determinism() -> None:
    a = make_phantom((120, 96), seed=4)
    b = make_phantom((120, 96), seed=4)
    assert a.image.shape == (120, 96) and a.image.dtype == np.float32
    assert a.image.min() >= 0 and a.image.max() <= 1
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, make_phantom((120, 96), seed=5).image)


def test_breast_lies_against_the_chest_wall_side() -> None:
    left = make_phantom((120, 96), seed=1)
    right = make_phantom((120, 96), seed=1, breast_on_right=True)
    assert np.array_equal(right.image, left.image[:, ::-1])
    assert left.breast_mask[:, 0].mean() > 0.5 and not left.breast_mask[:, -1].any()
    assert right.breast_mask[:, -1].mean() > 0.5
    # Dark background, bright breast, with a skin-line falloff towards the edge.
    assert left.image[~left.breast_mask].mean() < 0.08
    assert left.image[left.breast_mask].mean() > 0.3
    rows, cols = np.nonzero(left.breast_mask)
    tip = cols.max()
    assert left.image[60, 5] > left.image[rows[cols == tip][0], tip]


def test_texture_varies_inside_the_breast_and_with_density() -> None:
    fatty = make_phantom((200, 160), seed=2, density="A")
    dense = make_phantom((200, 160), seed=2, density="D")
    core = (slice(70, 130), slice(10, 60))
    assert fatty.image[core].std() > 0.01
    assert dense.image[core].std() > 1.5 * fatty.image[core].std()


def test_mlo_has_a_bright_pectoral_muscle() -> None:
    mlo = make_phantom((200, 160), view="MLO", seed=3, traits=Traits(markers=False))
    cc = make_phantom((200, 160), view="CC", seed=3, traits=Traits(markers=False))
    corner = (slice(0, 20), slice(0, 15))
    assert mlo.breast_mask[corner].all()
    assert mlo.image[corner].mean() > mlo.image[mlo.breast_mask].mean() + 0.05
    assert cc.image[corner].mean() < mlo.image[corner].mean()


def test_markers_are_burned_into_the_background() -> None:
    marked = make_phantom((200, 160), seed=0)
    bare = make_phantom((200, 160), seed=0, traits=Traits(markers=False))
    bright = marked.image > 0.5
    assert (bright & ~marked.breast_mask).sum() > 10
    assert not (bare.image > 0.5)[~bare.breast_mask].any()


@pytest.mark.parametrize("kind", ["mass", "calcification"])
def test_lesion_is_brighter_than_the_same_breast_without_it(kind: str) -> None:
    lesion = Lesion(kind, radius=0.15, contrast=0.3, depth=0.4, seed=3)
    plain = make_phantom((240, 200), seed=8)
    sick = make_phantom((240, 200), seed=8, lesion=lesion)
    assert not plain.lesion_mask.any()
    assert sick.lesion_mask.sum() > 5
    assert (sick.lesion_mask & ~sick.breast_mask).sum() == 0
    gain = sick.image - plain.image
    assert gain[sick.lesion_mask].mean() > 0.15
    assert np.abs(gain[~sick.lesion_mask]).max() < 0.2
    components = label(sick.lesion_mask).max()
    assert components == 1 if kind == "mass" else components >= 3


def test_hard_case_traits() -> None:
    paddle = make_phantom((160, 128), seed=0, traits=Traits(bright_band="paddle"))
    assert paddle.image[:3].mean() > paddle.image[paddle.breast_mask].max()
    text = make_phantom((160, 128), seed=0, traits=Traits(bright_band="text"))
    band = text.image[15:90, 116:125]
    assert band.max() > text.image[text.breast_mask].max()
    border = make_phantom((160, 128), seed=0, traits=Traits(film_border=True))
    assert border.image[0].mean() > 0.85 and border.image[:, -1].mean() > 0.85
    for seed in range(6):
        partial = make_phantom((160, 128), seed=seed, traits=Traits(partial=True)).breast_mask
        edges = [partial[0].any(), partial[-1].any(), partial[:, 0].any(), partial[:, -1].any()]
        assert 2 <= sum(edges) <= 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (20, 20)}, "at least 32x24"),
    ],
)
def test_phantom_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_phantom(**kwargs)  # type: ignore[arg-type]


def test_lesion_and_encoding_validation() -> None:
    with pytest.raises(ValueError, match="radius"):
        Lesion("mass", radius=0.9)
    with pytest.raises(ValueError, match="contrast"):
        Lesion("mass", contrast=0)
    with pytest.raises(ValueError):
        Lesion("cyst")
    with pytest.raises(ValueError, match="bits_stored"):
        Encoding(bits_stored=8)
    with pytest.raises(ValueError):
        Encoding(transfer_syntax="jpeg")


@pytest.mark.parametrize("syntax", sorted(TRANSFER_SYNTAXES))
@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
@pytest.mark.parametrize("bits", [12, 16])
def test_dicom_round_trip_through_the_pydicom_oracle(
    tmp_path: Path, syntax: str, photometric: str, bits: int
) -> None:
    ph = make_phantom((96, 80), view="MLO", seed=2)
    encoding = Encoding(
        photometric=photometric,
        voi_function="LINEAR",
        bits_stored=bits,
        transfer_syntax=syntax,
        extra_windows=2,
        padding=True,
        rescale=True,
    )
    path = write_dicom(
        tmp_path / "77.dcm",
        ph,
        encoding,
        patient_id="5",
        laterality="L",
        view="MLO",
        age=61.0,
    )
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == TRANSFER_SYNTAXES[syntax]
    assert (ds.PatientID, ds.ImageLaterality, ds.ViewPosition) == ("5", "L", "MLO")
    assert ds.PhotometricInterpretation == photometric and ds.BitsStored == bits
    assert len(ds.WindowCenter) == 3 and len(ds.WindowWidth) == 3
    assert ds.PatientAge == "061Y"
    stored = ds.pixel_array
    assert stored.dtype == np.uint16 and stored.max() < 2**bits
    top = 2**bits - 1
    display = apply_voi_lut(stored, ds, index=0).astype(np.float64)
    if photometric == "MONOCHROME1":
        display = top - display
    expected = np.clip((ph.image - 0.05) / 0.95, 0, 1) * top
    inside = ph.breast_mask
    assert np.abs(display[inside] - expected[inside]).max() <= 2 + top / 2000
    # The bare background is stored as the padding value.
    assert ds.PixelPaddingValue == (top if photometric == "MONOCHROME1" else 0)
    assert (stored == ds.PixelPaddingValue).sum() > 100


def test_dicom_without_window_tags(tmp_path: Path) -> None:
    ph = make_phantom((64, 48), seed=0)
    path = write_dicom(
        tmp_path / "1.dcm",
        ph,
        Encoding(window=False),
        patient_id="1",
        laterality="R",
        view="CC",
    )
    ds = pydicom.dcmread(path)
    for keyword in ("WindowCenter", "WindowWidth", "VOILUTFunction"):
        assert keyword not in ds


def test_sigmoid_window_keeps_the_order_of_display_values(tmp_path: Path) -> None:
    ph = make_phantom((64, 48), seed=0)
    path = write_dicom(
        tmp_path / "1.dcm",
        ph,
        Encoding(voi_function="SIGMOID", bits_stored=14),
        patient_id="1",
        laterality="L",
        view="CC",
    )
    ds = pydicom.dcmread(path)
    display = apply_voi_lut(ds.pixel_array, ds, index=0)
    assert ds.VOILUTFunction == "SIGMOID"
    assert np.corrcoef(display[ph.breast_mask], ph.image[ph.breast_mask])[0, 1] > 0.97
    assert display[~ph.breast_mask].mean() < 0.1 * (2**14 - 1)
